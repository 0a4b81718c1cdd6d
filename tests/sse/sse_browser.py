"""Server-sent events in a real browser: headless Chromium opens a page of
hub-ws-chat and subscribes a real EventSource to /events?room=NAME. The
server drops the stream (a proxy between the browser and the server stops
reading while messages go by, and the server, with small bounds, cuts the
stream as a slow consumer); the browser reconnects by itself, sending
Last-Event-ID, and the page has every message once, in order.

usage: sse_browser.py PATH/TO/hub-ws-chat OUTDIR
Exits 77 (skipped) if Chromium is not installed.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ws"))
import ws_browser as wb  # noqa: E402  (the DevTools client, the proxy)

BINARY = sys.argv[1]  # sys.argv[2] (OUTDIR) is read by ws_browser

GOT = "(window.got ? window.got.length : -1)"


async def main(devtools_url, srv):
    proxy = wb.Proxy(srv.port)
    pport = await proxy.start()
    async with wb.devtools_session(devtools_url) as dt:
        page = await wb.open_page(dt, "http://127.0.0.1:%d/" % pport)
        await dt.until(page, "location.protocol === 'http:' && "
                             "document.readyState === 'complete'",
                       "the page did not load")
        await dt.eval(page, "(() => { window.got = []; window.opens = 0; "
                            "const es = new EventSource('/events?room=sse'); "
                            "es.onopen = () => window.opens++; "
                            "es.onmessage = e => window.got.push(e.data); "
                            "})()")
        await dt.until(page, "window.opens === 1", "no stream")
        # The publisher is in the room too and reads everything (no
        # bound on what its client buffers): the server must cut the
        # stream, not it.
        async with wb.websockets.connect(srv.url + "?room=sse",
                                         max_queue=None, max_size=None,
                                         ping_interval=None) as pub:
            for i in range(5):
                await pub.send("m%d" % i)
            await dt.until(page, "%s === 5" % GOT, "m0..m4 not received")
            # The server drops the stream: the proxy stops reading from
            # it while 200 messages of 2 KB go by, and the server, with
            # small bounds, cuts it as a slow consumer.
            proxy.stalled = True
            pad = "x" * 2000
            for i in range(5, 205):
                await pub.send("m%d %s" % (i, pad))
            srv.wait_log(r"disconnected: dropped as a slow consumer")
            proxy.stalled = False
            await dt.until(page, "%s >= 205" % GOT,
                           "the EventSource did not resume", timeout=60)
            got = json.loads(await dt.eval(page, "JSON.stringify("
                                                 "window.got.map(d => "
                                                 "d.split(' ')[0]))"))
            assert got == ["m%d" % i for i in range(205)], got[:10]
            assert await dt.eval(page, "window.opens") >= 2
            await dt.screenshot(page, "sse-browser.png")
        await dt.call("Browser.close")
        dt.reader.cancel()
    proxy.server.close()


def run_test():
    srv = wb.Server(BINARY, "--max-queue-msgs", "16", "--send-buffer", "4096",
                    "--slow-after", "1")
    ok = wb.run_in_chromium("sse browser", lambda url: main(url, srv),
                            lambda: [srv], timeout=120)
    wb.exit_with(ok, "sse browser: an EventSource resumes by itself after "
                 "the server dropped its stream, every message once")


if __name__ == "__main__":
    run_test()
