/**
 * The sans-I/O half of the client (the twin of the Python SDK's `ClientCore`):
 * it builds the Hello for the next connection, turns Welcome and Tick messages
 * into typed ticks, and keeps what must survive a reconnect (the resume point,
 * the unconfirmed inputs, slot names). No sockets, no timers: easy to test.
 */
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  ClientMessageSchema,
  type Tick as PbTick,
  type Welcome as PbWelcome,
  TickSchema,
} from "./gen/tickcast_pb.js";
import { RemoteProtocolError, TickcastError, TickGap } from "./errors.js";

export const PROTOCOL_VERSION = 1;

/** A player in a room: its slot (stable for the room's lifetime) and id. */
export interface Member {
  readonly slot: number;
  readonly playerId: string;
}

/** One sequenced input, as every member of the room receives it. */
export interface Input {
  readonly slot: number;
  readonly seq: number;
  readonly payload: Uint8Array;
  /** The sender's id (from presence); "" if this client never saw that slot join. */
  readonly playerId: string;
}

/** At tick `tick` the members in `slots` reported a state hash unlike the majority's. */
export interface Desync {
  readonly tick: number;
  readonly slots: readonly number[];
}

/**
 * One tick of the room's lockstep clock: identical for every member.
 * Presence applies in this order: `joined` take effect at this tick, then
 * `inputs` in sequencing order, then `left`.
 */
export interface Tick {
  readonly number: number;
  readonly inputs: readonly Input[];
  readonly joined: readonly Member[];
  readonly left: readonly Member[];
  readonly desyncs: readonly Desync[];
  /** BLAKE2b-256 hash chain over the room's ticks, if the server records it (else empty). */
  readonly chain: Uint8Array;
  /** The tick's protobuf encoding as received (for logs and verification). */
  readonly raw: Uint8Array;
  /** No inputs, no presence change and no desync report. */
  readonly empty: boolean;
}

export interface CoreOptions {
  room?: string;
  token?: string;
  spectator?: boolean;
  fullHistory?: boolean;
  skipEmptyTicks?: boolean;
}

/** The encoded message, ready for one binary WebSocket message. */
export function encodeClient(msg: MessageInitShape<typeof ClientMessageSchema>): Uint8Array {
  return toBinary(ClientMessageSchema, create(ClientMessageSchema, msg));
}

function makeTick(
  number: number,
  inputs: Input[],
  joined: Member[],
  left: Member[],
  desyncs: Desync[],
  chain: Uint8Array,
  raw: Uint8Array,
): Tick {
  const empty = !(inputs.length || joined.length || left.length || desyncs.length);
  return { number, inputs, joined, left, desyncs, chain, raw, empty };
}

function emptyTick(number: number): Tick {
  const raw = toBinary(TickSchema, create(TickSchema, { number: BigInt(number) }));
  return makeTick(number, [], [], [], [], new Uint8Array(0), raw);
}

/**
 * Sans-I/O state of one logical client across all of its connections.
 *
 * Invariants: `received` is the newest tick handed to the application (the
 * resume point); `unacked` holds, in seq order, every input sent and not yet
 * seen sequenced (resent after a reconnect when seq > Welcome.last_seq);
 * `names` maps every slot ever seen in the room to its player id.
 */
export class ClientCore {
  readonly playerId: string;
  room: string;
  readonly token: string;
  readonly spectator: boolean;
  readonly fullHistory: boolean;
  readonly skipEmptyTicks: boolean;
  welcomed = false;
  slot = 0;
  tickRate = 0;
  serverId = "";
  firstTick = 0;
  initialMembers: Member[] = [];
  received = 0;
  nextSeq = 1;
  unacked: Array<[number, Uint8Array]> = [];
  readonly names = new Map<number, string>();
  duplicateTicks = 0;
  resentInputs = 0;

  constructor(playerId: string, options: CoreOptions = {}) {
    this.playerId = playerId;
    this.room = options.room ?? "";
    this.token = options.token ?? "";
    this.spectator = options.spectator ?? false;
    this.fullHistory = options.fullHistory ?? false;
    this.skipEmptyTicks = options.skipEmptyTicks ?? false;
  }

