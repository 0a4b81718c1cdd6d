"""hub-ws-chat's rooms and gap notices, against an independent client
(python3-websockets) and raw sockets.

- /ws?room=NAME puts a client in room NAME; /ws alone (or an empty name)
  in "lobby". A message goes to every client of its sender's room, the
  sender included, with its type and bytes, and to no one else.
- Room names are percent-decoded; a bad one gets 400, never a 101.
- Under --policy drop-oldest a client that lost messages gets a text
  message {"hub":"gap","dropped":N} before the next ones: messages
  received plus the numbers announced add up to the messages sent, also
  when the server's pings wait in the same queue as the messages and
  share the notices' allowance of control messages.

usage: ws_rooms.py PATH/TO/hub-ws-chat
"""

import asyncio
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ws_common import (handshake, http, need_websockets,  # noqa: E402
                       run_module_tests, Server, status_of, run_then_stop)

websockets = need_websockets()
from websockets.exceptions import InvalidStatusCode  # noqa: E402

BINARY = sys.argv[1]
NOTICE = re.compile(r'^\{"hub":"gap","dropped":([1-9][0-9]*)\}$')
FINAL = (r"final stats: clients (\d+) \(\d+ dropped as slow\), broadcasts "
         r"(\d+), delivered (\d+) messages")


def arun(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def connect(srv, query=""):
    return await websockets.connect(srv.url + query, max_size=None,
                                    ping_interval=None)


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), 30)


async def recv_n(ws, n):
    return [await recv(ws) for _ in range(n)]


async def sentinel(srv, query, members):
    """A new client of the room sends one last message: every member's
    next message must be it. Whatever was sent before it to the wrong
    room would come first (each client's queue is in order)."""
    s = await connect(srv, query)
    word = "sentinel %s" % query
    await s.send(word)
    for ws in members + [s]:
        got = await recv(ws)
        assert got == word, (query, got)
    await s.close()


def final_counts(srv):
    """clients, messages sent to rooms, messages delivered."""
    m = srv.wait_log(FINAL)
    return tuple(int(g) for g in m.groups())


# ---------------------------------------------------------------------------
# Rooms


def test_messages_go_to_the_senders_room_only(_):
    srv = Server(BINARY)
    try:
        async def main():
            r1, r2 = await connect(srv, "?room=red"), await connect(srv, "?room=red")
            b1 = await connect(srv, "?room=blue")
            lobby = await connect(srv)
            await r1.send("red says hi")
            await r1.send(b"\x00\xff red binary \x80")
            await b1.send("blue says hi")
            await lobby.send("lobby says hi")
            # Same type and bytes, the sender included.
            for ws in (r1, r2):
                assert await recv_n(ws, 2) == ["red says hi",
                                               b"\x00\xff red binary \x80"]
            assert await recv(b1) == "blue says hi"
            assert await recv(lobby) == "lobby says hi"
            # Nothing else reached anyone.
            await sentinel(srv, "?room=red", [r1, r2])
            await sentinel(srv, "?room=blue", [b1])
            await sentinel(srv, "", [lobby])
            for ws in (r1, r2, b1, lobby):
                await ws.close()
        arun(main())
        srv.wait_log(r"#1: connected from 127\.0\.0\.1:\d+ to room 'red' ")
        srv.wait_log(r"#4: connected from 127\.0\.0\.1:\d+ to room 'lobby' ")
    finally:
        srv.stop()
    # 4 messages + 3 sentinels sent to rooms; delivered: 2 x 2 in red,
    # 1 in blue, 1 in the lobby, and the sentinels 3 + 2 + 2.
    assert final_counts(srv) == (7, 7, 13), final_counts(srv)


def test_default_room_is_lobby(srv):
    async def main():
        queries = ["", "?room=", "?room", "?room=lobby", "?x=1&y",
                   "?roomy=red&room=&z"]
        clients = [await connect(srv, q) for q in queries]
        red = await connect(srv, "?room=red")
        for i, ws in enumerate(clients):
            await ws.send("from %d" % i)
        want = ["from %d" % i for i in range(len(clients))]
        for ws in clients:
            assert sorted(await recv_n(ws, len(clients))) == want
        await sentinel(srv, "?room=red", [red])
        await sentinel(srv, "", clients)
        for ws in clients + [red]:
            await ws.close()
    arun(main())


