"""One sender's burst must never cost readers that keep up.

usage: burst.py tcp PATH/TO/hub-tcp-echo
       burst.py ws  PATH/TO/hub-ws-chat

Each test puts a burst into ONE send() (many lines, many WebSocket frames,
or messages as large as the queue bound allows) while the other clients
read as fast as they can, and checks that every reader got every message,
once, in each sender's order, and that the server dropped nothing. The
randomized test does the same with several senders at once, bursts of
random sizes up to the largest message, under every policy, with one
reader that never reads: that one alone is cut (disconnect) or loses
messages (the drop policies).

Readers of hub-ws-chat are python3-websockets clients; senders are raw
sockets, since a burst must be one write. Everything runs on 127.0.0.1
with ports chosen by the OS; every wait is bounded.
"""

import asyncio
import os
import random
import re
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ws"))
from ws_common import (PoolClient, Server, handshake,  # noqa: E402
                       need_websockets, read_head, run, split_frames,
                       wait_until, ws_frame)

WAIT = 120.0
KIND, BINARY = sys.argv[1], sys.argv[2]
SEED = int(os.environ.get("HUB_TEST_SEED", "0")) or random.randrange(1, 1 << 30)

if KIND == "ws":
    websockets = need_websockets()


# ---------------------------------------------------------------------------
# Raw clients: a TCP line client, and a WebSocket client that writes its own
# masked frames and parses the server's.
# ---------------------------------------------------------------------------

class RawClient(PoolClient):
    """A connected socket whose input is read continuously by a thread
    and split into messages (lines, or server frames)."""

    def __init__(self, port, path=None, rcvbuf=0, read=True):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(WAIT)
        self.sock.connect(("127.0.0.1", port))
        self.msgs = []
        self.ended = False
        self.buf = b""
        if path is not None:
            self.sock.sendall(handshake("127.0.0.1:%d" % port, path))
            head = read_head(self.sock)  # every frame stays in the kernel
            assert head.startswith(b"HTTP/1.1 101 "), head
        self.ws = path is not None
        self.thread = None
        if read:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()

    def _read(self):
        while not self.ended:
            self.on_readable()

    def on_data(self, chunk):
        self.buf += chunk
        self._split()

    def _split(self):
        if not self.ws:
            *lines, self.buf = self.buf.split(b"\n")
            self.msgs.extend(lines)
            return
        frames, self.buf = split_frames(self.buf)
        self.msgs.extend(p for op, p in frames if op in (1, 2))

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def lines(payloads):
    return b"".join(p + b"\n" for p in payloads)


def frames(payloads, opcode=1):
    return b"".join(ws_frame(p, opcode) for p in payloads)


# ---------------------------------------------------------------------------
# python3-websockets readers, in an event loop of their own.
# ---------------------------------------------------------------------------

class WsReaders:
    """`n` python3-websockets clients that read continuously."""

    def __init__(self, url, n):
        self.msgs = [[] for _ in range(n)]
        self.closed = [None] * n
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url, n),
                                       daemon=True)
        self.thread.start()
        if not self.ready.wait(WAIT):
            raise AssertionError("readers did not connect")

    def _run(self, url, n):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main(url, n))

    async def _main(self, url, n):
        self.stop = asyncio.Event()
        conns = [await websockets.connect(url, max_size=None,
                                          ping_interval=None)
                 for _ in range(n)]
        self.ready.set()
        tasks = [asyncio.ensure_future(self._reader(i, c))
                 for i, c in enumerate(conns)]
        await self.stop.wait()
        for c in conns:
            await c.close()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _reader(self, i, conn):
        try:
            async for m in conn:
                self.msgs[i].append(m if isinstance(m, bytes) else m.encode())
        except websockets.ConnectionClosed as e:
            self.closed[i] = e.code

    def close(self):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(WAIT)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def server(*args):
    """The program, with --slow-after 5 unless the test says otherwise:
    readers that keep up must never be judged, even on a loaded machine
    (under the sanitizers, beside other tests) where a reader process may
    not run for a while."""
    if "--slow-after" not in args:
        args = ("--slow-after", "5") + args
    return Server(BINARY, "--quiet", *args)


def final_dropped(srv):
    m = re.search(r"final stats: .*dropped (\d+) messages", srv.log())
    assert m, srv.log()
    return int(m.group(1))


