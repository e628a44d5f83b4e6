"""The memory budget (`tickcast.budget`): docs/security.md shows the table the code
computes, and a client whose Pongs are not read cannot grow its queue past the
budget when its room sends no live ticks (before, only a live tick's fan-out
checked the budget, so Pongs grew the queue without end)."""

from __future__ import annotations

from pathlib import Path

from tickcast import budget
from tickcast.config import Config
from tickcast.proto import pb

from .harness import Harness

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_docs_show_the_budget_the_code_computes() -> None:
    text = DOCS.read_text()
    assert budget.table(Config(server_id="x")) in text
    sized = Config(server_id="x", **budget.SIZED_EXAMPLE)
    assert budget.table(sized) in text


def test_a_client_that_does_not_read_its_pongs_is_evicted() -> None:
    h = Harness(skip_empty_ticks=True, queue_limit_bytes=4096, recv_bytes_per_second=0)
    c, _ = h.join("ada", paused=True)  # reads its Welcome, then nothing
    h.tick(3)  # a quiet room: no live tick reaches the outbox
    for nonce in range(1, 20_000):
        c.send(ping=pb.Ping(nonce=nonce))
        if c.session.closed:
            break
    assert c.session.closed and c.session.end_reason == pb.REASON_SLOW_CONSUMER
    assert nonce < 10_000  # ~70 KB of Pongs: the budget plus a chunk, not 20,000 Pongs
