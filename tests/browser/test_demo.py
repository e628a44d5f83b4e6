"""The demo game and the dashboard in a real Chromium, against `tickcast serve`.

Two pages are two players of the arena (the JS port of examples/arena/arena.py);
they play with scripted key presses and must end with equal state hashes, equal
to what the Python arena computes from the same ticks; the "drop my connection"
button resumes without divergence or a lost input; the dashboard shows the
players and their room. Screenshots of both pages are saved to the artifacts dir.
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import tickcast

from .conftest import REPO, ServerProcess, serve

sys.path.insert(0, str(REPO / "examples" / "arena"))
from arena import Arena  # noqa: E402

WAIT_MS = 30_000
MOVES_A = ["ArrowRight", "ArrowDown", "d", "s", "ArrowLeft", "ArrowUp", "ArrowRight", "s"]
MOVES_B = ["ArrowLeft", "w", "ArrowUp", "a", "ArrowDown", "d", "ArrowLeft", "ArrowDown"]


def open_demo(
    browser: Any, server: ServerProcess, room: str, player: str, spectator: bool = False
) -> Any:
    page = browser.new_page(viewport={"width": 1100, "height": 640})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    watch = "&spectator=1" if spectator else ""
    page.goto(f"{server.http}/demo?room={room}&player={player}{watch}")
    page.wait_for_function("window.tickcastDemo && window.tickcastDemo.tick > 0", timeout=WAIT_MS)
    page.js_errors = errors
    return page


def demo(page: Any, expr: str) -> Any:
    return page.evaluate(f"window.tickcastDemo.{expr}")


def play(pages_and_moves: list[tuple[Any, list[str]]], rounds: int) -> dict[int, int]:
    """Press keys round by round; returns the presses per player slot."""
    presses: dict[int, int] = {}
    for r in range(rounds):
        for page, moves in pages_and_moves:
            page.keyboard.press(moves[r % len(moves)])
            slot = demo(page, "slot")
            presses[slot] = presses.get(slot, 0) + 1
        pages_and_moves[0][0].wait_for_timeout(60)
    return presses


def settle(pages: list[Any]) -> int:
    """Wait until every input was sequenced, then until all pages applied a common
    later tick; returns that tick."""
    for page in pages:
        page.wait_for_function("window.tickcastDemo.pending === 0", timeout=WAIT_MS)
    target = max(demo(p, "tick") for p in pages) + 5
    for page in pages:
        page.wait_for_function(f"window.tickcastDemo.tick >= {target}", timeout=WAIT_MS)
    return target


def python_hash_at(server: ServerProcess, room: str, number: int) -> str:
    """The Python arena's state hash after tick `number` of `room` (a spectator)."""

    async def watch() -> str:
        async with tickcast.connect(
            server.tcp_host, server.tcp_port, player_id="py-eye", room=room,
            spectator=True, full_history=True,
        ) as c:
            arena = Arena()
            async for tick in c.ticks():
                arena.apply(tick)
                if tick.number == number:
                    return arena.state_hash().hex()
        raise AssertionError("the tick stream ended early")

    # Playwright's sync API keeps an event loop in this thread: run ours in another one
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(watch(), 30)).result()


def test_two_pages_play_and_agree(browser: Any, tickcast_server: ServerProcess, artifacts: Path):
    a = open_demo(browser, tickcast_server, "play", "alice")
    b = open_demo(browser, tickcast_server, "play", "bob")
    eye = open_demo(browser, tickcast_server, "play", "eve", spectator=True)
    try:
        presses = play([(a, MOVES_A), (b, MOVES_B)], rounds=24)
        eye.keyboard.press("ArrowUp")  # a spectator's keys send nothing
        target = settle([a, b, eye])
        hash_a = demo(a, f"hashes[{target}]")
        hash_b = demo(b, f"hashes[{target}]")
        assert hash_a and hash_a == hash_b == demo(eye, f"hashes[{target}]")
        assert hash_a == python_hash_at(tickcast_server, "play", target)
        assert demo(eye, "slot") == 0
        assert "spectator" in eye.locator("#player").inner_text()
        # every key press was applied exactly once, by every page
        for page in (a, b, eye):
            applied = {int(k): v for k, v in demo(page, "inputsApplied").items()}
            assert applied == presses
            assert demo(page, "desyncs.length") == 0
        # the page shows the hash it computed
        # the page shows the hash of the tick it shows (both are set in one frame)
        shown_tick, shown_hash = a.evaluate(
            "[document.getElementById('tick').textContent,"
            " document.getElementById('hash').title]"
        )
        assert shown_hash == demo(a, f"hashes[{int(shown_tick)}]")
        a.screenshot(path=str(artifacts / "demo.png"))
        assert a.js_errors == b.js_errors == eye.js_errors == []
    finally:
        a.close(run_before_unload=True)
        b.close(run_before_unload=True)
        eye.close(run_before_unload=True)


