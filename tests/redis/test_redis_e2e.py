"""Two hub-tcp-echo processes share their rooms through a real Redis.

Usage: python3 test_redis_e2e.py PATH/TO/hub-tcp-echo [unittest args]

Each test starts its own redis-server on a free 127.0.0.1 port and kills
it at the end, even on failure. Clients are plain sockets. Waits are
bounded; nothing asserts on speed.
"""

import os
import signal
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redisfix import Lines, Node, RedisServer, free_port, until  # noqa

BIN = None


class Base(unittest.TestCase):
    password = None

    def setUp(self):
        self.redis = RedisServer(self.password)
        self.addCleanup(self.redis.cleanup)
        self.redis.start()
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.kill()

    def node(self, *args, env=None, connected=True, redis=True):
        extra = ["--redis", "127.0.0.1:%d" % self.redis.port] if redis else []
        n = Node(BIN, *extra, *args, env=env)
        self.nodes.append(n)
        if connected:
            n.wait_connected()
        return n

    def client(self, node):
        return Lines(node.connect())

    def join(self, c, room):
        c.sock.sendall(b"/join " + room + b"\n")
        self.assertEqual(c.get(1), [b"[hub] joined " + room])

    def wait_numsub(self, channel, n):
        got = until(lambda: self.redis.numsub(channel) == n)
        self.assertTrue(got, "%s: %d subscribers, expected %d"
                        % (channel, self.redis.numsub(channel), n))


