/**
 * The WebSocket client: join a room, send inputs, iterate over ticks.
 *
 *     const c = await connect({ url: "ws://127.0.0.1:8080/ws", playerId: "ada", room: "r1" });
 *     c.send("U");
 *     for await (const tick of c.ticks()) for (const i of tick.inputs) console.log(i.playerId, i.payload);
 *
 * The twin of the Python SDK (`tickcast.Client`): `ClientCore` is the sans-I/O
 * state; `Client` owns the WebSocket, pings, notices a dead connection,
 * reconnects with exponential backoff and jitter, and resumes, so the tick
 * stream goes on with no gap and no duplicate and every input is applied
 * exactly once (the server drops a resent input whose seq it already has).
 * A kick after which resuming makes no sense ends `ticks()` with a typed error.
 *
 * Units: every duration here is in milliseconds (`rtt` too), the JS custom.
 */
import { fromBinary } from "@bufbuild/protobuf";
import {
  Reason,
  ServerMessageSchema,
  type Pong as PbPong,
  type Tick as PbTick,
  type Welcome as PbWelcome,
} from "./gen/tickcast_pb.js";
import { ClientCore, encodeClient, type CoreOptions, type Member, type Tick } from "./core.js";
import {
  ConnectionClosedError,
  kickError,
  Kicked,
  RemoteProtocolError,
  TickcastError,
} from "./errors.js";

/** The part of the WHATWG WebSocket the client uses (browsers, Node 22+, the `ws` package). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions extends CoreOptions {
  /** The server's WebSocket address, e.g. "ws://127.0.0.1:8080/ws". */
  url: string;
  playerId: string;
  /** The WebSocket class to use; default: the global one (browsers, Node 22+). */
  WebSocket?: WebSocketConstructor;
  /** Reconnect and resume after a drop (default true). */
  reconnect?: boolean;
  connectTimeoutMs?: number;
  /** A connection silent this long is cut and resumed (default 10,000). */
  deadAfterMs?: number;
  pingIntervalMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  maxAttempts?: number;
  maxRedirects?: number;
}

/** The client's connection as a word, for status lines. */
export type ClientState = "connecting" | "connected" | "reconnecting" | "closed";

/**
 * Kick reasons after which the client reconnects and resumes; every other
 * reason (but REDIRECT, which is followed at once) ends the stream with `Kicked`.
 */
export const RETRIED_KICKS: ReadonlySet<Reason> = new Set([
  Reason.SLOW_CONSUMER, // we fell behind: a resume catches up from history
  Reason.SERVER_SHUTDOWN, // a restart or a rolling deploy: come back
  Reason.IDLE_TIMEOUT, // our pings did not get through in time
  Reason.HANDSHAKE_TIMEOUT, // our Hello did not get through in time
  Reason.RATE_LIMITED, // back off, then go on
]);

const OPEN = 1;

class TimeoutError extends Error {
  override name = "TimeoutError";
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a connection that fails after its caller gave up: no noise
  return { promise, resolve, reject };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The encoded Tick inside a `ServerMessage{tick}` (skip the tag byte and the length varint). */
function tickBody(message: Uint8Array): Uint8Array {
  let pos = 1;
  while (message[pos] & 0x80) pos++;
  return message.subarray(pos + 1);
}

function terminal(exc: unknown): boolean {
  if (exc instanceof Kicked) return !RETRIED_KICKS.has(exc.reason) && exc.reason !== Reason.REDIRECT;
  return exc instanceof TickcastError; // a gap, a protocol violation by the server
}

/** One WebSocket of a Client: messages in, `Client` callbacks out. */
class Connection {
  readonly ws: WebSocketLike;
  readonly opened = deferred<void>();
  readonly welcome = deferred<PbWelcome>();
  readonly closed = deferred<void>();
  welcomed = false;
  isClosed = false;
  kick: Kicked | null = null;
  error: unknown = null;
  lastReceive = performance.now();

  constructor(
    private readonly client: Client,
    url: string,
    WebSocketClass: WebSocketConstructor,
  ) {
    const ws = new WebSocketClass(url);
    this.ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => this.opened.resolve();
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onerror = () => {
      if (this.error === null) this.error = new Error("WebSocket error");
    };
    ws.onclose = () => this.onClose();
  }

  send(data: Uint8Array): void {
    if (!this.isClosed && this.ws.readyState === OPEN) this.ws.send(data);
  }

  /** Cut the connection now (the client sees it as a drop). */
  abort(): void {
    const ws = this.ws as WebSocketLike & { terminate?: () => void };
    if (typeof ws.terminate === "function") ws.terminate(); // the `ws` package: no close handshake
    else ws.close();
    // a browser's close() waits for the server's close frame: the client is done with it now
    this.onClose();
  }