def test_drop_button_resumes_without_divergence(browser: Any, tickcast_server: ServerProcess):
    a = open_demo(browser, tickcast_server, "drop", "carol")
    b = open_demo(browser, tickcast_server, "drop", "dave")
    try:
        presses = play([(a, MOVES_A), (b, MOVES_B)], rounds=6)
        for _ in range(3):
            before = demo(a, "reconnects")
            a.click("#drop")
            # keys pressed while the connection is down wait and are sent after the resume
            more = play([(a, MOVES_A), (b, MOVES_B)], rounds=4)
            for slot, n in more.items():
                presses[slot] += n
            a.wait_for_function(f"window.tickcastDemo.reconnects > {before}", timeout=WAIT_MS)
        target = settle([a, b])
        assert demo(a, f"hashes[{target}]") == demo(b, f"hashes[{target}]")
        for page in (a, b):
            applied = {int(k): v for k, v in demo(page, "inputsApplied").items()}
            assert applied == presses
            assert demo(page, "desyncs.length") == 0
        # gap-free: a hash for every tick since the page's first
        ticks = sorted(int(k) for k in demo(a, "hashes"))
        assert ticks == list(range(ticks[0], ticks[-1] + 1))
        assert a.locator("#state").inner_text() == "connected"
        assert a.js_errors == [] and b.js_errors == []
    finally:
        a.close(run_before_unload=True)
        b.close(run_before_unload=True)


def test_dashboard_shows_the_players_and_their_room(
    browser: Any, tickcast_server: ServerProcess, artifacts: Path
):
    a = open_demo(browser, tickcast_server, "lobby-demo", "erin")
    b = open_demo(browser, tickcast_server, "lobby-demo", "frank")
    dash = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        play([(a, MOVES_A), (b, MOVES_B)], rounds=10)
        dash.goto(f"{tickcast_server.http}/")
        room = dash.locator('tr.room[data-room="lobby-demo"]')
        room.wait_for(timeout=WAIT_MS)
        for player in ("erin", "frank"):
            dash.locator(f'tr.player[data-player="{player}"]').wait_for(timeout=WAIT_MS)
        assert room.locator("td").nth(1).inner_text() == "2"  # members
        assert dash.locator("#health").inner_text() == "ok"
        # a few samples so the charts have lines, while the players keep moving
        play([(a, MOVES_A), (b, MOVES_B)], rounds=30)
        dash.wait_for_function("window.tickcastDashboard.history.length >= 6", timeout=WAIT_MS)
        dash.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    finally:
        dash.close()
        a.close(run_before_unload=True)
        b.close(run_before_unload=True)


def test_dashboard_admin_actions_need_the_token(browser: Any, tmp_path: Path):
    """Without the token: nothing of the rooms (their names can be private join
    codes). With it: kick a player, then close the room."""
    token_file = tmp_path / "admin-token"
    token_file.write_text("s3cret-admin\n")
    # a kicked player keeps its slot for the reconnect grace: a short one
    with serve("--admin-token-file", str(token_file), "--reconnect-grace", "1") as server:
        a = open_demo(browser, server, "guarded", "gina")
        b = open_demo(browser, server, "guarded", "hank")
        dash = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            dash.goto(f"{server.http}/")
            # without the token: the feed is refused, no room is named
            dash.wait_for_function(
                "document.getElementById('admin').textContent.includes('enter the admin token')",
                timeout=WAIT_MS,
            )
            assert "admin token is required" in dash.locator("#health").inner_text()
            assert dash.locator("tr.room").count() == 0
            assert "guarded" not in dash.content()
            dash.fill("#token", "s3cret-admin")
            dash.click("#token-form button")
            room = dash.locator('tr.room[data-room="guarded"]')
            room.wait_for(timeout=WAIT_MS)
            assert room.locator("td").nth(1).inner_text() == "2"
            kick = dash.locator('tr.player[data-player="hank"] button')
            kick.wait_for(timeout=WAIT_MS)
            kick.click()
            # an operator's kick ends that player's game (not retried), the other plays on
            b.wait_for_function("window.tickcastDemo.error !== null", timeout=WAIT_MS)
            assert "kicked" in demo(b, "error")
            assert b.locator("#state").inner_text() == "closed"
            a.wait_for_function("window.tickcastDemo.arena.players.size === 1", timeout=WAIT_MS)
            dash.locator('tr.player[data-player="hank"]').wait_for(
                state="detached", timeout=WAIT_MS
            )
            assert a.locator("#state").inner_text() == "connected"
            # close the room: its last player gets Kick{ROOM_CLOSED}, the room is gone
            room.locator("button.danger").click()
            a.wait_for_function("window.tickcastDemo.error !== null", timeout=WAIT_MS)
            assert "ROOM_CLOSED" in demo(a, "error")
            assert a.locator("#state").inner_text() == "closed"
            room.wait_for(state="detached", timeout=WAIT_MS)
            assert "DELETE /api/rooms/guarded: 200" in dash.locator("#action-result").inner_text()
            assert a.js_errors == []
        finally:
            dash.close()
            a.close(run_before_unload=True)
            b.close(run_before_unload=True)
