// The JS client against a real tickcast server over WebSocket.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect, Kicked, Reason, TickcastError } from "../dist/index.js";
import { opts, startServer, takeUntil, text, waitFor, within } from "./server.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

test("two players get the same typed ticks, members, slots and rtt", async () => {
  const ada = await connect(opts(server, "ada", { room: "basic" }));
  const bob = await connect(opts(server, "bob", { room: "basic", fullHistory: true }));
  try {
    assert.equal(ada.room, "basic");
    assert.equal(ada.tickRate, 50);
    assert.ok(ada.slot > 0 && bob.slot > 0 && ada.slot !== bob.slot);
    const seqs = [ada.send("a1"), ada.send(new Uint8Array([1, 2, 3])), bob.send("b1")];
    assert.deepEqual(seqs, [1, 2, 1]);
    const hasAll = (_, got) => got.flatMap((t) => t.inputs).length === 3;
    const [ta, tb] = await Promise.all([takeUntil(ada, hasAll), takeUntil(bob, hasAll)]);
    const n = Math.min(ta.length, tb.length);
    const fromA = ta.filter((t) => t.number >= tb[0].number).slice(0, n);
    const fromB = tb.filter((t) => t.number >= ta[0].number).slice(0, n);
    // byte-identical ticks for every member
    assert.deepEqual(fromA.map((t) => Buffer.from(t.raw).toString("hex")),
      fromB.slice(0, fromA.length).map((t) => Buffer.from(t.raw).toString("hex")));
    const inputs = tb.flatMap((t) => t.inputs);
    const mine = inputs.filter((i) => i.playerId === "ada");
    assert.deepEqual(mine.map((i) => i.seq), [1, 2]);
    assert.equal(text(mine[0].payload), "a1");
    assert.deepEqual([...mine[1].payload], [1, 2, 3]);
    assert.equal(inputs.find((i) => i.playerId === "bob").slot, bob.slot);
    // presence: both see both members, by slot
    assert.equal(ada.members.size, 2);
    assert.equal(ada.members.get(bob.slot)?.playerId, "bob");
    assert.equal(bob.members.get(ada.slot)?.playerId, "ada");
    // the chain is recorded by default: 32 bytes
    assert.equal(tb.at(-1).chain.length, 32);
    await waitFor(() => ada.rtt !== null, 5000, "rtt");
    assert.ok(ada.rtt >= 0 && ada.serverTick > 0);
  } finally {
    await Promise.all([ada.close(), bob.close()]);
  }
  assert.equal(ada.state, "closed");
});

test("dropped connections resume: no gap, no duplicate, every input exactly once", async () => {
  const ref = await connect(opts(server, "ref", { room: "resume" }));
  const flaky = await connect(opts(server, "flaky", { room: "resume", fullHistory: true }));
  try {
    const sent = [];
    let drops = 0;
    const stream = [];
    const reader = (async () => {
      for await (const t of flaky.ticks()) {
        stream.push(t);
        if (sent.length === 60 && countMine() === 60) return; // every input seen
      }
    })();
    const countMine = () => stream.flatMap((t) => t.inputs).filter((i) => i.slot === flaky.slot).length;
    for (let i = 1; i <= 60; i++) {
      sent.push(flaky.send(`in${i}`));
      if (i % 10 === 0) {
        // one drop per welcomed connection (a drop during a handshake is retried inside
        // the same reconnect, which `reconnects` would not count)
        await waitFor(() => flaky.connected, 10000, "connected");
        flaky.dropConnection();
        drops++;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await within(reader, 20000);
    await waitFor(() => flaky.reconnects >= drops, 10000, "reconnects");
    // gap-free, duplicate-free stream
    for (let k = 1; k < stream.length; k++) assert.equal(stream[k].number, stream[k - 1].number + 1);
    // every input exactly once, in order
    const mine = stream.flatMap((t) => t.inputs).filter((i) => i.slot === flaky.slot);
    assert.deepEqual(mine.map((i) => i.seq), sent);
    assert.deepEqual(mine.map((i) => text(i.payload)), sent.map((s) => `in${s}`));
    assert.equal(flaky.pendingInputs, 0);
    // identical to what a never-dropped peer saw over the same ticks
    const last = stream.at(-1).number;
    const seen = await takeUntil(ref, (t) => t.number >= last);
    const byNumber = new Map(seen.map((t) => [t.number, Buffer.from(t.raw).toString("hex")]));
    for (const t of stream) {
      if (byNumber.has(t.number)) assert.equal(Buffer.from(t.raw).toString("hex"), byNumber.get(t.number));
    }
  } finally {
    await Promise.all([ref.close(), flaky.close()]);
  }
});

test("a spectator sees the ticks, holds slot 0 and cannot send", async () => {
  const p = await connect(opts(server, "p1", { room: "watch" }));
  const spec = await connect(opts(server, "eye", { room: "watch", spectator: true, fullHistory: true }));
  try {
    assert.equal(spec.slot, 0);
    assert.throws(() => spec.send("x"), TickcastError);
    p.send("hi");
    const got = await takeUntil(spec, (t) => t.inputs.length > 0);
    assert.equal(text(got.at(-1).inputs[0].payload), "hi");
    assert.equal(got[0].number, 1, "full_history starts at the room's first tick");
    assert.ok(got[0].joined.some((m) => m.playerId === "p1"));
  } finally {
    await Promise.all([p.close(), spec.close()]);
  }
});

test("full_history: a late joiner receives every tick from the room's first", async () => {
  const early = await connect(opts(server, "early", { room: "late" }));
  try {
    early.send("before");
    await takeUntil(early, (t) => t.inputs.length > 0);
    const late = await connect(opts(server, "late", { room: "late", fullHistory: true }));
    try {
      assert.equal(late.firstTick, 1);
      const got = await takeUntil(late, (t) => t.joined.some((m) => m.playerId === "late"));
      assert.equal(got[0].number, 1);
      assert.ok(got.some((t) => t.inputs.some((i) => text(i.payload) === "before" && i.playerId === "early")));
    } finally {
      await late.close();
    }
  } finally {
    await early.close();
  }
});

test("a replaced connection ends the stream with a typed Kicked", async () => {
  const first = await connect(opts(server, "twin", { room: "kick" }));
  const second = await connect(opts(server, "twin", { room: "kick" }));
  try {
    await assert.rejects(
      (async () => {
        for await (const _ of first.ticks());
      })(),
      (e) => e instanceof Kicked && e.reason === Reason.REPLACED && e.reasonName === "REPLACED",
    );
    assert.equal(first.state, "closed");
    assert.ok(first.error instanceof Kicked);
    assert.equal(first.kicks.length, 1);
  } finally {
    await Promise.all([first.close(false), second.close()]);
  }
});

test("leave frees the slot at once: peers see it in Tick.left", async () => {
  const stay = await connect(opts(server, "stay", { room: "leave" }));
  const go = await connect(opts(server, "go", { room: "leave" }));
  const goSlot = go.slot;
  await takeUntil(stay, (t) => t.joined.some((m) => m.slot === goSlot)); // the join took effect
  await go.close();
  const got = await takeUntil(stay, (t) => t.left.some((m) => m.slot === goSlot));
  assert.equal(got.at(-1).left.find((m) => m.slot === goSlot).playerId, "go");
  assert.equal(stay.members.has(goSlot), false);
  await stay.close();
});

test("an address with no server fails at once", async () => {
  const dead = server.url.replace(/:\d+\//, ":1/");
  await assert.rejects(connect(opts(server, "nobody", { url: dead, connectTimeoutMs: 3000 })));
});
