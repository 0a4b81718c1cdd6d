"""hub-ws-chat's optional authentication (--auth-secret-file): a signed
token in the query string, checked in on_request.

- Tokens minted by the program (--mint-token) and by the Python line of
  docs/ws.md (hmac, hashlib, base64 of the standard library) are both
  accepted; the name in the token is the client's, whatever name= says:
  it shows in presence notices ("auth":true) and the server attaches it
  to every message, {"user":NAME,"text":TEXT}, where the client cannot
  write: a client that writes JSON with another "user" has it escaped
  inside "text".
- No token: 401; a malformed one: 401; an expired one: 401; a signature
  the secret did not make: 403; each with its reason in words in the
  body, logged, and the token's value never in the log. The same for
  /events; the page needs no token.
- Binary messages: closed with 1003 (messages carry the name as text).
- The command line: --mint-token needs the secret; a secret shorter than
  16 bytes is refused; minted tokens expire after --token-ttl.

usage: ws_auth.py PATH/TO/hub-ws-chat
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ws_common import (http, need_websockets, run_module_tests,  # noqa: E402
                       Server, status_of)

websockets = need_websockets()

BINARY = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="hub-ws-auth-")
SECRET_FILE = os.path.join(TMP, "secret")
with open(SECRET_FILE, "w") as f:
    f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
OTHER_FILE = os.path.join(TMP, "other")
with open(OTHER_FILE, "w") as f:
    f.write("another secret, also long enough\n")


def py_token(secret_file, name, expires):
    """The Python line of docs/ws.md, as a function."""
    s = open(secret_file, "rb").read().splitlines()[0]
    n = base64.urlsafe_b64encode(name.encode()).rstrip(b"=").decode()
    p = "%s.%d" % (n, expires)
    return p + "." + hmac.new(s, p.encode(), hashlib.sha256).hexdigest()


def mint(name, *args):
    out = subprocess.run([BINARY, "--auth-secret-file", SECRET_FILE,
                          "--mint-token", name, *args],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def arun(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def connect(srv, query):
    return await websockets.connect(srv.url + query, max_size=None,
                                    ping_interval=None,
                                    subprotocols=["libhub.v1"])


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), 30)


def payload(frame):
    ident, _, rest = frame.partition("\n")
    return ident, rest


def get(port, target, upgrade=True):
    req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (target, port)
    if upgrade:
        req += ("Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n")
    resp = http(port, (req + "\r\n").encode())
    head, _, body = resp.partition(b"\r\n\r\n")
    return status_of(resp), head.decode(), body.decode()


def test_tokens_of_both_minters_are_accepted(srv):
    async def main():
        for token in (mint("alice"),
                      py_token(SECRET_FILE, "alice", time.time() + 60)):
            ws = await connect(srv, "?room=a1&presence=1&name=mallory&"
                                    "token=" + token)
            ident, body = payload(await recv(ws))
            assert ident == "!" and json.loads(body) == {
                "hub": "join", "name": "alice", "count": 1, "you": True,
                "auth": True}, body
            await ws.close()
    arun(main())


def test_the_server_attaches_the_name(srv):
    async def main():
        a = await connect(srv, "?room=a2&presence=1&token=" +
                          mint("Zo\u00eb \"the\" admin"))
        await recv(a)
        b = await connect(srv, "?room=a2&presence=1&token=" + mint("bob"))
        await recv(b)
        ident, body = payload(await recv(a))
        assert json.loads(body) == {"hub": "join", "name": "bob",
                                    "count": 2}
        sent = ['hello', '{"user":"root","text":"i am root"}',
                'line\nbreak "quotes" \\ \u00e9\u65e5\x01']
        for text in sent:
            await b.send(text)
            for ws in (a, b):
                ident, body = payload(await recv(ws))
                assert ident != "!", body
                assert json.loads(body) == {"user": "bob", "text": text}, body
        await a.send("hi")
        for ws in (a, b):
            ident, body = payload(await recv(ws))
            assert json.loads(body) == {"user": "Zo\u00eb \"the\" admin",
                                        "text": "hi"}, body
        await b.close()
        ident, body = payload(await recv(a))
        assert json.loads(body) == {"hub": "leave", "name": "bob",
                                    "count": 1}
        await a.close()
    arun(main())


def test_binary_messages_are_closed_with_1003(srv):
    async def main():
        ws = await connect(srv, "?room=a3&token=" + mint("carl"))
        await ws.send(b"\x00\x01")
        try:
            await recv(ws)
            raise AssertionError("no close")
        except websockets.ConnectionClosed as e:
            assert e.rcvd.code == 1003, e
    arun(main())


def test_refusals_in_words(srv):
    now = int(time.time())
    good = mint("dana")
    cases = [
        ("", 401, "not signed in: this server needs a token"),
        ("&token=", 401, "malformed token"),
        ("&token=abc", 401, "malformed token"),
        ("&token=" + "A" * 300, 401, "malformed token"),
        ("&token=" + good[:-1] + ("0" if good[-1] != "0" else "1"), 403,
         "bad token signature"),
        ("&token=" + py_token(OTHER_FILE, "dana", now + 60), 403,
         "bad token signature"),
        ("&token=" + py_token(SECRET_FILE, "dana", now - 1), 401,
         "token expired"),
        ("&token=" + py_token(SECRET_FILE, "da\nna", now + 60), 401,
         "malformed token"),
    ]
    for extra, status, words in cases:
        for path in ("/ws?room=a4", "/events?room=a4"):
            got, head, body = get(srv.port, path + extra,
                                  upgrade=path.startswith("/ws"))
            assert got == status and words in body, (path + extra, got, body)
            if status == 401:
                assert "WWW-Authenticate: Bearer" in head, head
    # Logged with why, never with the token.
    srv.wait_log(r"refused with 403: bad token signature in "
                 r"'/ws\?room=a4&token=\.\.\.'")
    srv.wait_log(r"refused with 401: token expired")
    srv.wait_log(r"refused with 401: no token in '/events\?room=a4'")
    assert good[:20] not in srv.log()
    # The page itself needs none; a good token gets through to /events.
    assert get(srv.port, "/", upgrade=False)[0] == 200
    assert stream_status(srv.port, "/events?room=a4&token=" + good) == 200


def stream_status(port, target):
    """The status of a response that does not end (an event stream)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                   % (target, port)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk
            head += chunk
    return status_of(head)


