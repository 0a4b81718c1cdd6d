"""hub-tcp-echo's /metrics and /healthz on --metrics-listen: exact counts
after a known traffic pattern (plain TCP clients), every family with HELP
and TYPE as python3-prometheus-client parses it; without the flag nothing
is served; --no-metrics; bad HTTP to the listener; SIGUSR1 logs the
statistics and the server goes on.

Usage: ops_tcp.py HUB_TCP_ECHO. Exits 77 (skipped) without
python3-prometheus-client."""

import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_common import (Program, assert_closed_after, http,  # noqa: E402
                        need_prometheus, run_tests, scrape, value,
                        wait_until)

BINARY = sys.argv[1]
need_prometheus()

N_CLIENTS = 4
N_LINES = 9


def read_lines(sock, n, timeout=30):
    sock.settimeout(timeout)
    buf = b""
    while buf.count(b"\n") < n:
        chunk = sock.recv(65536)
        assert chunk, "closed after %r" % buf
        buf += chunk
    return buf.decode().splitlines()


def test_metrics_listen():
    srv = Program(BINARY, "--metrics-listen", "127.0.0.1:0")
    clients = []
    try:
        clients = [socket.create_connection(("127.0.0.1", srv.port), 10)
                   for _ in range(N_CLIENTS)]
        # Everyone is in the lobby before the first line.
        wait_until(lambda: value(scrape(srv.ops_port), "hub_subscriptions")
                   == N_CLIENTS, what="clients in the lobby")
        for i in range(N_LINES):
            clients[0].sendall(b"line %d\n" % i)
        want = ["line %d" % i for i in range(N_LINES)]
        for c in clients:
            assert read_lines(c, N_LINES) == want
        s = scrape(srv.ops_port)
        assert value(s, "hub_clients") == N_CLIENTS
        assert value(s, "hub_clients_registered_total") == N_CLIENTS
        assert value(s, "hub_rooms") == 1
        assert value(s, "hub_messages_published_total") == N_LINES
        assert value(s, "hub_messages_delivered_total") == N_CLIENTS * N_LINES
        assert value(s, "hub_delivered_bytes_total") == \
            N_CLIENTS * sum(len(w) for w in want)
        assert value(s, "hub_messages_dropped_total", reason="evicted") == 0
        assert value(s, "hub_clients_pressure", level="0") == N_CLIENTS
        assert value(s, "hub_tcp_connections") == N_CLIENTS
        assert value(s, "hub_tcp_accepted_total") == N_CLIENTS
        assert value(s, "hub_tcp_lines_received_total") == N_LINES
        assert "hub_ws_connections" not in s
        status, _, body = http(srv.ops_port, "GET", "/healthz")
        assert (status, body) == (200, b"ok\n"), (status, body)

        # The main port speaks lines, not HTTP: a request there is a line.
        clients[1].sendall(b"GET /metrics HTTP/1.1\n")
        for c in clients:
            assert read_lines(c, 1) == ["GET /metrics HTTP/1.1"]

        # Bad HTTP to the listener: an error, then a closed connection.
        assert_closed_after(srv.ops_port, b"hello\n\n", 400)
        assert_closed_after(srv.ops_port, b"GET /x HTTP/1.1\r\n\r\n", 404)
        assert_closed_after(srv.ops_port, b"PUT /healthz HTTP/1.1\r\n\r\n",
                            405)
        assert_closed_after(srv.ops_port, b"GET /metrics HTTP/1.1\r\n" +
                            b"A: b\r\n" * 1000 + b"\r\n", 431)
        assert_closed_after(srv.ops_port,
                            b"GET /metrics HTTP/1.1\r\n\x01\r\n\r\n", 400)

        # SIGUSR1: the statistics; the server goes on.
        srv.signal(signal.SIGUSR1)
        srv.wait_log(r"^hub-tcp-echo: stats: clients %d \(0 dropped as "
                     r"slow\), broadcasts %d, delivered %d messages"
                     % (N_CLIENTS, N_LINES + 1, N_CLIENTS * (N_LINES + 1)))
        assert srv.proc.poll() is None
        clients[3].sendall(b"after\n")
        for c in clients:
            assert read_lines(c, 1) == ["after"]
        scrape(srv.ops_port)
    finally:
        for c in clients:
            c.close()
        srv.stop()
    assert "final stats: clients %d" % N_CLIENTS in srv.log()


def test_no_listener_without_the_flag():
    srv = Program(BINARY, "--no-metrics")
    try:
        assert srv.ops_port is None
        assert "operations listener" not in srv.log()
        srv.signal(signal.SIGUSR1)
        srv.wait_log(r"^hub-tcp-echo: stats: clients 0 ")
    finally:
        srv.stop()
    srv = Program(BINARY, "--metrics-listen", "127.0.0.1:0", "--no-metrics")
    try:
        assert http(srv.ops_port, "GET", "/metrics")[0] == 404
        assert http(srv.ops_port, "GET", "/healthz")[0] == 200
    finally:
        srv.stop()


if __name__ == "__main__":
    run_tests(globals())
