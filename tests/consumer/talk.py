#!/usr/bin/env python3
"""Start a server built against libhub and talk to it as a real client.

  talk.py tcp|ws|chat SERVER [ARG...]

The server prints its port on its first line ("port N", or the README's
"chat on 127.0.0.1:N"). Two clients connect (raw TCP lines for tcp and
chat, python3-websockets for ws); one sends a message, and both must get
it back. The server is then stopped with SIGTERM: tcp and ws servers must
exit 0 (a clean shutdown), the README's chat is simply ended by it.
"""
import asyncio
import re
import signal
import socket
import subprocess
import sys

DEADLINE = 20  # seconds for each step


def read_port(proc):
    line = proc.stdout.readline().decode()
    m = re.search(r"(\d+)\s*$", line)
    if not m:
        sys.exit(f"talk.py: expected a port on the server's first line, got {line!r}")
    return int(m.group(1))


def talk_tcp(port):
    a = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    b = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    # b has certainly been accepted once it gets a line of its own back.
    b.sendall(b"b is here\n")
    for s in (a, b):
        assert recv_line(s) == b"b is here\n"
    a.sendall(b"hello from a\n")
    for s in (a, b):
        got = recv_line(s)
        assert got == b"hello from a\n", got
    a.close()
    b.close()


def recv_line(s):
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed after {data!r}")
        data += chunk
    return data


async def talk_ws(port):
    import websockets  # Debian: python3-websockets
    uri = f"ws://127.0.0.1:{port}/"
    async with websockets.connect(uri) as a, websockets.connect(uri) as b:
        await b.send("b is here")
        for ws in (a, b):
            assert await asyncio.wait_for(ws.recv(), DEADLINE) == "b is here"
        await a.send("hello from a")
        for ws in (a, b):
            got = await asyncio.wait_for(ws.recv(), DEADLINE)
            assert got == "hello from a", got


def main():
    kind, server = sys.argv[1], sys.argv[2:]
    proc = subprocess.Popen(server, stdout=subprocess.PIPE)
    try:
        port = read_port(proc)
        if kind == "ws":
            asyncio.run(talk_ws(port))
        else:
            talk_tcp(port)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    want = -signal.SIGTERM if kind == "chat" else 0
    if rc != want:
        sys.exit(f"talk.py: {server[0]} exited with {rc}, expected {want}")
    print(f"{kind}: {server[0]}: ok")


if __name__ == "__main__":
    main()
