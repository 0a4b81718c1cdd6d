"""The chat page in headless Chromium with permessage-deflate (RFC 7692):
the page's WebSocket agrees on the extension with hub-ws-chat (its
`extensions` attribute, seen through a wrapper installed before the page
loads), a 300-character line with multi-byte characters typed in one page
appears intact in another page and at a Python client, and the server's
final "deflate:" line counts the pages' connections, the message it
inflated and the one it compressed. After a restart of the server the
pages reconnect, with the extension again, and show the notice that the
stream was reset (libhub.v1 notices, "!" LF JSON, must keep their form
on a compressed connection).

usage: ws_deflate_browser.py PATH/TO/hub-ws-chat OUTDIR
Exits 77 (skipped) if Chromium is not installed.
"""

import asyncio
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# ws_browser exits 77 itself when Chromium or websockets is missing.
from ws_browser import (BINARY, devtools_session, log_has,  # noqa: E402
                        run_in_chromium, type_and_enter)
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
SOCKET = "window.__sockets[window.__sockets.length - 1]"
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


async def browse(devtools_url, srv, servers):
    page = "http://127.0.0.1:%d/" % srv.port
    async with devtools_session(devtools_url) as dt:
        a = await open_wrapped(dt, page)
        b = await open_wrapped(dt, page)
        for s in (a, b):
            await dt.until(s, "document.body.dataset.state === 'open'",
                           "the page did not connect")
            ext = await dt.eval(s, SOCKET + ".extensions")
            got = [p.strip() for p in ext.split(";")]
            assert got == ACCEPTED, "the page's extensions: %r" % ext
        py = await websockets.connect(srv.url, ping_interval=None,
                                      compression=None)
        await dt.eval(a, "(() => { const n = document.getElementById('name');"
                         " n.value = 'Zoe'; n.dispatchEvent(new Event("
                         "'change')); })()")
        await type_and_enter(dt, a, LONG)
        for s in (a, b):
            await dt.until(s, log_has(LONG), "the long line did not appear")
        msg = json.loads(await asyncio.wait_for(py.recv(), 30))
        assert msg["text"] == LONG and msg["name"] == "Zoe", msg
        await py.close()
        await dt.screenshot(b, "ws-deflate-browser.png")
        print("ok - the pages agree on permessage-deflate; a long line "
              "crosses intact")
        sys.stdout.flush()

        # The server restarts on the same port: the pages resume from an
        # id of the old stream and are told so by a notice ("!" LF JSON),
        # which they show apart, as a warning line.
        port = srv.port
        srv.stop()
        servers.append(Server(BINARY, "--listen", "127.0.0.1:%d" % port))
        for s in (a, b):
            await dt.until(s, "document.body.dataset.state === 'open' && "
                              "window.__sockets.length >= 2",
                           "the page did not reconnect", timeout=60)
            ext = await dt.eval(s, SOCKET + ".extensions")
            assert [p.strip() for p in ext.split(";")] == ACCEPTED, ext
            await dt.until(s, "document.querySelector('#log li.gap') "
                              "!== null",
                           "no reset notice shown by a page reconnected "
                           "with permessage-deflate", timeout=10)
        await dt.screenshot(a, "ws-deflate-browser-restarted.png")
        print("ok - after a restart the pages reconnect with it and show "
              "the reset notice")
        await dt.call("Browser.close")
        dt.reader.cancel()


def main():
    srv = Server(BINARY)
    servers = []
    ok = run_in_chromium("browser", lambda url: browse(url, srv, servers),
                         lambda: [srv] + servers)
    # The first server's counts, whatever happened after its stop.
    m = re.search(STATS, srv.log())
    if m is None:
        print("not ok - no deflate line in the server's log:\n" + srv.log())
        ok = False
    else:
        conns, compressed, _, _, inflated = (int(x) for x in m.groups())
        # The two pages (the Python client does not compress); the page's
        # line was inflated, and compressed for the pages.
        if conns < 2 or inflated < 1 or compressed < 1:
            print("not ok - deflate counts: " + m.group(0))
            ok = False
        else:
            print("ok - the server's counts: " + m.group(0))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
