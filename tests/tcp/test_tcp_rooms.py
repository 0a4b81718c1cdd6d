"""End-to-end tests of hub-tcp-echo's rooms and gap notices, with plain
Python sockets.

Usage: python3 test_tcp_rooms.py PATH/TO/hub-tcp-echo [unittest args]

Reuses the Server helper of test_tcp_echo.py (same directory). Every server
listens on 127.0.0.1 port 0. Waits are bounded; nothing asserts on speed.
"""

import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_tcp_echo as base  # noqa: E402
from test_tcp_echo import recv_lines  # noqa: E402

NOTICE = re.compile(rb"^\[hub\] (\d+) messages? dropped$")


def expect_silence(sock, seconds=0.3):
    """Nothing arrives on sock for a while (used after a marker line has
    shown that everything sent before it was delivered)."""
    sock.settimeout(seconds)
    try:
        data = sock.recv(65536)
    except socket.timeout:
        data = b""
    finally:
        sock.settimeout(base.WAIT)
    return data


class Rooms(base.ServerCase):
    def join(self, sock, room):
        sock.sendall(b"/join " + room + b"\n")
        self.assertEqual(recv_lines(sock, 1)[0], [b"[hub] joined " + room])

    def test_default_room_reaches_everyone(self):
        srv = self.server()
        a, b, c = (self.client(srv) for _ in range(3))
        a.sendall(b"hello all\n")
        for s in (a, b, c):
            self.assertEqual(recv_lines(s, 1)[0], [b"hello all"])
        # "/join" alone, or as a prefix of a word, is not a join.
        b.sendall(b"/joinery is a craft\n")
        for s in (a, b, c):
            self.assertEqual(recv_lines(s, 1)[0], [b"/joinery is a craft"])

    def test_join_switches_rooms_and_messages_stay_in_their_room(self):
        srv = self.server()
        a, b, c, d = (self.client(srv) for _ in range(4))
        self.join(a, b"red")
        self.join(b, b"red")
        self.join(c, b"blue")
        a.sendall(b"to red\n")
        c.sendall(b"to blue\n")
        d.sendall(b"to lobby\n")
        for s in (a, b):
            self.assertEqual(recv_lines(s, 1)[0], [b"to red"])
        self.assertEqual(recv_lines(c, 1)[0], [b"to blue"])
        self.assertEqual(recv_lines(d, 1)[0], [b"to lobby"])
        # Nobody got another room's line: each socket now holds nothing.
        for s in (a, b, c, d):
            self.assertEqual(expect_silence(s), b"")
        # Switching leaves the old room: b moves to blue.
        self.join(b, b"blue")
        a.sendall(b"red again\n")
        c.sendall(b"blue again\n")
        self.assertEqual(recv_lines(a, 1)[0], [b"red again"])
        for s in (b, c):
            self.assertEqual(recv_lines(s, 1)[0], [b"blue again"])
        self.assertEqual(expect_silence(b), b"")
        # Back to the lobby.
        self.join(c, b"lobby")
        d.sendall(b"lobby again\n")
        for s in (c, d):
            self.assertEqual(recv_lines(s, 1)[0], [b"lobby again"])
        # Joining the room one is in is harmless.
        self.join(d, b"lobby")
        d.sendall(b"still here\n")
        for s in (c, d):
            self.assertEqual(recv_lines(s, 1)[0], [b"still here"])

    def test_order_is_kept_within_a_room(self):
        srv = self.server()
        a, b = self.client(srv), self.client(srv)
        self.join(a, b"r")
        self.join(b, b"r")
        for k in range(200):
            (a if k % 2 else b).sendall(b"line %03d\n" % k)
        got_a = recv_lines(a, 200)[0]
        got_b = recv_lines(b, 200)[0]
        self.assertEqual(got_a, got_b)
        for who in (0, 1):
            mine = [ln for ln in got_a if int(ln[5:]) % 2 == who]
            self.assertEqual(mine, sorted(mine))
            self.assertEqual(len(mine), 100)

    def test_bad_room_names_get_an_error_line(self):
        srv = self.server()
        a, b = self.client(srv), self.client(srv)
        for bad in (b"/join", b"/join ", b"/join tab\tname",
                    b"/join " + b"x" * 256):
            with self.subTest(line=bad[:20]):
                a.sendall(bad + b"\n")
                line = recv_lines(a, 1)[0][0]
                self.assertTrue(line.startswith(b"[hub] bad room name"), line)
        # The longest name is fine.
        self.join(a, b"y" * 255)
        # a left the lobby; b did not, and heard none of this.
        b.sendall(b"lobby only\n")
        self.assertEqual(recv_lines(b, 1)[0], [b"lobby only"])
        self.assertEqual(expect_silence(a), b"")

    def test_room_names_follow_the_rule_of_hub_ws_chat(self):
        """UTF-8 without C0/C1 controls or bidirectional controls, as
        hub-ws-chat's: spaces and any other character are fine."""
        srv = self.server()
        a, b = self.client(srv), self.client(srv)
        bad = [(b"\xc2\x9b31m", b"has a control character"),  # C1 CSI
               (b"\x1b[31m", b"has a control character"),
               (b"\x7f", b"has a control character"),
               (b"a\xe2\x80\xaeb", b"has a bidirectional control character"),
               (b"\xe2\x81\xa6x", b"has a bidirectional control character"),
               (b"\xd8\x9cx", b"has a bidirectional control character"),
               (b"\xc3\x28", b"not UTF-8"),
               (b"\xed\xa0\x80", b"not UTF-8"),
               (b"x" * 256, b"longer than 255 bytes")]
        for name, why in bad:
            with self.subTest(name=name[:20]):
                a.sendall(b"/join " + name + b"\n")
                self.assertEqual(recv_lines(a, 1)[0],
                                 [b"[hub] bad room name: " + why])
        for good in (b"two words", b"caf\xc3\xa9", b"\xf0\x9f\x98\x80",
                     b"a\xe2\x80\x8db"):  # U+200D is no bidi control
            with self.subTest(name=good):
                self.join(a, good)
                self.join(b, good)
                a.sendall(b"in " + good + b"\n")
                for s in (a, b):
                    self.assertEqual(recv_lines(s, 1)[0], [b"in " + good])
        # The names the client sent are in the log, escaped: no control
        # or bidi character (nor an undecodable byte) reaches the log.
        srv.wait_log(r"^\S+ #1: bad room name '\\u\{009B\}31m': has a "
                     r"control character$")
        srv.wait_log(r"#1: bad room name '\\u\{001B\}\[31m'")
        srv.wait_log(r"#1: bad room name 'a\\u\{202E\}b': has a "
                     r"bidirectional control character$")
        srv.wait_log(r"#1: bad room name '\\xC3\(': not UTF-8$")
        srv.wait_log(r"#2: joined room 'caf\u00e9' \(2 clients in the room\)")
        self.assertEqual(srv.stop(), 0)
        unsafe = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f"
                            "\u202a-\u202e\u2066-\u2069\ufffd]")
        for line in srv.log:
            self.assertIsNone(unsafe.search(line), repr(line))

    def test_final_stats_count_room_lines(self):
        srv = self.server()
        a, b = self.client(srv), self.client(srv)
        self.join(a, b"x")
        a.sendall(b"one\n")
        b.sendall(b"two\n")
        self.assertEqual(recv_lines(a, 1)[0], [b"one"])
        self.assertEqual(recv_lines(b, 1)[0], [b"two"])
        self.assertEqual(srv.stop(), 0)
        # Two lines sent; two delivered; the join confirmation is a
        # delivered message too.
        m = srv.wait_log(r"final stats: clients 2 \(0 dropped as slow\), "
                         r"broadcasts (\d+), delivered (\d+) messages")
        self.assertEqual([int(g) for g in m.groups()], [2, 3])


    def test_no_notice_without_drops(self):
        srv = self.server("--policy", "drop-oldest")
        a, b = self.client(srv), self.client(srv)
        for k in range(50):
            a.sendall(b"n%d\n" % k)
        self.assertEqual(recv_lines(b, 50)[0], [b"n%d" % k for k in range(50)])
        self.assertEqual(recv_lines(a, 50)[0], [b"n%d" % k for k in range(50)])
        self.assertEqual(expect_silence(b), b"")

