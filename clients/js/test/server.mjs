// A real tickcast server for the tests: `python -m tickcast serve` on free ports,
// with PYTHONPATH at this repository's src/ (TICKCAST_PYTHON picks the interpreter).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
export const python = process.env.TICKCAST_PYTHON ?? "python3";

export function pythonEnv() {
  const paths = [`${repoRoot}src`, process.env.PYTHONPATH].filter(Boolean);
  return { ...process.env, PYTHONPATH: paths.join(":") };
}

/** Start a server; resolves to {url, http, tcp, stop()} once both listeners are up. */
export function startServer(...args) {
  const proc = spawn(
    python,
    // --no-record: as under pytest (its conftest sets TICKCAST_RECORD=0); recording
    // would also make two cluster nodes share ./tickcast-data, which they refuse
    ["-m", "tickcast", "serve", "--host", "127.0.0.1", "--port", "0", "--http-host", "127.0.0.1",
      "--http-port", "0", "--tick-rate", "50", "--no-record", ...args],
    { env: pythonEnv(), stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  let started = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`server did not start in 30 s:\n${out}\n${err}`)), 30000);
    const fail = (e) => {
      clearTimeout(timer);
      proc.kill("SIGKILL");
      reject(e);
    };
    proc.stderr.on("data", (d) => (err += d));
    proc.on("exit", (code) => fail(new Error(`server exited with ${code}:\n${err}`)));
    proc.stdout.on("data", (d) => {
      out += d;
      const http = /tickcast http on (http:\/\/\S+)/.exec(out);
      const tcp = /tickcast listening on tcp:\/\/(\S+)/.exec(out);
      // once: a later chunk of stdout must not take the exit listener of `stopped` away
      if (http && tcp && !started) {
        started = true;
        clearTimeout(timer);
        proc.removeAllListeners("exit");
        const stopped = new Promise((r) => proc.on("exit", r));
        resolve({
          http: http[1],
          tcp: tcp[1],
          url: `${http[1].replace("http:", "ws:")}/ws`,
          async stop() {
            proc.kill("SIGTERM");
            const t = setTimeout(() => proc.kill("SIGKILL"), 10000);
            await stopped;
            clearTimeout(t);
          },
        });
      }
    });
  });
}

/** Client options for the tests: the `ws` package's WebSocket, quick pings. */
export function opts(server, playerId, extra = {}) {
  return { url: server.url, playerId, WebSocket, pingIntervalMs: 100, ...extra };
}

/** Take ticks from `client` until `until(tick)` is true (or fail after `ms`). */
export async function takeUntil(client, until, ms = 20000) {
  const got = [];
  const deadline = Date.now() + ms;
  for await (const tick of client.ticks()) {
    got.push(tick);
    if (until(tick, got)) return got;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
  }
  throw new Error("tick stream ended early");
}

export async function waitFor(cond, ms = 20000, what = "condition") {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const text = (bytes) => new TextDecoder().decode(bytes);

/** `promise`, or a rejection after `ms` (the timer never outlives the promise). */
export async function within(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
