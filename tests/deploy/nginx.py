"""hub-ws-chat behind Debian's nginx terminating TLS, with the configuration
documented in examples/deploy/nginx-hub-ws-chat.conf.

    nginx.py HUB_WS_CHAT NGINX_CONF

The test makes a certificate for chat.example with `openssl req -x509`,
runs hub-ws-chat with --trust-proxy 127.0.0.1, and runs nginx as a
foreground process with its own prefix, pid and log files in a temporary
directory. Its configuration is the documented file with only the listen
ports, the upstream port and the certificate paths replaced (each
replacement must match, so that the file and the test cannot drift apart),
inside a minimal main file for the paths. Clients connect from 127.0.0.2
and 127.0.0.3 (nginx's upstream connections come from 127.0.0.1), with
SNI and Host chat.example, trusting only the generated certificate:

- the page over https (and the headers hub-ws-chat sets), a 404 whose log
  line names the client, the port-80 server's redirect to https;
- messages through wss:// between two clients, each logged with its own
  address, a client's forged X-Forwarded-For ignored, the Origin of the
  page allowed;
- server-sent events through /events arrive as they are sent, and a
  reader that stalls is dropped by hub-ws-chat as a slow consumer rather
  than buffered by nginx (buffering off);
- --max-conns-per-ip counted per client behind the proxy: the third
  connection of one client gets 503, another client still gets in;
- a direct connection to hub-ws-chat that forges X-Forwarded-For is logged
  with its real address.

Everything is on loopback addresses with ports the kernel picked; nginx
cannot be given port 0, so free ports are found by binding port 0 and
releasing them, and nginx is started again with new ones if another
process took one meanwhile.
"""

import asyncio
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "ws"))
from ws_common import need_websockets, read_until_closed, Server  # noqa: E402

websockets = need_websockets()

NAME = "chat.example"
ORIGIN_FMT = "https://" + NAME + ":%d"


def fail(msg):
    raise AssertionError(msg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-keyout", key, "-out", cert, "-subj", "/CN=" + NAME,
         "-addext", "subjectAltName=DNS:" + NAME],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        timeout=30)
    return cert, key


def derive(documented, https_port, http_port, chat_port, cert, key):
    """The documented configuration with its ports and paths replaced:
    each pattern must be found exactly as often as expected."""
    subs = [
        (r"listen 443 ssl;", "listen 127.0.0.1:%d ssl;" % https_port, 1),
        (r"listen \[::\]:443 ssl;", "listen [::1]:%d ssl;" % https_port, 1),
        (r"listen 80;", "listen 127.0.0.1:%d;" % http_port, 1),
        (r"listen \[::\]:80;", "listen [::1]:%d;" % http_port, 1),
        (r"server 127\.0\.0\.1:8080;", "server 127.0.0.1:%d;" % chat_port, 1),
        (r"ssl_certificate /\S+;", "ssl_certificate %s;" % cert, 1),
        (r"ssl_certificate_key /\S+;", "ssl_certificate_key %s;" % key, 1),
    ]
    out = documented
    for pattern, repl, count in subs:
        out, n = re.subn(pattern, lambda m, r=repl: r, out)
        if n != count:
            fail("%r found %d times in the documented configuration, "
                 "expected %d" % (pattern, n, count))
    return out


def main_conf(tmp, site):
    """nginx's main file: everything under `tmp`, then the site."""
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
        os.chmod(os.path.join(tmp, d), 0o777)  # nginx's workers, as nobody
    return """
worker_processes 1;
pid {t}/nginx.pid;
error_log {t}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {t}/access.log;
    client_body_temp_path {t}/client_body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;
    include {site};
}}
""".format(t=tmp, site=site)


