"""hub-ws-chat with a stalled client: a raw socket with a small receive
buffer that completes the handshake and then never reads. Under
--policy disconnect it is dropped; under --policy drop-oldest it keeps the
newest messages, and may be told how many it lost (a text message
{"hub":"gap","dropped":N}; ws_rooms.py tests those notices). Either way the
other clients (python3-websockets) receive every message, in order.

usage: ws_slow_consumer.py PATH/TO/hub-ws-chat
"""

import asyncio
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ws_common import need_websockets, Server, handshake, run  # noqa: E402

websockets = need_websockets()

BINARY = sys.argv[1]
SIZE = 16 * 1024
# Far more than the kernel's buffers can hold (Linux lets a loopback send
# buffer grow to 4 MiB), so that the stall reaches the hub's queue.
COUNT = 800
WINDOW = 8
NOTICE = re.compile(rb'^\{"hub":"gap","dropped":([1-9][0-9]*)\}$')


def stalled_client(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    s.sendall(handshake("127.0.0.1:%d" % port))
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)  # byte by byte: leave every frame in the kernel
    assert head.startswith(b"HTTP/1.1 101 "), head
    return s


def read_frames(sock, until_seq, notices):
    """Read server frames until a message numbered `until_seq` or the end
    of the stream; return the sequence numbers seen and whether it ended.
    Gap notices (text) are appended to `notices`."""
    buf, seqs = b"", []
    while True:
        while len(buf) >= 2:
            n, length = 2, buf[1] & 0x7F
            if length == 126:
                if len(buf) < 4:
                    break
                length, n = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    break
                length, n = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < n + length:
                break
            op = buf[0] & 0x0F
            payload, buf = buf[n:n + length], buf[n + length:]
            if op == 1 and NOTICE.match(payload):
                notices.append(int(NOTICE.match(payload).group(1)))
                continue
            assert op == 2 and len(payload) == SIZE, (op, len(payload))
            seqs.append(int(payload[:8]))
            if seqs[-1] == until_seq:
                return seqs, False
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return seqs, True
        if not chunk:
            return seqs, True
        buf += chunk


async def publish_and_read(url):
    """Three clients; the first publishes COUNT messages, WINDOW at a time,
    and every client must get them all, in order."""
    clients = [await websockets.connect(url, max_size=None, ping_interval=None)
               for _ in range(3)]
    got = [0] * len(clients)

    async def reader(i):
        while got[i] < COUNT:
            m = await asyncio.wait_for(clients[i].recv(), 60)
            assert isinstance(m, bytes) and len(m) == SIZE
            assert int(m[:8]) == got[i], (i, int(m[:8]), got[i])
            got[i] += 1

    readers = [asyncio.create_task(reader(i)) for i in range(len(clients))]
    body = b"x" * (SIZE - 8)
    for start in range(0, COUNT, WINDOW):
        for seq in range(start, min(start + WINDOW, COUNT)):
            await clients[0].send(b"%08d" % seq + body)
        while min(got) < min(start + WINDOW, COUNT):
            done = [t for t in readers if t.done() and t.exception()]
            if done:
                raise done[0].exception()
            await asyncio.sleep(0.001)
    await asyncio.gather(*readers)
    for c in clients:
        await c.close()


def stall_one_while_others_read(srv):
    """A client that never reads (the server's #1), then the traffic of
    publish_and_read() among clients that keep up; returns the stalled
    client's socket."""
    stalled = stalled_client(srv.port)
    srv.wait_log(r"#1: connected")
    asyncio.run(asyncio.wait_for(publish_and_read(srv.url), 240))
    return stalled


def test_disconnect_drops_the_stalled_client():
    srv = Server(BINARY, "--policy", "disconnect", "--max-queue-msgs", "32")
    try:
        stalled = stall_one_while_others_read(srv)
        srv.wait_log(r"#1: dropped \d+ messages .*slow consumer disconnected")
        srv.wait_log(r"#1: disconnected: dropped as a slow consumer")
        # Its connection is gone: after what the kernel held, the end.
        notices = []
        seqs, ended = read_frames(stalled, COUNT - 1, notices)
        assert ended and seqs == list(range(len(seqs))), seqs[-3:]
        assert len(seqs) < COUNT
        assert notices == [], notices  # a disconnected client has no gap
        stalled.close()
    finally:
        srv.stop()
    assert srv.count_log(r"disconnected: dropped as a slow consumer") == 1


def test_drop_oldest_trims_the_stalled_client():
    srv = Server(BINARY, "--policy", "drop-oldest", "--max-queue-msgs", "32")
    try:
        stalled = stall_one_while_others_read(srv)
        srv.wait_log(r"oldest evicted")
        assert srv.count_log(r"#1: disconnected") == 0
        # Awake again: an increasing subsequence ending with the newest,
        # and no more losses announced than there were.
        notices = []
        seqs, ended = read_frames(stalled, COUNT - 1, notices)
        assert not ended and seqs[-1] == COUNT - 1, seqs[-3:]
        assert all(a < b for a, b in zip(seqs, seqs[1:]))
        assert len(seqs) < COUNT
        assert len(seqs) + sum(notices) <= COUNT, (len(seqs), notices)
        stalled.close()
    finally:
        srv.stop()


if __name__ == "__main__":
    run([(name[5:], fn) for name, fn in list(globals().items())
         if name.startswith("test_")])
