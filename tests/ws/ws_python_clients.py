"""hub-ws-chat against an independent client: Python's websockets library
(python3-websockets), plus raw sockets for what a library will not send.

usage: ws_python_clients.py PATH/TO/hub-ws-chat
"""

import asyncio
import os
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ws_common import (bad_flag_failures, handshake, http,  # noqa: E402
                       need_websockets, read_until_closed, run, Server,
                       status_of)

websockets = need_websockets()
from websockets.exceptions import ConnectionClosed, InvalidStatusCode  # noqa: E402

BINARY = sys.argv[1]
MIB = 1 << 20
OP_CONT, OP_TEXT, OP_BINARY = 0, 1, 2


def arun(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


async def connect(url, **kw):
    kw.setdefault("max_size", None)
    kw.setdefault("ping_interval", None)
    return await websockets.connect(url, **kw)


async def closed_code(ws, timeout=30):
    """Wait for the server to close `ws`; return the code it sent."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed:
        pass
    await ws.wait_closed()
    return ws.close_code


# ---------------------------------------------------------------------------
# Messages


def test_broadcast_to_many_clients(srv):
    async def main():
        n, per = 20, 10
        clients = [await connect(srv.url) for _ in range(n)]
        for i, c in enumerate(clients):
            for j in range(per):
                await c.send("client %d message %d" % (i, j))
        for c in clients:
            got = [await asyncio.wait_for(c.recv(), 30) for _ in range(n * per)]
            # Everyone gets everything, each sender's messages in order.
            assert sorted(got) == sorted("client %d message %d" % (i, j)
                                         for i in range(n) for j in range(per))
            for i in range(n):
                mine = [m for m in got if m.startswith("client %d " % i)]
                assert mine == ["client %d message %d" % (i, j)
                                for j in range(per)], mine
        for c in clients:
            await c.close()
    arun(main())


def both_receive(srv, sent, expected):
    """Clients a and b of srv; a sends each message of `sent` (a list is
    sent as the fragments of one message); then a and b must each receive
    `expected`, in order and of the same types (str for text, bytes for
    binary)."""
    async def main():
        a, b = await connect(srv.url), await connect(srv.url)
        for m in sent:
            await a.send(m)
        for c in (a, b):
            got = [await c.recv() for _ in expected]
            assert got == expected, [repr(m)[:80] for m in got]
        await a.close()
        await b.close()
    arun(main())


def test_binary_and_text_keep_their_type(srv):
    msgs = [b"\x00\xff binary \x80", "text \u00e9\u20ac\U0001F600"]
    both_receive(srv, msgs, msgs)


def test_large_messages_up_to_the_limit(srv):
    text = "".join(chr(97 + i % 26) for i in range(MIB))
    data = bytes(i * 7 % 256 for i in range(MIB))
    both_receive(srv, [text, data], [text, data])


def test_oversize_message_closes_with_1009(srv):
    async def main():
        a, b = await connect(srv.url), await connect(srv.url)
        await a.send(b"x" * (MIB + 1))
        assert await closed_code(a) == 1009
        assert a.close_reason == "message too big"
        # The others are not affected and did not get it.
        await b.send("still here")
        assert await b.recv() == "still here"
        await b.close()
    arun(main())


def test_fragmented_messages(srv):
    big = ["%05d" % i * 100 for i in range(300)]        # 150 KB in 300
    both_receive(srv, [["frag", "mented ", "\u20ac"],    # text fragments
                       [b"\x01", b"", b"\x02\x03"],      # binary fragments
                       big],
                 ["fragmented \u20ac", b"\x01\x02\x03", "".join(big)])


def test_ping_and_pong(srv):
    async def main():
        a = await connect(srv.url)
        waiter = await a.ping(b"are you there")
        await asyncio.wait_for(waiter, 10)
        # Pings between the fragments of a message are answered too.
        await a.write_frame(False, OP_TEXT, b"one ")
        waiter = await a.ping(b"mid")
        await a.write_frame(True, OP_CONT, b"two")
        await asyncio.wait_for(waiter, 10)
        assert await a.recv() == "one two"
        await a.close()
    arun(main())


def test_close_codes_are_echoed(srv):
    async def main():
        a = await connect(srv.url)
        await a.close(4000, "bye")
        assert a.close_code == 4000
        b = await connect(srv.url)
        await b.close()
        assert b.close_code == 1000
        srv.wait_log(r"disconnected: closed by the client with 4000")
    arun(main())


def test_invalid_utf8_closes_with_1007(srv):
    async def main():
        a = await connect(srv.url)
        await a.write_frame(True, OP_TEXT, b"bad \xff")
        assert await closed_code(a) == 1007
        # Split across fragments: each part alone could be fine.
        b = await connect(srv.url)
        await b.write_frame(False, OP_TEXT, b"ok \xe2\x82")
        await b.write_frame(True, OP_CONT, b"(")
        assert await closed_code(b) == 1007
        # In a close reason.
        c = await connect(srv.url)
        await c.write_frame(True, 8, struct.pack("!H", 1000) + b"\xc0\xaf")
        assert await closed_code(c) == 1007
    arun(main())


def masked(first_byte, payload, mask_bit=0x80):
    """A client frame, written byte by byte (for what the library will
    not send: reserved opcodes or bits, unmasked frames)."""
    key = b"\x0a\x0b\x0c\x0d" if mask_bit else b""
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if key else payload
    return bytes([first_byte, mask_bit | len(payload)]) + key + body


def test_protocol_errors_close_with_1002(srv):
    # Frames written by hand: without permessage-deflate, where RSV1 is a
    # protocol error too (the deflate cases are in ws_deflate.py).
    async def main():
        for frames in ([(True, OP_CONT, b"x")],               # lone continuation
                       [(False, OP_TEXT, b"a"), (True, OP_TEXT, b"b")],
                       [(True, 8, struct.pack("!H", 1005))],  # reserved code
                       [(True, 8, b"\x03")]):                 # 1-byte close
            c = await connect(srv.url, compression=None)
            for fin, op, data in frames:
                await c.write_frame(fin, op, data)
            assert await closed_code(c) == 1002, frames
        for raw in (masked(0x83, b"x"),                       # reserved opcode
                    masked(0x8B, b""),                        # reserved control
                    masked(0xC1, b"x"),                       # RSV1
                    masked(0x81, b"x", mask_bit=0),           # unmasked
                    masked(0x09, b"")):                       # fragmented ping
            c = await connect(srv.url, compression=None)
            c.transport.write(raw)
            assert await closed_code(c) == 1002, raw
    arun(main())


# ---------------------------------------------------------------------------
# Handshake and HTTP


def test_origin_allowlist(srv):
    async def main():
        try:
            await connect(srv.url, origin="http://evil.example")
            raise AssertionError("a foreign origin was accepted")
        except InvalidStatusCode as e:
            assert e.status_code == 403
        # The page's own origin, an origin given with --origin, and
        # clients that send none are allowed.
        for origin in ("http://127.0.0.1:%d" % srv.port,
                       "https://chat.example", None):
            c = await connect(srv.url, origin=origin)
            await c.close()
    arun(main())
    srv.wait_log(r"refused with 403: origin http://evil\.example not allowed")


def answer_head(s):
    """What the server sent on `s` up to the end of its answer's head (an
    upgraded connection stays open), or until it closed."""
    out = b""
    while b"\r\n\r\n" not in out:
        chunk = s.recv(4096)
        if not chunk:
            break
        out += chunk
    return out


def upgrade_status(port, request):
    """The status of the answer to `request`, read up to the end of its
    head, then closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        return status_of(answer_head(s))