def test_two_busy_rooms_stay_apart(srv):
    async def main():
        per, n = 40, 4
        rooms = {name: [await connect(srv, "?room=" + name) for _ in range(n)]
                 for name in ("north", "south")}

        async def talk(name, i, ws):
            for k in range(per):
                await ws.send("%s %d %d" % (name, i, k))

        await asyncio.gather(*(talk(name, i, ws)
                               for name, members in rooms.items()
                               for i, ws in enumerate(members)))
        for name, members in rooms.items():
            for ws in members:
                got = await recv_n(ws, per * n)
                # Everything from its own room, each sender in order.
                for i in range(n):
                    mine = [m for m in got if m.startswith("%s %d " % (name, i))]
                    assert mine == ["%s %d %d" % (name, i, k)
                                    for k in range(per)], (name, i, mine[:3])
        for name, members in rooms.items():
            await sentinel(srv, "?room=" + name, members)
        for members in rooms.values():
            for ws in members:
                await ws.close()
    arun(main())


def test_room_names_are_percent_decoded(srv):
    async def main():
        same = [["?room=caf%C3%A9", "?room=caf%c3%a9"],  # hex in any case
                ["?room=a+b", "?room=a%20b"],            # + is a space
                ["?room=a%26b", "?room=%61%26%62&x=1"],  # & inside a name
                ["?room=" + "x" * 255, "?room=" + "%78" * 255]]
        groups = [[await connect(srv, q) for q in g] for g in same]
        # Names are compared byte for byte: another case, another room.
        upper = await connect(srv, "?room=CAF%C3%A9")
        for g in groups:
            await g[0].send("hello")
            for ws in g:
                assert await recv(ws) == "hello"
        await sentinel(srv, "?room=CAF%C3%A9", [upper])
        for q, g in zip(same, groups):
            await sentinel(srv, q[1], g)
        for g in groups:
            for ws in g:
                await ws.close()
        await upper.close()
    arun(main())


BAD_ROOMS = [
    "%", "%4", "%zz", "%G0", "abc%",                 # bad percent-encoding
    "%00", "a%0Ab", "%09", "%7F", "%C2%85",          # control characters
    "%C2%9B31m", "%1B%5B31m",                        # C1 and C0 CSI
    "a%E2%80%AEb", "%E2%80%8F", "%E2%81%A6x",        # bidi controls
    "%D8%9C", "%E2%80%AA",
    "%C3", "%C3%28", "%C0%AF", "%ED%A0%80",          # not UTF-8
    "%F4%90%80%80", "%FF",
    "x" * 256, "%E2%82%AC" * 86,                     # over 255 bytes
    "a&room=b",                                      # two names
]

# The same, not percent-encoded: bytes that http-parser lets through in a
# request target.
RAW_BAD_ROOMS = [b"\xc2\x9b31m", b"a\xe2\x80\xaeb", b"\xc3\x28"]

# Printable text a log line may hold: no control or bidi character, and
# no byte that was not UTF-8 (decoded as U+FFFD).
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f"
                    "\u202a-\u202e\u2066-\u2069\ufffd]")


