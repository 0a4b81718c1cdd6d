"""--log-format json: through a session with connects, messages, requests
and names carrying hostile bytes (quotes, backslashes, control characters,
bytes that are not UTF-8), SIGUSR1 and shutdown, every line either program
writes on stderr is one JSON object (json.loads on bytes that must be
UTF-8) with ts, level, prog and msg; the lines that matter are there.

Usage: ops_json.py HUB_WS_CHAT HUB_TCP_ECHO. Exits 77 (skipped) without
python3-websockets."""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_common import Program, exchange, run_tests, wait_until  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "ws"))
from ws_common import need_websockets  # noqa: E402

WS_CHAT, TCP_ECHO = sys.argv[1], sys.argv[2]
websockets = need_websockets()

LEVELS = {"info", "notice", "warn", "error"}


def check_json_lines(prog, raw_lines):
    """Every line an object with the fields; their messages."""
    assert raw_lines, "no log at all"
    msgs = []
    for raw in raw_lines:
        text = raw.decode("utf-8")  # strict: the bytes must be UTF-8
        obj = json.loads(text)
        assert isinstance(obj, dict), text
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                            obj["ts"]), obj
        assert obj["level"] in LEVELS, obj
        assert obj["prog"] == prog, obj
        assert isinstance(obj["msg"], str), obj
        if "client" in obj:
            assert isinstance(obj["client"], int), obj
            assert obj["msg"].startswith("#%d: " % obj["client"]), obj
        msgs.append(obj)
    return msgs


def has(msgs, pattern, **fields):
    for m in msgs:
        if re.search(pattern, m["msg"]) and \
                all(m.get(k) == v for k, v in fields.items()):
            return m
    raise AssertionError("no message matches %r %r in:\n%s"
                         % (pattern, fields,
                            "\n".join(json.dumps(m) for m in msgs)))


def wait_line(srv, text, what):
    """Wait until a line of srv's log contains `text`."""
    wait_until(lambda: any(text in ln for ln in srv.lines()), what=what)


def after_sigusr1(srv, text, what):
    """Send SIGUSR1 to srv and wait for the line it logs (with `text`)."""
    srv.signal(signal.SIGUSR1)
    wait_line(srv, text, what + " after SIGUSR1")


def test_ws_chat():
    srv = Program(WS_CHAT, "--log-format", "json", "--metrics-listen",
                  "127.0.0.1:0")
    try:
        async def session():
            url = "ws://127.0.0.1:%d/ws?room=json" % srv.port
            a = await websockets.connect(url, ping_interval=None)
            b = await websockets.connect(url, ping_interval=None)
            await a.send('quote " backslash \\ bell \x07')
            assert await asyncio.wait_for(b.recv(), 30) == \
                'quote " backslash \\ bell \x07'
            await a.close()
            await b.close()
        asyncio.run(session())
        # Requests whose names the log shows: quotes, escapes, control
        # characters and bytes that are not UTF-8; a Host that is not ours;
        # requests the adapter refuses before the program sees them.
        exchange(srv.port, b"GET /ws?room=%FF%1B%22q%5C HTTP/1.1\r\n"
                 b"Host: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        exchange(srv.port, b"GET /\"q\\\xff\xfe HTTP/1.1\r\n"
                 b"Host: 127.0.0.1\r\n\r\n")
        exchange(srv.port, b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        exchange(srv.port, b"\x00\x01garbage\xff\r\n\r\n")
        exchange(srv.ops_port, b"BAD\xff\r\n\r\n")
        after_sigusr1(srv, "stats: clients", "the statistics")
    finally:
        srv.stop()
    msgs = check_json_lines("hub-ws-chat", list(srv.raw))
    has(msgs, r"^listening on 127\.0\.0\.1:\d+ ", level="info")
    has(msgs, r"^operations listener on 127\.0\.0\.1:\d+")
    has(msgs, r"^#1: connected from 127\.0\.0\.1:\d+ to room 'json'",
        client=1)
    has(msgs, r"^#2: disconnected: ", client=2)
    has(msgs, r"refused with 400: bad room name")
    has(msgs, r"refused with 404: no page at '/\"q")
    has(msgs, r"refused with 421: .*'evil\.example'")
    has(msgs, r"^stats: clients 2 ")
    has(msgs, r"^SIGTERM received, shutting down")
    has(msgs, r"^final stats: clients 2 ")


def test_tcp_echo():
    srv = Program(TCP_ECHO, "--log-format", "json")
    try:
        with socket.create_connection(("127.0.0.1", srv.port), 10) as c:
            c.settimeout(30)
            c.sendall(b"hello\n")
            c.sendall(b"/join bad\xff\x1b\"\\name\n")
            c.sendall(b"/join quote\"and\\backslash\n")
            buf = b""
            while b"joined" not in buf:
                chunk = c.recv(4096)
                assert chunk, buf
                buf += chunk
            after_sigusr1(srv, "stats: clients", "the statistics")
            c.sendall(b"after the signal\n")
            while b"after the signal" not in buf:
                chunk = c.recv(4096)
                assert chunk, buf
                buf += chunk
    finally:
        srv.stop()
    msgs = check_json_lines("hub-tcp-echo", list(srv.raw))
    has(msgs, r"^listening on 127\.0\.0\.1:\d+ ")
    has(msgs, r"^#1: connected from ", client=1)
    m = has(msgs, r"^#1: bad room name ", client=1)
    assert "\\xFF" in m["msg"] and "\\u{001B}" in m["msg"], m
    m = has(msgs, r"^#1: joined room ", client=1)
    assert "quote\"and\\\\backslash" in m["msg"], m
    has(msgs, r"^stats: clients 1 ")
    has(msgs, r"^#1: disconnected: ", client=1)
    has(msgs, r"^final stats: clients 1 ")


def test_redis_lines():
    if "--redis" not in subprocess.run([WS_CHAT, "--help"],
                                       capture_output=True, text=True,
                                       timeout=30).stdout:
        print("# not built with --redis (no hiredis); not tested")
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    srv = Program(WS_CHAT, "--log-format", "json", "--quiet", "--redis",
                  "127.0.0.1:%d" % port)
    try:
        wait_line(srv, "redis: ", "the Redis bridge's first line")
        after_sigusr1(srv, "redis stats: ", "the Redis statistics")
    finally:
        srv.stop()
    msgs = check_json_lines("hub-ws-chat", list(srv.raw))
    has(msgs, r"^redis: ", level="warn")
    has(msgs, r"^redis stats: node [0-9a-f]{16}, ", level="info")


def test_bad_flag():
    r = subprocess.run([TCP_ECHO, "--log-format", "xml"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2, r
    assert "--log-format: expected text or json, got 'xml'" in r.stderr, r


if __name__ == "__main__":
    run_tests(globals())
