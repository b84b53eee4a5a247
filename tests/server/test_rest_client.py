"""``RestMetadataStore`` specifics beyond the shared contract: wire format and failures."""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator

import pytest

from stackml.errors import InvalidInput, NotFound, StoreUnavailable
from stackml.store.entities import MetricPoint
from stackml.store.rest import RestMetadataStore
from tests.server.conftest import Served


@pytest.fixture
def rest(served: Served) -> Iterator[RestMetadataStore]:
    store = RestMetadataStore(served.url)
    yield store
    store.close()


def test_non_finite_metrics_survive(rest: RestMetadataStore) -> None:
    run = rest.create_run("p")
    values = [1.5, math.nan, math.inf, -math.inf, -0.0]
    rest.log_metrics(run.id, [MetricPoint("m", v, i, 1000 + i) for i, v in enumerate(values)])
    got = [p.value for p in rest.metric_history(run.id, "m")]
    assert math.isnan(got[1])
    assert got[0] == 1.5 and got[2] == math.inf and got[3] == -math.inf
    summary = rest.metric_summaries(run.id)["m"]
    assert summary.count == 5
    assert rest.get_run(run.id).metrics["m"].count == 5


def test_large_metric_batch(rest: RestMetadataStore, served: Served) -> None:
    run = rest.create_run("p")
    points = [MetricPoint(f"k{i % 5}", i * 0.5, i, i) for i in range(50_000)]
    rest.log_metrics(run.id, points)
    assert served.store.metadata.metric_summaries(run.id)["k0"].count == 10_000


def test_errors_are_typed(rest: RestMetadataStore) -> None:
    with pytest.raises(NotFound):
        rest.get_run("missing")
    with pytest.raises(InvalidInput):
        rest.get_project("..")
    with pytest.raises(InvalidInput):
        rest.get_project("")


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_is_store_unavailable() -> None:
    store = RestMetadataStore(f"http://127.0.0.1:{_dead_port()}", timeout=2)
    store.http.backoff = 0.01
    with pytest.raises(StoreUnavailable, match="cannot reach"):
        store.list_projects()
    with pytest.raises(ConnectionError):  # StoreUnavailable is a ConnectionError too
        store.create_project("p")
    store.close()