class TwoNodes(Base):
    def test_every_client_gets_each_line_once_in_order_per_sender(self):
        a, b = self.node(), self.node()
        clients = [self.client(a), self.client(a), self.client(b),
                   self.client(b)]
        # Both nodes listen to the lobby upstream before anyone speaks.
        self.wait_numsub("hub:t:lobby", 2)
        per_sender = 50
        for k in range(per_sender):
            for i, c in enumerate(clients):
                c.sock.sendall(b"from %d line %03d\n" % (i, k))
        total = per_sender * len(clients)
        for c in clients:
            got = c.get(total)
            self.assertEqual(len(set(got)), total)  # each exactly once
            for i in range(len(clients)):
                mine = [ln for ln in got if ln.startswith(b"from %d " % i)]
                self.assertEqual(mine, [b"from %d line %03d" % (i, k)
                                        for k in range(per_sender)])
            self.assertTrue(c.silent())  # and nothing twice
        self.assertEqual(a.stop(), 0)
        self.assertEqual(b.stop(), 0)
        # Each node forwarded its 100 lines (some may still have been
        # waiting for Redis's answer at exit), got the other's 100, and
        # ignored its own when Redis handed them back.
        for n in (a, b):
            m = n.wait_log(r"redis stats: node [0-9a-f]+, connects 1, "
                           r"disconnects 0, forwarded (\d+) messages "
                           r"\(\d+ bytes\), received 100 \(own (\d+) "
                           r"ignored\), buffered 0, dropped 0 \(buffer full\)"
                           r" \+ 0 \(at exit\), unconfirmed 0 \+ (\d+) "
                           r"\(at exit\), invalid 0")
            forwarded, own, inflight = (int(g) for g in m.groups())
            self.assertEqual(forwarded + inflight, 100)
            self.assertLessEqual(own, 100)

    def test_rooms_across_nodes(self):
        a, b = self.node(), self.node()
        a_red, a_lobby, a_blue = (self.client(a) for _ in range(3))
        b_red, b_blue, b_lobby = (self.client(b) for _ in range(3))
        self.join(a_red, b"red")
        self.join(b_red, b"red")
        self.join(b_blue, b"blue")
        self.wait_numsub("hub:t:red", 2)
        self.wait_numsub("hub:t:lobby", 2)
        # Blue is joined only on B: only B listens to it upstream.
        self.wait_numsub("hub:t:blue", 1)
        self.assertEqual(self.redis.subscriptions_of(a.sub_name()), 3)
        self.assertEqual(self.redis.subscriptions_of(b.sub_name()), 4)

        a_red.sock.sendall(b"red from a\n")
        for c in (a_red, b_red):
            self.assertEqual(c.get(1), [b"red from a"])
        b_lobby.sock.sendall(b"lobby from b\n")
        for c in (a_lobby, a_blue, b_lobby):
            self.assertEqual(c.get(1), [b"lobby from b"])
        for c in (a_lobby, a_blue, b_blue, b_lobby, a_red, b_red):
            self.assertTrue(c.silent())

        # Someone on A joins blue and speaks there: B's blue client hears
        # it, nobody else on either node does.
        self.join(a_blue, b"blue")
        self.wait_numsub("hub:t:blue", 2)
        a_blue.sock.sendall(b"blue from a\n")
        for c in (a_blue, b_blue):
            self.assertEqual(c.get(1), [b"blue from a"])
        for c in (a_lobby, b_lobby, a_red, b_red):
            self.assertTrue(c.silent())

        # The last one in red on B leaves it: B stops listening to red.
        self.join(b_red, b"green")
        self.wait_numsub("hub:t:red", 1)
        self.assertEqual(self.redis.subscriptions_of(b.sub_name()), 4)

    def test_redis_restart_local_goes_on_cross_node_resumes(self):
        a, b = self.node(), self.node()
        a1, a2, b1, b2 = (self.client(a), self.client(a), self.client(b),
                          self.client(b))
        self.wait_numsub("hub:t:lobby", 2)
        a1.sock.sendall(b"before\n")
        for c in (a1, a2, b1, b2):
            self.assertEqual(c.get(1), [b"before"])

        self.redis.kill()
        for n in (a, b):
            n.wait_log(r"redis: lost the connection to Redis at "
                       r"127\.0\.0\.1:%d: " % self.redis.port)
        # Each node still serves its own clients.
        for k in range(5):
            a1.sock.sendall(b"during %d\n" % k)
        b1.sock.sendall(b"b during\n")
        for c in (a1, a2):
            self.assertEqual(c.get(5), [b"during %d" % k for k in range(5)])
        for c in (b1, b2):
            self.assertEqual(c.get(1), [b"b during"])
        mark = len(a.log)

        self.redis.start()  # the same port
        for n in (a, b):
            n.wait_log(r"redis: reconnected to Redis at 127\.0\.0\.1:%d "
                       % self.redis.port)
        m = a.wait_log(r"reconnected .*: (\d+) messages waited in the "
                       r"buffer, (\d+) dropped", after=mark)
        self.assertEqual([int(g) for g in m.groups()], [5, 0])
        self.wait_numsub("hub:t:lobby", 2)

        # Cross-node delivery is back without restarting anything. What
        # was buffered reached B at most once (it was forwarded as soon as
        # A reconnected, perhaps before B listened again).
        a1.sock.sendall(b"after\n")
        got = b1.until(b"after")
        self.assertEqual(len(got), len(set(got)))
        self.assertTrue(set(got) <= {b"during %d" % k for k in range(5)}
                        | {b"after"})
        b2.sock.sendall(b"b after\n")
        got = a1.until(b"b after")
        self.assertEqual(len(got), len(set(got)))
        self.assertTrue(set(got) <= {b"b during", b"after", b"b after"})
        self.assertIn(b"after", got)  # its own, delivered locally once
        self.assertEqual(a.stop(), 0)
        a.wait_log(r"redis stats: .*connects 2, disconnects 1, .*buffered 5,"
                   r" dropped 0 \(buffer full\)")

    def test_outage_overflow_is_dropped_counted_and_logged(self):
        a = self.node("--redis-buffer", "3")
        a1 = self.client(a)
        self.redis.kill()
        a.wait_log(r"redis: lost the connection")
        for k in range(10):
            a1.sock.sendall(b"line %d\n" % k)
        self.assertEqual(a1.get(10), [b"line %d" % k for k in range(10)])
        a.wait_log(r"redis: the buffer for Redis is full \(3 messages, "
                   r"\d+ bytes\): dropping the oldest")
        self.assertEqual(a.count(r"buffer for Redis is full"), 1)
        self.redis.start()
        m = a.wait_log(r"redis: reconnected .*: (\d+) messages waited in "
                       r"the buffer, (\d+) dropped \(buffer full\)")
        self.assertEqual([int(g) for g in m.groups()], [10, 7])
        # The 3 go once Redis has confirmed the node's subscriptions: ask
        # for the statistics (SIGUSR1) until the buffer is empty.
        deadline = time.monotonic() + 20
        while True:
            n = len(a.log)
            a.proc.send_signal(signal.SIGUSR1)
            m = a.wait_log(r"redis stats: .*dropped \d+ \(buffer full\) "
                           r"\+ (\d+) \(at exit\)", after=n)
            if m.group(1) == "0" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(a.stop(), 0)
        m = a.wait_log(r"redis stats: .*forwarded (\d+) messages .*buffered "
                       r"10, dropped 7 \(buffer full\) \+ 0 \(at exit\), "
                       r"unconfirmed (\d+) \+ (\d+) \(at exit\)")
        # The 3 were sent; any not yet answered at exit are unconfirmed.
        self.assertEqual(sum(int(g) for g in m.groups()), 3)

    def test_prefixes_make_separate_groups(self):
        a = self.node("--redis-prefix", "one:")
        b = self.node("--redis-prefix", "two:")
        a1, b1 = self.client(a), self.client(b)
        self.wait_numsub("one:t:lobby", 1)
        self.wait_numsub("two:t:lobby", 1)
        a1.sock.sendall(b"only one\n")
        self.assertEqual(a1.get(1), [b"only one"])
        self.assertTrue(b1.silent())


