"""End-to-end tests of hub-tcp-echo, driven with plain Python sockets.

Usage: python3 test_tcp_echo.py PATH/TO/hub-tcp-echo [unittest args]

Every server listens on 127.0.0.1 port 0 and the test reads the port from
its "listening on" line. Waits are bounded; nothing asserts on speed.
"""

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "ws"))
from ws_common import bad_flag_failures, signal_and_wait  # noqa: E402

BIN = None
WAIT = 20.0  # seconds; only a broken test waits this long


class Server:
    """hub-tcp-echo in a child process, its stderr collected by a thread."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [BIN, "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.log = []
        self.clients = 0  # connections made through client()
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        m = self.wait_log(r"listening on 127\.0\.0\.1:(\d+)")
        self.port = int(m.group(1))

    def _read(self):
        for raw in self.proc.stderr:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def _take_lines(self):
        """Move the log lines read so far to self.log (without waiting)."""
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.log.append(line)

    def seen(self, pattern):
        """Whether a log line so far matches pattern (without waiting)."""
        self._take_lines()
        return any(re.search(pattern, line) for line in self.log)

    def wait_log(self, pattern, timeout=WAIT):
        """The first log line (seen so far or to come) matching pattern."""
        rx = re.compile(pattern)
        for line in self.log:
            m = rx.search(line)
            if m:
                return m
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.log.append(line)
            m = rx.search(line)
            if m:
                return m
        raise AssertionError("no log line matching %r in:\n%s"
                             % (pattern, "\n".join(self.log)))

    def connect(self, rcvbuf=0):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.connect(("127.0.0.1", self.port))
        s.settimeout(WAIT)
        return s

    def stop(self, sig=signal.SIGTERM):
        """Signal the server; return its exit status once it has exited."""
        rc = signal_and_wait(self.proc, sig, WAIT,
                             "the server did not exit on %s" % sig)
        self.reader.join(timeout=WAIT)
        self.proc.stderr.close()
        self._take_lines()
        return rc


def recv_lines(sock, n, buf=b""):
    """Read until `n` complete lines have arrived; return (lines, rest)."""
    while buf.count(b"\n") < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed after %d of %d lines"
                                 % (buf.count(b"\n"), n))
        buf += chunk
    lines = buf.split(b"\n")
    return lines[:n], b"\n".join(lines[n:])


def recv_until_closed(sock):
    """Everything until the server closes the connection."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, timeout=WAIT)


