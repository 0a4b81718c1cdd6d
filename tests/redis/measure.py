"""Cross-node latency and throughput of hub-tcp-echo over the Redis
backplane, on this machine, over loopback.

Usage: python3 measure.py PATH/TO/hub-tcp-echo [--samples N]
                          [--seconds S] [--size BYTES] [--window W]
                          [--node-arg ARG]...

It starts its own redis-server on a free 127.0.0.1 port and two nodes, A
and B, sharing it, then:

- latency: a client on A sends one timestamped line at a time into a room
  where a client of A and a client of B listen; each line's one-way delay
  is measured at both (same clock: one machine), and the next line is
  sent once B has the previous one. Local (A to A) and cross-node (A to
  B through Redis) are printed side by side;
- throughput: the client on A sends numbered lines as fast as it can
  while at most --window of them are on their way to B; B's client
  counts what arrives per second and checks that nothing is missing or
  out of order.

A measurement, not a test: it asserts nothing about speed. The load
generator runs in Python on the same 2 cores as Redis and both nodes, so
the figures are a floor for what the servers can do.
"""

import argparse
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redisfix import Lines, Node, RedisServer, until  # noqa: E402


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, int(round(p / 100.0 *
                                              (len(sorted_values) - 1))))
    return sorted_values[k]


def join(c, room):
    c.sock.sendall(b"/join " + room + b"\n")
    assert c.get(1) == [b"[hub] joined " + room]


def latency(sender, local, remote, samples):
    """One line at a time; each reader's delay is taken when its own copy
    arrives, whichever comes first."""
    loc, rem = [], []
    pad = b"x" * 24
    for i in range(samples):
        t0 = time.monotonic_ns()
        sender.sock.sendall(b"%d %d %s\n" % (i, t0, pad))
        waiting = {local.sock: (local, loc), remote.sock: (remote, rem)}
        while waiting:
            ready, _, _ = select.select(list(waiting), [], [], 10)
            if not ready:
                raise AssertionError("line %d did not arrive" % i)
            for sock in ready:
                c, out = waiting.pop(sock)
                line = c.get(1)[0]
                now = time.monotonic_ns()
                seq, ts = line.split(b" ")[:2]
                assert int(seq) == i, (seq, i)
                out.append((now - int(ts)) / 1000.0)
        sender.get(1)  # its own line back
    return sorted(loc), sorted(rem)


def throughput(sender, remote, seconds, size, window):
    body = b"y" * max(0, size - 11)
    sent = received = 0
    next_expected = 0
    sock_s, sock_r = sender.sock, remote.sock
    sock_s.setblocking(False)
    sock_r.setblocking(False)
    rbuf = b""
    out = b""
    start = time.monotonic()
    end = start + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if not out and sent - received < window:
            n = min(window - (sent - received), 256)
            out = b"".join(b"%010d %s\n" % (sent + k, body)
                           for k in range(n))
            sent += n
        r, w, _ = select.select([sock_s, sock_r], [sock_s] if out else [],
                                [], 0.1)
        if sock_s in w:
            try:
                k = sock_s.send(out)
                out = out[k:]
            except BlockingIOError:
                pass
        if sock_s in r:
            try:
                if not sock_s.recv(1 << 20):
                    raise AssertionError("the sender was disconnected")
            except BlockingIOError:
                pass
        if sock_r in r:
            try:
                chunk = sock_r.recv(1 << 20)
            except BlockingIOError:
                chunk = b""
            rbuf += chunk
            parts = rbuf.split(b"\n")
            rbuf = parts[-1]
            for ln in parts[:-1]:
                seq = int(ln[:10])
                if seq != next_expected:
                    raise AssertionError("B got line %d, expected %d"
                                         % (seq, next_expected))
                next_expected += 1
            received = next_expected
    elapsed = time.monotonic() - start
    return received, elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--window", type=int, default=1000)
    ap.add_argument("--node-arg", action="append", default=[],
                    help="one more argument for both nodes (repeatable), "
                    "e.g. --node-arg=--redis-history --node-arg=100000")
    args = ap.parse_args()

    redis = RedisServer().start()
    nodes = []
    try:
        a = Node(args.binary, "--redis", "127.0.0.1:%d" % redis.port,
                 "--quiet", "--max-queue-msgs", "100000",
                 "--max-queue-bytes", "64M", *args.node_arg).wait_connected()
        nodes.append(a)
        b = Node(args.binary, "--redis", "127.0.0.1:%d" % redis.port,
                 "--quiet", "--max-queue-msgs", "100000",
                 "--max-queue-bytes", "64M", *args.node_arg).wait_connected()
        nodes.append(b)
        sender, local = Lines(a.connect()), Lines(a.connect())
        remote = Lines(b.connect())
        for c in (sender, local, remote):
            join(c, b"bench")
        until(lambda: redis.numsub("hub:t:bench") == 2)

        latency(sender, local, remote, 200)  # warm-up
        loc, rem = latency(sender, local, remote, args.samples)
        print("latency, %d lines of 50 bytes, one at a time (us):"
              % args.samples)
        print("  %-22s %8s %8s %8s %8s" % ("", "p50", "p99", "p99.9",
                                          "max"))
        for name, v in (("same node (A to A)", loc),
                        ("cross-node (A to B)", rem)):
            print("  %-22s %8.0f %8.0f %8.0f %8.0f"
                  % (name, percentile(v, 50), percentile(v, 99),
                     percentile(v, 99.9), v[-1]))

        local.sock.close()  # only B listens now, besides the sender
        got, secs = throughput(sender, remote, args.seconds, args.size,
                               args.window)
        print("throughput, A to B, %d-byte lines, window %d, %.1f s:"
              % (args.size, args.window, secs))
        print("  %d lines received in order, none missing: %.0f lines/s, "
              "%.1f MB/s of payload" % (got, got / secs,
                                        got * args.size / secs / 1e6))
    finally:
        for n in nodes:
            n.stop()
        redis.cleanup()
    for n in nodes:
        for ln in n.log:
            if "redis stats" in ln:
                print("  " + ln.split(": ", 1)[1])


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
