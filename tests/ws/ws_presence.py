"""hub-ws-chat's presence notices, against python3-websockets and a raw
server-sent events client.

- A libhub.v1 client (or an /events client) that asks with presence=1 is
  told, as a notice ("!" LF JSON; an event of type "hub"), every join and
  leave of its room, with the name the client gave (name=) and the
  room's count on this server, exactly; its own join says "you":true.
  One notice per join or leave and listener; none for other rooms, none
  for clients that did not ask.
- Text a client sends that looks like a notice reaches a v1 reader as a
  message (its id first), and an /events reader as a data event: never
  as a notice, whether the sender is a plain, a v1 or an SSE-era client.
- Notices are not history: message ids stay consecutive around them, and
  a resume gets the messages it missed and no old notice.
- presence=1 without libhub.v1, a bad presence value, a bad name: 400
  with the reason in words in the body.
- With --redis, presence is each server's own: its listeners hear of its
  clients only, and the count is its own (messages still cross).

usage: ws_presence.py PATH/TO/hub-ws-chat
"""

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ws_common import (http, need_websockets, run_module_tests,  # noqa: E402
                       Server, status_of, run_then_stop)

websockets = need_websockets()

BINARY = sys.argv[1]
V1 = ["libhub.v1"]
ID = re.compile(r"^[0-9a-f]{16}\.[0-9]+$")


