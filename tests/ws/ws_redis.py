"""Two hub-ws-chat servers share their rooms through a redis-server of the
test's own (on a free 127.0.0.1 port, stopped at the end): a message sent
in room "red" on one server reaches room "red" on the other, with its
type and bytes, once; other rooms on either server do not see it.

With hub-tcp-echo too, the two programs share the room "lobby": a TCP
line that is not UTF-8 reaches the WebSocket clients as a binary message,
never as a text frame they would have to fail with 1007.

usage: ws_redis.py PATH/TO/hub-ws-chat [PATH/TO/hub-tcp-echo]
Exits 77 (skipped) if hub-ws-chat was built without --redis, or if
redis-server or python3-websockets is not installed.
"""

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ws_common import need_websockets, SKIP, Server, run  # noqa: E402

BINARY = sys.argv[1]
TCP_ECHO = sys.argv[2] if len(sys.argv) > 2 else None
REDIS = os.environ.get("HUB_REDIS_SERVER") or shutil.which("redis-server")
websockets = need_websockets()
if "--redis" not in subprocess.run([BINARY, "--help"], capture_output=True,
                                   text=True, timeout=30).stdout:
    print("skipped: hub-ws-chat was built without --redis (no hiredis)")
    sys.exit(SKIP)
if REDIS is None:
    print("skipped: redis-server is not installed")
    sys.exit(SKIP)


class Redis:
    """redis-server on a port that was free a moment ago, no persistence."""

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = tempfile.mkdtemp(prefix="hub-ws-redis-")
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


async def connect(srv, query=""):
    return await websockets.connect(srv.url + query, max_size=None,
                                    ping_interval=None)


async def recv(ws, timeout=30):
    return await asyncio.wait_for(ws.recv(), timeout)


async def linked(sender, sender_peers, receiver):
    """Send probes from `sender` until `receiver` (a client of the same
    room on the other server) gets one: the other server's bridge may
    still be subscribing to the room's channel. The sender's own room
    gets every probe; afterwards every client has read all it will get."""
    for k in range(200):
        probe = "probe %d" % k
        await sender.send(probe)
        for ws in sender_peers:
            assert await recv(ws) == probe
        try:
            got = await recv(receiver, 0.25)
        except asyncio.TimeoutError:
            continue
        assert got.startswith("probe "), got
        # Probes go through Redis in order: one that arrives is the
        # last of those that will.
        while got != probe:
            got = await recv(receiver)
        return
    raise AssertionError("no message crossed from one server to the other")


def test_rooms_cross_servers(_):
    redis = Redis()
    a = b = None
    try:
        a = Server(BINARY, "--redis", "127.0.0.1:%d" % redis.port)
        b = Server(BINARY, "--redis", "127.0.0.1:%d" % redis.port)
        for srv in (a, b):
            srv.wait_log(r"redis: connected to Redis at 127\.0\.0\.1:%d"
                         % redis.port)

        async def main():
            a_red, b_red = await connect(a, "?room=red"), await connect(b, "?room=red")
            b_blue, a_lobby = await connect(b, "?room=blue"), await connect(a)
            await linked(a_red, [a_red], b_red)
            await linked(b_red, [b_red], a_red)

            # Both ways, text and binary, the sender's server included,
            # each message once.
            await a_red.send("red from A")
            await a_red.send(b"\x00\xff binary from A")
            await b_red.send("red from B")
            for ws in (a_red, b_red):
                got = [await recv(ws) for _ in range(3)]
                assert sorted(got, key=repr) == sorted(
                    ["red from A", b"\x00\xff binary from A", "red from B"],
                    key=repr), got
                # Each sender's messages in order.
                assert [m for m in got if m != "red from B"] == [
                    "red from A", b"\x00\xff binary from A"], got

            # Nothing reached the other rooms, on either server: their
            # next message is one sent after all of the above.
            for ws, query, srv in ((b_blue, "?room=blue", b),
                                   (a_lobby, "", a)):
                s = await connect(srv, query)
                await s.send("sentinel")
                assert await recv(ws) == "sentinel"
                assert await recv(s) == "sentinel"
                await s.close()
            # Nor was anything delivered twice in red.
            await b_red.send("last")
            for ws in (a_red, b_red):
                assert await recv(ws) == "last"
            for ws in (a_red, b_red, b_blue, a_lobby):
                await ws.close()
        asyncio.run(asyncio.wait_for(main(), 120))
    finally:
        for srv in (a, b):
            if srv is not None:
                srv.stop()
        redis.stop()
    # Each server forwarded its messages and dropped none.
    for srv in (a, b):
        m = re.search(r"redis stats: .*forwarded (\d+) messages .*dropped "
                      r"(\d+) \(buffer full\)", srv.log())
        assert m and int(m.group(1)) > 0 and m.group(2) == "0", srv.log()


def test_tcp_text_that_is_not_utf8_reaches_websocket_as_binary(_):
    redis = Redis()
    chat = echo = None
    tcp = None
    try:
        where = "127.0.0.1:%d" % redis.port
        chat = Server(BINARY, "--redis", where)
        echo = Server(TCP_ECHO, "--redis", where)
        for srv in (chat, echo):
            srv.wait_log(r"redis: connected to Redis at 127\.0\.0\.1:%d"
                         % redis.port)

        async def main():
            ws1, ws2 = await connect(chat), await connect(chat)
            sock = socket.create_connection(("127.0.0.1", echo.port), 30)
            # Both programs' lobby is the topic "lobby": probes until the
            # chat's bridge listens to its channel.
            for k in range(200):
                sock.sendall(b"probe %d\n" % k)
                try:
                    got = await recv(ws1, 0.25)
                    break
                except asyncio.TimeoutError:
                    continue
            else:
                raise AssertionError("no line crossed from TCP to WebSocket")
            while got != "probe %d" % k:
                got = await recv(ws1)
            while await recv(ws2) != "probe %d" % k:
                pass
            sock.sendall(b"\xc3\x28 is not UTF-8\nafter\n")
            for ws in (ws1, ws2):
                assert await recv(ws) == b"\xc3\x28 is not UTF-8"
                assert await recv(ws) == "after"
            # Still open, and still served.
            sock.sendall(b"last\n")
            for ws in (ws1, ws2):
                assert await recv(ws) == "last"
                await ws.close()
            sock.close()
        asyncio.run(asyncio.wait_for(main(), 120))
        chat.wait_log(r"redis: a text message from Redis on channel "
                      r"'hub:t:lobby' is not UTF-8: delivered as binary "
                      r"\(1 so far\)")
        assert chat.count_log(r"closing with 1007") == 0, chat.log()
    finally:
        for srv in (chat, echo):
            if srv is not None:
                srv.stop()
        redis.stop()
    assert re.search(r"redis stats: .* text not UTF-8 1 ", chat.log()), \
        chat.log()


if __name__ == "__main__":
    tests = [("rooms_cross_servers", lambda: test_rooms_cross_servers(None))]
    if TCP_ECHO is not None:
        tests.append(("tcp_text_that_is_not_utf8_reaches_websocket_as_binary",
                      lambda: test_tcp_text_that_is_not_utf8_reaches_websocket_as_binary(None)))
    run(tests)
