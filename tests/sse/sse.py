"""Server-sent events in hub-ws-chat (GET /events), over real sockets with
a plain HTTP client.

usage: sse.py PATH/TO/hub-ws-chat

Checked: the response head and the event framing (ids, one data line per
line of the payload for CRLF, CR and LF, binary as base64, notices as
events of type "hub"); resuming with Last-Event-ID and with the
last-event-id parameter, "0" from the oldest message held, and a resume
beyond the history (an exact gap notice); the Origin rules of /ws; the
heartbeat comments; and 100 SSE clients beside 100 WebSocket clients in
one room, a publisher on WebSocket, the SSE clients dropping and
reconnecting with Last-Event-ID at random: each ends with the whole
sequence, once each, in order. Every server listens on 127.0.0.1, port 0.
"""

import base64
import contextlib
import json
import os
import random
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ws"))
from ws_common import (Pool, PoolClient, Server, handshake,  # noqa: E402
                       read_head, run, split_frames, ws_frame)

BINARY = sys.argv[1]
WAIT = 120.0
SEED = int(os.environ.get("HUB_TEST_SEED", "0")) or random.randrange(1, 1 << 30)


class SseClient(PoolClient):
    """GET /events, then the stream split into events (dicts of id, event,
    data) and comments."""

    def __init__(self, port, room="lobby", last=None, header=True,
                 extra=""):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        target = "/events?room=%s" % room
        hdr = ""
        if last is not None and header:
            hdr = "Last-Event-ID: %s\r\n" % last
        elif last is not None:
            target += "&last-event-id=%s" % last
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                           "Accept: text/event-stream\r\n%s%s\r\n"
                           % (target, port, hdr, extra)).encode())
        self.head, self.buf = None, b""
        self.events, self.comments, self.ended = [], [], False
        self.sock.setblocking(False)

    def on_data(self, chunk):
        self.buf += chunk
        if self.head is None:
            if b"\r\n\r\n" not in self.buf:
                return
            self.head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        *blocks, self.buf = self.buf.split(b"\n\n")
        for block in blocks:
            ev = {}
            for line in block.split(b"\n"):
                if line.startswith(b":"):
                    self.comments.append(line)
                    continue
                name, _, value = line.partition(b":")
                value = value[1:] if value.startswith(b" ") else value
                if name == b"data":
                    ev["data"] = (ev["data"] + b"\n" + value
                                  if "data" in ev else value)
                elif name in (b"id", b"event", b"retry"):
                    ev[name.decode()] = value.decode()
            if "data" in ev:
                self.events.append(ev)

    def messages(self):
        return [e for e in self.events if e.get("event") != "hub"]

    def notices(self):
        return [json.loads(e["data"]) for e in self.events
                if e.get("event") == "hub"]

    def last_id(self):
        ids = [e["id"] for e in self.events if "id" in e]
        return ids[-1] if ids else None

    def close(self):
        self.sock.close()


