"""Benchmark: many clients resuming at once after a gap.

usage: python3 tests/bench/resume.py ws|tcp PATH/TO/SERVER
           [--clients 1000] [--gap 10000] [--size 64]

Starts the server on 127.0.0.1 (port 0) with a room history large enough
for the gap, publishes --gap messages of --size bytes into a room while
nobody listens, then connects --clients clients at once, each resuming
from the oldest message held (hub-ws-chat: libhub.v1 and since=0;
hub-tcp-echo: "/ids on" and "/resume 0 ROOM"), and reads until every
client has every message. It prints the time until the last client had
everything, the deliveries per second, and the server's CPU time per
delivery (user + system, from /proc), which does not depend on how fast
this Python client reads. A benchmark that prints figures, not a test.
"""

import argparse
import os
import re
import selectors
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ws"))
from ws_common import ws_frame  # noqa: E402


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(kind, binary, gap, size):
    history_bytes = max(1 << 20, gap * (size + 64))
    proc = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--quiet", "--history", str(gap),
         "--history-bytes", str(history_bytes), "--max-conns-per-ip", "0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))
    raise RuntimeError("the server did not start")


def connect(kind, port, resume):
    s = socket.create_connection(("127.0.0.1", port))
    if kind == "ws":
        target = "/ws?room=bench" + ("&since=0" if resume else "")
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket"
                   "\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                   "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: libhub.v1\r\n\r\n" % target).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        assert b" 101 " in head, head
    else:
        s.sendall(b"/ids on\n" + (b"/resume 0 bench\n" if resume
                                  else b"/join bench\n"))
    s.setblocking(False)
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["ws", "tcp"])
    ap.add_argument("binary")
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--gap", type=int, default=10000)
    ap.add_argument("--size", type=int, default=64)
    a = ap.parse_args()

    proc, port = start(a.kind, a.binary, a.gap, a.size)
    try:
        pub = connect(a.kind, port, False)
        pub.setblocking(True)
        # The publisher is in the room too: it reads its own messages, or
        # it would be a reader that stopped, and be cut.
        drain = threading.Thread(target=lambda: [None for _ in iter(
            lambda: pub.recv(1 << 20), b"")], daemon=True)
        drain.start()
        body = b"x" * (a.size - 8)
        batch = []
        for i in range(a.gap):
            payload = b"%08d" % i + body
            batch.append(ws_frame(payload) if a.kind == "ws"
                         else payload + b"\n")
        pub.sendall(b"".join(batch))
        time.sleep(1.0)
        pub.shutdown(socket.SHUT_RDWR)  # nobody listens now
        drain.join(10)
        pub.close()

        sel = selectors.DefaultSelector()
        # Each client gets the gap plus its acknowledgements (TCP: two
        # notices, one line each; WebSocket: none).
        want = a.gap + (2 if a.kind == "tcp" else 0)
        got = {}
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.monotonic()
        for _ in range(a.clients):
            s = connect(a.kind, port, True)
            got[s] = 0
            sel.register(s, selectors.EVENT_READ)
        done = 0
        deadline = t0 + 600
        while done < a.clients and time.monotonic() < deadline:
            for key, _ in sel.select(1.0):
                s = key.fileobj
                try:
                    data = s.recv(1 << 20)
                except BlockingIOError:
                    continue
                # One LF per message in both framings (the id's, or the
                # line's end; frame headers of these sizes hold no 0x0A).
                got[s] += data.count(b"\n")
                if got[s] >= want or not data:
                    sel.unregister(s)
                    done += 1
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        total = sum(min(n, want) for n in got.values())
        print("%s: %d clients resumed a gap of %d messages of %d B: "
              "%d of %d deliveries in %.2f s (%.0f per s); server CPU %.2f s, "
              "%.0f ns per delivery" % (
                  a.kind, a.clients, a.gap, a.size, total,
                  a.clients * want, elapsed, total / elapsed, cpu,
                  cpu / max(total, 1) * 1e9))
        for s in got:
            s.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