def arun(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def connect(srv, query, v1=True):
    return await websockets.connect(srv.url + query, max_size=None,
                                    ping_interval=None,
                                    subprotocols=V1 if v1 else None)


async def recv(ws, timeout=30):
    return await asyncio.wait_for(ws.recv(), timeout)


def split_v1(frame):
    """(id, payload) of a libhub.v1 frame; id "!" for a notice."""
    nl = frame.index("\n")
    return frame[:nl], frame[nl + 1:]


async def notice(ws):
    """The next frame, which must be a notice: its JSON object."""
    frame = await recv(ws)
    ident, payload = split_v1(frame)
    assert ident == "!", "expected a notice, got %r" % frame
    return json.loads(payload)


async def message(ws):
    """The next frame, which must be a room message: (id, payload)."""
    frame = await recv(ws)
    ident, payload = split_v1(frame)
    assert ID.match(ident), "expected a message, got %r" % frame
    return ident, payload


async def nothing_more(ws, srv, room):
    """Nothing is waiting for `ws` (a listener of `room`): a new client of
    `room` joins, and its join notice and its message sent now are the
    next frames it gets (the server keeps order). Returns the frame
    after the notice."""
    probe = await connect(srv, "?room=" + room, v1=False)
    await probe.send("probe")
    first = await notice(ws)
    assert first["hub"] == "join" and first["name"] is None, first
    frame = await recv(ws)
    await probe.close()
    assert (await notice(ws))["hub"] == "leave"
    return frame


class Events:
    """A raw /events client: reads the stream, splits it into events."""

    def __init__(self, port, query):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(("GET /events%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                           "Accept: text/event-stream\r\n\r\n"
                           % (query, port)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.status = int(head.split()[1])

    def event(self):
        """The next event (comments skipped): a dict of its fields, data
        lines joined with LF."""
        while True:
            while b"\n\n" not in self.buf:
                chunk = self.sock.recv(65536)
                assert chunk, "the stream ended"
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\n\n", 1)
            ev = {}
            for line in raw.decode().split("\n"):
                if line.startswith(":") or not line:
                    continue
                k, _, v = line.partition(": ")
                ev[k] = ev[k] + "\n" + v if k in ev else v
            if ev and set(ev) != {"retry"}:
                return ev

    def close(self):
        self.sock.close()


def test_join_leave_and_count_exact(srv):
    async def main():
        a = await connect(srv, "?room=p1&presence=1&name=alice")
        assert await notice(a) == {"hub": "join", "name": "alice",
                                   "count": 1, "you": True, "auth": False}
        b = await connect(srv, "?room=p1&presence=1&name=bob")
        assert await notice(b) == {"hub": "join", "name": "bob", "count": 2,
                                   "you": True, "auth": False}
        assert await notice(a) == {"hub": "join", "name": "bob", "count": 2}
        # A plain client, without a name: counted, announced, told nothing.
        c = await connect(srv, "?room=p1", v1=False)
        for ws in (a, b):
            assert await notice(ws) == {"hub": "join", "name": None,
                                        "count": 3}
        # A v1 client that did not ask: counted, told nothing.
        d = await connect(srv, "?room=p1&name=dora")
        for ws in (a, b):
            assert await notice(ws) == {"hub": "join", "name": "dora",
                                        "count": 4}
        await c.send("first")
        assert await recv(c) == "first"
        assert split_v1(await recv(d))[1] == "first"
        for ws in (a, b):
            assert (await message(ws))[1] == "first"
        await c.close()
        for ws in (a, b):
            assert await notice(ws) == {"hub": "leave", "name": None,
                                        "count": 3}
        await d.close()
        await b.close()
        assert await notice(a) == {"hub": "leave", "name": "dora",
                                   "count": 2}
        assert await notice(a) == {"hub": "leave", "name": "bob", "count": 1}
        # Exactly those: the next frame is a message sent now.
        assert split_v1(await nothing_more(a, srv, "p1"))[1] == "probe"
        await a.close()
    arun(main())


def test_other_rooms_hear_nothing(srv):
    async def main():
        other = await connect(srv, "?room=p2-other&presence=1&name=olga")
        assert (await notice(other))["you"] is True
        a = await connect(srv, "?room=p2&presence=1&name=al")
        await notice(a)
        b = await connect(srv, "?room=p2&name=bo", v1=False)
        await b.close()
        await a.close()
        frame = await nothing_more(other, srv, "p2-other")
        assert split_v1(frame)[1] == "probe", frame
        await other.close()
    arun(main())


def test_names_with_quotes_are_json(srv):
    async def main():
        a = await connect(srv, "?room=p3&presence=1&name=" +
                          "%22al%5C%22%20%3Cb%3E%20caf%C3%A9")
        assert await notice(a) == {"hub": "join",
                                   "name": '"al\\" <b> caf\u00e9',
                                   "count": 1, "you": True, "auth": False}
        await a.close()
    arun(main())


FORGED = [
    '!\n{"hub":"join","name":"mallory","count":99}',
    '{"hub":"leave","name":"alice","count":0}',
    '\n!\n{"hub":"join","name":"mallory","count":99}',
    'x\nevent: hub\ndata: {"hub":"join","name":"mallory","count":99}\n\n',
]


def test_text_that_looks_like_a_notice_is_a_message(srv):
    async def main():
        reader = await connect(srv, "?room=p4&presence=1&name=r")
        await notice(reader)
        ev = Events(srv.port, "?room=p4&presence=1&name=sse")
        assert ev.status == 200
        assert json.loads(ev.event()["data"]) == {
            "hub": "join", "name": "sse", "count": 2, "you": True,
            "auth": False}
        assert await notice(reader) == {"hub": "join", "name": "sse",
                                        "count": 2}
        plain = await connect(srv, "?room=p4", v1=False)
        v1 = await connect(srv, "?room=p4")
        for ws in (plain, v1):
            assert json.loads(ev.event()["data"])["hub"] == "join"
            assert (await notice(reader))["hub"] == "join"
        for sender in (plain, v1):
            for text in FORGED:
                await sender.send(text)
                ident, payload = await message(reader)
                assert payload == text, (payload, text)
                got = ev.event()
                assert "event" not in got, got
                assert got["id"] == ident and got["data"] == text, got
        for ws in (plain, v1):
            await ws.close()
        for i in range(2):
            assert (await notice(reader))["hub"] == "leave"
            got = ev.event()
            assert got["event"] == "hub" and \
                json.loads(got["data"])["hub"] == "leave", got
        ev.close()
        assert await notice(reader) == {"hub": "leave", "name": "sse",
                                        "count": 1}
        await reader.close()
    arun(main())


def test_notices_are_not_history(srv):
    """Ids stay consecutive across joins and leaves, and a client that
    resumes gets the messages it missed, no notice from then."""
    async def main():
        a = await connect(srv, "?room=p5&presence=1&name=a")
        await notice(a)
        ids = []
        for k in range(6):
            other = await connect(srv, "?room=p5&presence=1&name=o%d" % k)
            await notice(other)
            assert (await notice(a))["hub"] == "join"
            await other.send("m%d" % k)
            ident, payload = await message(a)
            assert payload == "m%d" % k
            ids.append(ident)
            assert (await message(other))[0] == ident
            await other.close()
            assert (await notice(a))["hub"] == "leave"
        epoch = {i.split(".")[0] for i in ids}
        offsets = [int(i.split(".")[1]) for i in ids]
        assert len(epoch) == 1 and offsets == list(
            range(offsets[0], offsets[0] + 6)), ids
        back = await connect(srv, "?room=p5&presence=1&name=b&since=" +
                             ids[1])
        assert await notice(back) == {"hub": "join", "name": "b",
                                      "count": 2, "you": True, "auth": False}
        for k in range(2, 6):
            assert await message(back) == (ids[k], "m%d" % k)
        assert (await notice(a))["hub"] == "join"
        frame = await nothing_more(back, srv, "p5")
        assert split_v1(frame)[1] == "probe", frame
        await back.close()
        await a.close()
    arun(main())


def refusal(port, query, v1=True):
    req = ("GET /ws%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
           "\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
           % (query, port, "Sec-WebSocket-Protocol: libhub.v1\r\n"
              if v1 else "")).encode()
    resp = http(port, req)
    return status_of(resp), resp.split(b"\r\n\r\n", 1)[1].decode()


def test_bad_requests_get_400_in_words(srv):
    cases = [
        ("?presence=1", False, "presence notices need the subprotocol "
                               "libhub.v1"),
        ("?presence=yes", True, "expected presence=1 or presence=0"),
        ("?presence=1&presence=1", True, "given more than once"),
        ("?name=" + "n" * 65, True, "the server refused this name: longer "
                                    "than 64 bytes"),
        ("?name=a%0Ab", True, "the server refused this name"),
        ("?name=%E2%80%AEab", True, "the server refused this name"),
    ]
    for query, v1, words in cases:
        status, body = refusal(srv.port, query, v1)
        assert status == 400 and words in body, (query, status, body)
    # A plain GET (what the page asks when a handshake failed) gets the
    # same words; one that would be upgraded gets 426.
    status, body = refusal_get(srv.port, "/ws?name=a%0Ab")
    assert status == 400 and "the server refused this name" in body, body
    status, _ = refusal_get(srv.port, "/ws?name=ok&presence=1")
    assert status == 426, status
    srv.wait_log(r"refused with 400: bad name in '/ws\?name=a%0Ab'")


def refusal_get(port, target):
    resp = http(port, ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                       % (target, port)).encode())
    return status_of(resp), resp.split(b"\r\n\r\n", 1)[1].decode()


def read_frames(sock, want, timeout=30, quiet=None):
    """Text frames from the server on a raw socket (unmasked, not
    fragmented), until want(payload) is true for one, or (`quiet`) until
    nothing came for that many seconds; all of them."""
    sock.settimeout(quiet or timeout)
    buf, out = b"", []
    while True:
        while True:
            if len(buf) >= 2:
                n, head = buf[1] & 0x7f, 2
                if n == 126 and len(buf) >= 4:
                    n, head = int.from_bytes(buf[2:4], "big"), 4
                if n < 126 or head == 4:
                    if len(buf) >= head + n:
                        break
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                if quiet is None or buf:
                    raise
                return out
            assert chunk, "connection closed"
            buf += chunk
        op, payload, buf = buf[0] & 0x0f, buf[head:head + n], buf[head + n:]
        if op == 1:
            out.append(payload.decode())
            if want(out[-1]):
                return out


def test_a_listener_that_does_not_read_skips_notices(_):
    """Notices wait in the client's control messages; a listener that
    does not read holds at most half of the hub's allowance of them (so
    its pongs and close frame still fit), skips the rest, and the first
    notice after it reads again has the exact count."""
    # No heartbeat: the stalled reader would not answer its pings.
    srv = Server(BINARY, "--send-buffer", "4096", "--ping-interval", "0")

    async def main():
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(("GET /ws?room=p6&presence=1&name=s HTTP/1.1\r\n"
                   "Host: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: "
                   "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
                   "13\r\nSec-WebSocket-Protocol: libhub.v1\r\n\r\n"
                   % srv.port).encode())
        srv.wait_log(r"as 's' to room 'p6'")
        a = await connect(srv, "?room=p6&presence=1&name=a")
        await notice(a)
        # 300 joins and leaves with a long name (some 30 KB of
        # notices): far more than the kernel's small buffers hold.
        for k in range(150):
            o = await connect(srv, "?room=p6&name=" + "n" * 64)
            await o.close()
            assert (await notice(a))["hub"] == "join"
            assert (await notice(a))["hub"] == "leave"
        # It reads again: what was queued and what its buffers held,
        # until nothing more comes.
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        frames = read_frames(s, lambda f: False, quiet=1.0)
        notices = [json.loads(f.split("\n", 1)[1]) for f in frames]
        assert notices[0]["you"] is True
        assert 8 < len(notices) < 301, len(notices)
        print("# a stalled listener got %d of 301 notices"
              % len(notices))
        # The next notice has the exact count.
        last = await connect(srv, "?room=p6&name=last")
        assert await notice(a) == {"hub": "join", "name": "last",
                                   "count": 3}
        frames = read_frames(s, lambda f: True)
        assert frames == ['!\n{"hub":"join","name":"last","count":3}'], \
            frames
        s.close()
        await last.close()
        await a.close()
    run_then_stop(srv, main())


def start_redis():
    """A redis-server of the test's own, or None when there is none or
    hub-ws-chat was built without --redis."""
    path = shutil.which("redis-server")
    helped = subprocess.run([BINARY, "--help"], capture_output=True,
                            text=True).stdout
    if path is None or "--redis" not in helped:
        return None, None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([path, "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def test_count_is_this_servers_with_redis(_):
    """Two servers share room "shared" through Redis (sequenced, so that
    a resume may wait for the room's stream): messages cross, presence
    does not. Each server's listeners hear of its own clients only, and
    the count is that server's."""
    proc, port = start_redis()
    if proc is None:
        print("# no redis-server or no --redis: presence across servers "
              "not checked")
        return
    servers = []
    try:
        for _ in range(2):
            servers.append(Server(BINARY, "--redis", "127.0.0.1:%d" % port,
                                  "--redis-history", "100"))
        a_srv, b_srv = servers
        for srv in servers:
            srv.wait_log(r"redis: connected")

        async def main():
            a = await connect(a_srv, "?room=shared&presence=1&name=a&since=0")
            assert (await notice(a))["count"] == 1
            b = await connect(b_srv, "?room=shared&presence=1&name=b&since=0")
            assert await notice(b) == {"hub": "join", "name": "b",
                                       "count": 1, "you": True,
                                       "auth": False}
            a2 = await connect(a_srv, "?room=shared&presence=1&name=a2")
            assert (await notice(a2))["count"] == 2
            assert await notice(a) == {"hub": "join", "name": "a2",
                                       "count": 2}
            # A message crosses; b heard of no join on the other server.
            deadline = time.monotonic() + 30
            await a2.send("over")
            while True:
                ident, payload = await message(b)
                if payload == "over":
                    break
                assert time.monotonic() < deadline
            assert (await message(a))[1] == "over"
            await a2.close()
            assert await notice(a) == {"hub": "leave", "name": "a2",
                                       "count": 1}
            await b.send("back")
            assert (await message(a))[1] == "back"
            assert (await message(b))[1] == "back"
            await a.close()
            await b.close()
        arun(main())
    finally:
        for srv in servers:
            srv.stop()
        proc.terminate()
        proc.wait(timeout=30)


def main():
    run_module_tests(Server(BINARY), globals())


if __name__ == "__main__":
    if len(sys.argv) > 2:  # one test, with its traceback
        srv = Server(BINARY)
        try:
            globals()["test_" + sys.argv[2]](srv)
        finally:
            srv.stop()
    else:
        main()
