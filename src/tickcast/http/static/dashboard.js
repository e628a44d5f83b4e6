// The dashboard: reads /dashboard/events (server-sent events, read with fetch so an
// admin token can go in the Authorization header) and draws the numbers. No build step.
// The feed answers whom the admin API answers: with a token configured, only with it.
const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("tickcast-admin-token") || "", admin: false, history: [], abort: null, wake: null };
window.tickcastDashboard = state; // for the browser tests
$("token").value = state.token;
$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("tickcast-admin-token", state.token);
  state.abort?.abort(); // reconnect with the token
  state.wake?.(); // or stop waiting for one
});

const headers = () => (state.token ? { Authorization: `Bearer ${state.token}` } : {});
const fmt = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)}k` : String(n));
const cell = (text, cls) => {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
};

/** Why the feed refused us, shown where the health goes; the seconds to wait. */
async function refused(res) {
  const body = await res.json().catch(() => ({}));
  const why = body.error ?? `HTTP ${res.status}`;
  $("health").className = "bad";
  if (res.status === 401) {
    $("health").textContent = "the admin token is required";
    $("admin").textContent = "no: enter the admin token";
    return 30; // or until the token form is used
  }
  $("health").textContent = why;
  $("admin").textContent = res.status === 403 ? "no" : $("admin").textContent;
  return Math.max(1, Number(res.headers.get("Retry-After")) || 10);
}

async function follow() {
  for (;;) {
    const ctrl = new AbortController();
    state.abort = ctrl;
    let wait = 2;
    try {
      const res = await fetch("/dashboard/events", { headers: headers(), signal: ctrl.signal, cache: "no-store" });
      if (!res.ok) {
        wait = await refused(res);
        await new Promise((r) => { state.wake = r; setTimeout(r, wait * 1000); });
        state.wake = null;
        continue;
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) onEvent(event, JSON.parse(data));
        }
      }
    } catch (e) {
      if (e.name !== "AbortError") console.warn("feed", e);
    }
    $("health").textContent = "unreachable: retrying";
    $("health").className = "bad";
    await new Promise((r) => setTimeout(r, ctrl.signal.aborted ? 0 : wait * 1000));
  }
}

function onEvent(event, data) {
  if (event === "hello") {
    state.admin = data.admin;
    state.history = data.history;
    $("admin").textContent = data.admin
      ? data.token_configured ? "yes (token accepted)" : "yes (loopback, no token configured)"
      : data.token_configured ? "no: enter the admin token" : "no: loopback only";
    $("rooms-help").textContent = data.admin ? "" : "player ids and admin actions need admin access";
  } else if (event === "sample") {
    state.history.push(data.point);
    if (state.history.length > 300) state.history.shift();
    state.last = data;
    render(data);
  }
}

function render(s) {
  const problems = s.health.problems ?? [];
  $("health").textContent = problems.length ? `not ready: ${problems.join("; ")}` : "ok";
  $("health").className = problems.length ? "bad" : "ok";
  $("version").textContent = s.health.version;
  $("server-id").textContent = s.health.server_id;
  $("tcp").textContent = s.health.tcp;
  const byTransport = Object.entries(s.connections_by_transport).map(([t, n]) => `${t} ${n}`).join(", ");
  $("s-connections").textContent = s.point.connections;
  $("s-connections").title = byTransport;
  $("s-rooms").textContent = s.rooms_count;
  $("s-members").textContent = s.members;
  $("s-spectators").textContent = s.spectators;
  const h = state.history;
  chart($("c-connections"), [h.map((p) => p.connections)]);
  chart($("c-inputs"), [h.map((p) => p.inputs_per_s)]);
  chart($("c-bytes"), [h.map((p) => p.bytes_out_per_s), h.map((p) => p.bytes_in_per_s)]);
  chart($("c-tick"), [h.map((p) => p.tick_ms)]);
  $("v-connections").textContent = s.point.connections;
  $("v-inputs").textContent = s.point.inputs_per_s;
  $("v-bytes").textContent = `${fmt(s.point.bytes_out_per_s)} · ${fmt(s.point.bytes_in_per_s)}`;
  $("v-tick").textContent = s.point.tick_ms.toFixed(3);
  const kicks = Object.entries(s.kicks);
  $("kicks").tBodies[0].replaceChildren(...(kicks.length
    ? kicks.map(([reason, n]) => {
      const tr = document.createElement("tr");
      tr.append(cell(reason === "UNSPECIFIED" ? "UNSPECIFIED (operator, internal error)" : reason), cell(String(n), "num"));
      return tr;
    })
    : [(() => { const tr = document.createElement("tr"); tr.append(cell("none", "muted")); return tr; })()]));
  const rows = [];
  for (const r of s.rooms) {
    const tr = document.createElement("tr");
    tr.className = "room";
    tr.dataset.room = r.name;
    tr.append(cell(r.name), cell(String(r.members), "num"), cell(String(r.spectators), "num"), cell(String(r.tick), "num"),
      cell(String(r.inputs_per_s), "num"), cell(fmt(r.bytes_out_per_s), "num"), cell(fmt(r.queue_max_bytes), "num"),
      cell(fmt(r.queue_total_bytes), "num"));
    const actions = document.createElement("td");
    if (state.admin) actions.append(button("close room", () => act("DELETE", `/api/rooms/${encodeURIComponent(r.name)}`)));
    tr.append(actions);
    rows.push(tr);
    for (const p of r.players ?? []) {
      const pr = document.createElement("tr");
      pr.className = "player";
      pr.dataset.player = p.player_id;
      const conn = p.connection;
      pr.append(cell(`  ↳ ${p.player_id}`), cell(`slot ${p.slot}`, "num"), cell(p.connected ? conn.transport : "away", p.connected ? "ok" : "bad"),
        cell(`seq ${p.last_seq}`, "num"), cell(""), cell(""), cell(conn ? fmt(conn.queue_bytes) : "", "num"), cell(""));
      const act2 = document.createElement("td");
      if (state.admin && p.connected) {
        act2.append(button("kick", () => act("POST", `/api/rooms/${encodeURIComponent(r.name)}/players/${encodeURIComponent(p.player_id)}/kick`)));
      }
      pr.append(act2);
      rows.push(pr);
    }
  }
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.append(cell("no rooms yet: open the demo", "muted"));
    rows.push(tr);
  }
  $("rooms").tBodies[0].replaceChildren(...rows);
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.className = "danger";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

async function act(method, path) {
  // a header no web form can send: the server refuses state changes without one
  const res = await fetch(path, { method, headers: { ...headers(), "X-Tickcast-Admin": "1" } });
  const body = await res.json().catch(() => ({}));
  $("action-result").textContent = `${method} ${path}: ${res.status} ${JSON.stringify(body)}`;
}

/** A line chart of one or more series (the newest sample on the right). */
function chart(canvas, series) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const top = Math.max(0, ...series.flat());
  const max = top > 0 ? top : 1; // an empty or all-zero chart: a flat line at 0
  ctx.fillStyle = "#8796a5";
  ctx.font = "11px sans-serif";
  ctx.fillText(top > 0 ? fmt(+top.toPrecision(3)) : "0", 2, 11);
  ctx.strokeStyle = "#26303a";
  ctx.beginPath(); ctx.moveTo(0, h - 0.5); ctx.lineTo(w, h - 0.5); ctx.stroke();
  const colors = ["#5fb3ff", "#f5c518"];
  series.forEach((values, k) => {
    if (values.length < 2) return;
    const step = w / Math.max(59, values.length - 1);
    const x0 = w - step * (values.length - 1);
    ctx.strokeStyle = colors[k];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    values.forEach((v, i) => {
      const x = x0 + i * step, y = h - 2 - (v / max) * (h - 16);
      i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke();
  });
}

follow();