class CommandLine(unittest.TestCase):
    def test_help_prints_usage_and_exits_0(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        out = r.stdout.decode()
        self.assertTrue(out.startswith("usage: hub-tcp-echo "))
        for flag in ("--listen HOST:PORT", "--max-queue-msgs N",
                     "--max-queue-bytes N",
                     "--policy disconnect|drop-oldest|drop-newest",
                     "--max-line N", "--idle-timeout SECONDS",
                     "--line-timeout SECONDS", "--max-conns-per-ip N",
                     "--max-msg-rate R", "--msg-burst B",
                     "--send-buffer N", "--quiet"):
            self.assertIn(flag, out)
        self.assertEqual(run("-h").returncode, 0)

    def test_bad_flags_exit_2_with_a_clear_error(self):
        values = {"--max-line": ["2G"], "--idle-timeout": ["-1"],
                  "--line-timeout": ["3G"]}
        self.assertEqual(bad_flag_failures(BIN, values, timeout=WAIT), [])

    def test_busy_port_is_a_clear_error(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            r = run("--listen", "127.0.0.1:%d" % port)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot listen on 127.0.0.1:%d: address already in use"
                      % port, r.stderr.decode())


class ServerCase(unittest.TestCase):
    """Tests that start servers with server() and connect with client():
    whatever a test leaves running or open is killed and closed after it
    (test_tcp_rooms.py's tests are ServerCases too)."""

    def setUp(self):
        self.servers = []
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        for srv in self.servers:
            if srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait()
            srv.reader.join(timeout=WAIT)
            srv.proc.stderr.close()

    def server(self, *args):
        srv = Server(*args)
        self.servers.append(srv)
        return srv

    def client(self, srv, rcvbuf=0):
        """A connection to srv, once the server has logged it."""
        s = srv.connect(rcvbuf)
        self.socks.append(s)
        srv.clients += 1
        srv.wait_log(r"#%d: connected from 127\.0\.0\.1:%d "
                     % (srv.clients, s.getsockname()[1]))
        return s


class Echo(ServerCase):

    def test_every_line_reaches_every_client_once_in_order(self):
        srv = self.server()
        clients = [self.client(srv) for _ in range(3)]
        rounds, per_round = 5, 10
        got = [b""] * 3
        rest = [b""] * 3
        for r in range(rounds):
            for k in range(r * per_round, (r + 1) * per_round):
                for i, c in enumerate(clients):
                    end = b"\r\n" if k % 2 else b"\n"
                    c.sendall(b"from %d line %03d" % (i, k) + end)
            for i, c in enumerate(clients):
                lines, rest[i] = recv_lines(c, 3 * per_round, rest[i])
                got[i] += b"\n".join(lines) + b"\n"
        # The same stream for everyone: the order the hub received them.
        self.assertEqual(got[0], got[1])
        self.assertEqual(got[0], got[2])
        lines = got[0].split(b"\n")[:-1]
        self.assertEqual(len(lines), 3 * rounds * per_round)
        self.assertEqual(len(set(lines)), len(lines))
        for i in range(3):
            mine = [ln for ln in lines if ln.startswith(b"from %d " % i)]
            self.assertEqual(mine, [b"from %d line %03d" % (i, k)
                                    for k in range(rounds * per_round)])
        self.assertNotIn(b"\r", got[0])

    def test_long_line_closes_only_its_sender(self):
        srv = self.server("--max-line", "100")
        a, b, c = (self.client(srv) for _ in range(3))
        a.sendall(b"x" * 101 + b"\n")
        self.assertEqual(recv_until_closed(a), b"")
        srv.wait_log(r"#1: line longer than 100 bytes, closing")
        srv.wait_log(r"#1: disconnected: line too long")
        b.sendall(b"y" * 100 + b"\n")
        for s in (b, c):
            self.assertEqual(recv_lines(s, 1)[0], [b"y" * 100])

    def test_last_line_without_newline_is_delivered_at_eof(self):
        srv = self.server()
        a, b = self.client(srv), self.client(srv)
        a.sendall(b"first\nsecond without newline")
        a.shutdown(socket.SHUT_WR)
        self.assertEqual(recv_lines(b, 2)[0],
                         [b"first", b"second without newline"])
        srv.wait_log(r"#1: disconnected: closed by the client")

    def test_slow_consumer_is_dropped_and_logged(self):
        srv = self.server("--max-queue-msgs", "16", "--max-queue-bytes", "8K")
        fast = self.client(srv)
        slow = self.client(srv, rcvbuf=4096)
        line = b"z" * 999 + b"\n"
        rest = b""
        # The slow client never reads; the fast one reads each batch.
        for _ in range(20000):
            fast.sendall(line * 8)
            _, rest = recv_lines(fast, 8, rest)
            if srv.seen(r"#2: disconnected"):
                break
        srv.wait_log(r"#2: dropped \d+ messages \(\d+ bytes\): "
                     r"slow consumer disconnected")
        srv.wait_log(r"#2: disconnected: dropped as a slow consumer")
        # The fast client is still served.
        fast.sendall(b"still here\n")
        self.assertEqual(recv_lines(fast, 1, rest)[0], [b"still here"])
        rc = srv.stop()
        self.assertEqual(rc, 0)
        srv.wait_log(r"final stats: clients 2 \(1 dropped as slow\)")

    def test_frequent_drops_are_logged_once_a_second(self):
        srv = self.server("--max-queue-msgs", "16", "--max-queue-bytes", "8K",
                          "--policy", "drop-newest")
        fast = self.client(srv)
        self.client(srv, rcvbuf=4096)  # never reads
        line = b"z" * 999 + b"\n"
        rest = b""
        summary = (r"dropped (\d+) messages \(\d+ bytes\) in (\d+) more "
                   r"events: newest refused")
        deadline = time.monotonic() + WAIT
        while not srv.seen(summary) and time.monotonic() < deadline:
            fast.sendall(line * 8)
            _, rest = recv_lines(fast, 8, rest)
        # The first refusal was logged at once, the following ones summed.
        srv.wait_log(r"#2: dropped 1 messages \(999 bytes\): newest refused")
        m = srv.wait_log(summary)
        self.assertGreater(int(m.group(2)), 1)
        self.assertEqual(srv.stop(), 0)
        m = srv.wait_log(r"dropped (\d+) messages \(\d+ bytes\)$")
        drop_lines = [ln for ln in srv.log if "dropped" in ln and "#2" in ln]
        self.assertLess(len(drop_lines) * 10, int(m.group(1)))
        self.assertTrue(srv.seen(r"#2: disconnected: closed by the server"))

    def test_idle_timeout_closes_silent_clients(self):
        srv = self.server("--idle-timeout", "0.3")
        start = time.monotonic()  # before the server can have heard it
        silent = self.client(srv)
        self.assertEqual(recv_until_closed(silent), b"")
        self.assertGreaterEqual(time.monotonic() - start, 0.25)
        srv.wait_log(r"#1: silent for \d+ ms, closing")
        srv.wait_log(r"#1: disconnected: timed out")

    def test_line_timeout_closes_a_trickled_line(self):
        srv = self.server("--line-timeout", "0.3")
        slow, fine = self.client(srv), self.client(srv)
        start = time.monotonic()
        for ch in b"one byte at a time, never a whole line":
            try:
                slow.send(bytes([ch]))
            except OSError:
                break
            if srv.seen(r"#1: disconnected"):
                break
            time.sleep(0.02)
        srv.wait_log(r"#1: line not complete after \d+ ms, closing")
        srv.wait_log(r"#1: disconnected: timed out")
        self.assertGreaterEqual(time.monotonic() - start, 0.25)
        fine.sendall(b"in ")
        fine.sendall(b"time\n")
        self.assertEqual(recv_lines(fine, 1)[0], [b"in time"])

    def test_max_conns_per_ip_closes_the_extra_ones(self):
        srv = self.server("--max-conns-per-ip", "2")

        def from_addr(addr):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.socks.append(s)
            s.bind((addr, 0))
            s.connect(("127.0.0.1", srv.port))
            s.settimeout(WAIT)
            return s

        kept = [from_addr("127.0.0.2") for _ in range(2)]
        for n in (1, 2):
            srv.wait_log(r"#%d: connected from 127\.0\.0\.2:" % n)
        for _ in range(2):
            self.assertEqual(recv_until_closed(from_addr("127.0.0.2")), b"")
        srv.wait_log(r"127\.0\.0\.2 has 2 connections open: closing its "
                     r"new ones")
        other = from_addr("127.0.0.3")
        srv.wait_log(r"#3: connected from 127\.0\.0\.3:")
        other.sendall(b"hi\n")
        for s in (*kept, other):
            self.assertEqual(recv_lines(s, 1)[0], [b"hi"])
        self.assertEqual(
            len([ln for ln in srv.log if "closing its new ones" in ln]), 1)

    def test_max_msg_rate_drops_lines_and_says_so(self):
        srv = self.server("--max-msg-rate", "5", "--msg-burst", "3")
        a, b = self.client(srv), self.client(srv)
        a.sendall(b"".join(b"line %d\n" % k for k in range(6)))
        got, rest = recv_lines(a, 4)
        self.assertEqual(got, [b"line 0", b"line 1", b"line 2",
                               b"[hub] rate limit exceeded: lines dropped"])
        self.assertEqual(recv_lines(b, 3)[0], got[:3])
        srv.wait_log(r"#1: over 5 lines a second: dropping lines")
        time.sleep(0.5)  # 2.5 lines' worth
        a.sendall(b"later\n")
        self.assertEqual(recv_lines(a, 1, rest)[0], [b"later"])

    def test_send_buffer_sets_so_sndbuf(self):
        """The server's side of each connection gets the SO_SNDBUF asked
        for (which Linux doubles), 128 KiB unless told otherwise; 0 leaves
        the kernel's default."""
        for args, want in (((), 2 * 128 * 1024),
                           (("--send-buffer", "48K"), 2 * 48 * 1024),
                           (("--send-buffer", "0"), None)):
            with self.subTest(args=args):
                srv = self.server(*args)
                self.client(srv)
                out = subprocess.run(
                    ["ss", "-tmnH", "state", "established",
                     "( sport = :%d )" % srv.port],
                    capture_output=True, text=True, timeout=WAIT).stdout
                sizes = [int(v) for v in re.findall(r"\btb(\d+)", out)]
                self.assertEqual(len(sizes), 1, out)
                if want is None:
                    self.assertNotIn(sizes[0], (2 * 128 * 1024,), out)
                else:
                    self.assertEqual(sizes[0], want, out)

    def test_ipv6(self):
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback")
        proc = subprocess.Popen([BIN, "--listen", "[::1]:0"],
                                stderr=subprocess.PIPE)
        try:
            first = proc.stderr.readline().decode()
            m = re.search(r"listening on \[::1\]:(\d+) ", first)
            self.assertTrue(m, first)
            with socket.create_connection(("::1", int(m.group(1))),
                                          timeout=WAIT) as s:
                s.sendall(b"over six\n")
                self.assertEqual(recv_lines(s, 1)[0], [b"over six"])
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=WAIT), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()

    def test_quiet_hides_client_logs(self):
        srv = self.server("--quiet")
        s = srv.connect()
        self.socks.append(s)
        s.sendall(b"hello\n")
        self.assertEqual(recv_lines(s, 1)[0], [b"hello"])
        self.assertEqual(srv.stop(signal.SIGINT), 0)
        self.assertFalse(any("connected" in ln for ln in srv.log), srv.log)
        srv.wait_log(r"final stats: clients 1 ")

    def stop_with(self, sig, name):
        srv = self.server()
        a, b = self.client(srv), self.client(srv)
        a.sendall(b"one\ntwo\n")
        b.sendall(b"three\n")
        for s in (a, b):
            recv_lines(s, 3)
        self.assertEqual(srv.stop(sig), 0)
        srv.wait_log(r"%s received, shutting down" % name)
        m = srv.wait_log(r"final stats: clients (\d+) \((\d+) dropped as "
                         r"slow\), broadcasts (\d+), delivered (\d+) messages"
                         r" \((\d+) bytes\), dropped (\d+) messages")
        self.assertEqual([int(g) for g in m.groups()], [2, 0, 3, 6, 22, 0])
        # The clients were closed, not left hanging.
        for s in (a, b):
            self.assertEqual(recv_until_closed(s), b"")

    def test_sigterm_stops_cleanly_with_stats(self):
        self.stop_with(signal.SIGTERM, "SIGTERM")

    def test_sigint_stops_cleanly_with_stats(self):
        self.stop_with(signal.SIGINT, "SIGINT")


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: test_tcp_echo.py PATH/TO/hub-tcp-echo [args]")
    BIN = sys.argv.pop(1)
    unittest.main(verbosity=2)
