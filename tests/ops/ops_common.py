"""Shared by the tests of the programs' /metrics, /healthz, SIGUSR1 and
--log-format: start a program on free ports of 127.0.0.1, read its log,
speak HTTP/1.1 to it over a plain socket (so that a test sees exactly what
was sent and that the connection was closed), parse /metrics with
prometheus_client, stop it with SIGTERM."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "ws"))
from ws_common import wait_until  # noqa: E402,F401  (the ops scripts' too)

SKIP = 77  # ctest's SKIP_RETURN_CODE

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    text_string_to_metric_families = None


def need_prometheus():
    if text_string_to_metric_families is None:
        print("skipped: python3-prometheus-client is not installed")
        raise SystemExit(SKIP)


class Program:
    """A program started with `args` (after --listen 127.0.0.1:0), its
    stderr collected as bytes, line by line."""

    def __init__(self, binary, *args):
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        self.raw = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        m = self.wait_log(r"listening on 127\.0\.0\.1:(\d+)")
        self.port = int(m.group(1))
        self.ops_port = None
        if "--metrics-listen" in args:
            m = self.wait_log(r"operations listener on 127\.0\.0\.1:(\d+)")
            self.ops_port = int(m.group(1))

    def _read(self):
        for line in self.proc.stderr:
            with self.lock:
                self.raw.append(line.rstrip(b"\n"))

    def lines(self):
        with self.lock:
            return [b.decode("utf-8", "replace") for b in self.raw]

    def log(self):
        return "\n".join(self.lines())

    def wait_log(self, pattern, timeout=30, count=1):
        """Wait until `count` log lines match `pattern`; the last match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in (re.search(pattern, ln) for ln in self.lines())
                     if m]
            if len(found) >= count:
                return found[count - 1]
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        raise AssertionError("no log line matches %r:\n%s"
                             % (pattern, self.log()))

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self):
        """SIGTERM, then the exit status (must be 0)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("did not stop on SIGTERM:\n" + self.log())
        self.reader.join(timeout=10)
        assert code == 0, "exit status %d:\n%s" % (code, self.log())


def exchange(port, request, timeout=10):
    """Send `request` (bytes) and read until the server closes: the raw
    answer. Fails if the server keeps the connection open."""
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.settimeout(timeout)
        s.sendall(request)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    return out


def http(port, method, path, extra=b""):
    """One request: (status, headers dict, body)."""
    raw = exchange(port, b"%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n"
                   % (method.encode(), path.encode(), port, extra))
    return parse_answer(raw, head_only=method == "HEAD")


def parse_answer(raw, head_only=False):
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, "no complete answer: %r" % raw
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0])
    assert m, "bad status line: %r" % lines[0]
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers and not head_only:
        assert len(body) == int(headers["content-length"]), raw
    return int(m.group(1)), headers, body


def scrape(port):
    """GET /metrics, parsed: {sample name: {labels tuple: value}}, after
    checking that every family has HELP and a TYPE, and counters end in
    _total."""
    status, headers, body = http(port, "GET", "/metrics")
    assert status == 200, (status, body)
    assert headers["content-type"].startswith("text/plain; version=0.0.4"), \
        headers
    text = body.decode("utf-8")
    samples = {}
    families = list(text_string_to_metric_families(text))
    assert families, text
    names = set()
    for fam in families:
        assert fam.documentation, "no HELP for %s" % fam.name
        assert fam.type in ("counter", "gauge"), (fam.name, fam.type)
        assert fam.name not in names, "family %s twice" % fam.name
        names.add(fam.name)
        assert fam.samples, "no sample for %s" % fam.name
        for s in fam.samples:
            if fam.type == "counter":
                assert s.name == fam.name + "_total", s.name
            key = tuple(sorted(s.labels.items()))
            samples.setdefault(s.name, {})[key] = s.value
    # Every sample line belongs to a family declared before it.
    declared = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    for ln in text.splitlines():
        if ln and not ln.startswith("#"):
            assert re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? \d+$",
                            ln), ln
            assert re.match(r"[a-zA-Z0-9_:]+", ln).group(0) in declared, ln
    return samples


def value(samples, name, **labels):
    key = tuple(sorted(labels.items()))
    assert name in samples, "no %s in %s" % (name, sorted(samples))
    assert key in samples[name], "no %s%r" % (name, key)
    return samples[name][key]


def assert_closed_after(port, request, want_status):
    """A bad request: answered with `want_status`, then closed."""
    raw = exchange(port, request)
    status, headers, _ = parse_answer(raw)
    assert status == want_status, (request[:60], status, raw[:200])
    assert headers.get("connection") == "close", headers


def run_tests(namespace):
    """Run every `test_` function of a script (`namespace` is its
    globals()) in the order they are defined; the first failure ends the
    script with its traceback."""
    for name, fn in list(namespace.items()):
        if name.startswith("test_"):
            print("#", name, flush=True)
            fn()
            print("ok -", name, flush=True)
