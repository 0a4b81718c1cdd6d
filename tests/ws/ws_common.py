"""Shared by the Python tests of hub-ws-chat: start the server on a free
port of 127.0.0.1, read its log, stop it with SIGTERM and check that it
exits cleanly. Standard library only."""

import asyncio
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

SKIP = 77  # ctest's SKIP_RETURN_CODE for these tests


def need_websockets():
    """python3-websockets (with its exceptions and permessage-deflate
    modules loaded), or exit SKIP saying that it is not installed."""
    try:
        import websockets
        import websockets.exceptions  # noqa: F401
        import websockets.extensions.permessage_deflate  # noqa: F401
    except ImportError:
        print("skipped: python3-websockets is not installed")
        sys.exit(SKIP)
    return websockets


class Server:
    """hub-ws-chat running with `args`, its stderr collected."""

    def __init__(self, binary, *args):
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, errors="replace")
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.port = None
        deadline = time.monotonic() + 30
        while self.port is None and time.monotonic() < deadline:
            with self.lock:
                for line in self.lines:
                    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
                    if m:
                        self.port = int(m.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        if self.port is None:
            self.proc.kill()
            raise RuntimeError("server did not start: " + self.log())

    def _read(self):
        for line in self.proc.stderr:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def log(self):
        with self.lock:
            return "\n".join(self.lines)

    def wait_log(self, pattern, timeout=30):
        """Wait until a log line matches `pattern`; return the match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for line in self.lines:
                    m = re.search(pattern, line)
                    if m:
                        return m
            time.sleep(0.01)
        raise AssertionError("no log line matches %r:\n%s" % (pattern, self.log()))

    def count_log(self, pattern):
        with self.lock:
            return sum(1 for line in self.lines if re.search(pattern, line))

    @property
    def url(self):
        return "ws://127.0.0.1:%d/ws" % self.port

    def terminate(self):
        """Send SIGTERM once: a second one would end the server at once."""
        if not getattr(self, "signaled", False) and self.proc.poll() is None:
            self.signaled = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self):
        """SIGTERM; the server must exit 0 after its final stats (under
        the sanitizers, a leak makes the exit code nonzero)."""
        self.terminate()
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("server did not stop on SIGTERM:\n" + self.log())
        self.reader.join(timeout=10)
        if code != 0:
            raise AssertionError("server exited with %d:\n%s" % (code, self.log()))
        if "final stats" not in self.log():
            raise AssertionError("no final stats:\n" + self.log())


def read_until_closed(sock):
    """Everything the peer sends on `sock` until it closes the connection
    (a reset or a timeout is an error)."""
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


def http(port, request, timeout=10):
    """Send raw bytes, return everything the server sent until it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        return read_until_closed(s)


def status_of(response):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", response)
    return int(m.group(1)) if m else None


def handshake(host_port, path="/ws", version="13", extra=""):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: "
            "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: %s\r\n%s\r\n"
            % (path, host_port, version, extra)).encode()


def read_head(sock):
    """Read the head of the server's answer byte by byte up to its blank
    line, leaving what follows (frames) in the kernel."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise AssertionError("closed during the handshake: %r" % head)
        head += chunk
    return head


def ws_frame(payload, opcode=1, fin=True, rsv=0):
    """A masked client frame, as a client must send it. `rsv` holds the
    reserved bits where they sit in the first byte: 0x40 is RSV1 (a
    compressed message, RFC 7692), 0x20 RSV2, 0x10 RSV3."""
    mask = os.urandom(4)
    n = len(payload)
    first = (0x80 if fin else 0) | rsv | opcode
    if n < 126:
        head = bytes([first, 0x80 | n])
    elif n < 65536:
        head = bytes([first, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, 0x80 | 127]) + n.to_bytes(8, "big")
    m = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    body = (int.from_bytes(payload, "big") ^ m).to_bytes(n, "big") if n else b""
    return head + mask + body


def parse_frames(buf):
    """The complete server frames at the start of `buf`: a list of
    (first byte, payload), the first byte holding FIN, the reserved bits
    and the opcode; and the bytes left over (a frame not complete)."""
    frames, pos = [], 0
    while len(buf) - pos >= 2:
        n, length = 2, buf[pos + 1] & 0x7F
        if length == 126:
            if len(buf) - pos < 4:
                break
            length, n = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
        elif length == 127:
            if len(buf) - pos < 10:
                break
            length, n = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
        if len(buf) - pos < n + length:
            break
        frames.append((buf[pos], bytes(buf[pos + n:pos + n + length])))
        pos += n + length
    return frames, buf[pos:]


def split_frames(buf):
    """The complete server frames at the start of `buf`: a list of
    (opcode, payload), and the bytes left over (a frame not complete)."""
    frames, rest = parse_frames(buf)
    return [(b0 & 0x0F, payload) for b0, payload in frames], rest


class PoolClient:
    """The reading side of a raw client over a socket `sock`: a Pool (or
    a thread, on a blocking socket) calls on_readable(), which gives what
    arrived to on_data(chunk) and sets `ended` once the server has closed
    or the connection failed."""

    ended = False

    def on_readable(self):
        try:
            chunk = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.ended = True
            return
        self.on_data(chunk)

    def send_blocking(self, data):
        """Write all of `data` on a socket that a Pool reads without
        blocking."""
        self.sock.setblocking(True)
        self.sock.sendall(data)
        self.sock.setblocking(False)


class Pool:
    """Raw clients read by one selector loop. A client has `sock`,
    `ended`, on_readable() and close()."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()

    def add(self, c):
        self.sel.register(c.sock, selectors.EVENT_READ, c)
        return c

    def remove(self, c):
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.close()

    def poll(self, timeout=0.05):
        for key, _ in self.sel.select(timeout):
            key.data.on_readable()
            if key.data.ended:
                self.sel.unregister(key.data.sock)

    def close_all(self):
        """Close every client first: a server stopping waits for clients
        that are still open to answer its close frames."""
        for key in list(self.sel.get_map().values()):
            self.remove(key.data)

    def until(self, cond, what, timeout=120):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError("timed out: " + what)
            self.poll()