  /** The Hello for the next connection: a fresh join first, then resumes. */
  helloMessage(): Uint8Array {
    let resumeAfter = 0n;
    let fullHistory = false;
    if (!this.welcomed) fullHistory = this.fullHistory;
    else if (this.received > 0) resumeAfter = BigInt(this.received);
    // welcomed at tick 1 of a new room but dropped before it came:
    // "every tick since the room began" is exactly what we miss
    else fullHistory = true;
    return encodeClient({
      body: {
        case: "hello",
        value: {
          protocolVersion: PROTOCOL_VERSION,
        playerId: this.playerId,
        token: this.token,
        room: this.room,
        resumeAfter,
        fullHistory,
          spectator: this.spectator,
        },
      },
    });
  }

  /** Number a new input and remember it until it is seen sequenced: [seq, message]. */
  nextInput(payload: Uint8Array): [number, Uint8Array] {
    if (this.spectator) throw new TickcastError("spectators send no inputs");
    const seq = this.nextSeq++;
    this.unacked.push([seq, payload]);
    return [seq, inputMessage(seq, payload)];
  }

  /** Take a Welcome; returns the input messages to send again (seq > last_seq). */
  onWelcome(welcome: PbWelcome): Uint8Array[] {
    this.slot = welcome.slot;
    this.tickRate = welcome.tickRate;
    this.serverId = welcome.serverId;
    this.room = welcome.room;
    const firstTick = Number(welcome.firstTick);
    if (!this.welcomed) {
      this.welcomed = true;
      this.firstTick = firstTick;
      this.received = firstTick - 1;
      this.initialMembers = welcome.members.map((m) => ({ slot: m.slot, playerId: m.playerId }));
      for (const m of welcome.members) this.names.set(m.slot, m.playerId);
    } else if (firstTick !== this.received + 1) {
      throw new RemoteProtocolError(
        `resume after tick ${this.received} got first_tick ${firstTick}`,
      );
    }
    const lastSeq = welcome.lastSeq;
    if (lastSeq >= this.nextSeq) this.nextSeq = lastSeq + 1;
    while (this.unacked.length && this.unacked[0][0] <= lastSeq) this.unacked.shift();
    this.resentInputs += this.unacked.length;
    return this.unacked.map(([seq, payload]) => inputMessage(seq, payload));
  }

  /**
   * Turn one received Tick into the typed ticks the application gets next.
   * A tick already handed over is dropped (and counted); a missing number is
   * an empty tick when the room skips empty ticks, else `TickGap`.
   */
  onTick(tick: PbTick, raw: Uint8Array): Tick[] {
    const n = Number(tick.number);
    const received = this.received;
    if (n <= received) {
      this.duplicateTicks++;
      return [];
    }
    const out: Tick[] = [];
    if (n !== received + 1) {
      if (!this.skipEmptyTicks) throw new TickGap(received + 1, n);
      for (let k = received + 1; k < n; k++) out.push(emptyTick(k));
    }
    const names = this.names;
    const joined = tick.joined.map((m) => ({ slot: m.slot, playerId: m.playerId }));
    for (const m of joined) names.set(m.slot, m.playerId);
    const inputs = tick.inputs.map((i) => ({
      slot: i.slot,
      seq: i.seq,
      payload: i.payload,
      playerId: names.get(i.slot) ?? "",
    }));
    if (this.unacked.length) {
      let top = -1;
      for (const i of inputs) if (i.slot === this.slot) top = i.seq;
      while (this.unacked.length && this.unacked[0][0] <= top) this.unacked.shift();
    }
    const left = tick.left.map((slot) => ({ slot, playerId: names.get(slot) ?? "" }));
    const desyncs = tick.desyncs.map((d) => ({ tick: Number(d.tick), slots: [...d.slots] }));
    out.push(makeTick(n, inputs, joined, left, desyncs, tick.chain, raw));
    this.received = n;
    return out;
  }
}

function inputMessage(seq: number, payload: Uint8Array): Uint8Array {
  return encodeClient({ body: { case: "input", value: { seq, payload } } });
}