  private onMessage(data: unknown): void {
    if (this.isClosed) return;
    this.lastReceive = performance.now();
    try {
      if (!(data instanceof ArrayBuffer)) throw new RemoteProtocolError("a text message from the server");
      const bytes = new Uint8Array(data);
      const msg = fromBinary(ServerMessageSchema, bytes);
      switch (msg.body.case) {
        case "tick":
          this.client._onTick(this, msg.body.value, tickBody(bytes));
          break;
        case "pong":
          this.client._onPong(msg.body.value);
          break;
        case "welcome":
          // taken at once: ticks follow in the next messages
          this.client._onWelcome(this, msg.body.value);
          this.welcomed = true;
          this.welcome.resolve(msg.body.value);
          break;
        case "kick": {
          const k = msg.body.value;
          this.kick = kickError(k.reason, k.detail, k.redirect);
          this.abort();
          break;
        }
      }
    } catch (exc) {
      // a decode error, a gap: this connection is over
      this.error = exc;
      this.abort();
    }
  }

  private onClose(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const failure = this.failure();
    this.opened.reject(failure);
    this.welcome.reject(failure);
    this.closed.resolve();
  }

  /** Why this connection ended, as the error a caller would see. */
  failure(): unknown {
    if (this.kick !== null) return this.kick;
    if (this.error !== null) return this.error;
    return new Error("connection closed by the server");
  }
}

/**
 * A connection to one room that survives network drops. Use `connect()`.
 *
 * `send()` never blocks: while reconnecting, inputs wait and are sent (or
 * resent) after the next Welcome. `ticks()` yields every tick exactly once,
 * in order, across reconnects; it ends when the client leaves or closes, or
 * throws why it cannot go on (`Kicked`, `AuthFailed`, `ResumeUnavailable`,
 * `TickGap`, `ConnectionClosedError` after the reconnect attempts ran out).
 */
export class Client {
  readonly core: ClientCore;
  url: string;
  readonly reconnect: boolean;
  readonly connectTimeoutMs: number;
  readonly deadAfterMs: number;
  readonly pingIntervalMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly maxAttempts: number;
  readonly maxRedirects: number;
  /** Members as of `lastTick` (the last tick the application took), by slot. */
  readonly members = new Map<number, Member>();
  /** Number of the last tick the application took (0 before the first). */
  lastTick = 0;
  /** Round-trip time of the last Ping/Pong in milliseconds (null before the first). */
  rtt: number | null = null;
  /** The room's newest tick according to the last Pong. */
  serverTick = 0;
  /** Connections after the first that were welcomed (resumes). */
  reconnects = 0;
  /** Every Kick received, the retried ones too (for diagnostics). */
  readonly kicks: Kicked[] = [];

  private readonly WebSocketClass: WebSocketConstructor;
  /** Where we first connected (a load balancer, any cluster node): a redirect
   * moves `url` to the room's owner; if that node dies we come back here. */
  private readonly entryUrl: string;
  private conn: Connection | null = null;
  private queue: Tick[] = [];
  private waiter: (() => void) | null = null;
  private pingTimer: ReturnType<typeof setTimeout> | null = null;
  private done = false;
  private err: unknown = null;
  private leaving = false;
  private started = false;
  private runner: Promise<void> | null = null;

  constructor(options: ClientOptions) {
    this.core = new ClientCore(options.playerId, options);
    this.url = options.url;
    this.entryUrl = options.url;
    const ws = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (ws === undefined) throw new TickcastError("no WebSocket class: pass options.WebSocket");
    this.WebSocketClass = ws;
    this.reconnect = options.reconnect ?? true;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.deadAfterMs = options.deadAfterMs ?? 10000;
    this.pingIntervalMs = options.pingIntervalMs ?? 1000;
    this.backoffInitialMs = options.backoffInitialMs ?? 50;
    this.backoffMaxMs = options.backoffMaxMs ?? 2000;
    this.maxAttempts = options.maxAttempts ?? 12;
    this.maxRedirects = options.maxRedirects ?? 3;
  }

  // ------------------------------------------------------------ properties