def readers(srv, n):
    """n readers of the server's default room: raw line clients for TCP,
    python3-websockets clients for WebSocket. Returns (lists, closer)."""
    if KIND == "tcp":
        cs = [RawClient(srv.port) for _ in range(n)]
        return [c.msgs for c in cs], lambda: [c.close() for c in cs]
    rs = WsReaders(srv.url, n)
    return rs.msgs, rs.close


def sender(srv, read=True, rcvbuf=0):
    return RawClient(srv.port, None if KIND == "tcp" else "/ws",
                     rcvbuf=rcvbuf, read=read)


def burst(payloads, opcode=1):
    return lines(payloads) if KIND == "tcp" else frames(payloads, opcode)


def expect_all(lists, want, what):
    for i, got in enumerate(lists):
        wait_until(lambda: len(got) >= len(want), WAIT,
                   "%s: reader %d has %d of %d"
                   % (what, i, len(got), len(want)))
        assert got == want, "%s: reader %d got a different sequence" % (what, i)


# ---------------------------------------------------------------------------
# The reproductions
# ---------------------------------------------------------------------------

def test_one_write_of_empty_messages():
    """257 empty lines in one send() (TCP), 300 empty masked frames in one
    write (WebSocket): every reader gets every one."""
    count = 257 if KIND == "tcp" else 300
    srv = server()
    try:
        got, close = readers(srv, 5 if KIND == "tcp" else 20)
        s = sender(srv)
        s.send(burst([b""] * count))
        expect_all(got + [s.msgs], [b""] * count, "empty messages")
        close()
        s.close()
    finally:
        srv.stop()
    assert final_dropped(srv) == 0, srv.log()
    assert "dropped as slow" not in srv.log() or \
        re.search(r"\(0 dropped as slow\)", srv.log()), srv.log()


def test_drop_oldest_one_write_of_1000_frames():
    """Under drop-oldest, 1000 empty messages in one write (about 6 KB of
    frames, or 1000 newlines) reach each of 21 readers whole."""
    srv = server("--policy", "drop-oldest")
    try:
        got, close = readers(srv, 20)
        s = sender(srv)
        s.send(burst([b""] * 1000))
        expect_all(got + [s.msgs], [b""] * 1000, "drop-oldest")
        close()
        s.close()
    finally:
        srv.stop()
    assert final_dropped(srv) == 0, srv.log()


def test_messages_as_large_as_the_bound_back_to_back():
    """Two 600 kB messages in one write (binary frames; for TCP, whose
    longest line is 64 KiB, twenty lines of 60 kB: 1.2 MB, more than the
    1 MiB queue bound)."""
    if KIND == "tcp":
        big = [bytes([65 + i]) * 60000 for i in range(20)]
    else:
        big = [bytes([i]) * 600000 for i in range(2)]
    srv = server()
    try:
        got, close = readers(srv, 5)
        s = sender(srv)
        s.send(burst(big, opcode=2))
        expect_all(got + [s.msgs], big, "large messages")
        close()
        s.close()
    finally:
        srv.stop()
    assert final_dropped(srv) == 0, srv.log()


# ---------------------------------------------------------------------------
# The hub-wide memory budget
# ---------------------------------------------------------------------------

def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def budget_case(policy):
    """200 readers that never read and a budget of 32 MiB: the server's
    memory grows by less than the budget and a few MiB, the readers that
    keep up lose nothing, and the budget is what acted."""
    srv = server("--policy", policy, "--max-total-queue", "32M")
    try:
        stalled = [sender(srv, read=False, rcvbuf=4096) for _ in range(200)]
        got, close = readers(srv, 3)
        s = sender(srv)
        time.sleep(0.2)
        base = peak = rss_kib(srv.proc.pid)
        # 800 kB: under each reader's own bound (1 MiB), but 200 x what
        # the kernel does not hold is far over the budget.
        want = [b"%d:" % i + b"m" * 4000 for i in range(200)]
        # In steps of 10 (40 kB), each read by the readers that keep up
        # before the next: however loaded the machine, they never hold
        # as much as the readers that stopped (who hold all the rest), so
        # the budget never picks them.
        for i in range(0, len(want), 10):
            s.send(burst(want[i:i + 10], 2))
            for msgs in got + [s.msgs]:
                wait_until(lambda: len(msgs) >= i + 10, WAIT, "a step")
            peak = max(peak, rss_kib(srv.proc.pid))
        for msgs in got + [s.msgs]:
            wait_until(lambda: len(msgs) >= len(want) or
                       max(peak, rss_kib(srv.proc.pid)) < 0, WAIT,
                       "keep-up reader")
            peak = max(peak, rss_kib(srv.proc.pid))
            assert msgs == want
        growth = (peak - base) / 1024.0
        assert growth < 32 + 8, "RSS grew by %.1f MiB" % growth
        close()
        s.close()
        for c in stalled:
            c.close()
    finally:
        srv.stop()
    m = re.search(r"memory budget acted (\d+) times", srv.log())
    assert m and int(m.group(1)) > 0, srv.log()
    print("# %s: RSS grew by %.1f MiB, budget acted %s times"
          % (policy, growth, m.group(1)))


