// The sans-I/O core without a server: gaps, skipped empty ticks, resends.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary } from "@bufbuild/protobuf";
import { ClientCore, TickGap, kickError, AuthFailed, ResumeUnavailable, Kicked, Reason } from "../dist/index.js";
import { ClientMessageSchema, TickSchema, WelcomeSchema } from "../dist/gen/tickcast_pb.js";

const welcome = (init) => create(WelcomeSchema, { room: "r", slot: 3, tickRate: 20, ...init });
const tick = (n, init = {}) => create(TickSchema, { number: BigInt(n), ...init });
const raw = new Uint8Array(0);

test("fresh join, then resume from the last tick handed over, resending unsequenced inputs", () => {
  const core = new ClientCore("ada", { room: "r" });
  let hello = fromBinary(ClientMessageSchema, core.helloMessage()).body.value;
  assert.equal(hello.resumeAfter, 0n);
  assert.equal(hello.playerId, "ada");
  core.onWelcome(welcome({ firstTick: 5n, members: [{ slot: 1, playerId: "bob" }] }));
  assert.equal(core.received, 4);
  core.nextInput(new Uint8Array([1]));
  core.nextInput(new Uint8Array([2]));
  core.nextInput(new Uint8Array([3]));
  const [t5] = core.onTick(tick(5, { inputs: [{ slot: 3, seq: 1, payload: new Uint8Array([1]) }, { slot: 1, seq: 7 }] }), raw);
  assert.equal(t5.inputs[1].playerId, "bob");
  assert.equal(core.unacked.length, 2);
  hello = fromBinary(ClientMessageSchema, core.helloMessage()).body.value;
  assert.equal(hello.resumeAfter, 5n);
  const resent = core.onWelcome(welcome({ firstTick: 6n, lastSeq: 2 }));
  assert.equal(resent.length, 1);
  assert.equal(fromBinary(ClientMessageSchema, resent[0]).body.value.seq, 3);
  assert.deepEqual(core.onTick(tick(5), raw), [], "a duplicate is dropped");
  assert.equal(core.duplicateTicks, 1);
});

test("a gap is TickGap, unless the room skips empty ticks", () => {
  const strict = new ClientCore("a");
  strict.onWelcome(welcome({ firstTick: 1n }));
  assert.throws(() => strict.onTick(tick(3), raw), (e) => e instanceof TickGap && e.expected === 1 && e.got === 3);
  const lax = new ClientCore("a", { skipEmptyTicks: true });
  lax.onWelcome(welcome({ firstTick: 1n }));
  const out = lax.onTick(tick(3), raw);
  assert.deepEqual(out.map((t) => [t.number, t.empty]), [[1, true], [2, true], [3, true]]);
});

test("kicks map to typed errors", () => {
  assert.ok(kickError(Reason.AUTH_FAILED, "bad") instanceof AuthFailed);
  assert.ok(kickError(Reason.RESUME_UNAVAILABLE) instanceof ResumeUnavailable);
  const k = kickError(Reason.ROOM_FULL, "full");
  assert.ok(k instanceof Kicked && !(k instanceof AuthFailed));
  assert.equal(k.message, "kicked: ROOM_FULL: full");
});