  get playerId(): string { return this.core.playerId; }
  /** The room's name as the server reported it in Welcome. */
  get room(): string { return this.core.room; }
  /** This player's slot (0 for a spectator). */
  get slot(): number { return this.core.slot; }
  /** Ticks per second of the room. */
  get tickRate(): number { return this.core.tickRate; }
  get serverId(): string { return this.core.serverId; }
  /** The number of the first tick this client receives. */
  get firstTick(): number { return this.core.firstTick; }
  get spectator(): boolean { return this.core.spectator; }
  /** True while a welcomed connection is open. */
  get connected(): boolean {
    const c = this.conn;
    return c !== null && c.welcomed && !c.isClosed;
  }
  /** Inputs sent but not seen sequenced in a tick yet. */
  get pendingInputs(): number { return this.core.unacked.length; }
  /** The tick stream has ended (left, closed, or failed). */
  get closed(): boolean { return this.done; }
  /** Why the stream ended, if it ended with an error. */
  get error(): unknown { return this.err; }
  get state(): ClientState {
    if (this.done) return "closed";
    if (this.connected) return "connected";
    return this.core.welcomed ? "reconnecting" : "connecting";
  }

  // ------------------------------------------------------------ lifecycle

  /**
   * Connect and wait for the first Welcome (following redirects). If the
   * first WebSocket (to the entry URL) cannot be opened at all this throws at once (a wrong
   * address should fail loudly); later drops are resumed.
   */
  async start(): Promise<this> {
    if (this.started) throw new Error("client already started");
    this.started = true;
    const conn = await this.establish(null);
    for (const m of this.core.initialMembers) this.members.set(m.slot, m);
    this.runner = this.run(conn);
    return this;
  }

  /** End the client; with `leave` send Leave first so the slot is freed at once. */
  async close(leave = true): Promise<void> {
    if (leave && !this.done) await this.leave();
    this.finish(null);
    if (this.runner !== null) await this.runner.catch(() => {});
  }

  /** Leave the room now: the server announces it in the next tick and closes the connection. */
  async leave(timeoutMs = 2000): Promise<void> {
    if (this.done || this.leaving) return;
    this.leaving = true;
    const conn = this.conn;
    if (conn !== null && this.connected) {
      conn.send(encodeClient({ body: { case: "leave", value: {} } }));
      try {
        await withTimeout(conn.closed.promise, timeoutMs, "leave");
      } catch {
        conn.abort();
      }
    }
    this.finish(null);
  }

  /** Cut the current connection as a network failure would: the client resumes by itself. */
  dropConnection(): void {
    const conn = this.conn;
    if (conn !== null && !conn.isClosed) {
      conn.error = new Error("connection dropped by the application");
      conn.abort();
    }
  }

  // ------------------------------------------------------------ application API

  /**
   * Send one input (bytes, or a string sent as UTF-8); returns its seq. Never
   * blocks: while reconnecting the input waits, and it is applied exactly once.
   */
  send(payload: Uint8Array | string): number {
    if (this.done) throw new ConnectionClosedError("the client is closed");
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    const [seq, message] = this.core.nextInput(bytes);
    const conn = this.conn;
    if (conn !== null && conn.welcomed) conn.send(message);
    return seq;
  }

  /** Report the hash of the simulation state after `tick` (best effort: dropped while disconnected). */
  sendStateHash(tick: number, digest: Uint8Array): void {
    if (this.conn !== null && this.connected) {
      this.conn.send(encodeClient({ body: { case: "stateHash", value: { tick: BigInt(tick), hash: digest } } }));
    }
  }

  /** Tell the server the highest tick fully processed (optional). */
  sendAck(tick: number): void {
    if (this.conn !== null && this.connected) {
      this.conn.send(encodeClient({ body: { case: "ack", value: { tick: BigInt(tick) } } }));
    }
  }

