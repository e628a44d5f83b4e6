// The client against scripted fake servers (ws's WebSocketServer on loopback): what a
// real server does only on bad days: silence, retried and terminal kicks, redirects.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import WebSocket, { WebSocketServer } from "ws";
import { AuthFailed, connect, Reason } from "../dist/index.js";
import { ClientMessageSchema, ServerMessageSchema } from "../dist/gen/tickcast_pb.js";
import { takeUntil, waitFor } from "./server.mjs";

const server = (body) => toBinary(ServerMessageSchema, create(ServerMessageSchema, { body }));
const welcome = (firstTick, extra = {}) =>
  server({ case: "welcome", value: { room: "r", slot: 1, tickRate: 20, firstTick: BigInt(firstTick), ...extra } });
const tick = (n) => server({ case: "tick", value: { number: BigInt(n) } });
const kick = (reason, redirect = "") => server({ case: "kick", value: { reason, detail: "scripted", redirect } });

/**
 * A fake server: `script(ws, hello, k)` answers the k-th connection's Hello.
 * Resolves to {url, hellos, close()}.
 */
async function fake(script) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => wss.on("listening", r));
  const hellos = [];
  wss.on("connection", (ws) => {
    ws.once("message", (data) => {
      const hello = fromBinary(ClientMessageSchema, new Uint8Array(data)).body.value;
      hellos.push(hello);
      script(ws, hello, hellos.length);
    });
  });
  return {
    url: `ws://127.0.0.1:${wss.address().port}/ws`,
    hellos,
    close: () => {
      for (const c of wss.clients) c.terminate();
      return new Promise((r) => wss.close(r));
    },
  };
}

const options = (url, extra = {}) => ({
  url, playerId: "ada", room: "r", WebSocket, pingIntervalMs: 50, backoffInitialMs: 10, ...extra,
});

test("a silent connection is cut after deadAfterMs and resumed after the last tick", async () => {
  const srv = await fake((ws, hello, k) => {
    if (k === 1) {
      ws.send(welcome(1));
      ws.send(tick(1));
      ws.send(tick(2)); // then silence: no ticks, no pongs
    } else {
      ws.send(welcome(3));
      ws.send(tick(3));
    }
  });
  const c = await connect(options(srv.url, { deadAfterMs: 300 }));
  try {
    const got = await takeUntil(c, (t) => t.number === 3, 10000);
    assert.deepEqual(got.map((t) => t.number), [1, 2, 3]);
    assert.equal(srv.hellos[1].resumeAfter, 2n);
    await waitFor(() => c.reconnects === 1, 5000, "reconnects");
  } finally {
    await c.close(false);
    await srv.close();
  }
});

test("a retried kick (SERVER_SHUTDOWN) resumes; unconfirmed inputs are resent once", async () => {
  const inputs = [];
  const srv = await fake((ws, hello, k) => {
    ws.on("message", (data) => {
      const msg = fromBinary(ClientMessageSchema, new Uint8Array(data));
      if (msg.body.case === "input") inputs.push([k, msg.body.value.seq]);
    });
    if (k === 1) {
      ws.send(welcome(1));
      ws.send(tick(1));
      setTimeout(() => ws.send(kick(Reason.SERVER_SHUTDOWN)), 100);
    } else {
      ws.send(welcome(2, { lastSeq: 1 })); // seq 1 was sequenced, seq 2 was not
      ws.send(tick(2));
    }
  });
  const c = await connect(options(srv.url));
  try {
    c.send("a");
    c.send("b");
    await takeUntil(c, (t) => t.number === 2, 10000);
    await waitFor(() => inputs.some(([k]) => k === 2), 5000, "resend");
    assert.deepEqual(inputs, [[1, 1], [1, 2], [2, 2]]);
    assert.equal(c.kicks[0].reasonName, "SERVER_SHUTDOWN");
  } finally {
    await c.close(false);
    await srv.close();
  }
});

test("a terminal kick ends the stream with its typed error", async () => {
  const srv = await fake((ws) => {
    ws.send(welcome(1));
    setTimeout(() => ws.send(kick(Reason.AUTH_FAILED)), 50);
  });
  const c = await connect(options(srv.url));
  try {
    await assert.rejects(takeUntil(c, () => false, 10000), AuthFailed);
    assert.equal(srv.hellos.length, 1, "no reconnect after AUTH_FAILED");
  } finally {
    await c.close(false);
    await srv.close();
  }
});

test("a redirect is followed with the same Hello", async () => {
  const target = await fake((ws) => {
    ws.send(welcome(1));
    ws.send(tick(1));
  });
  const port = new URL(target.url).port;
  const first = await fake((ws) => ws.send(kick(Reason.REDIRECT, `127.0.0.1:${port}`)));
  const c = await connect(options(first.url));
  try {
    await takeUntil(c, (t) => t.number === 1, 10000);
    assert.equal(new URL(c.url).port, port);
    assert.equal(new URL(c.url).pathname, "/ws"); // scheme and path kept: only host:port change
    assert.equal(target.hellos[0].playerId, "ada");
  } finally {
    await c.close(false);
    await Promise.all([first.close(), target.close()]);
  }
});

test("when the node a redirect sent us to dies, the client comes back to its entry point", async () => {
  const target = await fake((ws) => {
    ws.send(welcome(1));
    ws.send(tick(1));
  });
  const port = new URL(target.url).port;
  // the entry node redirects first; once the owner is gone it takes the room itself
  const entry = await fake((ws, hello, k) => {
    if (k === 1) ws.send(kick(Reason.REDIRECT, `127.0.0.1:${port}`));
    else {
      ws.send(welcome(2));
      ws.send(tick(2));
    }
  });
  const c = await connect(options(entry.url));
  try {
    await takeUntil(c, (t) => t.number === 1, 10000);
    await target.close(); // the owner dies
    const got = await takeUntil(c, (t) => t.number === 2, 10000);
    assert.deepEqual(got.map((t) => t.number), [2]);
    assert.equal(c.url, entry.url);
    assert.equal(entry.hellos.length, 2);
    assert.equal(entry.hellos[1].resumeAfter, 1n);
  } finally {
    await c.close(false);
    await entry.close();
  }
});

test("a first redirect to a node that just died goes back to the entry point", async () => {
  // a port nothing listens on: a fake that is closed at once
  const gone = await fake(() => {});
  const deadPort = new URL(gone.url).port;
  await gone.close();
  const entry = await fake((ws, hello, k) => {
    if (k === 1) ws.send(kick(Reason.REDIRECT, `127.0.0.1:${deadPort}`));
    else {
      ws.send(welcome(1));
      ws.send(tick(1));
    }
  });
  let c = null;
  try {
    c = await connect(options(entry.url));
    const got = await takeUntil(c, (t) => t.number === 1, 10000);
    assert.deepEqual(got.map((t) => t.number), [1]);
    assert.equal(c.url, entry.url);
    assert.equal(entry.hellos.length, 2);
  } finally {
    if (c) await c.close(false);
    await entry.close();
  }
  // an entry point that is not there still fails at once
  await assert.rejects(connect(options(`ws://127.0.0.1:${deadPort}/ws`)));
});