class Errors(Base):
    def test_bad_redis_flags_exit_2(self):
        cases = [
            (["--redis", "nowhere"], "--redis: expected HOST:PORT"),
            (["--redis", "127.0.0.1:0"], "--redis: bad port"),
            (["--redis", "127.0.0.1:99999"], "--redis: bad port"),
            (["--redis", ":6379"], "--redis: expected HOST:PORT"),
            (["--redis-prefix", "x:"], "need --redis HOST:PORT"),
            (["--redis", "127.0.0.1:6379", "--redis-user", "u"],
             "--redis-user needs a password"),
            (["--redis", "127.0.0.1:6379", "--redis-password-file",
              "/nonexistent/file"], "--redis-password-file: cannot read"),
            (["--redis", "127.0.0.1:6379", "--redis-buffer", "0"],
             "--redis-buffer"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                r = __import__("subprocess").run([BIN, *args],
                                                 capture_output=True,
                                                 timeout=20)
                self.assertEqual(r.returncode, 2)
                self.assertIn(message, r.stderr.decode())

    def test_nothing_listening_is_a_clear_error_and_local_goes_on(self):
        port = free_port()
        n = Node(BIN, "--redis", "127.0.0.1:%d" % port)
        self.nodes.append(n)
        n.wait_log(r"redis: cannot connect to Redis at 127\.0\.0\.1:%d: "
                   r"Connection refused \(attempt 1; retrying in \d+ ms\)"
                   % port)
        c = self.client(n)
        c.sock.sendall(b"still local\n")
        self.assertEqual(c.get(1), [b"still local"])
        self.assertEqual(n.stop(), 0)
        # One line for a streak of failures, not one per attempt.
        self.assertLessEqual(n.count(r"cannot connect to Redis"), 2)


class Passwords(Base):
    password = "correct horse"

    def test_wrong_or_missing_password_says_so(self):
        wrong = self.node(env={"HUB_REDIS_PASSWORD": "battery staple"},
                          connected=False)
        wrong.wait_log(r"redis: authentication to Redis at 127\.0\.0\.1:%d "
                       r"failed: WRONGPASS .* \(check HUB_REDIS_PASSWORD or "
                       r"--redis-password-file\)" % self.redis.port)
        missing = self.node(connected=False)
        missing.wait_log(r"redis: Redis at 127\.0\.0\.1:%d requires a "
                         r"password \(NOAUTH .*\).*: set HUB_REDIS_PASSWORD"
                         % self.redis.port)
        # Neither ever got in.
        self.assertEqual(wrong.count(r"connected to Redis"), 0)
        self.assertEqual(missing.count(r"connected to Redis"), 0)

    def test_right_password_from_env_or_file(self):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write(self.password + "\n")
        self.addCleanup(os.unlink, f.name)
        a = self.node(env={"HUB_REDIS_PASSWORD": self.password})
        b = self.node("--redis-password-file", f.name)
        a1, b1 = self.client(a), self.client(b)
        self.wait_numsub("hub:t:lobby", 2)
        a1.sock.sendall(b"authenticated\n")
        self.assertEqual(b1.get(1), [b"authenticated"])
        # The password appears in no log line.
        for n in (a, b):
            n.stop()
            self.assertFalse(any(self.password in ln for ln in n.log))


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: test_redis_e2e.py PATH/TO/hub-tcp-echo [args]")
    BIN = sys.argv.pop(1)
    socket.setdefaulttimeout(30)
    unittest.main(verbosity=2)