class GapNotices(unittest.TestCase):
    """Under drop-oldest, a client that lost lines is told how many."""

    def setUp(self):
        self.srv = base.Server("--policy", "drop-oldest",
                               "--max-queue-msgs", "16",
                               "--max-queue-bytes", "8K")
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        if self.srv.proc.poll() is None:
            self.srv.proc.kill()
            self.srv.proc.wait()
        self.srv.reader.join(timeout=base.WAIT)
        self.srv.proc.stderr.close()

    def client(self, rcvbuf=0):
        s = self.srv.connect(rcvbuf)
        self.socks.append(s)
        self.srv.clients += 1
        self.srv.wait_log(r"#%d: connected from 127\.0\.0\.1:%d "
                          % (self.srv.clients, s.getsockname()[1]))
        return s

    def read_all(self, sock, until):
        """Lines until one equal to `until` has arrived (what follows it
        is kept for the next call)."""
        buf = getattr(self, "pending", b"")
        while True:
            lines = buf.split(b"\n")
            if until in lines[:-1]:
                k = lines.index(until)
                self.pending = b"\n".join(lines[k + 1:])
                return lines[:k + 1]
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("closed before %r" % until)
            buf += chunk

    def test_notices_account_for_every_dropped_line(self):
        fast = self.client()
        slow = self.client(rcvbuf=4096)  # does not read for a while
        total = 0
        rest = b""
        batch = 0

        def send_batch():
            nonlocal total, rest, batch
            fast.sendall(b"".join(b"%08d " % (batch * 8 + k) + b"z" * 990
                                  + b"\n" for k in range(8)))
            _, rest = recv_lines(fast, 8, rest)
            total += 8
            batch += 1

        # Numbered lines of 1000 bytes. The slow client's kernel buffers
        # (the server's send buffer grows to megabytes) fill first, then
        # its 8 KiB queue overflows and the oldest lines are evicted.
        evicted = r"#2: dropped \d+ messages \(\d+ bytes\): oldest evicted"
        while not self.srv.seen(evicted) and batch < 20000:
            send_batch()
        # More gaps: keep going for a while after the first eviction.
        for _ in range(200):
            send_batch()
        # Now the slow client catches up; a marker ends the stream.
        time.sleep(0.1)
        fast.sendall(b"end\n")
        recv_lines(fast, 1, rest)
        got = self.read_all(slow, b"end")
        # The notice for the last gap is queued when the client has caught
        # up, after the lines that were already waiting for it ("end"
        # among them): a second marker follows it.
        fast.sendall(b"end2\n")
        recv_lines(fast, 1, rest)
        got += self.read_all(slow, b"end2")
        data = [ln for ln in got if not NOTICE.match(ln) and not ln.startswith(b"end")]
        notices = [int(NOTICE.match(ln).group(1)) for ln in got
                   if NOTICE.match(ln)]
        # Lines arrive in order, with gaps, and every gap is announced:
        # received + announced = sent.
        nums = [int(ln[:8]) for ln in data]
        self.assertEqual(nums, sorted(nums))
        self.assertEqual(len(set(nums)), len(nums))
        self.assertGreater(len(notices), 0)
        self.assertEqual(len(data) + sum(notices), total)
        # Far fewer notices than lost lines: one per catch-up, not one per
        # line.
        self.assertLess(len(notices) * 4, sum(notices))
        # A notice comes after the gap it reports: never before the first
        # line lost.
        first_notice = next(i for i, ln in enumerate(got) if NOTICE.match(ln))
        before = [int(ln[:8]) for ln in got[:first_notice]
                  if not ln.startswith(b"end")]
        self.assertTrue(any(y - x > 1 for x, y in zip(before, before[1:])),
                        "the first notice came before any line was lost")
        # The fast client lost nothing and heard no notice.
        self.assertEqual(expect_silence(fast), b"")


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: test_tcp_rooms.py PATH/TO/hub-tcp-echo [args]")
    base.BIN = sys.argv.pop(1)
    unittest.main(verbosity=2)
