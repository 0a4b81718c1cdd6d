"""The chat page in headless Chromium with permessage-deflate (RFC 7692):
the page's WebSocket agrees on the extension with hub-ws-chat (its
`extensions` attribute, seen through a wrapper installed before the page
loads), a 300-character line with multi-byte characters typed in one page
appears intact in another page and at a Python client, and the server's
final "deflate:" line counts the pages' connections, the message it
inflated and the one it compressed.

usage: ws_deflate_browser.py PATH/TO/hub-ws-chat OUTDIR
Exits 77 (skipped) if Chromium is not installed.
"""

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# ws_browser exits 77 itself when Chromium or websockets is missing.
from ws_browser import (BINARY, OUTDIR, DevTools, log_has,  # noqa: E402
                        start_chromium, type_and_enter)
from ws_common import Server  # noqa: E402

import websockets  # noqa: E402

STATS = (r"deflate: connections (\d+), messages compressed (\d+) "
         r"\((\d+) -> (\d+) bytes\), messages inflated (\d+)")
ACCEPTED = ["permessage-deflate", "server_no_context_takeover",
            "client_no_context_takeover"]
# Every WebSocket the page opens, kept where the test can read it.
WRAP = """(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__sockets.push(this); }
  };
})();"""
LONG = ("Gr\u00fc\u00dfe \u20ac \U0001F600 long line " * 20)[:300]


async def open_wrapped(dt, url):
    target = (await dt.call("Target.createTarget", url="about:blank",
                            newWindow=True))["targetId"]
    session = (await dt.call("Target.attachToTarget", targetId=target,
                             flatten=True))["sessionId"]
    await dt.call("Page.enable", session)
    await dt.call("Runtime.enable", session)
    await dt.call("Page.addScriptToEvaluateOnNewDocument", session,
                  source=WRAP)
    await dt.call("Page.navigate", session, url=url)
    return session


async def browse(devtools_url, srv):
    page = "http://127.0.0.1:%d/" % srv.port
    async with websockets.connect(devtools_url, max_size=None,
                                  ping_interval=None) as ws, \
            websockets.connect(srv.url, ping_interval=None,
                               compression=None) as py:
        dt = DevTools(ws)
        a = await open_wrapped(dt, page)
        b = await open_wrapped(dt, page)
        for s in (a, b):
            await dt.until(s, "document.body.dataset.state === 'open'",
                           "the page did not connect")
            ext = await dt.eval(s, "window.__sockets.length ? window.__sockets"
                                   "[window.__sockets.length - 1].extensions"
                                   " : null")
            assert ext is not None, "the page's WebSocket was not seen"
            got = [p.strip() for p in ext.split(";")]
            assert got == ACCEPTED, "the page's extensions: %r" % ext
        await dt.eval(a, "(() => { const n = document.getElementById('name');"
                         " n.value = 'Zoe'; n.dispatchEvent(new Event("
                         "'change')); })()")
        await type_and_enter(dt, a, LONG)
        for s in (a, b):
            await dt.until(s, log_has(LONG), "the long line did not appear")
        msg = json.loads(await asyncio.wait_for(py.recv(), 30))
        assert msg["text"] == LONG and msg["name"] == "Zoe", msg
        await dt.screenshot(b, "ws-deflate-browser.png")
        await dt.call("Browser.close")
        dt.reader.cancel()


def main():
    os.makedirs(OUTDIR, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="hub-ws-deflate-browser-")
    srv = Server(BINARY)
    chromium, ok = None, False
    try:
        chromium, devtools_url = start_chromium(profile)
        asyncio.run(asyncio.wait_for(browse(devtools_url, srv), 120))
        ok = True
    except Exception as e:
        print("not ok - browser: %s: %s" % (type(e).__name__, e))
        print("# server log:\n" + srv.log())
    finally:
        if chromium is not None:
            try:
                chromium.wait(timeout=10)
            except subprocess.TimeoutExpired:
                chromium.kill()
                chromium.wait()
        shutil.rmtree(profile, ignore_errors=True)
        try:
            srv.stop()
        except AssertionError as e:
            print("not ok - server: %s" % e)
            ok = False
    if ok:
        m = re.search(STATS, srv.log())
        if m is None:
            print("not ok - no deflate line in the server's log:\n" + srv.log())
            ok = False
        else:
            conns, compressed, _, _, inflated = (int(x) for x in m.groups())
            # The two pages (the Python client does not compress); the
            # page's line was inflated, and compressed for the pages.
            if conns < 2 or inflated < 1 or compressed < 1:
                print("not ok - deflate counts: " + m.group(0))
                ok = False
            else:
                print("# " + m.group(0))
    if ok:
        print("ok - browser: the page agrees on permessage-deflate, a long "
              "line crosses intact, the server inflated and compressed it")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
