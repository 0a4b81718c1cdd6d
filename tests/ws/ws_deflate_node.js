// permessage-deflate (RFC 7692) in hub-ws-chat against Node's ws library
// (node-ws): every offer ws makes, against a server with the default
// window (15 bits) and one with --deflate-window-bits 10. The answer is
// "permessage-deflate; server_no_context_takeover;
// client_no_context_takeover", with "; server_max_window_bits=W" only when
// the offer named it, or nothing when the offer cannot be honoured (a
// server_max_window_bits under the server's window); ws.extensions says
// what was agreed; text, binary, 1 KiB JSON, 200 KiB and multi-byte UTF-8
// messages cross intact both ways, with partners that compress and
// partners that do not. The server's final "deflate:" line counts the
// connections that agreed, and messages compressed and inflated.
//
// usage: node ws_deflate_node.js PATH/TO/hub-ws-chat
"use strict";

const common = require("./ws_node_common");
const crypto = require("crypto");

const { open, recv, assert, check } = common;
common.requireWs();

const BINARY = process.argv[2];
const ACCEPTED = ["permessage-deflate", "server_no_context_takeover",
                  "client_no_context_takeover"];
const STATS = new RegExp("deflate: connections (\\d+), messages compressed " +
                         "(\\d+) \\((\\d+) -> (\\d+) bytes\\), messages " +
                         "inflated (\\d+)");

function startServer(args) {
  return common.startServer(BINARY, ["--ping-interval", "0", ...args]);
}

const stopServer = common.stopServer;

// An extension header's parameters, spaces removed: one offer only.
function params(header) {
  if (header === null) return null;
  assert(!header.includes(","), "one extension answered: " + header);
  return header.split(";").map((p) => {
    const [name, ...val] = p.split("=");
    return name.trim().toLowerCase() + (val.length ? "=" + val.join("=").trim() : "");
  });
}

function jsonMessage(size) {
  const items = [];
  let n = 0, i = 0;
  while (n < size) {
    const item = { name: ["ann", "bob", "cyd"][i % 3],
                   text: "message " + (i * 7919 % 10000) + " of the room",
                   from: (i * 2654435761 % 4294967296).toString(16) };
    items.push(item);
    n += JSON.stringify(item).length + 1;
    i++;
  }
  return JSON.stringify({ items });
}

const UTF8 = "a\u00e9\u20ac\u{1F600} Gr\u00fc\u00dfe \u4e16\u754c ".repeat(300);
const MESSAGES = [
  "hello",
  Buffer.from([0, 1, 2, 255]),
  jsonMessage(1024),
  Buffer.from(jsonMessage(1024)),
  UTF8,
  Buffer.from(Array.from({ length: 200 * 1024 }, (_, i) => (i * i >> 3) & 0xff)),
  jsonMessage(200 * 1024),
  crypto.randomBytes(200 * 1024), // does not shrink
];

function same(m, want) {
  if (typeof want === "string")
    return !m.isBinary && m.data.toString() === want;
  return m.isBinary && m.data.equals(want);
}

// `a` sends every message, then `b` does: both get all, in order.
async function exchange(a, b) {
  for (const sender of [a, b]) {
    for (const m of MESSAGES) sender.send(m);
    for (const c of [a, b]) {
      for (const [i, want] of MESSAGES.entries()) {
        const m = await recv(c);
        assert(same(m, want), "message " + i + " (" + want.length +
               (typeof want === "string" ? " chars" : " bytes") + ") intact");
      }
    }
  }
}

// What each offer gets from a server compressing with `window` bits.
function expected(opts, window) {
  if (opts === false) return null;
  const smwb = opts === true ? undefined : opts.serverMaxWindowBits;
  if (smwb === undefined) return ACCEPTED;
  if (smwb < window) return null;
  return [...ACCEPTED, "server_max_window_bits=" + window];
}

const OFFERS = [
  true,
  { serverMaxWindowBits: 15 },
  { serverMaxWindowBits: 10 },
  { serverMaxWindowBits: 9 },
  { clientMaxWindowBits: 15 },
  { clientMaxWindowBits: 10 },
  { clientMaxWindowBits: true },
  { serverNoContextTakeover: true },
  { clientNoContextTakeover: true },
  { threshold: 0 },
  { serverMaxWindowBits: 10, clientMaxWindowBits: 10,
    serverNoContextTakeover: true, clientNoContextTakeover: true,
    threshold: 0 },
  { serverMaxWindowBits: 15, clientMaxWindowBits: 9, threshold: 0 },
  false,
];

async function against(window) {
  const srv = await startServer(window === 15 ? [] :
                                ["--deflate-window-bits", String(window)]);
  const base = "ws://127.0.0.1:" + srv.port + "/ws?room=";
  let failed = 0, agreed = 0;
  for (const [i, opts] of OFFERS.entries()) {
    const name = "window " + window + ", perMessageDeflate " + JSON.stringify(opts);
    failed += await check(name, async () => {
      const a = await open(base + "r" + i, { perMessageDeflate: opts });
      // Partners: one that compresses (ws's default), one that does not.
      const partner = i % 2 ? false : true;
      const b = await open(base + "r" + i, { perMessageDeflate: partner });
      const want = expected(opts, window);
      const got = params(a.extHeader);
      assert(JSON.stringify(got) === JSON.stringify(want),
             "answer " + a.extHeader + ", expected " + (want && want.join("; ")));
      assert(a.extensions === (want ? "permessage-deflate" : ""),
             "ws.extensions " + JSON.stringify(a.extensions));
      assert(JSON.stringify(params(b.extHeader)) ===
             JSON.stringify(partner ? ACCEPTED : null), "partner " + b.extHeader);
      agreed += (want ? 1 : 0) + (partner ? 1 : 0);
      await exchange(a, b);
      a.close(); b.close();
      await Promise.all([a.closed, b.closed]);
      return " -> " + (a.extHeader || "no extension");
    });
  }
  failed += await check("window " + window + ": server", async () => {
    await stopServer(srv);
    const m = STATS.exec(srv.log());
    assert(m, "no deflate line:\n" + srv.log());
    const [conns, compressed, before, after, inflated] = m.slice(1).map(Number);
    assert(conns === agreed, "connections " + conns + ", agreed " + agreed);
    assert(compressed > 0 && after < before, "compressed: " + m[0]);
    assert(inflated > 0, "inflated: " + m[0]);
    return " exits cleanly; " + m[0];
  });
  return { n: OFFERS.length + 1, failed };
}

(async () => {
  const watchdog = setTimeout(() => {
    console.log("not ok - timed out");
    process.exit(1);
  }, 240000);
  let n = 0, failed = 0;
  for (const window of [15, 10]) {
    const r = await against(window);
    n += r.n;
    failed += r.failed;
  }
  clearTimeout(watchdog);
  console.log((n - failed) + " passed, " + failed + " failed");
  process.exit(failed ? 1 : 0);
})();