def test_memory_budget_disconnect():
    budget_case("disconnect")


def test_memory_budget_drop_oldest():
    budget_case("drop-oldest")


# ---------------------------------------------------------------------------
# Randomized: several senders, bursts of random sizes, every policy
# ---------------------------------------------------------------------------

MAX_MESSAGE = 64 * 1024 if KIND == "tcp" else 1 << 20


def random_burst(rng, who, seq):
    """Messages numbered from seq, as many as fit one burst of at most
    MAX_MESSAGE bytes: mostly small, now and then one large."""
    budget = rng.randrange(1, MAX_MESSAGE)
    out = []
    while budget > 0:
        size = rng.choice([0, 1, 10, 100, 1000, rng.randrange(1, budget + 1)])
        size = min(size, budget, MAX_MESSAGE - 32)
        tag = b"%d:%d:" % (who, seq)
        out.append(tag + b"x" * max(0, size - len(tag)))
        seq += 1
        budget -= max(size, 1) + 2
    return out, seq


def per_sender(msgs, k):
    seqs = [[] for _ in range(k)]
    for m in msgs:
        who, seq = m.split(b":", 2)[:2]
        seqs[int(who)].append(int(seq))
    return seqs


def randomized(policy):
    rng = random.Random(SEED)
    k, bursts = 3, 6
    srv = server("--policy", policy)
    try:
        stalled = sender(srv, read=False, rcvbuf=4096)
        got, close = readers(srv, 4)
        senders = [sender(srv) for _ in range(k)]
        sent = [0] * k
        for _ in range(bursts):
            order = list(range(k))
            rng.shuffle(order)
            for who in order:
                payloads, sent[who] = random_burst(rng, who, sent[who])
                senders[who].send(burst(payloads, rng.choice([1, 2])))
        # Then 3 MiB more, in messages of half the largest size, so that
        # the reader that never reads is over its bounds whatever the
        # random bursts were.
        size = MAX_MESSAGE // 2
        for _ in range(3 * (1 << 20) // size):
            tag = b"0:%d:" % sent[0]
            senders[0].send(burst([tag + b"y" * (size - len(tag))], 2))
            sent[0] += 1
        everyone = got + [s.msgs for s in senders]
        total = sum(sent)
        for i, msgs in enumerate(everyone):
            wait_until(lambda: len(msgs) >= total, 120,
                       "reader %d: %d of %d (seed %d)"
                       % (i, len(msgs), total, SEED))
            assert len(msgs) == total, (i, len(msgs), total)
            seqs = per_sender(msgs, k)
            for who in range(k):
                assert seqs[who] == list(range(sent[who])), \
                    "reader %d, sender %d: out of order or lost (seed %d)" \
                    % (i, who, SEED)
        close()
        for s in senders:
            s.close()
        stalled.close()
    finally:
        srv.stop()
    log = srv.log()
    m = re.search(r"clients \d+ \((\d+) dropped as slow\)", log)
    if policy == "disconnect":
        assert m and int(m.group(1)) == 1, log  # the stalled one, only
    else:
        assert m and int(m.group(1)) == 0, log
        assert final_dropped(srv) > 0, log  # ... which lost messages
    return total


def test_randomized_disconnect():
    randomized("disconnect")


def test_randomized_drop_oldest():
    randomized("drop-oldest")


def test_randomized_drop_newest():
    randomized("drop-newest")


if __name__ == "__main__":
    print("# seed %d (set HUB_TEST_SEED to repeat)" % SEED)
    run([(name, fn) for name, fn in sorted(globals().items())
         if name.startswith("test_") and callable(fn)])