class WsClient(PoolClient):
    """A raw WebSocket client of a room (frames are parsed only to count
    and read them)."""

    def __init__(self, port, room="lobby"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.sock.sendall(handshake("127.0.0.1:%d" % port,
                                    "/ws?room=%s" % room))
        head = read_head(self.sock)
        assert head.startswith(b"HTTP/1.1 101 "), head
        self.buf, self.msgs, self.ended = b"", [], False
        self.sock.setblocking(False)

    def send(self, payload, opcode=1):
        self.send_blocking(ws_frame(payload, opcode))

    def on_data(self, chunk):
        frames, self.buf = split_frames(self.buf + chunk)
        self.msgs += [p for op, p in frames if op in (1, 2)]

    def close(self):
        self.sock.close()


def server(*args):
    return Server(BINARY, "--quiet", "--slow-after", "5", *args)


@contextlib.contextmanager
def serving(*args):
    """hub-ws-chat started with `args`, and a Pool for the test's clients:
    the clients are closed first, then the server must stop cleanly."""
    srv = server(*args)
    pool = Pool()
    try:
        yield srv, pool
    finally:
        pool.close_all()
        srv.stop()


def test_the_stream_and_its_events():
    with serving() as (srv, pool):
        sse = pool.add(SseClient(srv.port, room="r"))
        pool.until(lambda: sse.head is not None, "the head")
        head = sse.head.decode()
        assert head.startswith("HTTP/1.1 200 OK\r\n"), head
        for h in ("Content-Type: text/event-stream", "Cache-Control: no-cache",
                  "X-Accel-Buffering: no"):
            assert h in head, head
        ws = pool.add(WsClient(srv.port, room="r"))
        ws.send(b"one\r\ntwo\rthree\nfour")
        ws.send(b"")
        ws.send(b"\x00\xffbin", opcode=2)
        pool.until(lambda: len(sse.messages()) >= 3, "three events")
        m = sse.messages()
        assert m[0]["data"] == b"one\ntwo\nthree\nfour", m[0]
        assert m[1]["data"] == b"", m[1]
        assert m[2].get("event") == "binary", m[2]
        assert base64.b64decode(m[2]["data"]) == b"\x00\xffbin", m[2]
        assert [e["id"].split(".")[1] for e in m] == ["1", "2", "3"], m
        assert sse.events[0] == {"retry": "1000", "data": b""} or \
            "retry" not in sse.events[0]


def test_resume_with_last_event_id_and_beyond_the_history():
    with serving("--history", "10") as (srv, pool):
        ws = pool.add(WsClient(srv.port, room="r"))
        for i in range(30):
            ws.send(b"m%d" % i)
        pool.until(lambda: len(ws.msgs) >= 30, "the publisher's copies")
        a = pool.add(SseClient(srv.port, room="r", last="0"))
        pool.until(lambda: len(a.messages()) >= 10, "from the oldest")
        assert [e["data"] for e in a.messages()] == \
            [b"m%d" % i for i in range(20, 30)]
        old = a.messages()[2]["id"]  # m22
        b = pool.add(SseClient(srv.port, room="r", last=old, header=False))
        pool.until(lambda: len(b.messages()) >= 7, "after m22")
        assert [e["data"] for e in b.messages()] == \
            [b"m%d" % i for i in range(23, 30)]
        epoch = old.split(".")[0]
        c = pool.add(SseClient(srv.port, room="r", last=epoch + ".3"))
        pool.until(lambda: len(c.messages()) >= 10 and c.notices(), "gap")
        assert c.notices() == [{"hub": "gap", "missed": 17}], c.notices()
        assert c.events[0].get("event") == "hub", c.events[:2]
        bad = pool.add(SseClient(srv.port, room="r", last="nonsense"))
        pool.until(lambda: bad.head is not None, "a refusal")
        assert bad.head.startswith(b"HTTP/1.1 400 "), bad.head


def test_origin_rules_and_heartbeat():
    with serving("--ping-interval", "0.2") as (srv, pool):
        evil = pool.add(SseClient(srv.port, extra="Origin: http://evil.example\r\n"))
        pool.until(lambda: evil.head is not None, "a refusal")
        assert evil.head.startswith(b"HTTP/1.1 403 "), evil.head
        ok = pool.add(SseClient(srv.port, extra="Origin: http://127.0.0.1:%d\r\n"
                                % srv.port))
        pool.until(lambda: len(ok.comments) >= 2, "two heartbeats", timeout=10)
        assert ok.comments[0] == b": ping", ok.comments
        assert not ok.ended


def test_100_sse_and_100_ws_clients_reconnecting_at_random():
    rng = random.Random(SEED)
    total = 5000
    with serving("--history", "10000") as (srv, pool):
        sse = [pool.add(SseClient(srv.port, room="big")) for _ in range(100)]
        ws = [pool.add(WsClient(srv.port, room="big")) for _ in range(100)]
        pub = pool.add(WsClient(srv.port, room="big"))
        pool.until(lambda: all(c.head is not None for c in sse), "streams")
        kept = [[] for _ in sse]
        sent = 0
        while sent < total:
            step = min(total - sent, rng.randrange(50, 500))
            for i in range(sent, sent + step):
                pub.send(b"%d" % i)
            sent += step
            pool.until(lambda: len(pub.msgs) >= sent, "the publisher")
            for i in rng.sample(range(100), 10):
                kept[i] += sse[i].messages()
                last = kept[i][-1]["id"] if kept[i] else "0"
                pool.remove(sse[i])
                sse[i] = pool.add(SseClient(srv.port, room="big", last=last))
        for i, c in enumerate(sse):
            pool.until(lambda: len(kept[i]) + len(c.messages()) >= total,
                       "sse client %d" % i)
            got = [int(e["data"]) for e in kept[i] + c.messages()]
            assert got == list(range(total)), \
                "sse client %d lost or repeated (seed %d)" % (i, SEED)
            assert c.notices() == [], c.notices()
        for i, c in enumerate(ws):
            pool.until(lambda: len(c.msgs) >= total, "ws client %d" % i)
            assert [int(m) for m in c.msgs] == list(range(total))
    assert "(0 dropped as slow)" in srv.log(), srv.log()


if __name__ == "__main__":
    print("# seed %d (set HUB_TEST_SEED to repeat)" % SEED)
    run([(name, fn) for name, fn in sorted(globals().items())
         if name.startswith("test_") and callable(fn)])