def test_token_ttl(_):
    token = mint("erin", "--token-ttl", "5")
    expires = int(token.split(".")[1])
    assert abs(expires - (time.time() + 5)) < 3, token
    token = mint("erin")
    assert abs(int(token.split(".")[1]) - (time.time() + 86400)) < 3


def test_command_line(_):
    def run_(*args):
        return subprocess.run([BINARY, *args], capture_output=True,
                              text=True, timeout=30)
    r = run_("--mint-token", "x")
    assert r.returncode == 2 and "needs --auth-secret-file" in r.stderr
    short = os.path.join(TMP, "short")
    with open(short, "w") as f:
        f.write("too short\n")
    r = run_("--auth-secret-file", short, "--listen", "127.0.0.1:0")
    assert r.returncode == 2 and "16 to 1024 bytes" in r.stderr, r.stderr
    r = run_("--auth-secret-file", os.path.join(TMP, "none"))
    assert r.returncode == 2 and "cannot read" in r.stderr, r.stderr
    r = run_("--auth-secret-file", SECRET_FILE, "--mint-token", "a\tb")
    assert r.returncode == 2 and "cannot use" in r.stderr, r.stderr
    r = run_("--help")
    assert "--auth-secret-file" in r.stdout and "--mint-token" in r.stdout


def main():
    srv = Server(BINARY, "--auth-secret-file", SECRET_FILE)
    run_module_tests(srv, globals())


if __name__ == "__main__":
    main()