def test_unknown_host_gets_421(srv):
    """DNS rebinding: a page of http://evil.example:PORT, its name made to
    resolve to this server, has an Origin that matches its Host. Only IP
    addresses, localhost and --host names are this server's."""
    port = srv.port
    for host in ("evil.example:%d" % port, "evil.example", "127.0.0.1.nip.io"):
        r = http(port, handshake(host, extra="Origin: http://%s\r\n" % host))
        assert status_of(r) == 421, (host, r)
        r = http(port, ("GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode())
        assert status_of(r) == 421, (host, r)
    # Not a host and a port at all: the adapter refuses them (400) before
    # the application sees them.
    for host in ("[::1", "127.0.0.1:1:2", "127.0.0.1:evil", "127.0.0.1:65536"):
        r = http(port, handshake(host, extra="Origin: http://%s\r\n" % host))
        assert status_of(r) == 400, (host, r)
        r = http(port, ("GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode())
        assert status_of(r) == 400, (host, r)
    for host in ("127.0.0.1:%d" % port, "LOCALHOST:%d" % port, "[::1]:%d" % port,
                 "localhost", "10.1.2.3"):
        r = upgrade_status(
            port, handshake(host, extra="Origin: http://%s\r\n" % host))
        assert r == 101, (host, r)
    srv.wait_log(r"refused with 421: Host is not a name of this server")
    named = Server(BINARY, "--host", "chat.example", "--ping-interval", "0")
    try:
        host = "Chat.Example:%d" % named.port
        r = upgrade_status(
            named.port, handshake(host, extra="Origin: http://%s\r\n" % host))
        assert r == 101, r
        r = http(named.port, handshake("other.example"))
        assert status_of(r) == 421, r
    finally:
        named.stop()


def test_bad_version_gets_426(srv):
    hp = "127.0.0.1:%d" % srv.port
    r = http(srv.port, handshake(hp, version="8"))
    assert status_of(r) == 426, r
    assert b"\r\nSec-WebSocket-Version: 13\r\n" in r
    r = http(srv.port, handshake(hp, version="13")[:-2] +
             b"Sec-WebSocket-Version: 12\r\n\r\n")
    assert status_of(r) == 426, r


def test_bad_handshakes_get_400(srv):
    hp = "127.0.0.1:%d" % srv.port
    good = handshake(hp).decode()
    for bad in (good.replace("Upgrade: websocket", "Upgrade: h2c"),
                good.replace("Connection: Upgrade", "Connection: close"),
                good.replace("dGhlIHNhbXBsZSBub25jZQ==", "short"),
                good.replace("Host: %s\r\n" % hp, ""),
                good.replace("HTTP/1.1", "HTTP/1.0")):
        r = http(srv.port, bad.encode())
        assert status_of(r) == 400, (bad, r)
    r = http(srv.port, good.replace("GET", "POST").encode())
    assert status_of(r) in (404, 405), r


def test_paths_page_and_404(srv):
    r = http(srv.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status_of(r) == 200, r
    head, _, body = r.partition(b"\r\n\r\n")
    assert b"\r\nContent-Type: text/html; charset=utf-8" in head
    assert b"<title>libhub chat</title>" in body
    assert b'name="viewport"' in body
    assert b"Content-Length: %d\r\n" % len(body) in head
    for path in (b"/nope", b"/ws/", b"/index.htm"):
        r = http(srv.port,
                 b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert status_of(r) == 404, (path, r)

    async def main():
        try:
            await connect("ws://127.0.0.1:%d/elsewhere" % srv.port)
            raise AssertionError("upgraded on a path other than /ws")
        except InvalidStatusCode as e:
            assert e.status_code == 404
    arun(main())


def test_first_frame_with_the_request_is_kept(srv):
    hp = "127.0.0.1:%d" % srv.port
    mask = b"\x01\x02\x03\x04"
    payload = b"in the same packet"
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(handshake(hp) + frame)
        got = b""
        while payload not in got:
            chunk = s.recv(4096)
            assert chunk, got
            got += chunk
        assert got.startswith(b"HTTP/1.1 101 ")
        assert b"\r\n\r\n\x81" + bytes([len(payload)]) + payload in got


def test_heartbeat(srv_unused):
    """With --ping-interval 0.5, a client that answers pings (the library
    does) stays; a raw client that never answers is closed."""
    srv = Server(BINARY, "--ping-interval", "0.5")
    try:
        async def main():
            c = await connect(srv.url)
            await asyncio.sleep(2.5)
            await c.send("alive")
            assert await c.recv() == "alive"
            await c.close()
        arun(main())

        hp = "127.0.0.1:%d" % srv.port
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
            s.sendall(handshake(hp))
            got = read_until_closed(s)
            head, _, frames = got.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 ")
            assert frames.startswith(b"\x89\x00"), frames  # a ping, then EOF
        srv.wait_log(r"no answer to a ping")
    finally:
        srv.stop()


def test_max_conns_per_ip_answers_503(srv_unused):
    """--max-conns-per-ip 2: a third connection from 127.0.0.2 gets 503 at
    once and is closed; 127.0.0.3 is counted apart."""
    srv = Server(BINARY, "--max-conns-per-ip", "2")
    socks = []
    try:
        def from_addr(addr):
            s = socket.socket()
            socks.append(s)
            s.settimeout(30)
            s.bind((addr, 0))
            s.connect(("127.0.0.1", srv.port))
            return s

        hp = "127.0.0.1:%d" % srv.port
        for _ in range(2):
            s = from_addr("127.0.0.2")
            s.sendall(handshake(hp))
            assert status_of(answer_head(s)) == 101
        for _ in range(2):
            s = from_addr("127.0.0.2")
            assert status_of(answer_head(s)) == 503
            assert s.recv(4096) == b""  # closed once answered
        srv.wait_log(r"127\.0\.0\.2:\d+: this address has 2 connections "
                     r"open: refusing its new ones with 503")
        assert srv.count_log(r"refusing its new ones") == 1
        s = from_addr("127.0.0.3")
        s.sendall(handshake(hp))
        assert status_of(answer_head(s)) == 101
    finally:
        for s in socks:
            s.close()
        srv.stop()


def test_max_msg_rate_closes_with_1008(srv_unused):
    srv = Server(BINARY, "--max-msg-rate", "5", "--msg-burst", "3")
    try:
        async def main():
            a = await connect(srv.url)
            for k in range(4):
                await a.send("m%d" % k)
            got = [await asyncio.wait_for(a.recv(), 30) for _ in range(3)]
            assert got == ["m0", "m1", "m2"], got
            assert await closed_code(a) == 1008
            assert a.close_reason == "rate limit"
        arun(main())
        srv.wait_log(r"over 5 messages a second: closing with 1008")
        srv.wait_log(r"disconnected: closed by the server with 1008")
    finally:
        srv.stop()


def test_sigterm_says_going_away(srv_unused):
    srv = Server(BINARY)
    async def main():
        clients = [await connect(srv.url) for _ in range(3)]
        srv.terminate()
        for c in clients:
            assert await closed_code(c) == 1001
    arun(main())
    srv.stop()
    assert "SIGTERM received" in srv.log()


# ---------------------------------------------------------------------------
# The command line


def test_command_line(srv):
    r = subprocess.run([BINARY, "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and "usage: hub-ws-chat" in r.stdout, r
    for flag in ("--message-timeout SECONDS", "--max-conns-per-ip N",
                 "--max-msg-rate R", "--msg-burst B"):
        assert flag in r.stdout, flag
    values = {"--max-message": ["lots"], "--ping-interval": ["-1"],
              "--message-timeout": ["3G"], "--host": ["bad name"],
              "--origin": ["evil.example"]}
    cases = [(["--max-message", "2M"], "--max-queue-bytes")]
    failures = bad_flag_failures(BINARY, values, cases)
    assert not failures, failures
    # A port in use: a clear error, not a crash.
    r = subprocess.run([BINARY, "--listen", "127.0.0.1:%d" % srv.port],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    assert "cannot listen on 127.0.0.1:%d" % srv.port in r.stderr, r.stderr
    assert "address already in use" in r.stderr, r.stderr


def main():
    srv = Server(BINARY, "--origin", "https://chat.example",
                 "--max-queue-bytes", "4M", "--max-message", "1M")
    tests = [(name[5:], (lambda f: lambda: f(srv))(fn))
             for name, fn in globals().items() if name.startswith("test_")]
    try:
        run_and_stop(tests, srv)
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()


def run_and_stop(tests, srv):
    tests.append(("server_exits_cleanly", srv.stop))
    run(tests)


if __name__ == "__main__":
    main()
