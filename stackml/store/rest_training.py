"""``RestTrainingStore``: baselines and metric definitions over HTTP.

Mixed into :class:`~stackml.store.rest.RestMetadataStore`; each method is one request to
``/api/v1/projects/{project}/baselines`` or ``/api/v1/projects/{project}/metric-definition``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from stackml.errors import InvalidInput
from stackml.store._http import HttpTransport
from stackml.store.training_base import (
    Baseline,
    MetricDefinition,
    TrainingStore,
    check_definition,
)

__all__ = ["RestTrainingStore"]


def _seg(value: str) -> str:
    if not isinstance(value, str) or not value or value in {".", ".."}:
        raise InvalidInput(f"invalid name {value!r}")
    return quote(value, safe="")


def _baseline(d: Mapping[str, Any]) -> Baseline:
    return Baseline(
        d["project"], d["name"], d["kind"], dict(d["metrics"]), d["source"], d["created_at"]
    )


def _definition(d: Mapping[str, Any]) -> MetricDefinition:
    return check_definition(
        MetricDefinition(d["kind"], dict(d["spec"]), d["goal"], d["project"], d["updated_at"])
    )


class RestTrainingStore(TrainingStore):
    """Baseline and metric-definition methods over ``self.http`` (set by the concrete store)."""

    http: HttpTransport

    def set_baseline(
        self,
        project: str,
        name: str,
        *,
        kind: str,
        metrics: Mapping[str, float],
        source: str = "",
    ) -> Baseline:
        body = {"kind": kind, "metrics": dict(metrics), "source": source}
        path = f"/projects/{_seg(project)}/baselines/{_seg(name)}"
        return _baseline(self.http.call("PUT", path, json=body))

    def list_baselines(self, project: str) -> list[Baseline]:
        answer = self.http.call("GET", f"/projects/{_seg(project)}/baselines")
        return [_baseline(d) for d in answer]

    def delete_baseline(self, project: str, name: str) -> None:
        self.http.call("DELETE", f"/projects/{_seg(project)}/baselines/{_seg(name)}")

    def set_metric_definition(self, project: str, definition: MetricDefinition) -> MetricDefinition:
        checked = check_definition(definition)  # fail fast, before a round trip
        body = {"kind": checked.kind, "spec": checked.spec, "goal": checked.goal}
        path = f"/projects/{_seg(project)}/metric-definition"
        return _definition(self.http.call("PUT", path, json=body))

    def get_metric_definition(self, project: str) -> MetricDefinition:
        return _definition(self.http.call("GET", f"/projects/{_seg(project)}/metric-definition"))
