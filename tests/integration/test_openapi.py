"""schemathesis against /api/openapi.json: generated requests for every
documented operation get a documented answer, and never a 5xx.

The server runs on its own loop in a thread, because schemathesis calls it
with blocking `requests`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from support import test_config as make_config  # not test_*: pytest would collect it

from tickcast.http import HttpService
from tickcast.server import Server

TOKEN = "fuzz-token"


class LiveServer:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.http = HttpService()
        self.server: Server | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self.server = Server(make_config(admin_token=TOKEN), [self.http])
        await self.server.start()
        self.ready.set()
        await self.server.serve_forever()

    def stop(self) -> None:
        assert self.server is not None
        self.loop.call_soon_threadsafe(self.server.close)
        self.thread.join(15)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    s = LiveServer()
    s.thread.start()
    assert s.ready.wait(10), "server did not start"
    yield s
    s.stop()


def test_generated_requests_get_documented_answers(live: LiveServer) -> None:
    base = live.http.address
    doc = requests.get(base + "/api/openapi.json", timeout=5).json()
    schema = schemathesis.openapi.from_dict(doc)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6
    session = requests.Session()
    for op in operations:
        fuzz_operation(op, base, session)


def fuzz_operation(op: Any, base: str, session: requests.Session) -> None:
    documented = set(op.definition.raw["responses"])

    @settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=op.as_strategy())
    def check(case: schemathesis.Case) -> None:
        for headers in ({"Authorization": f"Bearer {TOKEN}"}, {}):
            response = case.call(base_url=base, session=session, headers=headers, timeout=5)
            where = (case.method, case.formatted_path, response.status_code)
            assert response.status_code < 500, where
            assert str(response.status_code) in documented, where
            ctype = response.headers.get("content-type", [""])[0]  # wire form: lists
            assert ctype.startswith("application/json"), (*where, ctype, response.text[:200])

    check()
