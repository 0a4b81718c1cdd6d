"""Lose nothing across reconnects and slow-consumer cuts: room history and
resume, against both programs, over real sockets.

usage: resume.py ws  PATH/TO/hub-ws-chat
       resume.py tcp PATH/TO/hub-tcp-echo

hub-ws-chat: clients offer the subprotocol libhub.v1 and get every room
message as "ID\\nPAYLOAD", notices as "!\\n{JSON}"; they resume with
GET /ws?room=R&since=ID. hub-tcp-echo: "/ids on" gives "ID LINE" and
"! {JSON}", "/resume ID ROOM" resumes. Checked: every client ends with
the complete sequence, each message once, in publish order, through
random disconnects and resumes, slow-consumer cuts and the catch-up
policy; a resume beyond the history says exactly how many were missed;
after a restart, that the stream started again.

The many clients are raw sockets driven by one selector loop (python3-
websockets checks the subprotocol and the framing of one client); the
server listens on 127.0.0.1, port 0; every wait is bounded.
"""

import asyncio
import json
import os
import random
import re
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ws"))
from ws_common import (Pool, PoolClient, Server, handshake,  # noqa: E402
                       need_websockets, read_head, run, split_frames,
                       ws_frame)

KIND, BINARY = sys.argv[1], sys.argv[2]
WAIT = 120.0
SEED = int(os.environ.get("HUB_TEST_SEED", "0")) or random.randrange(1, 1 << 30)

if KIND == "ws":
    websockets = need_websockets()


class Client(PoolClient):
    """A raw client of the room: it sends (lines or masked frames) and
    splits what it gets into (id, payload) room messages and notices."""

    def __init__(self, port, room="lobby", since=None):
        self.port, self.room = port, room
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.buf = b""
        self.msgs = []     # (id, payload) of room messages
        self.notices = []  # decoded JSON objects
        self.ended = False
        self.waiting_for = None
        if KIND == "ws":
            target = "/ws?room=%s" % room
            if since is not None:
                target += "&since=%s" % since
            self.sock.sendall(handshake(
                "127.0.0.1:%d" % port, target,
                extra="Sec-WebSocket-Protocol: libhub.v1\r\n"))
            head = read_head(self.sock)
            assert head.startswith(b"HTTP/1.1 101 "), head
            assert b"Sec-WebSocket-Protocol: libhub.v1\r\n" in head, head
        else:
            # Lines before the answer to the last command belong to the
            # room the connection started in: the protocol says to skip
            # them (docs/tcp.md).
            self.send(b"/ids on")
            self.waiting_for = "ids"
            if since is not None:
                self.send(b"/resume %s %s" % (since.encode(), room.encode()))
                self.waiting_for = "joined"
            elif room != "lobby":
                self.send(b"/join " + room.encode())
                self.waiting_for = "joined"
        self.sock.setblocking(False)

    def send(self, payload):
        self.send_blocking(ws_frame(payload) if KIND == "ws"
                           else payload + b"\n")

    def on_data(self, chunk):
        self.buf += chunk
        self._split()

    def _one(self, payload):
        if payload.startswith(b"!\n" if KIND == "ws" else b"! "):
            notice = json.loads(payload[2:])
            self.notices.append(notice)
            if notice.get("hub") == self.waiting_for:
                self.waiting_for = None
            return
        if self.waiting_for is not None:
            return
        sep = b"\n" if KIND == "ws" else b" "
        i = payload.find(sep)
        assert i > 0, payload[:80]
        self.msgs.append((payload[:i].decode(), payload[i + 1:]))

    def _split(self):
        if KIND == "tcp":
            *lines, self.buf = self.buf.split(b"\n")
            for line in lines:
                self._one(line)
            return
        frames, self.buf = split_frames(self.buf)
        for op, payload in frames:
            if op in (1, 2):
                self._one(payload)

    def losses(self):
        """The notices about lost messages (not acknowledgements)."""
        return [n for n in self.notices if n.get("hub") in ("gap", "reset")]

    def last_id(self):
        return self.msgs[-1][0] if self.msgs else "0"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def server(*args):
    """The program; readers that keep up must not be judged slow on a
    loaded machine: --slow-after 5 unless the test says otherwise."""
    if "--slow-after" not in args:
        args = ("--slow-after", "5") + args
    return Server(BINARY, "--quiet", *args)


def numbers(msgs):
    return [int(p) for _, p in msgs]


def complete(c, total):
    got = numbers(c.msgs)
    assert got == list(range(total)), \
        "not the complete sequence once in order (%d of %d, seed %d)" % (
            len(got), total, SEED)


def publish(pool, pub, start, count, window=200):
    """Send numbers start..start+count-1, `window` at a time, waiting for
    the publisher's own copies (it is in the room too)."""
    for i in range(start, start + count, window):
        end = min(i + window, start + count)
        data = b"".join((ws_frame(b"%d" % j) if KIND == "ws" else b"%d\n" % j)
                        for j in range(i, end))
        pub.sock.setblocking(True)
        pub.sock.sendall(data)
        pub.sock.setblocking(False)
        pool.until(lambda: len(pub.msgs) >= end, "the publisher's copies")


# ---------------------------------------------------------------------------

