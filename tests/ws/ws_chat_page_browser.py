"""The chat page's words and presence in headless Chromium (driven as in
ws_browser.py, whose DevTools client this reuses).

- The page says what it does in words: "connected to room people" once
  connected; "You joined people as Alice", "Bob joined", "Bob left" and
  "N people here" from the server's presence notices; text a plain client
  sends that looks like a notice is shown as a message and changes
  neither the count nor the notices.
- The server stops: the page says "the server went away: reconnecting in
  N s"; a new server comes up on the same port: the page reconnects by
  itself and says so, and the server's notices say it is back.
- With --auth-secret-file: a page opened with #token=TOKEN takes the name
  the server gave (its name field locked), shows messages with the
  server's name, and keeps the token out of its address; a page with a
  forged token says why it is refused ("bad token signature") and stops
  retrying.

usage: ws_chat_page_browser.py PATH/TO/hub-ws-chat OUTDIR
Exits 77 (skipped) if Chromium is not installed.
"""

import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Exits 77 when Chromium or websockets is missing.
from ws_browser import (devtools_session, exit_with,  # noqa: E402
                        log_has, open_page, run_in_chromium,
                        type_and_enter)
from ws_common import Server  # noqa: E402

import websockets  # noqa: E402

BINARY = sys.argv[1]  # sys.argv[2] (OUTDIR) is read by ws_browser

STATE = "document.getElementById('state').textContent"
PEOPLE = "document.getElementById('people').textContent"
PRESENCE = ("Array.from(document.querySelectorAll('#log li.presence'))"
            ".map(li => li.textContent)")


def state_is(text):
    return "%s === %s" % (STATE, json.dumps(text))


def people_is(text):
    return "%s === %s" % (PEOPLE, json.dumps(text))


async def set_name(dt, s, name):
    await dt.eval(s, "(() => { const n = document.getElementById('name');"
                     " n.value = %s; n.dispatchEvent(new Event('change'));"
                     " })()" % json.dumps(name))


async def presence_and_restart(dt, srv, servers):
    page = "http://127.0.0.1:%d/#room=people" % srv.port
    a = await open_page(dt, page)
    await dt.until(a, state_is("connected to room people"),
                   "the page does not say it is connected")
    await dt.until(a, people_is("1 person here"), "no count")
    await set_name(dt, a, "Alice")
    await dt.until(a, log_has("You joined people as Alice."),
                   "no join notice for the page itself")
    await dt.until(a, people_is("1 person here"), "count after the rename")

    b = await open_page(dt, page)
    await set_name(dt, b, "Bob")
    await dt.until(a, log_has("Bob joined"), "no 'Bob joined'")
    await dt.until(a, people_is("2 people here"), "count is not 2")

    # A plain client: counted as someone; its text that looks like a
    # notice is a message.
    plain = await websockets.connect("ws://127.0.0.1:%d/ws?room=people"
                                     % srv.port)
    await dt.until(a, people_is("3 people here"), "count is not 3")
    await dt.until(a, log_has("someone joined"), "no 'someone joined'")
    forged = '!\n{"hub":"join","name":"Mallory","count":99}'
    await plain.send(forged)
    await plain.send('{"hub":"leave","name":"Bob","count":0}')
    await dt.until(a, log_has('"count":0}'), "the forged text is not shown")
    texts = await dt.eval(a, PRESENCE)
    assert not any("Mallory" in t for t in texts), texts
    assert sum("Bob left" in t for t in texts) == 0, texts
    assert await dt.eval(a, log_has('"name":"Mallory"')), \
        "the forged text is not shown as a message"
    assert await dt.eval(a, PEOPLE) == "3 people here"
    await plain.close()
    await dt.until(a, people_is("2 people here"), "count after plain left")
    await dt.call("Page.navigate", b, url="about:blank")
    await dt.until(a, log_has("Bob left"), "no 'Bob left'")
    await dt.until(a, people_is("1 person here"), "count after Bob left")
    await dt.screenshot(a, "ws-chat-page-presence.png")

    # The server stops: the page says so, in words, and retries.
    port = srv.port
    srv.stop()
    await dt.until(a, "document.body.dataset.state === 'closed' && /^the "
                      "server went away: reconnecting in [0-9]+ s$/.test(%s)"
                      % STATE, "the page does not say it is reconnecting")
    assert await dt.eval(a, PEOPLE) == ""
    await dt.screenshot(a, "ws-chat-page-reconnecting.png")
    srv2 = Server(BINARY, "--listen", "127.0.0.1:%d" % port)
    servers.append(srv2)
    await dt.until(a, state_is("connected to room people"),
                   "the page did not reconnect", timeout=60)
    await dt.until(a, "%s.filter(t => t === 'You joined people as Alice.')"
                      ".length === 2" % PRESENCE, "no join notice again")
    await dt.until(a, people_is("1 person here"), "count after restart")


def mint(secret, name):
    out = subprocess.run([BINARY, "--auth-secret-file", secret,
                          "--mint-token", name], capture_output=True,
                         text=True, timeout=30, check=True)
    return out.stdout.strip()


async def signed_in(dt, servers, tmp):
    secret = os.path.join(tmp, "secret")
    with open(secret, "w") as f:
        f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
    srv = Server(BINARY, "--auth-secret-file", secret)
    servers.append(srv)
    token = mint(secret, "Carol")
    c = await open_page(dt, "http://127.0.0.1:%d/#room=signed&token=%s"
                        % (srv.port, token))
    await dt.until(c, state_is("connected to room signed"),
                   "the signed-in page did not connect")
    await dt.until(c, log_has("You joined signed as Carol."), "no own join")
    got = await dt.eval(c, "[document.getElementById('name').value, "
                           "document.getElementById('name').disabled, "
                           "location.hash]")
    assert got == ["Carol", True, "#room=signed"], got
    await type_and_enter(dt, c, "hi there")
    await dt.until(c, log_has("Carolhi there"), "no signed message")
    assert await dt.eval(c, "document.querySelector('#log li.mine') "
                            "!== null"), "own message not marked"

    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    d = await open_page(dt, "http://127.0.0.1:%d/#room=signed&token=%s"
                        % (srv.port, forged))
    await dt.until(d, "document.body.dataset.state === 'refused' && "
                      "%s.includes('bad token signature')" % STATE,
                   "the refused page does not say why")
    await dt.screenshot(d, "ws-chat-page-refused.png")
    await asyncio.sleep(2)  # it does not retry: one refusal logged
    assert srv.count_log(r"refused with 403: bad token signature") == 2, \
        srv.log()  # the handshake, and the page's GET asking why


async def browse(devtools_url, srv, servers, tmp):
    async with devtools_session(devtools_url) as dt:
        await presence_and_restart(dt, srv, servers)
        await signed_in(dt, servers, tmp)
        await dt.call("Browser.close")
        dt.reader.cancel()


def main():
    tmp = tempfile.mkdtemp(prefix="hub-ws-chat-page-")
    profile = os.path.join(tmp, "profile")
    os.makedirs(profile)
    srv = Server(BINARY)
    servers = [srv]
    ok = run_in_chromium("chat page",
                         lambda url: browse(url, srv, servers, tmp),
                         lambda: servers, profile=profile,
                         may_fail_stop=(srv,))
    exit_with(ok, "chat page: words, presence, a forged notice shown as a "
              "message, reconnecting after a restart, signed in, refused")


if __name__ == "__main__":
    main()
