// Shared by the Node tests of hub-ws-chat: start the server on a free
// port of 127.0.0.1 (reading the port from its log), stop it with SIGTERM
// and check that it exits cleanly with its final statistics.
"use strict";

const { spawn } = require("child_process");

// `binary` with `args` after "--listen 127.0.0.1:0"; resolves to the
// process, with .port and .log().
function startServer(binary, args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(binary, ["--listen", "127.0.0.1:0", ...args],
                       { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    const timer = setTimeout(() => reject(new Error("no port:\n" + log)), 30000);
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (chunk) => {
      log += chunk;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(log);
      if (m && !proc.port) {
        proc.port = Number(m[1]);
        clearTimeout(timer);
        resolve(proc);
      }
    });
    proc.log = () => log;
    proc.on("exit", (code, signal) => { proc.exitCode_ = code; proc.signal_ = signal; });
  });
}

function stopServer(proc) {
  return new Promise((resolve, reject) => {
    const done = () => {
      if (proc.exitCode_ !== 0)
        reject(new Error("server exited with " + proc.exitCode_ + "/" +
                         proc.signal_ + ":\n" + proc.log()));
      else if (!/final stats/.test(proc.log()))
        reject(new Error("no final stats:\n" + proc.log()));
      else
        resolve();
    };
    if (proc.exitCode_ !== undefined) return done();
    proc.on("exit", () => setImmediate(done));
    proc.kill("SIGTERM");
  });
}

// node-ws, or exit 77 (skipped) saying that it is not installed.
function requireWs() {
  try {
    return require("ws");
  } catch (e) {
    console.log("skipped: node-ws is not installed");
    process.exit(77);
  }
}

// A ws client of `url`; resolves once open. Messages queue in .inbox
// until recv() takes them; .closed resolves to the close's { code,
// reason }; .extHeader is the server's Sec-WebSocket-Extensions (or
// null). A refused handshake rejects with an Error whose .status and
// .headers are the server's answer.
function open(url, opts) {
  const WebSocket = requireWs();
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.inbox = [];
    ws.waiters = [];
    ws.extHeader = null;
    ws.on("upgrade", (res) => {
      const v = res.headers["sec-websocket-extensions"];
      ws.extHeader = v === undefined ? null : v;
    });
    ws.on("message", (data, isBinary) => {
      const m = { data, isBinary };
      if (ws.waiters.length) ws.waiters.shift()(m); else ws.inbox.push(m);
    });
    ws.closed = new Promise((res) => ws.on("close", (code, reason) =>
      res({ code, reason: reason.toString() })));
    ws.once("open", () => resolve(ws));
    ws.once("unexpected-response", (req, res) => {
      const e = new Error("HTTP " + res.statusCode);
      e.status = res.statusCode;
      e.headers = res.headers;
      reject(e);
    });
    ws.once("error", reject);
  });
}

// The next message of `ws` ({ data, isBinary }), waiting up to `ms`.
function recv(ws, ms = 30000) {
  if (ws.inbox.length) return Promise.resolve(ws.inbox.shift());
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no message")), ms);
    ws.waiters.push((m) => { clearTimeout(t); resolve(m); });
  });
}

function assert(cond, what) {
  if (!cond) throw new Error("assertion failed: " + what);
}

// One test case: runs `fn` (async), then logs "ok - NAME" (followed by
// what fn returned, if anything) or "not ok - NAME: why". Resolves to 1
// if it failed, else 0.
async function check(name, fn) {
  try {
    const more = await fn();
    console.log("ok - " + name + (more || ""));
    return 0;
  } catch (e) {
    console.log("not ok - " + name + ": " + (e.stack || e));
    return 1;
  }
}

module.exports = { startServer, stopServer, requireWs, open, recv, assert,
                   check };
