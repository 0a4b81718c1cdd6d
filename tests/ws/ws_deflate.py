"""permessage-deflate (RFC 7692) in hub-ws-chat, against Python's
websockets library (python3-websockets) and raw sockets speaking the
extension byte by byte.

- Negotiation: every combination of parameters websockets can offer,
  against the default server (window 15) and one compressing with a
  10-bit window; the server's answer is
  "permessage-deflate; server_no_context_takeover;
  client_no_context_takeover", plus "; server_max_window_bits=W" only
  when the offer named it; offers it cannot honour are declined and the
  connection is upgraded without the extension. Offers written by hand:
  bad parameters are declined, the next offer is tried, quoted values are
  accepted, unknown extensions are ignored. --no-deflate negotiates
  nothing.
- Messages of every size and type cross intact both ways, between
  clients that compress and clients that do not; on the wire the server
  compresses what is long enough and shrinks (RSV1), with the window it
  announced, and leaves the rest alone; --deflate-threshold and
  --deflate-level do what they say; one compression per message, counted
  in the final "deflate:" line. libhub.v1 clients get the id compressed
  with the payload, and the server's notices ("!" LF JSON) in the same
  form as without the extension.
- Inbound, RFC 7692 by hand: fragments, empty messages in three
  encodings, a final block, interleaved fragments of several clients,
  and the close codes: RSV1 on a control frame or a continuation or
  without the extension, RSV2/RSV3 -> 1002; data that is not deflate, or
  refers to bytes before its message -> 1007; inflated text that is not
  UTF-8 -> 1007; inflated beyond --max-message -> 1009, a decompression
  bomb of 10 and 100 MB included, without the server's memory growing
  beyond a few MiB; a message of exactly --max-message bytes is
  delivered even when its compressed frame is a little longer (random
  bytes, which a client such as websockets compresses anyway).
- Memory: a thousand idle connections with the extension cost no more
  than a thousand without (no compressor or decompressor per
  connection).

usage: ws_deflate.py PATH/TO/hub-ws-chat
"""

import asyncio
import json
import os
import random
import re
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ws_common import (Server, handshake, need_websockets,  # noqa: E402
                       parse_frames, run_module_tests, status_of, ws_frame)

websockets = need_websockets()
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.extensions.permessage_deflate import (  # noqa: E402
    ClientPerMessageDeflateFactory, PerMessageDeflate)

BINARY = sys.argv[1]
MIB = 1 << 20
OP_CONT, OP_TEXT, OP_BINARY = 0, 1, 2
OP_CLOSE, OP_PING, OP_PONG = 8, 9, 10
RSV1, RSV2, RSV3 = 0x40, 0x20, 0x10
TAIL = b"\x00\x00\xff\xff"  # RFC 7692 7.2.1: removed by the sender
ACCEPTED = ["permessage-deflate", "server_no_context_takeover",
            "client_no_context_takeover"]
# The final statistics line of a server with deflate on.
STATS = (r"deflate: connections (\d+), messages compressed (\d+) "
         r"\((\d+) -> (\d+) bytes\), messages inflated (\d+)")
COMMON = ("--ping-interval", "0", "--max-message", "1M",
          "--max-queue-bytes", "8M")


def start(*args):
    return Server(BINARY, *COMMON, *args)


# ---------------------------------------------------------------------------
# Messages


def json_message(size, seed=1):
    """A chat-like JSON text of about `size` bytes (compresses well)."""
    r = random.Random(seed)
    items, n = [], 0
    while n < size:
        item = {"name": r.choice(["ann", "bob", "cyd"]),
                "text": "message %d of the room" % r.randrange(10000),
                "from": "%08x" % r.randrange(1 << 32)}
        items.append(item)
        n += len(json.dumps(item)) + 2
    return json.dumps({"items": items})