def test_invalid_room_names_get_400(srv):
    hp = "127.0.0.1:%d" % srv.port
    before = srv.count_log(r"bad room name in ")
    for bad in BAD_ROOMS:
        r = http(srv.port, handshake(hp, path="/ws?room=" + bad))
        assert status_of(r) == 400, (bad, r[:80])
        assert b"101" not in r.split(b"\r\n")[0], r
    for bad in RAW_BAD_ROOMS:
        r = http(srv.port, handshake(hp).replace(b"GET /ws ",
                                                 b"GET /ws?room=" + bad + b" "))
        assert status_of(r) == 400, (bad, r[:80])
    srv.wait_log(r"bad room name in '[^']*': bad percent-encoding")
    srv.wait_log(r"bad room name in '/ws\?room=%C2%9B31m': has a control "
                 r"character$")
    srv.wait_log(r"bad room name in '/ws\?room=a%E2%80%AEb': has a "
                 r"bidirectional control character$")
    srv.wait_log(r"bad room name in '[^']*': not UTF-8$")
    srv.wait_log(r"bad room name in '[^']*': longer than 255 bytes")
    srv.wait_log(r"bad room name in '[^']*': the parameter room is given "
                 r"more than once")
    # Raw bytes from the client are escaped in the log.
    srv.wait_log(r"bad room name in '/ws\?room=\\u\{009B\}31m': has a "
                 r"control character$")
    srv.wait_log(r"bad room name in '/ws\?room=a\\u\{202E\}b': has a "
                 r"bidirectional control character$")
    srv.wait_log(r"bad room name in '/ws\?room=\\xC3\(': not UTF-8$")
    assert srv.count_log(r"bad room name in ") - before == \
        len(BAD_ROOMS) + len(RAW_BAD_ROOMS)
    assert not [ln for ln in srv.log().splitlines() if UNSAFE.search(ln)], \
        [ln for ln in srv.log().splitlines() if UNSAFE.search(ln)]

    async def main():
        try:
            await connect(srv, "?room=%00")
            raise AssertionError("upgraded with a bad room name")
        except InvalidStatusCode as e:
            assert e.status_code == 400
        # The server still serves.
        ws = await connect(srv, "?room=fine")
        await ws.send("ok")
        assert await recv(ws) == "ok"
        await ws.close()
    arun(main())


# ---------------------------------------------------------------------------
# Log lines


def refused(port, request):
    """Send `request` on a new connection and read until the server
    closes it; return the status and this end's port (the log names it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        mine = s.getsockname()[1]
        s.sendall(request)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return status_of(out), mine
            out += chunk


def test_each_refusal_is_logged_once_with_why(srv):
    hp = ("127.0.0.1:%d" % srv.port).encode()
    cases = [
        (handshake("evil.example"), 421,
         r"Host is not a name of this server \(see --host\): "
         r"'evil\.example'"),
        (b"GET /nope HTTP/1.1\r\nHost: %s\r\n\r\n" % hp, 404,
         r"no page at '/nope'"),
        (b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\n\r\n" % hp,
         405, r"POST is not allowed for the page"),
        (handshake(hp.decode(), path="/ws?room=%zz"), 400,
         r"bad room name in '/ws\?room=%zz': bad percent-encoding"),
        (b"GET / HTTP/1.1\r\n\r\n", 400, r"no Host header"),
    ]
    ports = []
    for request, status, why in cases:
        got, port = refused(srv.port, request)
        assert got == status, (request, got)
        srv.wait_log(r"^\S+ 127\.0\.0\.1:%d: refused with %d: %s$"
                     % (port, status, why))
        ports.append(port)
    # Lines are written in order: once a last refusal is in, any second
    # line about the ones before would be too.
    _, last = refused(srv.port, b"GET /last HTTP/1.1\r\nHost: %s\r\n\r\n"
                      % hp)
    srv.wait_log(r"127\.0\.0\.1:%d: refused with 404: no page at '/last'"
                 % last)
    for port in ports:
        assert srv.count_log(r"127\.0\.0\.1:%d: " % port) == 1, srv.log()
    assert srv.count_log(r"refused by the application") == 0, srv.log()


def test_a_room_line_counts_the_rooms_clients(srv):
    async def main():
        a1 = await connect(srv, "?room=count-a")
        a2 = await connect(srv, "?room=count-a")
        b1 = await connect(srv, "?room=count-b")
        # The server has three clients (at least); the rooms two and one.
        srv.wait_log(r"to room 'count-a' \(1 clients in the room\)$")
        srv.wait_log(r"to room 'count-a' \(2 clients in the room\)$")
        srv.wait_log(r"to room 'count-b' \(1 clients in the room\)$")
        for ws in (a1, a2, b1):
            await ws.close()
    arun(main())


# ---------------------------------------------------------------------------
# Gap notices

SIZE = 16 * 1024
WINDOW = 8


def stalled_client(port, query):
    """A raw client with a small receive buffer that completes the
    handshake and then reads nothing until told to."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(60)
    s.connect(("127.0.0.1", port))
    s.sendall(handshake("127.0.0.1:%d" % port, path="/ws" + query))
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)  # byte by byte: leave every frame in the kernel
    assert head.startswith(b"HTTP/1.1 101 "), head
    return s


