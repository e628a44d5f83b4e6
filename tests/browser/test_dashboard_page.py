"""The dashboard page's papercuts (issue 19), in a real Chromium against a fresh
`tickcast serve`: no request of the page fails (there was a 404 for
/favicon.ico on every load), and empty charts are labelled 0 (they showed a
`1e-9` axis)."""

from __future__ import annotations

from typing import Any

from .conftest import serve
from .test_demo import WAIT_MS

RECORD_CHART_TEXT = """
window.__chartText = [];
const fillText = CanvasRenderingContext2D.prototype.fillText;
CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
  window.__chartText.push(String(text));
  return fillText.call(this, text, ...rest);
};
"""


def test_an_idle_dashboard_loads_cleanly_and_labels_empty_charts_0(browser: Any) -> None:
    with serve() as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        failed: list[str] = []
        page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
        page.on("requestfailed", lambda r: failed.append(f"failed {r.url}"))
        page.add_init_script(RECORD_CHART_TEXT)
        try:
            page.goto(f"{server.http}/")
            page.wait_for_function(
                "window.tickcastDashboard.history.length >= 3", timeout=WAIT_MS
            )
            texts = page.evaluate("window.__chartText")
            assert texts and all(t == "0" for t in texts), texts  # nothing happens: 0
            icon = page.evaluate(
                "fetch('/favicon.ico').then(r => [r.status, r.headers.get('content-type')])"
            )
            assert icon == [200, "image/svg+xml"]
            assert failed == []
        finally:
            page.close()
