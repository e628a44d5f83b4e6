// The arena demo: the example game of examples/arena on the JS client, in a canvas.
// Query parameters: room (default "arena"), player (default: one per tab), spectator=1.
import { Arena, HEIGHT, WIDTH, connect, hex, ResumeUnavailable } from "/static/tickcast-client.js";

const params = new URLSearchParams(location.search);
const room = params.get("room") || "arena";
const spectator = params.get("spectator") === "1";
// one player id per tab: a reload resumes the same player, a new tab is a new player
let player = params.get("player") || sessionStorage.getItem("tickcast-demo-player");
if (!player) {
  player = `${spectator ? "eye" : "p"}-${Math.random().toString(36).slice(2, 7)}`;
  sessionStorage.setItem("tickcast-demo-player", player);
}
const KEEP_HASHES = 6000; // hashes by tick kept for inspection (5 minutes at 20 ticks/s)
const HASH_EVERY = 10; // ticks between StateHash reports (the server compares them)
const KEYS = { ArrowUp: "U", ArrowDown: "D", ArrowLeft: "L", ArrowRight: "R", w: "U", s: "D", a: "L", d: "R" };
const COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"];

const $ = (id) => document.getElementById(id);
const link = (extra) => `/demo?${new URLSearchParams({ room, ...extra })}`;
const fresh = () => Math.random().toString(36).slice(2, 7);
function refreshLinks() {
  // a new player (or spectator) id per click: two tabs with one id would replace each other
  $("second-tab").href = link({ player: `p-${fresh()}` });
  $("spectate").href = link({ spectator: "1", player: `eye-${fresh()}` });
}
refreshLinks();
for (const id of ["second-tab", "spectate"]) $(id).addEventListener("click", () => setTimeout(refreshLinks));
$("new-room").href = `/demo?room=arena-${Math.random().toString(36).slice(2, 6)}`;
$("player").textContent = spectator ? `${player} (spectator)` : player;
$("room").textContent = room;
if (spectator) $("drop").textContent = "drop my connection (spectator)";

function say(text) {
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $("log").prepend(li);
  while ($("log").children.length > 12) $("log").lastChild.remove();
}

// what the browser tests read: every state hash by tick, and the live numbers
const demo = { arena: null, player, room, spectator, slot: 0, tick: 0, hash: "", hashes: {}, inputsApplied: {}, pending: 0, desyncs: [], error: null, reconnects: 0 };
window.tickcastDemo = demo;

const arena = new Arena();
demo.arena = arena;
const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
let client;
try {
  // the simulation must start from the room's first tick: full history
  client = await connect({ url, playerId: player, room, spectator, fullHistory: true });
} catch (e) {
  fail(e);
  throw e;
}
demo.slot = client.slot;
$("slot").textContent = spectator ? "none (watching)" : String(client.slot);
say(`joined ${client.room} at ${client.tickRate} ticks/s`);

function fail(e) {
  demo.error = String(e?.message ?? e);
  $("state").textContent = "closed";
  const why = e instanceof ResumeUnavailable
    ? "this room is older than the server keeps history for; start a new room"
    : demo.error;
  say(`stopped: ${why}`);
}

document.addEventListener("keydown", (ev) => {
  const move = KEYS[ev.key];
  if (!move || spectator || client.closed) return;
  ev.preventDefault();
  client.send(move);
});
// closing the tab leaves at once (a Leave message), so the slot does not wait out its grace
addEventListener("pagehide", () => client.leave());
$("drop").addEventListener("click", () => {
  client.dropConnection();
  say("connection dropped: resuming");
});

// apply ticks as they arrive (also in a background tab, where animation frames stop)
(async () => {
  try {
    for await (const tick of client.ticks()) {
      arena.apply(tick);
      for (const i of tick.inputs) demo.inputsApplied[i.slot] = (demo.inputsApplied[i.slot] ?? 0) + 1;
      const h = hex(arena.stateHash());
      demo.tick = tick.number;
      demo.hash = h;
      demo.hashes[tick.number] = h;
      delete demo.hashes[tick.number - KEEP_HASHES];
      if (tick.number % HASH_EVERY === 0 && !spectator) client.sendStateHash(tick.number, arena.stateHash());
      for (const m of tick.joined) say(`${m.playerId} joined (slot ${m.slot})`);
      for (const m of tick.left) say(`${m.playerId || "slot " + m.slot} left`);
      for (const d of tick.desyncs) {
        demo.desyncs.push(d);
        say(`desync at tick ${d.tick}: slots ${d.slots.join(", ")}`);
      }
    }
    fail(new Error("left the room"));
  } catch (e) {
    fail(e);
  }
})();

let lastReconnects = 0;
const canvas = $("arena");
const ctx = canvas.getContext("2d");
function draw() {
  const cw = canvas.width / WIDTH;
  const ch = canvas.height / HEIGHT;
  ctx.fillStyle = "#101418";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#1f2830";
  for (let x = 0; x <= WIDTH; x++) { ctx.beginPath(); ctx.moveTo(x * cw, 0); ctx.lineTo(x * cw, canvas.height); ctx.stroke(); }
  for (let y = 0; y <= HEIGHT; y++) { ctx.beginPath(); ctx.moveTo(0, y * ch); ctx.lineTo(canvas.width, y * ch); ctx.stroke(); }
  ctx.fillStyle = "#f5c518";
  for (const [x, y] of arena.coins) {
    ctx.beginPath(); ctx.arc((x + 0.5) * cw, (y + 0.5) * ch, Math.min(cw, ch) * 0.22, 0, 2 * Math.PI); ctx.fill();
  }
  ctx.font = `${Math.floor(ch * 0.45)}px sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (const [slot, p] of arena.players) {
    ctx.fillStyle = COLORS[slot % COLORS.length];
    ctx.fillRect(p.x * cw + 4, p.y * ch + 4, cw - 8, ch - 8);
    if (slot === client.slot) { ctx.strokeStyle = "#fff"; ctx.lineWidth = 3; ctx.strokeRect(p.x * cw + 3, p.y * ch + 3, cw - 6, ch - 6); ctx.lineWidth = 1; }
    ctx.fillStyle = "#fff";
    ctx.fillText(String(slot), (p.x + 0.5) * cw, (p.y + 0.5) * ch);
  }
  $("tick").textContent = String(demo.tick);
  $("hash").textContent = demo.hash ? `${demo.hash.slice(0, 16)}…` : "-";
  $("hash").title = demo.hash;
  $("state").textContent = client.state;
  $("state").className = client.state;
  $("rtt").textContent = client.rtt === null ? "-" : `${client.rtt.toFixed(1)} ms`;
  $("reconnects").textContent = String(client.reconnects);
  $("pending").textContent = String(client.pendingInputs);
  demo.reconnects = client.reconnects;
  demo.pending = client.pendingInputs;
  if (client.reconnects !== lastReconnects) {
    lastReconnects = client.reconnects;
    say(`resumed after tick ${client.lastTick} (${client.core.resentInputs} inputs resent so far)`);
  }
  const names = new Map([...client.members.values()].map((m) => [m.slot, m.playerId]));
  const rows = [...arena.players].sort((a, b) => b[1].score - a[1].score);
  $("scores").replaceChildren(...rows.map(([slot, p]) => {
    const li = document.createElement("li");
    li.style.color = COLORS[slot % COLORS.length];
    li.textContent = `${names.get(slot) ?? "slot " + slot}: ${p.score}`;
    return li;
  }));
  if (!client.closed) requestAnimationFrame(draw);
}
requestAnimationFrame(draw);
