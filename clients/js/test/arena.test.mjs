// The JS arena agrees with examples/arena/arena.py on every state hash.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { Arena, hex } from "../dist/arena.js";
import { python, pythonEnv, repoRoot } from "./server.mjs";

/** A scripted tick stream: joins, many moves (coins get taken), junk inputs, a leave. */
function script() {
  const ticks = [];
  let seed = 7;
  const rnd = () => (seed = (seed * 48271) % 2147483647);
  const moves = ["U", "D", "L", "R", "R", "D", "x", ""];
  for (let n = 1; n <= 400; n++) {
    const joined = n === 1 ? [1, 2] : n === 50 ? [3] : [];
    const left = n === 300 ? [2] : [];
    const inputs = [];
    for (let k = 0; k < rnd() % 4; k++) {
      inputs.push({ slot: 1 + (rnd() % 3), seq: n * 10 + k, payload: moves[rnd() % moves.length] });
    }
    ticks.push({ number: n, joined, left, inputs });
  }
  return ticks;
}

test("JS and Python arenas reach the same state hash after every tick", () => {
  const ticks = script();
  const arena = new Arena();
  const enc = new TextEncoder();
  const jsHashes = ticks.map((t) => {
    arena.apply({
      number: t.number,
      joined: t.joined.map((slot) => ({ slot, playerId: `p${slot}` })),
      left: t.left.map((slot) => ({ slot, playerId: `p${slot}` })),
      inputs: t.inputs.map((i) => ({ ...i, payload: enc.encode(i.payload), playerId: "" })),
      desyncs: [], chain: new Uint8Array(0), raw: new Uint8Array(0), empty: false,
    });
    return hex(arena.stateHash());
  });
  const program = `
import json, sys
sys.path.insert(0, "examples/arena")
from arena import Arena
from tickcast.client import Input, Member, Tick
a = Arena()
for t in json.load(sys.stdin):
    a.apply(Tick(t["number"],
        tuple(Input(i["slot"], i["seq"], i["payload"].encode(), "") for i in t["inputs"]),
        tuple(Member(s, "p%d" % s) for s in t["joined"]),
        tuple(Member(s, "p%d" % s) for s in t["left"])))
    print(a.state_hash().hex())
`;
  const out = execFileSync(python, ["-c", program], {
    cwd: repoRoot, env: pythonEnv(), input: JSON.stringify(ticks), encoding: "utf8",
  });
  const pyHashes = out.trim().split("\n");
  assert.equal(pyHashes.length, jsHashes.length);
  assert.deepEqual(jsHashes, pyHashes);
  assert.ok(Math.max(...[...arena.players.values()].map((p) => p.score)) > 0, "coins were taken");
});
