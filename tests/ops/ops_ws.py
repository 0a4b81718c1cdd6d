"""hub-ws-chat's /metrics and /healthz: exact counts after a known traffic
pattern (python3-websockets clients), every family with HELP and TYPE as
python3-prometheus-client parses it; --no-metrics, --no-healthz and
--metrics-listen (served there, 404 on the main port); bad HTTP to the
operations listener; SIGUSR1 logs the statistics and the server goes on;
/healthz 503 while the Redis bridge is not connected.

Usage: ops_ws.py HUB_WS_CHAT. Exits 77 (skipped) without
python3-websockets or python3-prometheus-client."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_common import (  # noqa: E402
    Program, assert_closed_after, exchange, http, need_prometheus,
    run_tests, scrape, value, wait_until)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "ws"))
from ws_common import need_websockets, read_until_closed  # noqa: E402

BINARY = sys.argv[1]
websockets = need_websockets()
need_prometheus()

N_CLIENTS = 5
N_MESSAGES = 7
REASONS = ("disconnect", "evicted", "refused", "closed", "conflated",
           "nomem", "expired")


async def recv(ws, timeout=30):
    return await asyncio.wait_for(ws.recv(), timeout)


async def traffic(port):
    """N clients in room "ops", one sends M messages, everyone reads all
    of them; then a libhub.v1 client resumes from the oldest (since=0) and
    reads the M from the history. Returns the clients, still open."""
    url = "ws://127.0.0.1:%d/ws?room=ops" % port
    clients = [await websockets.connect(url, ping_interval=None,
                                        compression=None)
               for _ in range(N_CLIENTS)]
    for i in range(N_MESSAGES):
        await clients[0].send("message %d" % i)
    for ws in clients:
        got = [await recv(ws) for _ in range(N_MESSAGES)]
        assert got == ["message %d" % i for i in range(N_MESSAGES)], got
    v1 = await websockets.connect(url + "&since=0", ping_interval=None,
                                  compression=None,
                                  subprotocols=["libhub.v1"])
    got = [await recv(v1) for _ in range(N_MESSAGES)]
    assert [g.split("\n", 1)[1] for g in got] == \
        ["message %d" % i for i in range(N_MESSAGES)], got
    return clients + [v1]


async def close_all(clients):
    for ws in clients:
        await ws.close()


def assert_healthy(port):
    """GET /healthz answers 200 "ok"."""
    status, _, body = http(port, "GET", "/healthz")
    assert (status, body) == (200, b"ok\n"), (status, body)


def check_counts(port, clients_now):
    s = scrape(port)
    n = N_CLIENTS
    assert value(s, "hub_clients") == clients_now, s["hub_clients"]
    assert value(s, "hub_clients_registered_total") == n + 1
    assert value(s, "hub_rooms") == 1
    assert value(s, "hub_subscriptions") == clients_now
    assert value(s, "hub_messages_published_total") == N_MESSAGES
    # Every client got every message, the resumed one from the history.
    assert value(s, "hub_messages_delivered_total") == \
        (n + 1) * N_MESSAGES, s["hub_messages_delivered_total"]
    assert value(s, "hub_resumes_total") == 1
    assert value(s, "hub_history_messages") == N_MESSAGES
    for r in REASONS:
        assert value(s, "hub_messages_dropped_total", reason=r) == 0
        assert value(s, "hub_dropped_bytes_total", reason=r) == 0
    assert value(s, "hub_queued_messages") == 0
    assert value(s, "hub_queued_bytes") == 0
    assert value(s, "hub_clients_pressure", level="0") == clients_now
    assert value(s, "hub_clients_pressure", level="1") == 0
    assert value(s, "hub_clients_pressure", level="2") == 0
    assert value(s, "hub_ws_upgraded_total") == n + 1
    assert value(s, "hub_ws_messages_received_total") == N_MESSAGES
    assert value(s, "hub_ws_connections") >= clients_now
    return s


def test_metrics_and_healthz_on_the_main_port():
    srv = Program(BINARY)
    try:
        async def run():
            clients = await traffic(srv.port)
            check_counts(srv.port, N_CLIENTS + 1)
            # A client leaves: the gauges follow, the counters stay.
            await clients[1].close()
            wait_until(lambda: value(scrape(srv.port), "hub_clients") ==
                       N_CLIENTS, what="a client gone from hub_clients")
            s = scrape(srv.port)
            assert value(s, "hub_clients_registered_total") == N_CLIENTS + 1
            assert value(s, "hub_clients_pressure", level="0") == N_CLIENTS
            await close_all(clients)
        asyncio.run(run())
        assert_healthy(srv.port)
        status, headers, body = http(srv.port, "HEAD", "/metrics")
        assert status == 200 and body == b"", (status, body)
        assert int(headers["content-length"]) > 1000, headers
        status, _, _ = http(srv.port, "POST", "/metrics",
                            b"Content-Length: 0\r\n")
        assert status == 405, status
        assert value(scrape(srv.port), "hub_ws_http_responses_total") >= 3

        # SIGUSR1: the statistics, and the server goes on.
        srv.signal(signal.SIGUSR1)
        srv.wait_log(r"^hub-ws-chat: stats: clients %d \(0 dropped as slow\)"
                     r", broadcasts %d, delivered %d messages"
                     % (N_CLIENTS + 1, N_MESSAGES,
                        (N_CLIENTS + 1) * N_MESSAGES))
        srv.wait_log(r"^hub-ws-chat: deflate: connections 0")
        srv.signal(signal.SIGUSR1)
        srv.wait_log(r"^hub-ws-chat: stats: ", count=2)
        assert srv.proc.poll() is None, srv.log()

        async def still_serving():
            ws = await websockets.connect(
                "ws://127.0.0.1:%d/ws?room=after" % srv.port,
                ping_interval=None)
            await ws.send("still here")
            assert await recv(ws) == "still here"
            await ws.close()
        asyncio.run(still_serving())
        assert http(srv.port, "GET", "/healthz")[0] == 200
    finally:
        srv.stop()
    assert "final stats: clients %d" % (N_CLIENTS + 2) in srv.log(), srv.log()


def test_turned_off():
    srv = Program(BINARY, "--no-metrics", "--no-healthz")
    try:
        assert http(srv.port, "GET", "/metrics")[0] == 404
        assert http(srv.port, "GET", "/healthz")[0] == 404
        assert http(srv.port, "GET", "/")[0] == 200  # the page still is
    finally:
        srv.stop()
    srv = Program(BINARY, "--no-metrics")
    try:
        assert http(srv.port, "GET", "/metrics")[0] == 404
        assert http(srv.port, "GET", "/healthz")[0] == 200
    finally:
        srv.stop()


def test_metrics_listen():
    srv = Program(BINARY, "--metrics-listen", "127.0.0.1:0")
    try:
        assert srv.ops_port != srv.port
        # Not on the main port any more.
        assert http(srv.port, "GET", "/metrics")[0] == 404
        assert http(srv.port, "GET", "/healthz")[0] == 404

        async def run():
            clients = await traffic(srv.port)
            check_counts(srv.ops_port, N_CLIENTS + 1)
            await close_all(clients)
        asyncio.run(run())
        assert_healthy(srv.ops_port)
        status, headers, body = http(srv.ops_port, "HEAD", "/healthz")
        assert status == 200 and body == b"" and \
            headers["content-length"] == "3", (status, headers, body)
        # HTTP/1.0, LF line ends, a query string.
        raw = exchange(srv.ops_port, b"GET /healthz?x=1 HTTP/1.0\n\n")
        assert raw.startswith(b"HTTP/1.1 200 OK\r\n"), raw
        bad_http(srv.ops_port)
        # The listener is still fine after all that.
        scrape(srv.ops_port)
    finally:
        srv.stop()
    # Only one of the two, on its own listener.
    srv = Program(BINARY, "--metrics-listen", "127.0.0.1:0", "--no-healthz")
    try:
        assert http(srv.ops_port, "GET", "/healthz")[0] == 404
        scrape(srv.ops_port)
    finally:
        srv.stop()


def bad_http(port):
    """Hostile or broken requests: an error status, then a closed
    connection; the listener serves on."""
    assert_closed_after(port, b"garbage\r\n\r\n", 400)
    assert_closed_after(port, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
                        400)  # TLS
    assert_closed_after(port, b"GET /metrics HTTP/2.0\r\n\r\n", 505)
    assert_closed_after(port, b"GET /nothing HTTP/1.1\r\n\r\n", 404)
    assert_closed_after(port, b"GET / HTTP/1.1\r\n\r\n", 404)
    assert_closed_after(port, b"DELETE /metrics HTTP/1.1\r\n\r\n", 405)
    assert_closed_after(port, b"GET /metrics HTTP/1.1\r\nX: a\x00b\r\n\r\n",
                        400)
    assert_closed_after(port, b"GET /" + b"a" * 300 + b" HTTP/1.1\r\n\r\n",
                        414)
    assert_closed_after(port, b"GET /metrics HTTP/1.1\r\n" +
                        b"X-Long: " + b"y" * 5000 + b"\r\n\r\n", 431)
    # A request cut short by the client's FIN: 400 all the same.
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.settimeout(10)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x")
        s.shutdown(socket.SHUT_WR)
        raw = read_until_closed(s)
        assert raw.startswith(b"HTTP/1.1 400 "), raw
    # A request followed by more than the server reads: still answered
    # (the rest is read and thrown away, never a reset before the answer).
    raw = exchange(port, b"GET /healthz HTTP/1.1\r\n\r\n" + b"z" * 200000)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n"), raw[:100]
    # Too slow: 408 at the deadline (5 s).
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.settimeout(15)
        start = time.monotonic()
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        raw = s.recv(4096)
        assert raw.startswith(b"HTTP/1.1 408 "), raw
        assert time.monotonic() - start >= 4.5
        while s.recv(4096):
            pass
    # Connections beyond the listener's 16 are closed at once; those
    # within are served once they speak.
    held = [socket.create_connection(("127.0.0.1", port), 10)
            for _ in range(16)]
    try:
        with socket.create_connection(("127.0.0.1", port), 10) as extra:
            extra.settimeout(10)
            try:
                assert extra.recv(100) == b""
            except ConnectionResetError:
                pass
        held[0].sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
        held[0].settimeout(10)
        assert held[0].recv(100).startswith(b"HTTP/1.1 200 ")
    finally:
        for s in held:
            s.close()
    wait_until(lambda: http(port, "GET", "/healthz")[0] == 200,
               what="the listener to serve again")


REDIS = os.environ.get("HUB_REDIS_SERVER") or shutil.which("redis-server")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthz_follows_the_redis_bridge():
    if "--redis" not in subprocess.run([BINARY, "--help"], capture_output=True,
                                       text=True, timeout=30).stdout:
        print("# redis: not built with --redis (no hiredis); not tested")
        return
    port = free_port()  # nothing listens there yet
    srv = Program(BINARY, "--redis", "127.0.0.1:%d" % port)
    redis = None
    try:
        status, _, body = http(srv.port, "GET", "/healthz")
        assert status == 503 and body.startswith(b"unavailable: redis"), \
            (status, body)
        s = scrape(srv.port)
        assert value(s, "hub_redis_connected") == 0
        if REDIS is None:
            print("# redis: redis-server is not installed; only the 503 "
                  "tested")
            return
        tmp = tempfile.mkdtemp(prefix="hub-ops-redis-")
        redis = subprocess.Popen(
            [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        wait_until(lambda: http(srv.port, "GET", "/healthz")[0] == 200,
                   timeout=60, what="/healthz 200 once Redis is up")
        s = scrape(srv.port)
        assert value(s, "hub_redis_connected") == 1
        assert value(s, "hub_redis_connects_total") >= 1
        srv.signal(signal.SIGUSR1)
        srv.wait_log(r"^hub-ws-chat: redis stats: node ")
    finally:
        srv.stop()
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=30)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