def run(tests):
    """Run (name, function) pairs; print TAP-like lines; exit 1 on any
    failure."""
    failed = 0
    for name, fn in tests:
        start = time.monotonic()
        try:
            fn()
        except Exception as e:  # report and go on with the others
            failed += 1
            print("not ok - %s: %s: %s" % (name, type(e).__name__, e))
            sys.stdout.flush()
            continue
        print("ok - %s (%.1f s)" % (name, time.monotonic() - start))
        sys.stdout.flush()
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    sys.exit(1 if failed else 0)


def run_then_stop(srv, coro, timeout=120):
    """Run `coro` (a test's clients of the server `srv`), bounded by
    `timeout` seconds, then stop `srv`, which must exit cleanly, whether
    the clients passed or not."""
    try:
        return asyncio.run(asyncio.wait_for(coro, timeout))
    finally:
        srv.stop()


def run_module_tests(srv, namespace):
    """Run every `test_` function of a test script (`namespace` is its
    globals()) with run(), in the order they are defined, against the one
    server `srv`: those that take an argument are given the server.
    The last test is that the server exits cleanly on SIGTERM; if a test
    left it running anyway, it is killed."""
    tests = []
    for name, fn in list(namespace.items()):
        if not name.startswith("test_"):
            continue
        if fn.__code__.co_argcount:
            tests.append((name[5:], (lambda f: lambda: f(srv))(fn)))
        else:
            tests.append((name[5:], fn))
    tests.append(("server_exits_cleanly", srv.stop))
    try:
        run(tests)
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()


def wait_until(pred, timeout=30, what="condition"):
    """Wait (polling) until pred() is true; fail after `timeout` seconds
    saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def signal_and_wait(proc, sig, timeout, what):
    """Send `sig` to the process `proc` (unless it has exited) and wait
    for it to exit: its exit status. If it does not within `timeout`
    seconds it is killed and the test fails saying `what`."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(what)



# Flags both programs take from their shared application layer
# (examples/common), used badly: (arguments, what the error says) ...
APP_BAD_FLAGS = [
    (["--bogus"], "unknown option '--bogus'"),
    (["--listen"], "option '--listen' needs a value"),
    (["--listen", "127.0.0.1:70000"], "bad port"),
    (["--policy", "sideways"], "--policy: expected disconnect"),
    (["stray"], "unexpected argument 'stray'"),
]
# ... and given values they refuse, with an error that names the flag.
APP_BAD_VALUES = {
    "--listen": ["nowhere"],
    "--max-queue-msgs": ["0"],
    "--max-queue-bytes": ["lots"],
    "--max-conns-per-ip": ["many", "-1"],
    "--max-msg-rate": ["2000000", "lots"],
    "--msg-burst": ["0"],
    "--send-buffer": ["2G", "lots"],
}


def bad_flag_failures(binary, values, cases=(), timeout=30):
    """Run the program `binary` once per bad use of a flag: the app
    layer's (APP_BAD_FLAGS, APP_BAD_VALUES), then the program's own:
    `values` (flag: values it refuses, with an error that names the flag)
    and `cases` ((arguments, what the error says)). Each must exit 2 with
    that error and a pointer to --help on stderr and nothing on stdout.
    The cases that did not, with what they did."""
    name = os.path.basename(binary)
    failures = []
    for args, message in [
            *APP_BAD_FLAGS, *cases,
            *(([flag, v], flag) for given in (APP_BAD_VALUES, values)
              for flag, bad in given.items() for v in bad)]:
        r = subprocess.run([binary, *args], capture_output=True, text=True,
                           timeout=timeout)
        if (r.returncode != 2 or message not in r.stderr
                or "Try '%s --help'" % name not in r.stderr or r.stdout):
            failures.append((args, message, r.returncode, r.stdout,
                             r.stderr))
    return failures
