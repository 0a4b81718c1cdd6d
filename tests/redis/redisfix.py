"""Helpers for the backplane's Python tests: a redis-server of the test's
own, a tiny RESP client, and hub-tcp-echo nodes. Standard library only.

Every server listens on 127.0.0.1: Redis on a port found free by binding
port 0, the nodes on port 0 (read back from their "listening on" line).
"""

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "ws"))
from ws_common import signal_and_wait  # noqa: E402

WAIT = 20.0  # seconds; only a broken test waits this long
REDIS = shutil.which("redis-server", path="/usr/bin:" + os.environ.get(
    "PATH", "")) or "redis-server"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(cond, timeout=WAIT, step=0.02):
    """Poll cond() until it is true; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


# ---------------------------------------------------------------------------
# RESP, just enough for PING, AUTH, PUBSUB, CLIENT LIST, PUBLISH
# ---------------------------------------------------------------------------

class RespError(Exception):
    pass


class Resp:
    def __init__(self, port, password=None, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.buf = b""
        if password is not None:
            self.cmd("AUTH", password)

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RespError("unexpected reply %r" % line)

    def cmd(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._reply()


# ---------------------------------------------------------------------------
# redis-server
# ---------------------------------------------------------------------------

class RedisServer:
    """A redis-server of the test's own: no persistence, loopback only."""

    def __init__(self, password=None):
        self.port = free_port()
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="hub-redis-test-")
        self.proc = None

    def start(self):
        args = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--dir", self.dir]
        if self.password is not None:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if not until(self._answers):
            self.kill()
            raise AssertionError("redis-server did not answer PING")
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("redis-server exited with %s"
                                 % self.proc.returncode)
        try:
            c = Resp(self.port, timeout=1.0)
        except OSError:
            return False
        try:
            c.cmd("PING")
        except RespError:
            pass  # NOAUTH: up all the same
        except OSError:
            return False
        finally:
            c.close()
        return True

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self):
        return Resp(self.port, self.password)

    def numsub(self, channel):
        c = self.client()
        try:
            return c.cmd("PUBSUB", "NUMSUB", channel)[1]
        finally:
            c.close()

    def subscriptions_of(self, name):
        """The number of channels the client named `name` listens to."""
        c = self.client()
        try:
            text = c.cmd("CLIENT", "LIST").decode()
        finally:
            c.close()
        for line in text.splitlines():
            fields = dict(f.split("=", 1) for f in line.split(" ") if "=" in f)
            if fields.get("name") == name:
                return int(fields["sub"])
        return None


# ---------------------------------------------------------------------------
# hub-tcp-echo nodes
# ---------------------------------------------------------------------------

class Node:
    """hub-tcp-echo in a child process, its stderr collected by a thread."""

    def __init__(self, binary, *args, env=None):
        full_env = dict(os.environ)
        full_env.pop("HUB_REDIS_PASSWORD", None)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=full_env)
        self.log = []
        self.lines = queue.Queue()
        self.socks = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        m = self.wait_log(r"listening on 127\.0\.0\.1:(\d+)")
        self.port = int(m.group(1))
        self.node_id = None

    def _read(self):
        for raw in self.proc.stderr:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def _drain(self, timeout=0.0):
        try:
            line = self.lines.get(timeout=timeout) if timeout else \
                self.lines.get_nowait()
        except queue.Empty:
            return False
        if line is not None:
            self.log.append(line)
        return line is not None

    def count(self, pattern):
        """Log lines so far matching pattern (without waiting)."""
        while self._drain():
            pass
        return sum(1 for ln in self.log if re.search(pattern, ln))

    def wait_log(self, pattern, timeout=WAIT, after=0):
        """The first log line, from index `after`, matching pattern."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        checked = after
        while True:
            for i in range(checked, len(self.log)):
                m = rx.search(self.log[i])
                if m:
                    return m
            checked = max(checked, len(self.log))
            if time.monotonic() >= deadline:
                break
            self._drain(0.05)
        raise AssertionError("no log line matching %r in:\n%s"
                             % (pattern, "\n".join(self.log)))

    def wait_connected(self):
        m = self.wait_log(r"redis: connected to Redis at \S+ \(node "
                          r"([0-9a-f]{16})")
        self.node_id = m.group(1)
        return self

    def sub_name(self):
        return "libhub-%s-sub" % self.node_id

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=WAIT)
        self.socks.append(s)
        return s

    def stop(self, sig=signal.SIGTERM):
        """Signal the node; its exit status once it has exited."""
        for s in self.socks:
            s.close()
        rc = signal_and_wait(self.proc, sig, WAIT, "the node did not exit")
        self.reader.join(timeout=WAIT)
        self.proc.stderr.close()
        while self._drain():
            pass
        return rc

    def kill(self):
        for s in self.socks:
            s.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=WAIT)
        if not self.proc.stderr.closed:
            self.proc.stderr.close()


class Lines:
    """Reads complete lines from a socket, keeping what follows."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def get(self, n):
        while self.buf.count(b"\n") < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("connection closed after %d of %d lines"
                                     % (self.buf.count(b"\n"), n))
            self.buf += chunk
        parts = self.buf.split(b"\n")
        self.buf = b"\n".join(parts[n:])
        return parts[:n]

    def until(self, line):
        """Lines up to and including `line`."""
        got = []
        while True:
            got += self.get(1)
            if got[-1] == line:
                return got

    def silent(self, seconds=0.3):
        """Nothing more arrives for a while."""
        if self.buf:
            return False
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            data = b""
        finally:
            self.sock.settimeout(WAIT)
        self.buf += data
        return data == b""
