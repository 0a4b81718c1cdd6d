// hub-ws-chat against an independent client: Node's ws library (node-ws).
//
// usage: node ws_node_clients.js PATH/TO/hub-ws-chat
"use strict";

const common = require("./ws_node_common");

const { open, recv, assert, check } = common;
common.requireWs();

const BINARY = process.argv[2];
const MIB = 1 << 20;

function startServer(args) {
  return common.startServer(BINARY, args);
}

const stopServer = common.stopServer;

async function refusedWith(url, opts) {
  try {
    const ws = await open(url, opts);
    ws.terminate();
  } catch (e) {
    return e.status;
  }
  return 101;
}

const tests = {
  async broadcast_to_many_clients(srv, url) {
    const clients = await Promise.all(Array.from({ length: 10 }, () => open(url)));
    clients.forEach((c, i) => c.send("hello from " + i));
    for (const c of clients) {
      const got = [];
      for (let i = 0; i < 10; i++) got.push((await recv(c)).data.toString());
      got.sort();
      assert(JSON.stringify(got) === JSON.stringify(
        Array.from({ length: 10 }, (_, i) => "hello from " + i).sort()), got);
    }
    clients.forEach((c) => c.close());
    await Promise.all(clients.map((c) => c.closed));
  },

  async binary_and_text_keep_their_type(srv, url) {
    const a = await open(url), b = await open(url);
    a.send(Buffer.from([0, 1, 2, 255]));
    a.send("caf\u00e9");
    for (const c of [a, b]) {
      let m = await recv(c);
      assert(m.isBinary && m.data.equals(Buffer.from([0, 1, 2, 255])), "binary");
      m = await recv(c);
      assert(!m.isBinary && m.data.toString() === "caf\u00e9", "text");
    }
    a.close(); b.close();
    await Promise.all([a.closed, b.closed]);
  },

  async large_messages_up_to_the_limit(srv, url) {
    const a = await open(url), b = await open(url);
    const big = Buffer.alloc(MIB, 0x5a);
    big[0] = 1; big[MIB - 1] = 2;
    a.send(big);
    for (const c of [a, b]) {
      const m = await recv(c);
      assert(m.isBinary && m.data.equals(big), "1 MiB intact");
    }
    a.close(); b.close();
    await Promise.all([a.closed, b.closed]);
  },

  async oversize_closes_with_1009(srv, url) {
    const a = await open(url);
    a.send(Buffer.alloc(MIB + 1));
    const c = await a.closed;
    assert(c.code === 1009, "code " + c.code);
  },

  async fragmented_messages(srv, url) {
    const a = await open(url), b = await open(url);
    a.send("first ", { fin: false });
    a.send("second ", { fin: false });
    a.send("third", { fin: true });
    a.send(Buffer.from([1]), { binary: true, fin: false });
    a.send(Buffer.from([2, 3]), { binary: true, fin: true });
    for (const c of [a, b]) {
      let m = await recv(c);
      assert(!m.isBinary && m.data.toString() === "first second third", m.data.toString());
      m = await recv(c);
      assert(m.isBinary && m.data.equals(Buffer.from([1, 2, 3])), "binary fragments");
    }
    a.close(); b.close();
    await Promise.all([a.closed, b.closed]);
  },

  async ping_and_pong(srv, url) {
    const a = await open(url);
    const pong = new Promise((resolve) => a.once("pong", resolve));
    a.ping(Buffer.from("node ping"));
    const data = await pong;
    assert(data.toString() === "node ping", "pong payload " + data);
    a.close();
    await a.closed;
  },

  async close_codes(srv, url) {
    const a = await open(url);
    a.close(4321, "done here");
    let c = await a.closed;
    assert(c.code === 4321, "echoed code " + c.code);
    const b = await open(url);
    b.close();
    c = await b.closed;
    assert(c.code === 1005 || c.code === 1000, "no code " + c.code);
  },

  async invalid_utf8_closes_with_1007(srv, url) {
    const a = await open(url);
    // ws does not check what it sends: a text frame that is not UTF-8.
    a.send(Buffer.from([0x68, 0x69, 0xff]), { binary: false });
    let c = await a.closed;
    assert(c.code === 1007, "code " + c.code);
    const b = await open(url);
    b.send(Buffer.from([0xf0, 0x9f]), { binary: false, fin: false });
    b.send(Buffer.from([0x98]), { binary: false, fin: true });
    c = await b.closed;
    assert(c.code === 1007, "truncated character: code " + c.code);
  },

  async refusals(srv, url) {
    assert(await refusedWith(url, { origin: "https://evil.example" }) === 403, "origin");
    assert(await refusedWith(url, { origin: "http://127.0.0.1:" + srv.port }) === 101,
           "own origin");
    assert(await refusedWith(url, { protocolVersion: 8 }) === 426, "version 8");
    assert(await refusedWith("ws://127.0.0.1:" + srv.port + "/nope") === 404, "path");
  },
};

(async () => {
  const srv = await startServer([]);
  const url = "ws://127.0.0.1:" + srv.port + "/ws";
  let failed = 0, n = 0;
  const watchdog = setTimeout(() => {
    console.log("not ok - timed out\n" + srv.log());
    process.exit(1);
  }, 120000);
  for (const [name, fn] of Object.entries(tests)) {
    n++;
    failed += await check(name, () => fn(srv, url));
  }
  failed += await check("server_exits_cleanly", () => stopServer(srv));
  clearTimeout(watchdog);
  console.log((n + 1 - failed) + " passed, " + failed + " failed");
  process.exit(failed ? 1 : 0);
})();