  /** The tick stream: `for await (const tick of client.ticks()) ...`. */
  ticks(): AsyncIterableIterator<Tick> {
    const it: AsyncIterableIterator<Tick> = {
      next: () => this.nextTick(),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Tick> {
    return this.ticks();
  }

  /**
   * Every tick received and not yet taken, without waiting (for a game's own
   * frame loop). Throws the stream's error once it is drained.
   */
  ticksNowait(): Tick[] {
    const out = this.queue;
    this.queue = [];
    for (const t of out) this.took(t);
    if (!out.length && this.done && this.err !== null) throw this.err;
    return out;
  }

  private async nextTick(): Promise<IteratorResult<Tick>> {
    while (!this.queue.length) {
      if (this.done) {
        if (this.err !== null) throw this.err;
        return { done: true, value: undefined };
      }
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    const tick = this.queue.shift()!;
    this.took(tick);
    return { done: false, value: tick };
  }

  private took(tick: Tick): void {
    this.lastTick = tick.number;
    for (const m of tick.joined) this.members.set(m.slot, m);
    for (const m of tick.left) this.members.delete(m.slot);
  }

  // ------------------------------------------------------------ connections

  /** Watch the connection; on a drop reconnect and resume until told to stop. */
  private async run(conn: Connection): Promise<void> {
    try {
      for (;;) {
        await conn.closed.promise;
        if (this.conn === conn) this.conn = null;
        if (this.done) return;
        const failure = conn.failure();
        if (failure instanceof Kicked) this.kicks.push(failure);
        if (this.leaving) return this.finish(null);
        if (terminal(failure) || !this.reconnect) return this.finish(failure);
        conn = await this.establish(failure);
        this.reconnects++;
      }
    } catch (exc) {
      this.finish(exc);
    }
  }

  /**
   * A welcomed connection: the first one (`failure` null) or a reconnect after
   * `failure`, with exponential backoff and jitter between attempts.
   */
  private async establish(failure: unknown): Promise<Connection> {
    const first = failure === null;
    let attempt = 0;
    let redirects = 0;
    for (;;) {
      if (failure instanceof Kicked && failure.reason === Reason.REDIRECT) {
        if (redirects >= this.maxRedirects) throw failure;
        redirects++;
        const u = new URL(this.url);
        u.host = failure.redirect;
        this.url = u.toString();
      } else if (failure !== null) {
        if (!(failure instanceof Kicked) && this.url !== this.entryUrl) {
          // the node a redirect sent us to is gone: ask the entry point again
          this.url = this.entryUrl;
          redirects = 0;
        }
        if (attempt >= this.maxAttempts) {
          const why = failure instanceof Error ? failure.message : String(failure);
          throw new ConnectionClosedError(`gave up after ${attempt} reconnect attempts: ${why}`);
        }
        const delay = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** attempt);
        attempt++;
        await sleep(delay / 2 + (Math.random() * delay) / 2); // jitter
      }
      if (this.done) throw new ConnectionClosedError("the client is closed");
      const conn = new Connection(this, this.url, this.WebSocketClass);
      this.conn = conn;
      try {
        await withTimeout(conn.opened.promise, this.connectTimeoutMs, "connect");
      } catch (exc) {
        conn.abort();
        if (this.conn === conn) this.conn = null;
        // nothing listens where we were told to connect: say so at once; a redirect
        // target that is gone sends us back to the entry point instead
        if (first && this.url === this.entryUrl) throw exc;
        failure = exc;
        continue;
      }
      try {
        conn.send(this.core.helloMessage());
        await withTimeout(conn.welcome.promise, this.connectTimeoutMs, "handshake");
      } catch (exc) {
        conn.abort();
        if (this.conn === conn) this.conn = null;
        if (exc instanceof Kicked) this.kicks.push(exc);
        if (terminal(exc)) throw exc;
        failure = exc;
        continue;
      }
      if (this.done) {
        conn.abort();
        throw new ConnectionClosedError("the client is closed");
      }
      this.armPing();
      return conn;
    }
  }

  private finish(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.err = error;
    if (this.pingTimer !== null) clearTimeout(this.pingTimer);
    this.pingTimer = null;
    this.conn?.abort();
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  // ------------------------------------------------------------ callbacks (from Connection)

  /** @internal */
  _onWelcome(conn: Connection, welcome: PbWelcome): void {
    if (conn !== this.conn || conn.welcomed) throw new RemoteProtocolError("unexpected Welcome");
    for (const message of this.core.onWelcome(welcome)) conn.send(message);
  }

  /** @internal */
  _onTick(conn: Connection, tick: PbTick, raw: Uint8Array): void {
    if (conn !== this.conn) return;
    const ticks = this.core.onTick(tick, raw);
    if (ticks.length) {
      for (const t of ticks) this.queue.push(t);
      this.wake();
    }
  }

  /** @internal */
  _onPong(pong: PbPong): void {
    this.rtt = performance.now() - Number(pong.nonce) / 1000;
    this.serverTick = Number(pong.tick);
  }

  private armPing(): void {
    if (this.pingTimer === null && !this.done) {
      this.pingTimer = setTimeout(() => this.ping(), this.pingIntervalMs);
    }
  }

  /**
   * Every `pingIntervalMs`: measure rtt, keep the server's idle timeout away,
   * and cut a connection that has been silent for `deadAfterMs`.
   */
  private ping(): void {
    this.pingTimer = null;
    if (this.done) return;
    const conn = this.conn;
    if (conn !== null && conn.welcomed && !conn.isClosed) {
      if (performance.now() - conn.lastReceive > this.deadAfterMs) {
        conn.error = new TimeoutError(`nothing received for ${this.deadAfterMs} ms`);
        conn.abort();
      } else {
        const nonce = BigInt(Math.floor(performance.now() * 1000)); // microseconds
        conn.send(encodeClient({ body: { case: "ping", value: { nonce } } }));
      }
    }
    this.armPing();
  }
}

/** A started client for one room: `await connect({url, playerId, room})`. */
export function connect(options: ClientOptions): Promise<Client> {
  return new Client(options).start();
}
