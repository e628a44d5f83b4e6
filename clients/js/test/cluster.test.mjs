// The JS client against two real cluster nodes on a real redis-server: a client
// entering at the node that does not own its room is redirected to the owner's
// HTTP address (the WebSocket one, not the TCP one) and plays in the same room.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import { connect } from "../dist/index.js";
import { opts, startServer, takeUntil } from "./server.mjs";

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

async function startRedis() {
  const port = await freePort();
  const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "",
    "--appendonly", "no"], { stdio: "ignore" });
  const deadline = Date.now() + 20000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.end();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error("redis-server did not start in 20 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `redis://127.0.0.1:${port}/0`, stop: () => proc.kill("SIGKILL") };
}

let redis;
let a;
let b;
before(async () => {
  redis = await startRedis();
  const flags = ["--cluster", redis.url, "--lease-seconds", "1.5"];
  [a, b] = await Promise.all([startServer(...flags), startServer(...flags)]);
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  redis?.stop();
});

test("a client at the wrong node is redirected to the owner's HTTP address", async () => {
  const ada = await connect(opts(a, "ada", { room: "clustered" })); // a owns the room now
  // until a's first heartbeat has published its HTTP address, b answers a
  // WebSocket Hello with SERVER_SHUTDOWN (retry later), which the client retries
  const bob = await connect(opts(b, "bob", { room: "clustered" }));
  try {
    const url = new URL(bob.url);
    assert.equal(url.host, new URL(a.url).host); // a's HTTP host:port, not its TCP one
    assert.equal(url.pathname, "/ws");
    assert.notEqual(url.port, a.tcp.split(":")[1]);
    bob.send("hi");
    const got = await takeUntil(ada, (t) => t.inputs.some((i) => i.playerId === "bob"));
    assert.ok(got.length > 0);
    assert.notEqual(ada.slot, bob.slot);
  } finally {
    await Promise.all([ada.close(), bob.close()]);
  }
});
