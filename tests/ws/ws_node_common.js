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

module.exports = { startServer, stopServer };
