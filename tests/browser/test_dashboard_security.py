"""Cross-site requests from a real Chromium (issue 15, item 2).

The operator has the dashboard's server on loopback and opens another site's
page: here a page served from another local port (a dev server, a malicious
package's page), the most a browser lets reach 127.0.0.1 without asking. Its
script tries what issue 15 reproduced: a `no-cors` POST and a form POST that
kick a player, a CORS request with the admin header, and reading the config.
Nothing of it may work; the dashboard's own buttons keep working (test_demo).
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import ServerProcess
from .test_demo import WAIT_MS, demo, open_demo

EVIL_PAGE = b"""<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="f" method="POST" target="sink"><input name="x" value="1"></form>
</body></html>"""

ATTACK = """async (kick) => {
  const out = {};
  out.no_cors = await fetch(kick, { method: "POST", mode: "no-cors", body: "x" })
    .then((r) => r.type, (e) => "error: " + e);
  out.cors_with_header = await fetch(kick, { method: "POST", headers: { "X-Tickcast-Admin": "1" } })
    .then((r) => r.status, () => "blocked");
  out.read_config = await fetch(kick.split("/api/")[0] + "/api/server")
    .then((r) => r.text(), () => "blocked");
  const form = document.getElementById("f");
  form.action = kick;
  const sink = document.getElementById("sink");
  const loaded = new Promise((r) => sink.addEventListener("load", r, { once: true }));
  form.submit();
  await loaded;
  out.form = "submitted";
  return out;
}"""


@pytest.fixture
def evil_origin() -> Iterator[str]:
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(EVIL_PAGE)))
            self.end_headers()
            self.wfile.write(EVIL_PAGE)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def room_players(server: ServerProcess, room: str) -> dict[str, bool]:
    with urllib.request.urlopen(f"{server.http}/api/rooms/{room}", timeout=10) as r:
        return {p["player_id"]: p["connected"] for p in json.load(r)["players"]}


def refused(server: ServerProcess) -> dict[str, float]:
    with urllib.request.urlopen(f"{server.http}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith('tickcast_http_refused_total{reason="'):
            reason = line.split('"')[1]
            out[reason] = float(line.rsplit(" ", 1)[1])
    return out


def test_a_page_of_another_origin_cannot_kick_or_read(
    browser: Any, tickcast_server: ServerProcess, evil_origin: str
) -> None:
    victim = open_demo(browser, tickcast_server, "csrf-room", "victim")
    evil = browser.new_page()
    try:
        before = refused(tickcast_server)
        evil.goto(f"{evil_origin}/")
        kick = f"{tickcast_server.http}/api/rooms/csrf-room/players/victim/kick"
        out = evil.evaluate(ATTACK, kick)
        # what the browser let through reached the server and was refused there
        assert out["no_cors"] == "opaque" and out["form"] == "submitted"
        assert out["cors_with_header"] == "blocked"  # no preflight is granted
        assert out["read_config"] == "blocked"
        # the player was not kicked
        tick = demo(victim, "tick")
        victim.wait_for_function(f"window.tickcastDemo.tick > {tick + 10}", timeout=WAIT_MS)
        assert demo(victim, "error") is None
        assert victim.locator("#state").inner_text() == "connected"
        assert room_players(tickcast_server, "csrf-room") == {"victim": True}
        after = refused(tickcast_server)
        assert after["origin"] - before.get("origin", 0) == 2  # the no-cors POST, the form
    finally:
        evil.close()
        victim.close(run_before_unload=True)