def test_ids_and_the_subprotocol_with_an_independent_client():
    if KIND != "ws":
        return
    srv = server()

    async def main():
        async with websockets.connect(srv.url, subprotocols=["libhub.v1"],
                                      ping_interval=None) as ws:
            assert ws.subprotocol == "libhub.v1"
            await ws.send("hello")
            m = await asyncio.wait_for(ws.recv(), 10)
            mid, payload = m.split("\n", 1)
            assert payload == "hello"
            assert re.fullmatch(r"[0-9a-f]{16}\.1", mid), mid
        # Without the subprotocol: plain payloads, no id.
        async with websockets.connect(srv.url, ping_interval=None) as ws:
            assert ws.subprotocol is None
            await ws.send(b"\x00bin")
            assert await asyncio.wait_for(ws.recv(), 10) == b"\x00bin"
    try:
        asyncio.run(main())
    finally:
        srv.stop()


def test_many_clients_reconnecting_at_random_lose_nothing():
    """200 clients, a fifth of them disconnecting at random moments and
    resuming after the last id they got, while 20,000 messages go by."""
    rng = random.Random(SEED)
    total, n = 20000, 200
    srv = server("--max-conns-per-ip", "0")
    pool = Pool()
    try:
        clients = [pool.add(Client(srv.port)) for _ in range(n)]
        pub = pool.add(Client(srv.port))
        movers = rng.sample(range(n), n // 5)
        kept = {}  # index -> messages of its earlier connections
        sent = 0
        while sent < total:
            step = min(total - sent, rng.randrange(100, 2000))
            publish(pool, pub, sent, step)
            sent += step
            for i in rng.sample(movers, len(movers) // 4):
                c = clients[i]
                pool.until(lambda: True, "")  # read what is there
                kept.setdefault(i, []).extend(c.msgs)
                since = (kept[i][-1][0] if kept[i] else "0")
                pool.remove(c)
                clients[i] = pool.add(Client(srv.port, since=since))
        for i, c in enumerate(clients):
            pool.until(lambda: len(kept.get(i, [])) + len(c.msgs) >= total,
                       "client %d: %d of %d" % (i, len(kept.get(i, [])) +
                                                len(c.msgs), total))
            whole = kept.get(i, []) + c.msgs
            assert numbers(whole) == list(range(total)), \
                "client %d lost or repeated messages (seed %d)" % (i, SEED)
            assert c.losses() == [], c.notices
        complete(pub, total)
    finally:
        pool.close_all()
        srv.stop()


def stalled_then_resume(policy):
    """A reader that stops reading (a tiny receive buffer, small bounds)
    while 3000 messages go by: under disconnect it is cut and resumes
    with everything it missed; under catch-up it is never cut."""
    srv = server("--policy", policy, "--max-queue-msgs", "16",
                 "--send-buffer", "4096", "--slow-after", "1",
                 "--history", "5000")
    pool = Pool()
    try:
        slow = Client(srv.port)
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        pub = pool.add(Client(srv.port))
        publish(pool, pub, 0, 3000, window=100)
        if policy == "disconnect":
            pool.add(slow)
            pool.until(lambda: slow.ended, "the cut")
            assert len(slow.msgs) < 3000
            again = pool.add(Client(srv.port, since=slow.last_id()))
            pool.until(lambda: len(slow.msgs) + len(again.msgs) >= 3000,
                       "the resumed client")
            complete_list = slow.msgs + again.msgs
            assert numbers(complete_list) == list(range(3000))
            assert again.losses() == [], again.notices
        else:
            pool.add(slow)
            pool.until(lambda: len(slow.msgs) >= 3000, "the slow reader")
            complete(slow, 3000)
            assert not slow.ended and slow.losses() == [], slow.notices
    finally:
        pool.close_all()
        srv.stop()
    if policy != "disconnect":
        assert "(0 dropped as slow)" in srv.log(), srv.log()


def test_cut_by_disconnect_resumes_with_everything():
    stalled_then_resume("disconnect")


def test_catch_up_is_never_cut():
    stalled_then_resume("catch-up")


def test_beyond_the_history_and_after_a_restart():
    srv = server("--history", "100")
    pool = Pool()
    try:
        pub = pool.add(Client(srv.port))
        publish(pool, pub, 0, 10)
        first_id = pub.msgs[0][0]
        publish(pool, pub, 10, 290)
        # Resuming after message 0: 1..199 are gone, 200..299 held.
        c = pool.add(Client(srv.port, since=first_id))
        pool.until(lambda: len(c.msgs) >= 100 and c.losses(), "the resume")
        assert c.losses() == [{"hub": "gap", "missed": 199}], c.notices
        assert numbers(c.msgs) == list(range(200, 300))
        # A newcomer from 0 sees the recent history and no notice.
        d = pool.add(Client(srv.port, since="0"))
        pool.until(lambda: len(d.msgs) >= 100, "the newcomer")
        assert numbers(d.msgs) == list(range(200, 300)) and d.losses() == []
        last = pub.last_id()
    finally:
        pool.close_all()
        srv.stop()
    srv = server("--history", "100")
    pool = Pool()
    try:
        pub = pool.add(Client(srv.port))
        publish(pool, pub, 0, 5)
        c = pool.add(Client(srv.port, since=last))
        pool.until(lambda: len(c.msgs) >= 5 and c.losses(), "the reset")
        assert c.losses() == [{"hub": "reset", "missed": None}], c.notices
        assert numbers(c.msgs) == list(range(5))
        assert c.msgs[0][0].split(".")[0] != last.split(".")[0]
    finally:
        pool.close_all()
        srv.stop()


if __name__ == "__main__":
    print("# seed %d (set HUB_TEST_SEED to repeat)" % SEED)
    run([(name, fn) for name, fn in sorted(globals().items())
         if name.startswith("test_") and callable(fn)])
