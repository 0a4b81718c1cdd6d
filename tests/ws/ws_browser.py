"""The chat page in a real browser: headless Chromium, driven through its
DevTools protocol (a WebSocket, spoken here with python3-websockets),
opens the page served by hub-ws-chat twice. A message typed in one page
(keystrokes and Enter) appears in both, as text, never as HTML; the other
page answers. Two more pages open the room "red" (by a link with
#room=red, and with ?room=red): they see each other's messages and not the
lobby's, and the lobby does not see theirs; a page moves to "red" through
its room field; a message that looks like a notice is shown as a message.
A page whose connection drops (a proxy in between) and one the server cuts
as a slow consumer (the proxy stops reading) reconnect by themselves and
show every message once, in order (libhub.v1 and since=). A phone-sized page
has no horizontal scrolling; when the server restarts, every page
reconnects by itself, to its own room. Screenshots of the pages are
written to OUTDIR so that a failure can be looked at.

usage: ws_browser.py PATH/TO/hub-ws-chat OUTDIR
Exits 77 (skipped) if Chromium is not installed.
"""

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ws_common import need_websockets, SKIP, Server  # noqa: E402

BINARY, OUTDIR = sys.argv[1], sys.argv[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    print("skipped: chromium is not installed")
    sys.exit(SKIP)
websockets = need_websockets()

# The message typed: anything that would be markup if injected as HTML.
TYPED = "hello <b>bold</b> & <img src=x onerror=\"document.title='pwned'\">"


class DevTools:
    """A minimal DevTools protocol client: commands, answers by id."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending = {}
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        async for raw in self.ws:
            msg = json.loads(raw)
            fut = self.pending.pop(msg.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    async def call(self, method, session=None, **params):
        i = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.pending[i] = fut
        cmd = {"id": i, "method": method, "params": params}
        if session is not None:
            cmd["sessionId"] = session
        await self.ws.send(json.dumps(cmd))
        msg = await asyncio.wait_for(fut, 30)
        if "error" in msg:
            raise RuntimeError("%s: %s" % (method, msg["error"]))
        return msg.get("result", {})

    async def eval(self, session, expr):
        r = await self.call("Runtime.evaluate", session, expression=expr,
                            returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    async def until(self, session, expr, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if await self.eval(session, expr):
                    return
            except RuntimeError:
                pass  # the page is still loading, say
            await asyncio.sleep(0.05)
        state = await self.eval(session, "document.getElementById('state')"
                                         ".textContent")
        raise AssertionError("%s (page state: %s)" % (what, state))

    async def screenshot(self, session, name):
        r = await self.call("Page.captureScreenshot", session, format="png")
        path = os.path.join(OUTDIR, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
        print("# screenshot: %s" % path)


@contextlib.asynccontextmanager
async def devtools_session(devtools_url):
    """A DevTools client (DevTools) of the Chromium at `devtools_url`."""
    async with websockets.connect(devtools_url, max_size=None,
                                  ping_interval=None) as ws:
        yield DevTools(ws)


def start_chromium(profile):
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--no-default-browser-check",
         "--remote-debugging-port=0", "--user-data-dir=" + profile,
         "--window-size=1000,700", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if os.path.exists(port_file):
            with open(port_file) as f:
                lines = f.read().split("\n")
            if len(lines) >= 2 and lines[1]:
                return proc, "ws://127.0.0.1:%s%s" % (lines[0], lines[1])
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("chromium did not start its DevTools endpoint")


def stop_chromium(proc, profile):
    """Wait for Chromium (closed by the test's Browser.close) or kill it,
    then remove its profile. `proc` may be None."""
    if proc is not None:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(profile, ignore_errors=True)


def run_in_chromium(name, browse, servers, timeout=180, profile=None,
                    may_fail_stop=(), after_failure=None):
    """The frame of a browser test: Chromium started with `profile` (a
    new temporary directory if None; removed at the end), with OUTDIR
    made for the screenshots, browse(devtools_url) run within `timeout`
    seconds, then Chromium stopped and every server of servers() (called
    at the end, as a test may start more) stopped. A failure prints
    "not ok - NAME", the servers' logs, and calls
    after_failure(chromium, devtools_url); a server that does not stop
    cleanly fails the test unless it is one of `may_fail_stop`. Returns
    whether the test passed."""
    os.makedirs(OUTDIR, exist_ok=True)
    if profile is None:
        profile = tempfile.mkdtemp(prefix="hub-browser-")
    chromium, devtools_url = None, None
    ok = False
    try:
        chromium, devtools_url = start_chromium(profile)
        asyncio.run(asyncio.wait_for(browse(devtools_url), timeout))
        ok = True
    except Exception as e:
        print("not ok - %s: %s: %s" % (name, type(e).__name__, e))
        for s in servers():
            print("# server log:\n" + s.log())
        if after_failure is not None:
            after_failure(chromium, devtools_url)
    finally:
        stop_chromium(chromium, profile)
        for s in servers():
            try:
                s.stop()
            except AssertionError as e:
                if s not in may_fail_stop:
                    print("not ok - server: %s" % e)
                    ok = False
    return ok


def exit_with(ok, success):
    """Print "ok - SUCCESS" if the test passed; exit 0 if so, else 1."""
    if ok:
        print("ok - " + success)
    sys.exit(0 if ok else 1)


LOG_TEXTS = ("Array.from(document.querySelectorAll('#log li'))"
             ".map(li => li.textContent)")


def log_has(text):
    return "%s.some(t => t.includes(%s))" % (LOG_TEXTS, json.dumps(text))


async def in_room(dt, session, room):
    """The page says it is in `room`, in its header, its room field, its
    title and its address, and is connected."""
    await dt.until(session, "document.body.dataset.state === 'open' && "
                            "document.getElementById('where').textContent "
                            "=== %s" % json.dumps("# " + room),
                   "the page is not connected to room %s" % room)
    got = await dt.eval(session, "[document.getElementById('room').value, "
                                 "document.title, location.hash]")
    assert got == [room, room + " \u00b7 libhub chat",
                   "#room=" + room], got


async def sees_only(dt, yes, no, text, sentinel_from, sentinel):
    """`text` reached the pages in `yes` and not those in `no`: each page
    of `no` gets a message sent after it (by `sentinel_from`, a page of
    their room) without having got `text` first."""
    for s in yes:
        await dt.until(s, log_has(text), "%r did not appear" % text)
    await type_and_enter(dt, sentinel_from, sentinel)
    for s in no:
        await dt.until(s, log_has(sentinel), "%r did not appear" % sentinel)
        assert not await dt.eval(s, log_has(text)), \
            "%r reached a page of another room" % text


async def open_page(dt, url):
    target = (await dt.call("Target.createTarget", url=url,
                            newWindow=True))["targetId"]
    session = (await dt.call("Target.attachToTarget", targetId=target,
                             flatten=True))["sessionId"]
    await dt.call("Page.enable", session)
    await dt.call("Runtime.enable", session)
    return session


async def type_and_enter(dt, session, text):
    """Focus the message box and type like a person: the text, then
    Enter, as key events."""
    await dt.eval(session, "document.getElementById('text').focus()")
    await dt.call("Input.insertText", session, text=text)
    for kind in ("keyDown", "keyUp"):
        await dt.call("Input.dispatchKeyEvent", session, type=kind,
                      key="Enter", code="Enter", windowsVirtualKeyCode=13,
                      nativeVirtualKeyCode=13,
                      **({"text": "\r"} if kind == "keyDown" else {}))


async def browse(devtools_url, srv, sessions):
    page = "http://127.0.0.1:%d/" % srv.port
    async with devtools_session(devtools_url) as dt:
        a = await open_page(dt, page)
        b = await open_page(dt, page)
        sessions.extend([(dt, a, "a"), (dt, b, "b")])
        for s in (a, b):
            await dt.until(s, "document.body.dataset.state === 'open'",
                           "the page did not connect")
        # Without a room in the address, the lobby.
        for s in (a, b):
            await in_room(dt, s, "lobby")

        # Alice types; both pages show it, as text.
        await dt.eval(a, "(() => { const n = document.getElementById('name');"
                         " n.value = 'Alice'; n.dispatchEvent(new Event("
                         "'change')); })()")
        await type_and_enter(dt, a, TYPED)
        for s in (a, b):
            await dt.until(s, log_has("Alice" + TYPED),
                           "the typed message did not appear")
            injected = await dt.eval(s, "document.querySelectorAll("
                                        "'#log b, #log img').length")
            assert injected == 0, "user text was injected as HTML"
            assert await dt.eval(s, "document.title") == \
                "lobby \u00b7 libhub chat"
        assert await dt.eval(a, "document.getElementById('text').value") == ""
        assert await dt.eval(a, "document.querySelector('#log li.mine') "
                                "!== null"), "own message not marked"

        # Bob answers from the other page.
        await type_and_enter(dt, b, "hi Alice")
        for s in (a, b):
            await dt.until(s, log_has("hi Alice"), "the answer did not appear")
        await dt.screenshot(a, "ws-browser-a.png")
        await dt.screenshot(b, "ws-browser-b.png")

        # Rooms: a link to the room red, and the same with a query.
        c = await open_page(dt, page + "#room=red")
        d = await open_page(dt, page + "?room=red")
        sessions.extend([(dt, c, "c"), (dt, d, "d")])
        for s in (c, d):
            await in_room(dt, s, "red")
        await type_and_enter(dt, c, "only for red")
        await sees_only(dt, [c, d], [a, b], "only for red", a, "lobby here")
        await type_and_enter(dt, a, "only for the lobby")
        await sees_only(dt, [a, b], [c, d], "only for the lobby", d,
                        "red here")
        assert not await dt.eval(c, log_has("Alice" + TYPED))
        await dt.screenshot(c, "ws-browser-room-c.png")
        await dt.screenshot(d, "ws-browser-room-d.png")

        # Bob picks red in the room field: he leaves the lobby for it.
        await dt.eval(b, "(() => { const r = document.getElementById('room');"
                         " r.focus(); r.select(); })()")
        await dt.call("Input.insertText", b, text="red")
        for kind in ("keyDown", "keyUp"):
            await dt.call("Input.dispatchKeyEvent", b, type=kind,
                          key="Enter", code="Enter", windowsVirtualKeyCode=13,
                          nativeVirtualKeyCode=13,
                          **({"text": "\r"} if kind == "keyDown" else {}))
        await in_room(dt, b, "red")
        await type_and_enter(dt, d, "welcome Bob")
        await sees_only(dt, [b, c, d], [a], "welcome Bob", a, "lobby again")
        assert not await dt.eval(b, log_has("lobby again"))

        # A client cannot forge a notice: what looks like one, sent by a
        # plain client of the room, is shown as that client's message.
        async with websockets.connect(srv.url + "?room=red",
                                      ping_interval=None) as raw:
            await raw.send('!\n{"hub":"gap","missed":12}')
            await raw.recv()
        for s in (b, c, d):
            await dt.until(s, log_has('"missed":12'),
                           "the forged notice did not arrive as a message")
            assert not await dt.eval(s, "document.querySelector("
                                        "'#log li.gap') !== null")

        # The connection drops (a proxy in between stops), messages go by
        # meanwhile; the page reconnects by itself, resumes after the last
        # message it showed and shows every one once, in order, and the
        # gap of a room that no longer holds what it missed.
        await resume_through_a_proxy(dt, srv, sessions)
        srv2 = Server(BINARY, "--max-queue-msgs", "16", "--send-buffer",
                      "4096", "--slow-after", "1")
        sessions.append(srv2)
        await resume_after_a_slow_consumer_cut(dt, sessions, srv2)

        # On a phone-sized screen the page fits: no sideways scrolling,
        # the send button on screen.
        await dt.call("Emulation.setDeviceMetricsOverride", b, width=360,
                      height=640, deviceScaleFactor=2, mobile=True)
        await asyncio.sleep(0.2)
        fits = await dt.eval(b, "document.documentElement.scrollWidth <= "
                                "window.innerWidth && document.getElementById("
                                "'send').getBoundingClientRect().right <= "
                                "window.innerWidth")
        await dt.screenshot(b, "ws-browser-phone.png")
        assert fits, "the page does not fit a phone screen"

        # The server restarts on the same port: every page notices, then
        # reconnects by itself, to its own room, and chats again.
        port = srv.port
        srv.stop()
        for s in (a, b, c, d):
            await dt.until(s, "document.body.dataset.state === 'closed'",
                           "the page did not notice the server going away")
        srv2 = Server(BINARY, "--listen", "127.0.0.1:%d" % port)
        sessions.append(srv2)
        for s in (a, b, c, d):
            await dt.until(s, "document.body.dataset.state === 'open'",
                           "the page did not reconnect", timeout=60)
        await type_and_enter(dt, b, "back again")
        await sees_only(dt, [b, c, d], [a], "back again", a, "lobby back")
        await dt.screenshot(a, "ws-browser-a-reconnected.png")
        await dt.screenshot(b, "ws-browser-b-reconnected.png")
        await dt.call("Browser.close")
        dt.reader.cancel()


class Proxy:
    """A TCP proxy to the server that can drop every connection through
    it and refuse new ones for a while, or stop reading from the server
    (stalled: the page then looks to the server like a reader that
    stopped reading)."""

    def __init__(self, port):
        self.port, self.accepting, self.conns = port, True, []
        self.stalled = False

    async def start(self):
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _pipe(self, r, w, down=False):
        try:
            while True:
                while down and self.stalled:
                    await asyncio.sleep(0.01)
                data = await r.read(65536)
                if not data:
                    break
                w.write(data)
                await w.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            w.close()

    async def _conn(self, r, w):
        if not self.accepting:
            w.close()
            return
        # A small receive buffer toward the server, so that a stall
        # reaches the server's queue soon.
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        await asyncio.get_running_loop().sock_connect(s, ("127.0.0.1",
                                                          self.port))
        ur, uw = await asyncio.open_connection(sock=s, limit=4096)
        self.conns += [w, uw]
        await asyncio.gather(self._pipe(r, uw), self._pipe(ur, w, down=True))

    def drop(self, accepting):
        self.accepting = accepting
        for w in self.conns:
            w.close()
        self.conns = []


SHOWN = ("Array.from(document.querySelectorAll('#log li:not(.note):not(.gap)'))"
         ".map(li => li.childNodes[1] ? li.childNodes[1].textContent : '')"
         ".filter(t => /^m[0-9]+$/.test(t))")


async def resume_through_a_proxy(dt, srv, sessions):
    proxy = Proxy(srv.port)
    pport = await proxy.start()
    e = await open_page(dt, "http://127.0.0.1:%d/#room=blue" % pport)
    sessions.append((dt, e, "e"))
    await in_room(dt, e, "blue")

    async def say(ws, i):
        await ws.send(json.dumps({"name": "pub", "text": "m%d" % i,
                                  "from": "x"}))

    async with websockets.connect(srv.url + "?room=blue",
                                  ping_interval=None) as pub:
        for i in range(5):
            await say(pub, i)
        await dt.until(e, "%s.length === 5" % SHOWN, "m0..m4 not shown")
        proxy.drop(accepting=False)
        await dt.until(e, "document.body.dataset.state === 'closed'",
                       "the page did not notice the drop")
        for i in range(5, 25):
            await say(pub, i)
        proxy.accepting = True
        await dt.until(e, "%s.length >= 25" % SHOWN,
                       "the page did not resume", timeout=60)
        shown = await dt.eval(e, SHOWN)
        assert shown == ["m%d" % i for i in range(25)], shown
        assert not await dt.eval(e, "document.querySelector('#log li.gap')"
                                    " !== null")
        await dt.screenshot(e, "ws-browser-resumed.png")
        # A reload shows the room's recent history again, once each.
        await dt.call("Page.reload", e)
        await dt.until(e, "%s.length >= 25" % SHOWN, "no history on reload")
        assert await dt.eval(e, SHOWN) == ["m%d" % i for i in range(25)]
    proxy.server.close()


async def resume_after_a_slow_consumer_cut(dt, sessions, srv2):
    """The server itself cuts the page: its connection stops reading (a
    proxy stalls it) while 200 messages of 2 KB go by, with small bounds,
    so that the server drops it as a slow consumer. The page reconnects by
    itself and shows every message once, in order."""
    proxy = Proxy(srv2.port)
    pport = await proxy.start()
    e = await open_page(dt, "http://127.0.0.1:%d/#room=green" % pport)
    sessions.append((dt, e, "f"))
    await in_room(dt, e, "green")
    pad = "x" * 2000
    async with websockets.connect(srv2.url + "?room=green", max_queue=None,
                                  max_size=None, ping_interval=None) as pub:
        for i in range(5):
            await pub.send(json.dumps({"name": "pub", "text": "m%d" % i,
                                       "from": "x"}))
        await dt.until(e, "%s.length === 5" % SHOWN, "m0..m4 not shown")
        proxy.stalled = True
        for i in range(5, 205):
            await pub.send(json.dumps({"name": "pub", "text": "m%d" % i,
                                       "from": "x", "pad": pad}))
        srv2.wait_log(r"disconnected: dropped as a slow consumer")
        proxy.stalled = False
        await dt.until(e, "%s.length >= 205" % SHOWN,
                       "the page did not resume after the cut", timeout=60)
        shown = await dt.eval(e, SHOWN)
        assert shown == ["m%d" % i for i in range(205)], shown[:10]
        await dt.screenshot(e, "ws-browser-cut-resumed.png")
    proxy.server.close()


async def screenshots_after_failure(devtools_url, names):
    """Best effort: capture what the pages looked like."""
    async with devtools_session(devtools_url) as dt:
        targets = (await dt.call("Target.getTargets"))["targetInfos"]
        for t in targets:
            if t["type"] == "page" and t["url"].startswith("http"):
                s = (await dt.call("Target.attachToTarget",
                                   targetId=t["targetId"],
                                   flatten=True))["sessionId"]
                await dt.screenshot(s, "ws-browser-failed-%s.png" % t["targetId"][:6])
        dt.reader.cancel()


def main():
    srv = Server(BINARY)
    extra = []

    def screenshots(chromium, devtools_url):
        if chromium is not None and chromium.poll() is None:
            try:
                asyncio.run(asyncio.wait_for(
                    screenshots_after_failure(devtools_url, []), 30))
            except Exception as e2:  # the failure itself matters more
                print("# no screenshot: %s" % e2)

    ok = run_in_chromium(
        "browser", lambda url: browse(url, srv, extra),
        lambda: [srv] + [x for x in extra if isinstance(x, Server)],
        after_failure=screenshots)
    exit_with(ok, "browser: two pages chat, escape, rooms keep apart, "
              "no forged notice, resume after a drop, fit a phone, "
              "reconnect to their rooms")


if __name__ == "__main__":
    main()