def utf8_text(size):
    """Text with characters of 1 to 4 bytes at every offset."""
    unit = "a\u00e9\u20ac\U0001F600 Gr\u00fc\u00dfe \u4e16\u754c "
    return (unit * (size // len(unit.encode()) + 1))[:size // 2]


def pattern(size):
    """Binary that compresses."""
    return bytes((i * i // 7) % 251 for i in range(size))


JSON_1K = json_message(1024)
RANDOM_1M = random.Random(3).randbytes(MIB)      # does not shrink
# Random bytes grow by some 0.03% when compressed: under 1 MiB by enough
# that a client's compressed frame stays under --max-message too (the
# message of exactly 1 MiB has a test of its own).
RANDOM = RANDOM_1M[:MIB - 4096]
SMALL = ["hi", b"\x00\x01\x02", "x" * 100]       # under the threshold
MEDIUM = [JSON_1K, JSON_1K.encode(), utf8_text(3000), pattern(4096)]
LARGE = [pattern(64 * 1024), utf8_text(64 * 1024), RANDOM,
         json_message(MIB - 100)]


def deflate(data, wbits=15, level=6, final=False):
    """A message's payload as RFC 7692 has it: raw deflate, sync-flushed,
    the trailing 00 00 ff ff removed; or ending with a final block."""
    c = zlib.compressobj(level, zlib.DEFLATED, -wbits)
    if final:
        return c.compress(data) + c.flush(zlib.Z_FINISH)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def inflate(data, wbits=15):
    """Inflate the way a client that allocated only a `wbits` window
    must: a little output at a time, so that a back reference further
    than the window (a server compressing with a larger window than it
    announced) fails here instead of being served from the output."""
    d = zlib.decompressobj(wbits=-wbits)
    out, buf = [], data + TAIL
    while buf and not d.eof:
        out.append(d.decompress(buf, 256))
        buf = d.unconsumed_tail
    return b"".join(out)


def offer_params(value):
    """An extension header's value as a list of offers, each a list of
    "name" or "name=value" strings, spaces removed and names in lower
    case (for comparing the server's answer)."""
    offers = []
    for offer in value.split(","):
        params = []
        for p in offer.split(";"):
            name, eq, val = p.partition("=")
            params.append(name.strip().lower() + (eq + val.strip() if eq else ""))
        offers.append(params)
    return offers


# ---------------------------------------------------------------------------
# A raw client


class Closed(Exception):
    def __init__(self, code, reason=b""):
        super().__init__("closed with %s %r" % (code, reason))
        self.code, self.reason = code, reason


class Message:
    def __init__(self, opcode, data, compressed, wire):
        self.opcode, self.data = opcode, data
        self.compressed, self.wire = compressed, wire  # wire: payload bytes

    def __repr__(self):
        return "Message(op %d, %d bytes, rsv1 %s, %d on the wire)" % (
            self.opcode, len(self.data), self.compressed, self.wire)


class Raw:
    """A client over a plain socket: offers what it is told, sends any
    frame, checks every frame the server sends."""

    def __init__(self, port, path="/ws", offers=(), protocol=None,
                 timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        extra = "".join("Sec-WebSocket-Extensions: %s\r\n" % o for o in offers)
        if protocol:
            extra += "Sec-WebSocket-Protocol: %s\r\n" % protocol
        self.sock.sendall(handshake("127.0.0.1:%d" % port, path=path,
                                    extra=extra))
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("no answer to the upgrade: %r" % buf)
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        self.parsed, self.buf = parse_frames(rest)
        self.head = head.decode("latin-1")
        self.status = status_of(head)
        self.ext_headers = re.findall(r"(?im)^sec-websocket-extensions:[ \t]*"
                                      r"(.*?)[ \t]*\r?$", self.head)
        self.held = []     # frames read while waiting for a pong
        self.syncs = 0
        # The negotiated parameters, or None.
        self.deflate = None
        self.wbits = 15
        if self.ext_headers:
            assert len(self.ext_headers) == 1, self.head
            offers = offer_params(self.ext_headers[0])
            assert len(offers) == 1, self.head
            self.deflate = offers[0]
            for p in self.deflate:
                if p.startswith("server_max_window_bits="):
                    self.wbits = int(p.split("=")[1])

    # Sending

    def send(self, payload, opcode=OP_TEXT, fin=True, rsv=0):
        self.sock.sendall(ws_frame(payload, opcode, fin=fin, rsv=rsv))

    def send_deflated(self, data, opcode=OP_TEXT, fragments=1, **kw):
        """One compressed message, in `fragments` frames (RSV1 on the
        first only), cut at arbitrary places of the deflate stream."""
        z = deflate(data, **kw)
        cuts = sorted(random.Random(len(z)).sample(range(len(z) + 1),
                                                   fragments - 1))
        parts = [z[a:b] for a, b in zip([0] + cuts, cuts + [len(z)])]
        out = b""
        for i, part in enumerate(parts):
            out += ws_frame(part, opcode if i == 0 else OP_CONT,
                            fin=i == len(parts) - 1, rsv=RSV1 if i == 0 else 0)
        self.sock.sendall(out)

    def sync(self):
        """A ping, and wait for its pong: the server has read everything
        sent before it."""
        self.syncs += 1
        token = b"sync %d" % self.syncs
        self.send(token, OP_PING)
        while True:
            b0, payload = self._read_frame()
            if b0 & 0x0F == OP_PONG and payload == token:
                return
            self.held.append((b0, payload))

    # Receiving

    def _read_frame(self):
        while not self.parsed:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buf += chunk
            frames, self.buf = parse_frames(self.buf)
            self.parsed.extend(frames)
        return self.parsed.pop(0)

    def frame(self):
        if self.held:
            return self.held.pop(0)
        return self._read_frame()

    def message(self):
        """The next data message, inflated if it came compressed. Pings
        are answered; a close frame raises Closed."""
        first, parts, wire = None, [], 0
        while True:
            b0, payload = self.frame()
            op = b0 & 0x0F
            assert b0 & (RSV2 | RSV3) == 0, "RSV2/RSV3 from the server"
            if op == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                raise Closed(code, payload[2:])
            if op == OP_PING:
                self.send(payload, OP_PONG)
                continue
            if op == OP_PONG:
                continue
            if first is None:
                assert op in (OP_TEXT, OP_BINARY), "opcode %d first" % op
                assert not (b0 & RSV1) or self.deflate is not None, \
                    "RSV1 on a connection without the extension"
                first = b0
            else:
                assert op == OP_CONT, "opcode %d in a message" % op
                assert not b0 & RSV1, "RSV1 on a continuation"
            parts.append(payload)
            wire += len(payload)
            if b0 & 0x80:
                break
        data = b"".join(parts)
        compressed = bool(first & RSV1)
        if compressed:
            data = inflate(data, self.wbits)
        return Message(first & 0x0F, data, compressed, wire)

    def expect(self, want, compressed=None):
        """The next message is `want` (str: text, bytes: binary)."""
        return check(self.message(), want, compressed)

    def close_code(self):
        """Read until the server's close frame: its code (None if the
        connection ended without one); then answer and close."""
        try:
            while True:
                self.message()
        except Closed as e:
            try:
                self.sock.sendall(ws_frame(struct.pack("!H", e.code), OP_CLOSE))
            except OSError:
                pass
            self.sock.close()
            return e.code
        except (EOFError, ConnectionResetError):
            self.sock.close()
            return None

    def close(self):
        try:
            self.sock.sendall(ws_frame(struct.pack("!H", 1000), OP_CLOSE))
        except OSError:
            pass
        self.sock.close()


def check(m, want, compressed=None):
    if isinstance(want, str):
        assert m.opcode == OP_TEXT and m.data == want.encode(), \
            (m, m.data[:60], want[:60])
    else:
        assert m.opcode == OP_BINARY and m.data == want, \
            (m, m.data[:60], want[:60])
    if compressed is not None:
        assert m.compressed == compressed, \
            "%r: RSV1 expected %s" % (m, compressed)
    return m


class Reader(threading.Thread):
    """Reads `n` messages of a raw client in the background."""

    def __init__(self, client, n):
        super().__init__(daemon=True)
        self.client, self.n, self.got, self.error = client, n, [], None
        self.start()

    def run(self):
        try:
            for _ in range(self.n):
                self.got.append(self.client.message())
        except Exception as e:  # reported by result()
            self.error = e

    def result(self):
        self.join(60)
        if self.error is not None:
            raise self.error
        assert len(self.got) == self.n, "%d of %d messages" % (
            len(self.got), self.n)
        return self.got


def raw_deflate(srv, room, offer="permessage-deflate; client_max_window_bits"):
    c = Raw(srv.port, "/ws?room=" + room, offers=[offer])
    assert c.status == 101 and c.deflate == ACCEPTED, c.head
    return c


def raw_plain(srv, room):
    c = Raw(srv.port, "/ws?room=" + room)
    assert c.status == 101 and c.deflate is None, c.head
    return c


def expect_close(c, code, what):
    got = c.close_code()
    assert got == code, "%s: closed with %s, expected %d" % (what, got, code)


def alive(srv, room="alive"):
    """The server still inflates and compresses for a new client."""
    c = raw_deflate(srv, room)
    c.send_deflated(JSON_1K.encode())
    c.expect(JSON_1K, compressed=True)
    c.close()


def final_stats(srv):
    m = srv.wait_log(STATS, timeout=5)
    return tuple(int(x) for x in m.groups())


def under_asan():
    with open(BINARY, "rb") as f:
        return b"__asan_init" in f.read()


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s" % field)


# ---------------------------------------------------------------------------
# Python's websockets


def arun(coro, timeout=240):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def connect(url, **kw):
    kw.setdefault("max_size", None)
    kw.setdefault("ping_interval", None)
    return await websockets.connect(url, **kw)


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), 60)


async def exchange(a, b, msgs):
    """`a` sends every message, then `b` does: both get all of them, in
    order, with their type and content."""
    for sender in (a, b):
        for m in msgs:
            await sender.send(m)
        for c in (a, b):
            for m in msgs:
                got = await recv(c)
                assert type(got) is type(m) and got == m, \
                    "%r: got %r (%d), sent %r (%d)" % (
                        sender, got[:40], len(got), m[:40], len(m))


def negotiated(ws):
    """What a websockets client agreed on: the answer's parameters, and
    the extension object (or None, None)."""
    values = ws.response_headers.get_all("Sec-WebSocket-Extensions")
    assert len(values) <= 1, values
    exts = [e for e in ws.extensions if isinstance(e, PerMessageDeflate)]
    assert len(exts) == len(values), (values, exts)
    if not values:
        return None, None
    offers = offer_params(values[0])
    assert len(offers) == 1, values
    return offers[0], exts[0]


def expected_answer(server_max_window_bits, window):
    """The server's answer to an offer, for a server compressing with a
    `window`-bit window: None when declined."""
    n = server_max_window_bits
    if n is not None and (n == 8 or n < window):
        return None
    return ACCEPTED + (["server_max_window_bits=%d" % window]
                       if n is not None else [])


def test_websockets_every_offer_both_ways():
    """Every parameter combination websockets can offer, against a
    server with the default window (15) and one with --deflate-window-bits
    10: the answer is exactly the expected one, what websockets set up
    follows it, and messages cross intact both ways, with a partner that
    compresses and one that does not."""
    combos = [(s, c, snct, cnct)
              for s in (None, 9, 10, 15, 8)
              for c in (None, True, 9, 15)
              for snct in (False, True) for cnct in (False, True)]
    for window in (15, 10):
        srv = start(*(["--deflate-window-bits", "10"] if window == 10 else []))
        try:
            async def main():
                accepted = 0
                for i, (s, c, snct, cnct) in enumerate(combos):
                    factory = ClientPerMessageDeflateFactory(
                        server_no_context_takeover=snct,
                        client_no_context_takeover=cnct,
                        server_max_window_bits=s, client_max_window_bits=c,
                        compress_settings={"memLevel": 5})
                    room = "?room=m%d" % i
                    a = await connect(srv.url + room, compression=None,
                                      extensions=[factory])
                    # Half the partners compress, half do not.
                    b = await connect(srv.url + room, compression=(
                        "deflate" if i % 2 else None))
                    what = "offer %s: %s" % (
                        (s, c, snct, cnct),
                        a.request_headers.get("Sec-WebSocket-Extensions"))
                    params, ext = negotiated(a)
                    want = expected_answer(s, window)
                    assert params == want, "%s: answer %s, expected %s" % (
                        what, params, want)
                    if want is not None:
                        accepted += 1
                        assert ext.remote_no_context_takeover, what
                        assert ext.local_no_context_takeover, what
                        assert ext.remote_max_window_bits == (
                            window if s is not None else 15), what
                    bp, _ = negotiated(b)
                    assert bp == (ACCEPTED if i % 2 else None), bp
                    await exchange(a, b, SMALL + MEDIUM)
                    # The large ones (up to 1 MiB) for a few offers.
                    if i % 16 == 0:
                        await exchange(a, b, LARGE)
                    await a.close()
                    await b.close()
                return accepted
            accepted = arun(main())
            assert accepted == (32 if window == 15 else 48), accepted
        finally:
            srv.stop()
        conns, compressed, before, after, inflated = final_stats(srv)
        # Every accepted offer, and every second partner.
        assert conns == accepted + len(combos) // 2, (conns, accepted)
        assert compressed > 0 and after < before and inflated > 0, \
            final_stats(srv)
        print("# window %d: %d offers accepted; %s" % (
            window, accepted, srv.wait_log(STATS).group(0)))


def test_on_the_wire_rsv1_where_it_shrinks():
    """A raw reader that negotiated the extension gets the messages a
    websockets client sends with RSV1 exactly when they are at least
    128 bytes (the default threshold) and shrink; inflated with a 15-bit
    window they are what was sent. A reader without the extension gets
    every one plain."""
    srv = start()
    try:
        z = raw_deflate(srv, "wire")
        p = raw_plain(srv, "wire")
        cases = [("x" * 50, False), ("a" * 127, False), ("a" * 128, True),
                 (JSON_1K, True), (JSON_1K.encode(), True),
                 (utf8_text(2000), True), (pattern(64 * 1024), True),
                 (RANDOM, False), (RANDOM[:300], False),
                 (b"", False), ("", False)]

        # The raw readers read while the messages go by (a reader that
        # stops reading would be cut as a slow consumer).
        readers = [Reader(z, len(cases)), Reader(p, len(cases))]

        async def send():
            async with websockets.connect(srv.url + "?room=wire",
                                          max_size=None,
                                          ping_interval=None) as ws:
                for m, _ in cases:
                    await ws.send(m)
                for m, _ in cases:
                    assert await recv(ws) == m
        arun(send())
        zs, ps = (r.result() for r in readers)
        for (m, rsv1), zm, pm in zip(cases, zs, ps):
            check(zm, m, rsv1)
            if rsv1:
                assert zm.wire < len(zm.data), zm
            check(pm, m, False)
        z.close()
        p.close()
    finally:
        srv.stop()


def test_server_compresses_within_the_window_it_announced():
    """A message with repeats 1000 bytes apart: compressed by a server
    with --deflate-window-bits 9, it must inflate with a 512-byte window
    (whatever the client offered as server_max_window_bits, 9 or more);
    a server with the default window announces none and may use 32 KiB."""
    blk = random.Random(5).randbytes(1000)
    msg = b"abc" * 700 + blk + blk + b"xyz" * 700
    srv = start("--deflate-window-bits", "9")
    try:
        for offer, want in (("server_max_window_bits=9", 9),
                            ("server_max_window_bits=12", 9),
                            ("server_max_window_bits=15", 9),
                            ("client_max_window_bits", None)):
            c = Raw(srv.port, "/ws?room=w9",
                    offers=["permessage-deflate; " + offer])
            assert c.deflate == ACCEPTED + (
                ["server_max_window_bits=%d" % want] if want else []), \
                (offer, c.head)
            c.wbits = 9  # whatever it said: it compresses with 9 bits
            c.send_deflated(msg, OP_BINARY)
            c.expect(msg, compressed=True)
            c.close()
    finally:
        srv.stop()
    srv = start()
    try:
        c = Raw(srv.port, "/ws?room=w15",
                offers=["permessage-deflate; server_max_window_bits=15"])
        assert c.deflate == ACCEPTED + ["server_max_window_bits=15"], c.head
        c.send_deflated(msg, OP_BINARY)
        got = c.expect(msg, compressed=True)
        # With a 32 KiB window the repeat is found: far smaller than with
        # a 512-byte window, where the second copy costs ~1000 bytes.
        assert got.wire < 1300, got
        c.close()
    finally:
        srv.stop()


def test_threshold_and_level_flags():
    srv = start("--deflate-threshold", "2000")
    try:
        c = raw_deflate(srv, "t")
        for m, rsv1 in ((JSON_1K, False), ("a" * 1999, False),
                        ("a" * 2000, True), (json_message(4096), True)):
            c.send(m.encode())
            c.expect(m, compressed=rsv1)
        c.close()
    finally:
        srv.stop()
    srv = start("--deflate-threshold", "0")
    try:
        c = raw_deflate(srv, "t0")
        for m, rsv1 in (("a" * 20, True), ("x", False), ("", False)):
            c.send(m.encode())
            c.expect(m, compressed=rsv1)
        c.close()
    finally:
        srv.stop()
    r = random.Random(7)
    words = ("the quick brown fox jumps over lazy dog hub room message "
             "server client deflate window bits level").split()
    text = " ".join(r.choice(words) + str(r.randrange(100))
                    for _ in range(4000))
    sizes = {}
    for level in ("1", "9"):
        srv = start("--deflate-level", level)
        try:
            c = raw_deflate(srv, "lvl")
            c.send(text.encode())
            sizes[level] = c.expect(text, compressed=True).wire
            c.close()
        finally:
            srv.stop()
    assert sizes["9"] < sizes["1"] * 0.95, sizes


def test_command_line():
    r = subprocess.run([BINARY, "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r
    for flag in ("--no-deflate", "--deflate-threshold", "--deflate-level",
                 "--deflate-window-bits"):
        assert flag in r.stdout, flag
    for args in (["--deflate-level", "0"], ["--deflate-level", "10"],
                 ["--deflate-level", "fast"],
                 ["--deflate-window-bits", "8"],
                 ["--deflate-window-bits", "16"],
                 ["--deflate-threshold", "-1"],
                 ["--deflate-threshold", "lots"]):
        r = subprocess.run([BINARY, "--listen", "127.0.0.1:0", *args],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2, (args, r)
        assert args[0] in r.stderr, (args, r.stderr)


def test_one_compression_per_message_and_the_stats_line():
    """Three clients that negotiated the extension, one that did not and
    one raw reader: each message is compressed once whatever the number
    of readers. The final line counts the connections with the extension,
    the messages compressed (with their sizes) and inflated."""
    srv = start()
    msgs = [json_message(1024, seed=i) for i in range(5)] + \
        ["short one", "x" * 50] + [RANDOM_1M[:65536]]
    try:
        async def main():
            ws = [await connect(srv.url + "?room=s") for _ in range(3)]
            plain = await connect(srv.url + "?room=s", compression=None)
            for m in msgs:
                await ws[0].send(m)
            for c in ws + [plain]:
                for m in msgs:
                    assert await recv(c) == m
            for c in ws + [plain]:
                await c.close()
        arun(main())
        z = raw_deflate(srv, "s2")
        z.close()
    finally:
        srv.stop()
    conns, compressed, before, after, inflated = final_stats(srv)
    assert conns == 4, final_stats(srv)
    assert compressed == 5, final_stats(srv)
    assert before >= 5 * 1024 and after < before // 2, final_stats(srv)
    assert inflated == len(msgs), final_stats(srv)  # websockets compresses all


def test_no_deflate():
    srv = start("--no-deflate")
    try:
        async def main():
            a = await connect(srv.url)
            b = await connect(srv.url)
            assert negotiated(a) == (None, None)
            assert a.extensions == []
            await exchange(a, b, SMALL + MEDIUM + [RANDOM_1M])
            await a.close()
            await b.close()
        arun(main())
        for offer in ("permessage-deflate",
                      "permessage-deflate; client_max_window_bits",
                      "permessage-deflate; server_max_window_bits=15"):
            c = Raw(srv.port, offers=[offer])
            assert c.status == 101 and not c.ext_headers, c.head
            c.send(deflate(b"hello"), rsv=RSV1)
            expect_close(c, 1002, "RSV1 under --no-deflate")
    finally:
        srv.stop()
    assert not re.search(STATS, srv.log()), srv.log()


def test_libhub_v1_clients_get_the_id_compressed_too():
    srv = start()
    try:
        c = Raw(srv.port, "/ws?room=v1", protocol="libhub.v1",
                offers=["permessage-deflate"])
        assert c.deflate == ACCEPTED, c.head
        assert re.search(r"(?im)^sec-websocket-protocol: *libhub\.v1", c.head)
        c.send_deflated(JSON_1K.encode())
        m = c.message()
        assert m.opcode == OP_TEXT and m.compressed, m
        mid, nl, payload = m.data.partition(b"\n")
        assert nl and payload == JSON_1K.encode(), m.data[:80]
        c.close()
    finally:
        srv.stop()


def test_libhub_v1_notices_are_the_same_with_deflate():
    """A libhub.v1 client gets the server's notices as "!" LF JSON,
    compressed or not, whether or not it negotiated the extension: a
    resume beyond the history ({"hub":"gap","missed":N}) and a resume
    from another stream ({"hub":"reset","missed":null})."""
    srv = start("--history", "2")
    try:
        watcher = Raw(srv.port, "/ws?room=notes", protocol="libhub.v1")
        sender = raw_plain(srv, "notes")
        ids = []
        for i in range(5):
            sender.send(b"note %d" % i)
            mid, _, payload = watcher.message().data.partition(b"\n")
            assert payload == b"note %d" % i, payload
            ids.append(mid.decode())
        epoch = ids[0].split(".")[0]
        other = ("0" if epoch[0] != "0" else "1") + epoch[1:]
        wrong = []
        for since, notice, then in (
                (ids[0], b'!\n{"hub":"gap","missed":2}', [3, 4]),
                (other + ".1", b'!\n{"hub":"reset","missed":null}', [3, 4])):
            for offers in ([], ["permessage-deflate"]):
                c = Raw(srv.port, "/ws?room=notes&since=" + since,
                        protocol="libhub.v1", offers=offers)
                assert (c.deflate == ACCEPTED) == bool(offers), c.head
                got = [c.message().data for _ in range(1 + len(then))]
                want = [notice] + [("%s\nnote %d" % (ids[k], k)).encode()
                                   for k in then]
                if got != want:
                    wrong.append("since=%s, %s: got %r, expected %r" % (
                        since, "deflate" if offers else "no deflate",
                        got, want))
                c.close()
        watcher.close()
        sender.close()
    finally:
        srv.stop()
    # The live gap notice of --policy drop-oldest: two libhub.v1 clients
    # stop reading (small buffers) while 300 messages of 2 KB go by, then
    # read again; each is told what it lost.
    srv = start("--policy", "drop-oldest", "--max-queue-msgs", "16",
                "--send-buffer", "4096", "--slow-after", "0")
    clients = []
    try:
        for offers in ([], ["permessage-deflate"]):
            c = Raw(srv.port, "/ws?room=drops", protocol="libhub.v1",
                    offers=offers)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            clients.append(c)
        sender = raw_plain(srv, "drops")  # never reads: loses messages too
        clients.append(sender)
        r = random.Random(11)
        for i in range(300):
            sender.send(b"%d " % i + r.randbytes(1000).hex().encode())
        time.sleep(0.5)
        sender.send(b"last")
        for c in clients[:2]:
            # Until "last" and a notice (which may come after it: it is
            # sent once the client has caught up). The kernel's window
            # probes, which back off while a reader is stalled, can hold
            # the first bytes a few seconds.
            c.sock.settimeout(20)
            n, last, gaps = 0, False, []
            try:
                while not (last and gaps):
                    m = c.message().data
                    n += 1
                    last = last or m.endswith(b"\nlast")
                    if b'"gap"' in m:
                        gaps.append(m)
            except socket.timeout:
                pass
            what = "drop-oldest, %s" % ("deflate" if c.deflate else
                                        "no deflate")
            assert last and n < 300, (what, n, last)
            if not gaps or not all(re.match(
                    rb'!\n\{"hub":"gap","missed":[1-9][0-9]*\}$', g)
                    for g in gaps):
                wrong.append("%s: gap notices %r, expected "
                             "'!\\n{\"hub\":\"gap\",\"missed\":N}'"
                             % (what, gaps))
    finally:
        for c in clients:
            c.sock.close()
        srv.stop()
    assert not wrong, "\n  ".join([""] + wrong)


def test_many_clients_compress_at_once():
    """20 websockets clients send 10 messages each, all at once: the
    server's one inflater serves them all, each message intact."""
    srv = start()
    try:
        async def main():
            n, per = 20, 10
            cs = [await connect(srv.url + "?room=many") for _ in range(n)]

            def msg(i, j):
                return json_message(300 + 97 * j, seed=i * 100 + j)

            async def talk(i, c):
                for j in range(per):
                    await c.send(msg(i, j))
            await asyncio.gather(*(talk(i, c) for i, c in enumerate(cs)))
            want = sorted(msg(i, j) for i in range(n) for j in range(per))
            for c in cs:
                got = [await recv(c) for _ in range(n * per)]
                assert sorted(got) == want
            for c in cs:
                await c.close()
        arun(main())
    finally:
        srv.stop()


# ---------------------------------------------------------------------------
# Negotiation, offers written by hand


def answer(srv, *headers):
    """The extension parameters a raw upgrade with these
    Sec-WebSocket-Extensions headers gets (None: no extension)."""
    c = Raw(srv.port, offers=headers)
    assert c.status == 101, c.head
    c.sock.close()
    return c.deflate


def test_offers_by_hand():
    srv = start()
    wrong = []
    try:
        declined = [
            "permessage-deflate; foo",
            "permessage-deflate; foo=1",
            "permessage-deflate; server_no_context_takeover; "
            "server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; "
            "client_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=15; "
            "server_max_window_bits=15",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=",
            "permessage-deflate; client_max_window_bits=",
            "permessage-deflate; foo=",
            'permessage-deflate; server_max_window_bits=""',
            'permessage-deflate; server_max_window_bits="15',
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=0",
            "permessage-deflate; server_max_window_bits=015",
            "permessage-deflate; server_max_window_bits=1a",
            "permessage-deflate; server_max_window_bits=-15",
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; server_max_window_bits=14",  # cannot honour
            "permessage-deflate; server_max_window_bits=9",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=09",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=true",
            "permessage-deflate; server_max_window_bits=8, "
            "permessage-deflate; bogus",
            "x-webkit-deflate-frame",
            "deflate-frame; no_context_takeover",
        ]
        for offer in declined:
            got = answer(srv, offer)
            if got is not None:
                wrong.append("%r: accepted with %r, expected declined"
                             % (offer, "; ".join(got)))
        accepted = [
            (["permessage-deflate"], ACCEPTED),
            (["permessage-deflate; client_max_window_bits"], ACCEPTED),
            (["permessage-deflate; client_max_window_bits=10"], ACCEPTED),
            (["permessage-deflate; client_max_window_bits=8"], ACCEPTED),
            (["permessage-deflate; client_max_window_bits=15"], ACCEPTED),
            (["permessage-deflate;client_max_window_bits"], ACCEPTED),
            (["permessage-deflate; server_no_context_takeover"], ACCEPTED),
            (["permessage-deflate; client_no_context_takeover"], ACCEPTED),
            (["permessage-deflate; server_no_context_takeover; "
              "client_no_context_takeover"], ACCEPTED),
            (["permessage-deflate; server_max_window_bits=15"],
             ACCEPTED + ["server_max_window_bits=15"]),
            (['permessage-deflate; server_max_window_bits="15"'],
             ACCEPTED + ["server_max_window_bits=15"]),
            (["permessage-deflate; server_max_window_bits=15; "
              "client_max_window_bits=9; server_no_context_takeover; "
              "client_no_context_takeover"],
             ACCEPTED + ["server_max_window_bits=15"]),
            # The first offer is bad or cannot be honoured: the next.
            (["permessage-deflate; foo, permessage-deflate"], ACCEPTED),
            (["permessage-deflate; server_max_window_bits=8, "
              "permessage-deflate; server_max_window_bits=15"],
             ACCEPTED + ["server_max_window_bits=15"]),
            (["permessage-deflate; server_max_window_bits=10, "
              "permessage-deflate; client_max_window_bits"], ACCEPTED),
            (["permessage-deflate; server_max_window_bits=010",
              "permessage-deflate; server_max_window_bits=15"],
             ACCEPTED + ["server_max_window_bits=15"]),
            (["permessage-deflate; server_max_window_bits=, "
              "permessage-deflate; server_max_window_bits=15"],
             ACCEPTED + ["server_max_window_bits=15"]),
            # Unknown extensions are skipped, wherever they are.
            (["x-webkit-deflate-frame, permessage-deflate"], ACCEPTED),
            (["x-webkit-deflate-frame", "permessage-deflate"], ACCEPTED),
            (["permessage-deflate, x-webkit-deflate-frame"], ACCEPTED),
        ]
        for offers, want in accepted:
            got = answer(srv, *offers)
            if got != want:
                wrong.append("%r: answer %s, expected %s" % (offers, got, want))
        # A connection whose offers were all declined has no extension.
        c = Raw(srv.port,
                offers=["permessage-deflate; server_max_window_bits=8"])
        assert c.deflate is None, c.head
        c.send(deflate(b"x" * 100), rsv=RSV1)
        expect_close(c, 1002, "RSV1 after a declined offer")
    finally:
        srv.stop()
    srv = start("--deflate-window-bits", "10")
    try:
        for offer, want in (("", ACCEPTED),
                            ("; server_max_window_bits=10",
                             ACCEPTED + ["server_max_window_bits=10"]),
                            ('; server_max_window_bits="10"',
                             ACCEPTED + ["server_max_window_bits=10"]),
                            ("; server_max_window_bits=12",
                             ACCEPTED + ["server_max_window_bits=10"]),
                            ("; server_max_window_bits=15",
                             ACCEPTED + ["server_max_window_bits=10"]),
                            ("; server_max_window_bits=9", None),
                            ("; server_max_window_bits=8", None)):
            got = answer(srv, "permessage-deflate" + offer)
            if got != want:
                wrong.append("window 10, %r: answer %s, expected %s"
                             % (offer, got, want))
    finally:
        srv.stop()
    assert not wrong, "\n  ".join([""] + wrong)


# ---------------------------------------------------------------------------
# Inbound frames, RFC 7692 by hand


def test_fragmented_empty_and_final_block_messages(srv):
    room = "in"
    c = raw_deflate(srv, room)
    other = raw_plain(srv, room)
    text = utf8_text(30000)
    cases = []
    # A compressed message in 3 fragments (RSV1 on the first only), text
    # and binary, and in 7 with pings between them.
    c.send_deflated(text.encode(), OP_TEXT, fragments=3)
    cases.append(text)
    c.send_deflated(pattern(5000), OP_BINARY, fragments=3)
    cases.append(pattern(5000))
    z = deflate(JSON_1K.encode())
    step = len(z) // 7 + 1
    for i in range(0, len(z), step):
        c.send(z[i:i + step], OP_TEXT if i == 0 else OP_CONT,
               fin=i + step >= len(z), rsv=RSV1 if i == 0 else 0)
        c.send(b"between", OP_PING)
    cases.append(JSON_1K)
    # Empty compressed messages: no payload, a lone 00 (an empty stored
    # block without its tail) and 02 00 (an empty fixed block), as text
    # and as binary.
    for payload in (b"", b"\x00", b"\x02\x00"):
        for op, want in ((OP_TEXT, ""), (OP_BINARY, b"")):
            c.send(payload, op, rsv=RSV1)
            cases.append(want)
    # An empty compressed message in two empty fragments.
    c.send(b"", OP_TEXT, fin=False, rsv=RSV1)
    c.send(b"", OP_CONT)
    cases.append("")
    # A message ending with a final block (BFINAL set, no sync flush);
    # and one whose final block is an empty one after the data.
    c.sock.sendall(ws_frame(deflate(JSON_1K.encode(), final=True),
                            OP_TEXT, rsv=RSV1))
    cases.append(JSON_1K)
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    z = co.compress(b"final block after a flush") + co.flush(zlib.Z_SYNC_FLUSH)
    z += co.flush(zlib.Z_FINISH)
    c.send(z, OP_BINARY, rsv=RSV1)
    cases.append(b"final block after a flush")
    # Plain messages between compressed ones, on the same connection.
    c.send(b"plain in between")
    cases.append("plain in between")
    c.send_deflated(b"compressed again", OP_BINARY)
    cases.append(b"compressed again")
    for want in cases:
        c.expect(want)
        other.expect(want)
    c.close()
    other.close()


def test_interleaved_fragments_of_several_clients(srv):
    """Three clients send compressed messages in fragments, turn by turn
    (each fragment read by the server before the next client's: a pong
    says so). One shared inflater must not mix them."""
    room = "inter"
    cs = [raw_deflate(srv, room) for _ in range(3)]
    reader = raw_plain(srv, room)
    msgs = [utf8_text(20000 + 1000 * i).encode() + b"%d" % i for i in range(3)]
    parts = []
    for m in msgs:
        z = deflate(m)
        third = len(z) // 3
        parts.append([z[:third], z[third:2 * third], z[2 * third:]])
    for k in range(3):
        for i, c in enumerate(cs):
            c.send(parts[i][k], OP_TEXT if k == 0 else OP_CONT, fin=k == 2,
                   rsv=RSV1 if k == 0 else 0)
            c.sync()
    got = sorted(reader.message().data for _ in range(3))
    assert got == sorted(msgs), [len(g) for g in got]
    # A client that leaves partway through a compressed message does not
    # disturb the next ones.
    quitter = raw_deflate(srv, room)
    z = deflate(msgs[0])
    quitter.send(z[:len(z) // 2], OP_TEXT, fin=False, rsv=RSV1)
    quitter.sync()
    quitter.sock.close()
    cs[1].send_deflated(msgs[1])
    for c in cs + [reader]:
        while True:
            m = c.message()
            if m.data == msgs[1]:
                break
            assert m.data in msgs, m
    for c in cs + [reader]:
        c.close()


def test_reserved_bits_close_with_1002(srv):
    room = "rsv"
    # Only the first frame of a data message may carry RSV1.
    for name, frames in (
            ("ping with RSV1", [(b"", OP_PING, True, RSV1)]),
            ("ping with RSV1 and a payload", [(b"x", OP_PING, True, RSV1)]),
            ("pong with RSV1", [(b"", OP_PONG, True, RSV1)]),
            ("close with RSV1", [(struct.pack("!H", 1000), OP_CLOSE, True,
                                  RSV1)]),
            ("RSV1 on a continuation of a compressed message",
             [(deflate(b"abc" * 50)[:5], OP_TEXT, False, RSV1),
              (deflate(b"abc" * 50)[5:], OP_CONT, True, RSV1)]),
            ("RSV1 on a continuation of a plain message",
             [(b"plain ", OP_TEXT, False, 0), (deflate(b"more"), OP_CONT,
                                              True, RSV1)]),
            ("ping with RSV1 inside a compressed message",
             [(deflate(b"abc" * 50)[:5], OP_TEXT, False, RSV1),
              (b"", OP_PING, True, RSV1)]),
            ("RSV2", [(b"hello", OP_TEXT, True, RSV2)]),
            ("RSV3", [(b"hello", OP_BINARY, True, RSV3)]),
            ("RSV1 and RSV2", [(deflate(b"hello"), OP_TEXT, True,
                                RSV1 | RSV2)])):
        c = raw_deflate(srv, room)
        for payload, op, fin, rsv in frames:
            c.send(payload, op, fin=fin, rsv=rsv)
        expect_close(c, 1002, name)
    # RSV1 on a connection that did not negotiate the extension.
    for op in (OP_TEXT, OP_BINARY):
        c = raw_plain(srv, room)
        c.send(deflate(b"hello hello hello"), op, rsv=RSV1)
        expect_close(c, 1002, "RSV1 without the extension")
    alive(srv)


def test_bad_deflate_data_closes_with_1007(srv):
    room = "bad"
    ctx = zlib.compressobj(6, zlib.DEFLATED, -15)
    first = ctx.compress(JSON_1K.encode()) + ctx.flush(zlib.Z_SYNC_FLUSH)
    second = ctx.compress(JSON_1K.encode()) + ctx.flush(zlib.Z_SYNC_FLUSH)
    for name, payload in (
            ("reserved block type", b"\xff\xff\xff"),
            ("reserved block type (not final)", b"\x06"),
            ("bad stored block lengths", b"\x01\x05\x00\x00\x00hello"),
            ("a dynamic block of random bytes",
             bytes([0x05]) + random.Random(9).randbytes(200)),
            # The second message of a compressor that kept its context:
            # it refers to the first message's bytes, which the server
            # (client_no_context_takeover) does not keep.
            ("a reference before the message", second[:-4])):
        c = raw_deflate(srv, room)
        if name.startswith("a reference"):
            c.send(first[:-4], rsv=RSV1)
            c.expect(JSON_1K)
        c.send(payload, OP_BINARY, rsv=RSV1)
        expect_close(c, 1007, name)
        alive(srv)
    # The same reference across two clients: nothing of one client's
    # message may serve another's.
    a, b = raw_deflate(srv, room), raw_deflate(srv, room)
    a.send(first[:-4], rsv=RSV1)
    a.expect(JSON_1K)
    b.expect(JSON_1K)
    b.send(second[:-4], rsv=RSV1)
    expect_close(b, 1007, "a reference to another client's message")
    a.close()
    # Bad data in the last fragment of a message.
    c = raw_deflate(srv, room)
    z = deflate(JSON_1K.encode())
    c.send(z[:20], OP_TEXT, fin=False, rsv=RSV1)
    c.send(z[20:] + b"\xff\xff\xff\xff", OP_CONT)
    expect_close(c, 1007, "garbage after good data")
    alive(srv)


def test_inflated_text_must_be_utf8(srv):
    room = "utf8"
    for name, frames in (
            ("bad byte", [b"bad \xff"]),
            ("overlong", [b"\xc0\xaf"]),
            ("surrogate", [b"\xed\xa0\x80"]),
            ("truncated at the end", [b"ok \xe2\x82"]),
            ("bad across fragments", [b"ok \xe2\x82", b"("])):
        c = raw_deflate(srv, room)
        co = zlib.compressobj(6, zlib.DEFLATED, -15)
        zs = [co.compress(f) + co.flush(zlib.Z_SYNC_FLUSH) for f in frames]
        zs[-1] = zs[-1][:-4]
        for i, z in enumerate(zs):
            c.send(z, OP_TEXT if i == 0 else OP_CONT, fin=i == len(zs) - 1,
                   rsv=RSV1 if i == 0 else 0)
        expect_close(c, 1007, name)
    # Binary may hold anything; valid text of every width at every
    # offset (whatever the server's inflate chunks), in fragments too.
    c = raw_deflate(srv, room)
    c.send_deflated(b"\xff\xfe\xc0", OP_BINARY)
    c.expect(b"\xff\xfe\xc0")
    big = utf8_text(300000)
    c.send_deflated(big.encode(), OP_TEXT)
    c.expect(big)
    for k in range(1, 8):
        t = ("\U0001F600" * 3000)[:-1] + "\u20ac" * k
        c.send_deflated(t.encode(), OP_TEXT, fragments=k)
        c.expect(t)
    c.close()


def test_inflated_size_limit():
    """--max-message 1M counts inflated bytes: exactly 1 MiB is
    delivered, one byte more closes with 1009, also in fragments; a
    decompression bomb (10 MB and 100 MB of zeros, ~10 KB and ~100 KB
    compressed) closes with 1009 without the server's memory growing by
    more than a few MiB."""
    srv = start()
    try:
        pid = srv.proc.pid
        c = raw_deflate(srv, "lim")
        c.send_deflated(b"a" * MIB)
        c.expect("a" * MIB)
        c.send_deflated(b"b" * MIB, OP_BINARY, fragments=5)
        c.expect(b"b" * MIB)
        c.close()
        for name, data, fragments in (("1 MiB + 1", b"a" * (MIB + 1), 1),
                                      ("1 MiB + 1 in fragments",
                                       b"a" * (MIB + 1), 4)):
            c = raw_deflate(srv, "lim")
            c.send_deflated(data, fragments=fragments)
            expect_close(c, 1009, name)
        alive(srv)
        time.sleep(0.2)
        hwm0, rss0 = status_kib(pid, "VmHWM"), status_kib(pid, "VmRSS")
        for mb, fragments in ((10, 1), (100, 1), (10, 8), (100, 1)):
            bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
            z = bomb.compress(bytes(mb * 1000 * 1000)) + \
                bomb.flush(zlib.Z_SYNC_FLUSH)
            c = raw_deflate(srv, "bomb")
            step = len(z) // fragments + 1
            for i in range(0, len(z), step):
                c.send(z[i:i + step], OP_BINARY if i == 0 else OP_CONT,
                       fin=i + step >= len(z), rsv=RSV1 if i == 0 else 0)
            expect_close(c, 1009, "%d MB of zeros in %d bytes" % (mb, len(z)))
            alive(srv)
        hwm, rss = status_kib(pid, "VmHWM"), status_kib(pid, "VmRSS")
        print("# bombs: peak RSS %d -> %d KiB, RSS %d -> %d KiB"
              % (hwm0, hwm, rss0, rss))
        if under_asan():
            print("# memory not judged under AddressSanitizer")
        else:
            assert hwm - hwm0 <= 4096, "peak RSS grew by %d KiB" % (hwm - hwm0)
            assert rss - rss0 <= 4096, "RSS grew by %d KiB" % (rss - rss0)
    finally:
        srv.stop()


def test_incompressible_message_of_the_maximum_size(srv):
    """1 MiB of random bytes is a message --max-message 1M allows; a
    client that compresses it (websockets compresses every message) sends
    a frame payload a little over 1 MiB, which inflates to exactly 1 MiB:
    it must be delivered like the same message sent plain."""
    c = raw_deflate(srv, "max")
    c.send(RANDOM_1M, OP_BINARY)
    c.expect(RANDOM_1M, compressed=False)
    z = deflate(RANDOM_1M)
    c.send(z, OP_BINARY, rsv=RSV1)
    try:
        c.expect(RANDOM_1M, compressed=False)
    except Closed as e:
        raise AssertionError(
            "1 MiB of random bytes compressed into a %d-byte payload "
            "(inflating to exactly %d bytes, the limit): closed with %d %r"
            % (len(z), MIB, e.code, e.reason)) from None
    c.close()


# ---------------------------------------------------------------------------
# Memory


def test_idle_connections_hold_no_zlib_state():
    """1000 connections with the extension, each having sent a
    compressed message and received ten, cost about what 1000 without
    cost: no compressor or decompressor per connection (zlib's would be
    tens of KiB each)."""
    if under_asan():
        print("# skipped under AddressSanitizer (its allocator's RSS)")
        return
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * n + 400
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            print("# skipped: RLIMIT_NOFILE %d < %d" % (hard, need))
            return
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    srv = start("--history", "0", "--quiet")
    conns = []
    msg = JSON_1K.encode()

    def batch(prefix, count, deflated):
        for r in range(count // 10):
            room = [(raw_deflate if deflated else raw_plain)(
                srv, "%s%d" % (prefix, r)) for _ in range(10)]
            for c in room:
                if deflated:
                    c.send_deflated(msg)
                else:
                    c.send(msg)
            for c in room:
                for _ in range(10):
                    c.expect(JSON_1K, compressed=deflated)
            conns.extend(room)

    def rss():
        time.sleep(0.3)
        return status_kib(srv.proc.pid, "VmRSS")

    try:
        batch("w", 100, False)
        batch("x", 100, True)
        base = rss()
        batch("p", n, False)
        after_plain = rss()
        batch("d", n, True)
        after_deflate = rss()
    finally:
        for c in conns:
            c.sock.close()
        srv.stop()
    plain = (after_plain - base) * 1024 / n
    deflated = (after_deflate - after_plain) * 1024 / n
    print("# RSS per idle connection: %.0f bytes without, %.0f with "
          "the extension" % (plain, deflated))
    conns_with = final_stats(srv)[0]
    assert conns_with == 100 + n, final_stats(srv)
    assert deflated < 2048, "%.0f bytes per connection" % deflated
    assert deflated - plain < 1024, (plain, deflated)


def main():
    run_module_tests(start(), globals())


if __name__ == "__main__":
    main()
