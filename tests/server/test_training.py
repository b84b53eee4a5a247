"""Baselines and metric definitions over HTTP: the REST store round trip and bad input."""

from __future__ import annotations

import httpx
import pytest

from stackml.errors import InvalidInput, NotFound
from stackml.store.rest import RestMetadataStore
from stackml.store.training_base import MetricDefinition
from tests.server.conftest import Served


def test_rest_round_trip(served: Served) -> None:
    rest = RestMetadataStore(served.url)
    try:
        b = rest.set_baseline(
            "digits", "paper", kind="published", metrics={"acc": 0.99}, source="a paper"
        )
        assert (
            rest.list_baselines("digits") == [b] == served.store.metadata.list_baselines("digits")
        )
        rest.delete_baseline("digits", "paper")
        with pytest.raises(NotFound):
            rest.delete_baseline("digits", "paper")
        with pytest.raises(NotFound):
            rest.get_metric_definition("digits")
        d = rest.set_metric_definition(
            "digits", MetricDefinition("weighted", {"weights": {"acc": 1.0, "f1": 1.0}})
        )
        assert d.metrics == ("acc", "f1")
        assert rest.get_metric_definition("digits") == d
        with pytest.raises(InvalidInput):
            rest.set_baseline("digits", "x", kind="robot", metrics={"acc": 1.0})
    finally:
        rest.close()


def test_bad_input_answers_400(client: httpx.Client) -> None:
    url = "/api/v1/projects/digits/metric-definition"
    answer = client.put(
        url, json={"kind": "expression", "spec": {"expression": "__import__('os')"}}
    )
    assert answer.status_code == 400 and "not allowed" in answer.text
    answer = client.put(url, json={"kind": "weighted", "spec": {"weights": {"a": "x"}}})
    assert answer.status_code in (400, 422)
    answer = client.put(
        "/api/v1/projects/digits/baselines/b",
        json={"kind": "human", "metrics": {"a": 1}, "extra": 1},
    )
    assert answer.status_code in (400, 422)
    answer = client.get("/api/v1/projects/no-such/metric-definition")
    assert answer.status_code == 404