class FrameReader:
    """Server frames from a raw socket: (opcode, payload)."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def frame(self):
        """The next complete frame in the buffer, or None."""
        b = self.buf
        if len(b) < 2:
            return None
        n, length = 2, b[1] & 0x7F
        if length == 126:
            n = 4
        elif length == 127:
            n = 10
        if len(b) < n:
            return None
        if n > 2:
            length = int.from_bytes(b[2:n], "big")
        if len(b) < n + length:
            return None
        assert b[0] & 0x80, "a fragmented server frame"
        self.buf = b[n + length:]
        return b[0] & 0x0F, b[n:n + length]

    def next(self):
        while True:
            f = self.frame()
            if f is not None:
                return f
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the connection"
            self.buf += chunk


def keep_alive(sock, period, stop):
    """Send an unsolicited pong (masked, empty) every `period` seconds
    until `stop` is set: the server hears from the client, so the pings it
    queues while the client reads nothing do not time it out."""
    while not stop.wait(period):
        sock.sendall(b"\x8a\x80\x00\x00\x00\x00")


def gap_notices(trickle, heartbeat=False):
    """A stalled client in a busy room; with `trickle`, once it has lost
    messages it reads that many bytes after every tenth window of
    messages (a slow reader rather than a stalled one: many catch-ups,
    many notices). With `heartbeat`, the server pings every 2 s and the
    client, silent for 3 s at a time, answers none of them but stays
    alive, while it stalls for longer than that: pings wait in its queue
    among the messages and share the notices' allowance of control
    messages. Returns the notices."""
    # No heartbeat by default: the stalled client would not answer.
    srv = Server(BINARY, "--policy", "drop-oldest", "--max-queue-msgs", "16",
                 "--ping-interval", "2" if heartbeat else "0")
    stop = threading.Event()
    try:
        stalled = stalled_client(srv.port, "?room=busy")
        srv.wait_log(r"#1: connected .* to room 'busy'")
        if heartbeat:
            threading.Thread(target=keep_alive, args=(stalled, 3, stop),
                             daemon=True).start()
        reader = FrameReader(stalled)
        data, notices, stream, pings = [], [], [], []

        def take(op, payload):
            """Account for one frame of the stalled client; return the
            text of anything that is neither data nor a notice."""
            if op == 9:
                assert heartbeat, "a ping without a heartbeat"
                pings.append(payload)
                return None
            if op == 2:
                assert len(payload) == SIZE
                data.append(int(payload[:8]))
                stream.append(("data", data[-1]))
                return None
            assert op == 1, op
            m = NOTICE.match(payload.decode())
            assert m, payload[:80]
            notices.append(int(m.group(1)))
            stream.append(("notice", notices[-1]))
            return None

        def read_some(nbytes):
            """Read `nbytes` (the server holds far more for this client
            by now: its socket buffers are full)."""
            while nbytes > 0:
                chunk = stalled.recv(min(nbytes, 65536))
                assert chunk, "the server closed the connection"
                nbytes -= len(chunk)
                reader.buf += chunk
                while True:
                    f = reader.frame()
                    if f is None:
                        break
                    take(*f)

        async def main():
            sender = await connect(srv, "?room=busy")
            fast = await connect(srv, "?room=busy")
            elsewhere = await connect(srv, "?room=calm")
            sent = 0
            loop = asyncio.get_running_loop()

            async def publish(count, trickle=0):
                """Numbered binary messages, WINDOW at a time: the fast
                clients keep up, the stalled one cannot."""
                nonlocal sent
                body = b"x" * (SIZE - 8)
                for w in range(0, count // WINDOW):
                    for _ in range(WINDOW):
                        await sender.send(b"%08d" % sent + body)
                        sent += 1
                    for ws in (sender, fast):
                        for _ in range(WINDOW):
                            m = await recv(ws)
                            assert isinstance(m, bytes) and len(m) == SIZE
                    if trickle and w % 10 == 9:
                        await loop.run_in_executor(None, read_some, trickle)

            # Until the stalled client's queue overflows (the kernel's
            # buffers fill first), then more, for several gaps' worth.
            while srv.count_log(r"#1: dropped \d+ messages .*oldest evicted") == 0:
                await publish(WINDOW)
                assert sent < 5000, "the stalled client never lost anything"
            await publish(800 if trickle else 400, trickle)
            if heartbeat:
                # Long enough for a ping to be queued behind the messages.
                deadline = time.monotonic() + 2.5
                while time.monotonic() < deadline:
                    await publish(WINDOW)
                    await asyncio.sleep(0.1)

            # The stalled client reads everything. Markers (text) follow;
            # the notice for the last drops may come after the first
            # marker (it waits while a ping is queued, and is tried again
            # every 20 ms), so keep sending markers until the accounts
            # close, for a few seconds at most (the sanitizers are slow).
            for k in range(100):
                if k >= 5:
                    await asyncio.sleep(0.05)
                marker = "marker %d" % k
                await sender.send(marker)
                for ws in (sender, fast):
                    assert await recv(ws) == marker
                while True:
                    op, payload = await loop.run_in_executor(None, reader.next)
                    if op == 1 and payload == marker.encode():
                        break
                    take(op, payload)
                if len(data) + sum(notices) == sent:
                    break

            # In order, with gaps, and every lost message announced once.
            assert data == sorted(data) and len(set(data)) == len(data)
            assert data[-1] == sent - 1, (data[-3:], sent)
            assert len(data) < sent and notices
            assert len(data) + sum(notices) == sent, (len(data), notices, sent)
            # A notice follows the gap it reports: before the first one,
            # some message was already missing.
            first = next(i for i, (kind, _) in enumerate(stream)
                         if kind == "notice")
            before = [seq for kind, seq in stream[:first]]
            assert before and (before[0] > 0 or any(
                b - a > 1 for a, b in zip(before, before[1:]))), before[:5]

            # The fast clients lost nothing and heard no notice; the other
            # room heard nothing at all.
            await sentinel(srv, "?room=calm", [elsewhere])
            await sentinel(srv, "?room=busy", [sender, fast])
            for ws in (sender, fast, elsewhere):
                await ws.close()
        arun(main(), 240)
        assert srv.count_log(r"#1: disconnected") == 0
        if heartbeat:
            assert pings, "the server never pinged the stalled client"
        stop.set()
        stalled.close()
    finally:
        stop.set()
        srv.stop()
    return notices


def test_gap_notice_for_a_stalled_client(_):
    notices = gap_notices(0)
    # One notice per catch-up, not one per lost message: this client
    # caught up once.
    assert len(notices) * 4 < sum(notices), notices


def test_gap_notices_for_a_slow_reader(_):
    notices = gap_notices(1 << 18)
    # Several catch-ups, each with its notice; never one per lost message.
    assert len(notices) > 1 and len(notices) * 4 < sum(notices), notices


def test_gap_notices_with_pings_in_the_queue(_):
    notices = gap_notices(1 << 18, heartbeat=True)
    assert notices and len(notices) * 4 < sum(notices), notices


def test_no_notice_without_drops(_):
    srv = Server(BINARY, "--policy", "drop-oldest", "--max-queue-msgs", "4")

    async def main():
        a, b = await connect(srv, "?room=r"), await connect(srv, "?room=r")
        for k in range(50):
            await a.send("n%d" % k)
            for ws in (a, b):
                assert await recv(ws) == "n%d" % k
        await sentinel(srv, "?room=r", [a, b])
        await a.close()
        await b.close()
    run_then_stop(srv, main())


def main():
    run_module_tests(Server(BINARY), globals())


if __name__ == "__main__":
    main()