class Nginx:
    """nginx in the foreground on two free ports, started again with new
    ports when a port was taken between the probe and nginx's bind."""

    def __init__(self, tmp, documented, chat_port, cert, key):
        self.tmp = tmp
        self.proc = None
        for attempt in range(8):
            self.https_port, self.http_port = free_port(), free_port()
            if self.https_port == self.http_port:
                continue
            site = os.path.join(tmp, "hub-ws-chat.conf")
            with open(site, "w") as f:
                f.write(derive(documented, self.https_port, self.http_port,
                               chat_port, cert, key))
            conf = os.path.join(tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(main_conf(tmp, site))
            log = os.path.join(tmp, "error.log")
            if os.path.exists(log):
                os.unlink(log)
            self.proc = subprocess.Popen(
                ["nginx", "-p", tmp, "-e", log, "-c", conf,
                 "-g", "daemon off; master_process on;"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True)
            if self._wait_listening():
                return
            err = self._stop_and_read()
            if "Address already in use" not in err:
                fail("nginx did not start:\n" + err)
            print("# port taken meanwhile, trying other ports")
        fail("nginx: no free ports after 8 attempts")

    def _wait_listening(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.https_port),
                                         timeout=1).close()
                socket.create_connection(("127.0.0.1", self.http_port),
                                         timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def _stop_and_read(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        try:
            with open(os.path.join(self.tmp, "error.log")) as f:
                err += f.read()
        except OSError:
            pass
        return err

    def stop(self):
        """A graceful stop; nginx must exit 0."""
        err = self._stop_and_read()
        if self.proc.returncode != 0:
            fail("nginx exited with %d:\n%s" % (self.proc.returncode, err))
        return err


def tls_context(cert):
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = True
    return ctx


def https_get(ctx, port, path, source, extra=""):
    """GET over TLS from `source`: (status, headers text, body)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10,
                                   source_address=(source, 0))
    with ctx.wrap_socket(raw, server_hostname=NAME) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s"
                   "Connection: close\r\n\r\n"
                   % (path, NAME, port, extra)).encode())
        data = read_until_closed(s)
    head, _, body = data.partition(b"\r\n\r\n")
    head = head.decode("latin-1")
    m = re.match(r"HTTP/1\.1 (\d{3}) ", head)
    if not m:
        fail("not an HTTP response: %r" % data[:200])
    return int(m.group(1)), head, body


def ws_connect(ctx, port, room, source, **kw):
    return websockets.connect(
        "wss://%s:%d/ws?room=%s" % (NAME, port, room), ssl=ctx,
        host="127.0.0.1", port=port, server_hostname=NAME,
        local_addr=(source, 0), open_timeout=10, close_timeout=5, **kw)


def check_page(chat, ng, ctx):
    status, head, body = https_get(ctx, ng.https_port, "/", "127.0.0.2")
    if status != 200 or b"<html" not in body.lower():
        fail("the page over https: %d\n%s" % (status, head))
    for h in ("Content-Security-Policy:", "X-Frame-Options: DENY",
              "text/html"):
        if h.lower() not in head.lower():
            fail("the page's %r did not come through nginx:\n%s" % (h, head))
    status, _, _ = https_get(ctx, ng.https_port, "/no-such-page",
                             "127.0.0.2")
    if status != 404:
        fail("/no-such-page through nginx: %d" % status)
    chat.wait_log(r"\s127\.0\.0\.2: refused with 404: no page at "
                  r"'/no-such-page'")
    # Plain HTTP redirects to https.
    with socket.create_connection(("127.0.0.1", ng.http_port), timeout=10,
                                  source_address=("127.0.0.2", 0)) as s:
        s.sendall(("GET /x HTTP/1.1\r\nHost: %s\r\nConnection: close"
                   "\r\n\r\n" % NAME).encode())
        data = s.recv(65536).decode("latin-1")
    if not data.startswith("HTTP/1.1 301") or \
            "Location: https://%s/x" % NAME not in data:
        fail("port 80 did not redirect to https:\n" + data)
    print("ok - the page over https, 404 logged with the client's "
          "address, http redirected")


async def check_wss(chat, ng, ctx):
    origin = ORIGIN_FMT % ng.https_port
    async with ws_connect(ctx, ng.https_port, "proxied", "127.0.0.2",
                          origin=origin) as a, \
            ws_connect(ctx, ng.https_port, "proxied", "127.0.0.3",
                       extra_headers={"X-Forwarded-For": "6.6.6.6"}) as b:
        await a.send("hello through nginx")
        for c in (a, b):
            got = await asyncio.wait_for(c.recv(), 10)
            if got != "hello through nginx":
                fail("wss: got %r" % got)
        await b.send(b"\x00\x01binary")
        for c in (a, b):
            got = await asyncio.wait_for(c.recv(), 10)
            if got != b"\x00\x01binary":
                fail("wss: got %r" % got)
    chat.wait_log(r"connected from 127\.0\.0\.2 to room 'proxied'")
    chat.wait_log(r"connected from 127\.0\.0\.3 to room 'proxied'")
    if "6.6.6.6" in chat.log():
        fail("a client's own X-Forwarded-For was believed:\n" + chat.log())
    if re.search(r"connected from 127\.0\.0\.1", chat.log()):
        fail("a client was logged with the proxy's address:\n" + chat.log())
    print("ok - messages through wss://, each client logged with its own "
          "address, a forged header ignored")


async def check_events(chat, ng, ctx):
    """/events through nginx: an event arrives while the stream is open."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", ng.https_port, ssl=ctx, server_hostname=NAME,
        local_addr=("127.0.0.3", 0))
    writer.write(("GET /events?room=sse HTTP/1.1\r\nHost: %s:%d\r\n"
                  "Accept: text/event-stream\r\n\r\n"
                  % (NAME, ng.https_port)).encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    if not head.startswith(b"HTTP/1.1 200") or \
            b"text/event-stream" not in head:
        fail("/events through nginx: %r" % head)
    async with ws_connect(ctx, ng.https_port, "sse", "127.0.0.2") as w:
        await w.send("an event")
        await asyncio.wait_for(w.recv(), 10)
        buf, deadline = b"", loop.time() + 10
        while b"data: an event" not in buf:
            if loop.time() > deadline:
                fail("the event did not come through nginx: %r" % buf)
            try:
                buf += await asyncio.wait_for(reader.read(4096), 1)
            except asyncio.TimeoutError:
                pass
    writer.close()
    chat.wait_log(r"connected from 127\.0\.0\.3 to room 'sse'")
    print("ok - server-sent events through nginx as they are sent")


async def check_stalled_events(chat, ng, ctx):
    """An event stream whose reader stalls, behind nginx: with buffering
    off the backpressure reaches hub-ws-chat, which drops the reader as a
    slow consumer; nginx must not soak the stream up into its temporary
    files instead."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.bind(("127.0.0.3", 0))
    raw.settimeout(10)
    raw.connect(("127.0.0.1", ng.https_port))
    stalled = ctx.wrap_socket(raw, server_hostname=NAME)
    stalled.sendall(("GET /events?room=stall HTTP/1.1\r\nHost: %s:%d\r\n"
                     "\r\n" % (NAME, ng.https_port)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += stalled.recv(1)
    if not head.startswith(b"HTTP/1.1 200"):
        fail("/events through nginx: %r" % head)
    m = chat.wait_log(r"#(\d+): connected from 127\.0\.0\.3 to room 'stall'")
    gone = r"#%s: disconnected: dropped as a slow consumer" % m.group(1)
    # A sender straight to hub-ws-chat, reading its own echoes; 64 KiB
    # messages until the reader is dropped, 256 MiB at most (what the
    # kernel's socket buffers on the way hold varies with its settings;
    # nginx buffering the stream would take up to 1 GB).
    payload = "x" * 65536
    async with websockets.connect(
            "ws://127.0.0.1:%d/ws?room=stall" % chat.port, max_queue=None,
            max_size=None, open_timeout=10, close_timeout=5) as w:
        for i in range(4096):
            await w.send(payload)
            if i % 16 == 15:
                await asyncio.sleep(0.01)
                if chat.count_log(gone):
                    break
        chat.wait_log(gone, timeout=20)
    stalled.close()
    with open(os.path.join(ng.tmp, "error.log")) as f:
        if "temporary file" in f.read():
            fail("nginx buffered the event stream to a temporary file")
    print("ok - a stalled event-stream reader behind nginx is dropped as "
          "a slow consumer after %d MiB, nothing buffered by nginx"
          % ((i + 1) // 16))


async def check_limit(chat, ng, ctx):
    async with ws_connect(ctx, ng.https_port, "lim", "127.0.0.2"), \
            ws_connect(ctx, ng.https_port, "lim", "127.0.0.2"):
        try:
            async with ws_connect(ctx, ng.https_port, "lim", "127.0.0.2"):
                fail("a third connection of 127.0.0.2 got in")
        except websockets.exceptions.InvalidStatusCode as e:
            if e.status_code != 503:
                fail("a third connection of 127.0.0.2: %d" % e.status_code)
        async with ws_connect(ctx, ng.https_port, "lim", "127.0.0.3") as c:
            await c.send("still served")
            await asyncio.wait_for(c.recv(), 10)
    chat.wait_log(r"127\.0\.0\.1:\d+: forwarded for 127\.0\.0\.2, which has "
                  r"2 connections open: refusing its new ones with 503")
    print("ok - --max-conns-per-ip counts each client behind the proxy")


async def check_direct(chat):
    """Straight to hub-ws-chat, not through the proxy: the header is the
    client's own, and ignored."""
    async with websockets.connect(
            "ws://127.0.0.1:%d/ws?room=direct" % chat.port,
            local_addr=("127.0.0.2", 0), open_timeout=10, close_timeout=5,
            extra_headers={"X-Forwarded-For": "192.0.2.66"}) as c:
        await c.send("direct")
        await asyncio.wait_for(c.recv(), 10)
    chat.wait_log(r"connected from 127\.0\.0\.2:\d+ to room 'direct'")
    if "192.0.2.66" in chat.log():
        fail("a direct client's X-Forwarded-For was believed:\n" + chat.log())
    print("ok - a direct connection forging X-Forwarded-For is logged with "
          "its real address")


def run(binary, documented, tmp):
    cert, key = make_cert(tmp)
    ctx = tls_context(cert)
    chat = Server(binary, "--trust-proxy", "127.0.0.1", "--host", NAME,
                  "--max-conns-per-ip", "2")
    ng = None
    try:
        ng = Nginx(tmp, documented, chat.port, cert, key)
        print("# nginx on https %d, http %d; hub-ws-chat on %d"
              % (ng.https_port, ng.http_port, chat.port))
        check_page(chat, ng, ctx)
        asyncio.run(check_wss(chat, ng, ctx))
        asyncio.run(check_events(chat, ng, ctx))
        asyncio.run(check_stalled_events(chat, ng, ctx))
        asyncio.run(check_limit(chat, ng, ctx))
        asyncio.run(check_direct(chat))
        err = ng.stop()
        ng = None
        if re.search(r"\[(emerg|alert|crit)\]", err):
            fail("nginx logged errors:\n" + err)
        chat.stop()
    except BaseException:
        print(chat.log())
        if ng is not None:
            print(ng._stop_and_read())
        chat.proc.kill()
        raise


def on_alarm(signum, frame):
    raise TimeoutError("the test took more than 240 s")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: nginx.py HUB_WS_CHAT NGINX_CONF")
    for tool in ("nginx", "openssl"):
        if shutil.which(tool) is None and \
                not os.path.exists("/usr/sbin/" + tool):
            sys.exit("%s is not installed (Debian package %s; bash "
                     "tests/deps.sh installs it)" % (tool, tool))
    os.environ["PATH"] += ":/usr/sbin:/sbin"
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(240)  # a hung test ends here, stopping what it started
    with open(sys.argv[2]) as f:
        documented = f.read()
    tmp = tempfile.mkdtemp(prefix="hub-nginx-")
    os.chmod(tmp, 0o755)  # nginx's workers read nothing else, but traverse
    try:
        run(sys.argv[1], documented, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("all passed")


if __name__ == "__main__":
    main()
