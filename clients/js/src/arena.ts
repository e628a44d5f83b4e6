/**
 * The grid arena of `examples/arena/arena.py`, ported rule for rule, so a JS
 * client and a Python client that apply the same ticks reach the same state
 * and the same `stateHash()` (BLAKE2b-128 of the same little-endian layout).
 *
 * Players walk on a WIDTH x HEIGHT grid and collect coins; a coin taken
 * respawns elsewhere. The only randomness is an integer LCG kept in the state.
 * Inputs are one byte: "U", "D", "L" or "R"; anything else is ignored.
 */
import { blake2b } from "@noble/hashes/blake2.js";
import type { Tick } from "./core.js";

export const WIDTH = 16;
export const HEIGHT = 12;
export const COINS = 5;
/** Moves by input byte (the char codes of "U", "D", "L", "R"). */
export const MOVES: ReadonlyMap<number, readonly [number, number]> = new Map([
  [0x55, [0, -1]],
  [0x44, [0, 1]],
  [0x4c, [-1, 0]],
  [0x52, [1, 0]],
]);

export interface Player {
  x: number;
  y: number;
  score: number;
}

/** The whole game state. `apply(tick)` is the only way it changes. */
export class Arena {
  tick = 0;
  /** LCG state, part of the game state (31 bits). */
  rng = 0x2545f491;
  /** Players by slot. */
  readonly players = new Map<number, Player>();
  coins: Array<[number, number]> = [];

  constructor() {
    for (let i = 0; i < COINS; i++) this.coins.push(this.randomCell());
  }

  private random(): number {
    // (rng * 1103515245 + 12345) & 0x7FFFFFFF: the low 31 bits of the exact
    // product are the low bits of the 32-bit one, which Math.imul gives exactly
    this.rng = (Math.imul(this.rng, 1103515245) + 12345) & 0x7fffffff;
    return this.rng >> 8;
  }

  private randomCell(): [number, number] {
    const x = this.random() % WIDTH;
    return [x, this.random() % HEIGHT];
  }

  /** Advance by one tick: joins spawn, inputs move in order, leaves vanish. */
  apply(tick: Tick): void {
    this.tick = tick.number;
    for (const m of tick.joined) {
      const [x, y] = this.randomCell();
      this.players.set(m.slot, { x, y, score: 0 });
    }
    for (const inp of tick.inputs) {
      const player = this.players.get(inp.slot);
      const move = inp.payload.length === 1 ? MOVES.get(inp.payload[0]) : undefined;
      if (player === undefined || move === undefined) continue;
      player.x = Math.min(WIDTH - 1, Math.max(0, player.x + move[0]));
      player.y = Math.min(HEIGHT - 1, Math.max(0, player.y + move[1]));
      const i = this.coins.findIndex(([cx, cy]) => cx === player.x && cy === player.y);
      if (i >= 0) {
        player.score++;
        this.coins[i] = this.randomCell();
      }
    }
    for (const m of tick.left) this.players.delete(m.slot);
  }

  /** BLAKE2b-128 of a canonical encoding of the state (sorted, fixed-width, little-endian). */
  stateHash(): Uint8Array {
    const slots = [...this.players.keys()].sort((a, b) => a - b);
    const buf = new DataView(new ArrayBuffer(12 + 12 * slots.length + 4 * this.coins.length));
    let o = 0;
    buf.setBigUint64(o, BigInt(this.tick), true);
    buf.setUint32(o + 8, this.rng, true);
    o += 12;
    for (const slot of slots) {
      const p = this.players.get(slot)!;
      buf.setUint32(o, slot, true);
      buf.setInt16(o + 4, p.x, true);
      buf.setInt16(o + 6, p.y, true);
      buf.setUint32(o + 8, p.score, true);
      o += 12;
    }
    for (const [x, y] of this.coins) {
      buf.setInt16(o, x, true);
      buf.setInt16(o + 2, y, true);
      o += 4;
    }
    return blake2b(new Uint8Array(buf.buffer), { dkLen: 16 });
  }
}

/** Lowercase hex of bytes (state hashes on screen and in logs). */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
