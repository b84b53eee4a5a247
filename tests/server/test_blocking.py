"""Page work runs inline when the server answers nothing else, on the thread pool otherwise."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from stackml.server.blocking import run_blocking
from stackml.server.observability import ServerMetrics
from tests.server.conftest import Served


def _request(active: int) -> Any:
    metrics = ServerMetrics()
    metrics.active = active
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(metrics=metrics)))


@pytest.mark.parametrize(("active", "inline"), [(1, True), (0, True), (2, False), (5, False)])
def test_work_runs_inline_only_when_alone(active: int, inline: bool) -> None:
    async def main() -> tuple[int, int]:
        loop_thread = threading.get_ident()
        ran_on = await run_blocking(_request(active), threading.get_ident)
        return loop_thread, ran_on

    loop_thread, ran_on = asyncio.run(main())
    assert (ran_on == loop_thread) is inline


def test_errors_reach_the_caller_either_way() -> None:
    def fail() -> None:
        raise KeyError("boom")

    for active in (1, 3):
        with pytest.raises(KeyError):
            asyncio.run(run_blocking(_request(active), fail))


def test_pages_answer_concurrent_requests(served: Served) -> None:
    """Requests that overlap take the thread-pool path; all of them are answered."""
    served.store.metadata.create_run("p", name="one")
    metrics: ServerMetrics = served.server.app.state.metrics

    def fetch(_: int) -> list[int]:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            return [client.get("/runs", params={"project": "p"}).status_code for _ in range(5)]

    with ThreadPoolExecutor(4) as pool:
        codes = [code for batch in pool.map(fetch, range(4)) for code in batch]
    assert codes == [200] * 20
    assert metrics.active == 0  # every answered request was counted out again
