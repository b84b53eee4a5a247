"""``RestMetadataStore``: the :class:`MetadataStore` contract over HTTP to ``stackml server``.

Every method is one request to ``/api/v1`` (see :mod:`stackml.store._http` for retries and
error mapping); answers are rebuilt into the same frozen entities the SQL store returns.
Metric points travel as columns, with NaN and the infinities spelled as strings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import numpy as np

from stackml.errors import InvalidInput, PayloadTooLarge
from stackml.store._http import HttpTransport
from stackml.store.base import MetadataStore
from stackml.store.entities import (
    ApiToken,
    Artifact,
    Experiment,
    LineageEdge,
    MetricColumns,
    MetricPoint,
    MetricSummary,
    Project,
    Run,
    RunPage,
    RunStatus,
    User,
)
from stackml.store.rest_datasets import RestDatasetStore
from stackml.store.rest_jobs import RestJobStore
from stackml.store.rest_labeling import RestLabelingStore
from stackml.store.rest_monitoring import RestMonitoringStore
from stackml.store.rest_pipelines import RestPipelineStore
from stackml.store.rest_registry import RestRegistryStore
from stackml.store.rest_serving import RestDeploymentStore
from stackml.store.rest_training import RestTrainingStore
from stackml.store.rest_tuning import RestSweepStore
from stackml.store.series import MetricArrays, check_step_range

_JSON = {"Content-Type": "application/json"}

#: Points per request (about 1.7 MB of JSON); halved while the server answers 413.
METRIC_BATCH = 50_000


def _seg(value: str) -> str:
    """A URL path segment: every reserved character escaped, '/' included.

    Dot segments are escaped too, since HTTP clients would otherwise resolve them away.
    """
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"expected a non-empty string, got {value!r}")
    if value in {".", ".."}:
        return value.replace(".", "%2E")
    return quote(value, safe="")


def _wire(value: float) -> float | str:
    try:
        if math.isfinite(value):
            return value
    except TypeError:
        return value  # not a number: the server refuses it with a clear message
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _wire_values(values: list[float]) -> list[float | str]:
    """``values`` ready for strict JSON; the common all-finite case costs one C-level pass."""
    try:
        if all(map(math.isfinite, values)):
            return values  # type: ignore[return-value]
    except TypeError:
        pass
    return [_wire(v) for v in values]


def _summary(d: Mapping[str, Any]) -> MetricSummary:
    return MetricSummary(
        key=d["key"],
        latest=float(d["latest"]),
        latest_step=d["latest_step"],
        latest_timestamp=d["latest_timestamp"],
        min=float(d["min"]),
        max=float(d["max"]),
        count=d["count"],
    )


def _run(d: Mapping[str, Any]) -> Run:
    return Run(
        id=d["id"],
        project=d["project"],
        experiment_id=d["experiment_id"],
        name=d["name"],
        status=RunStatus(d["status"]),
        start_time=d["start_time"],
        end_time=d["end_time"],
        user=d["user"],
        parent_id=d["parent_id"],
        params=dict(d["params"]),
        tags=dict(d["tags"]),
        metrics={k: _summary(v) for k, v in d["metrics"].items()},
    )


def _project(d: Mapping[str, Any]) -> Project:
    return Project(name=d["name"], description=d["description"], created_at=d["created_at"])


def _experiment(d: Mapping[str, Any]) -> Experiment:
    return Experiment(
        id=d["id"],
        project=d["project"],
        name=d["name"],
        created_at=d["created_at"],
        tags=dict(d["tags"]),
    )


def _artifact(d: Mapping[str, Any]) -> Artifact:
    return Artifact(
        run_id=d["run_id"],
        path=d["path"],
        blob_hash=d["blob_hash"],
        size=d["size"],
        media_type=d["media_type"],
        created_at=d["created_at"],
    )


def _edge(d: Mapping[str, Any]) -> LineageEdge:
    return LineageEdge(
        source_type=d["source_type"],
        source_id=d["source_id"],
        target_type=d["target_type"],
        target_id=d["target_id"],
        role=d["role"],
        created_at=d["created_at"],
        properties=dict(d["properties"]),
    )


def _user(d: Mapping[str, Any]) -> User:
    return User(name=d["name"], created_at=d["created_at"], is_admin=d["is_admin"])


def _token(d: Mapping[str, Any]) -> ApiToken:
    return ApiToken(
        id=d["id"],
        user=d["user"],
        name=d["name"],
        prefix=d["prefix"],
        created_at=d["created_at"],
        last_used_at=d["last_used_at"],
        revoked=d["revoked"],
    )


class RestMetadataStore(
    RestDatasetStore,
    RestJobStore,
    RestTrainingStore,
    RestPipelineStore,
    RestSweepStore,
    RestRegistryStore,
    RestLabelingStore,
    RestDeploymentStore,
    RestMonitoringStore,
    MetadataStore,
):
    """Metadata kept by a ``stackml server``, reached over HTTP.

    Args:
        base_url: the server's root URL, e.g. ``http://127.0.0.1:5000``.
        token: API token, when the server runs with auth on.
        timeout: seconds per network operation.

    Raises ``StoreUnavailable`` when the server cannot be reached after a few retries, and
    otherwise the same typed errors the server's store raised.
    """

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.http = HttpTransport(base_url, token, timeout=timeout)
        self.base_url = self.http.base_url

    def __repr__(self) -> str:
        return f"RestMetadataStore({self.base_url!r})"

    # -- projects and experiments -------------------------------------------------------
    def create_project(self, name: str, description: str = "") -> Project:
        body = {"name": name, "description": description}
        return _project(self.http.call("POST", "/projects", json=body))

    def get_project(self, name: str) -> Project:
        return _project(self.http.call("GET", f"/projects/{_seg(name)}"))

    def list_projects(self) -> list[Project]:
        return [_project(d) for d in self.http.call("GET", "/projects")]

    def create_experiment(
        self, project: str, name: str, tags: Mapping[str, str] | None = None
    ) -> Experiment:
        body = {"project": project, "name": name, "tags": None if tags is None else dict(tags)}
        return _experiment(self.http.call("POST", "/experiments", json=body))

    def get_experiment(self, experiment_id: str) -> Experiment:
        return _experiment(self.http.call("GET", f"/experiments/{_seg(experiment_id)}"))

    def get_experiment_by_name(self, project: str, name: str) -> Experiment:
        path = f"/projects/{_seg(project)}/experiments/{_seg(name)}"
        return _experiment(self.http.call("GET", path))

    def list_experiments(self, project: str | None = None) -> list[Experiment]:
        answer = self.http.call("GET", "/experiments", params={"project": project})
        return [_experiment(d) for d in answer]

    def set_experiment_tags(self, experiment_id: str, tags: Mapping[str, str]) -> Experiment:
        path = f"/experiments/{_seg(experiment_id)}/tags"
        return _experiment(self.http.call("POST", path, json={"values": dict(tags)}))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        path = f"/experiments/{_seg(experiment_id)}/tags"
        self.http.call("DELETE", path, params={"key": key})

    # -- runs ---------------------------------------------------------------------------
    def create_run(
        self,
        project: str,
        *,
        experiment: str | None = None,
        name: str | None = None,
        user: str | None = None,
        parent_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        start_time: int | None = None,
    ) -> Run:
        body = {
            "project": project,
            "experiment": experiment,
            "name": name,
            "user": user,
            "parent_id": parent_id,
            "tags": None if tags is None else dict(tags),
            "params": None if params is None else dict(params),
            "start_time": start_time,
        }
        return _run(self.http.call("POST", "/runs", json=body))

    def get_run(self, run_id: str) -> Run:
        return _run(self.http.call("GET", f"/runs/{_seg(run_id)}"))

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: int | None = None,
        name: str | None = None,
    ) -> Run:
        body = {
            # An unknown status is sent as given and refused by the server (InvalidInput).
            "status": status.value if isinstance(status, RunStatus) else status,
            "end_time": end_time,
            "name": name,
        }
        return _run(self.http.call("PATCH", f"/runs/{_seg(run_id)}", json=body))

    def delete_run(self, run_id: str) -> None:
        self.http.call("DELETE", f"/runs/{_seg(run_id)}")

    def search_runs(
        self,
        *,
        project: str | None = None,
        experiment_ids: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> RunPage:
        body = {
            "project": project,
            "experiment_ids": None if experiment_ids is None else list(experiment_ids),
            "filter": filter,
            "order_by": None if order_by is None else list(order_by),
            "limit": limit,
            "page_token": page_token,
        }
        answer = self.http.call("POST", "/runs/search", json=body)
        return RunPage([_run(d) for d in answer["runs"]], answer["next_page_token"])

    # -- params, tags, metrics ----------------------------------------------------------
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        body = {"values": dict(params)}
        self.http.call("POST", f"/runs/{_seg(run_id)}/params", json=body)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.http.call("POST", f"/runs/{_seg(run_id)}/tags", json={"values": dict(tags)})

    def delete_tag(self, run_id: str, key: str) -> None:
        self.http.call("DELETE", f"/runs/{_seg(run_id)}/tags", params={"key": key})

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        self._post_metrics(
            run_id,
            [p.key for p in points],
            [p.value for p in points],
            [p.step for p in points],
            [p.timestamp for p in points],
        )

    def log_metric_columns(self, run_id: str, columns: Mapping[str, MetricColumns]) -> None:
        keys: list[str] = []
        values: list[float] = []
        steps: list[int] = []
        stamps: list[int] = []
        for key, cols in columns.items():
            keys += [key] * len(cols)
            values += cols.values
            steps += cols.steps
            stamps += cols.timestamps
        self._post_metrics(run_id, keys, values, steps, stamps)

    def _post_metrics(
        self,
        run_id: str,
        keys: list[str],
        values: list[float],
        steps: list[int],
        stamps: list[int],
    ) -> None:
        path = f"/runs/{_seg(run_id)}/metrics"
        batch = METRIC_BATCH
        start = 0
        while start < len(keys):
            end = start + batch
            chunk = keys[start:end]
            body = {
                "keys": chunk,
                "values": _wire_values(values[start:end]),
                "steps": steps[start:end],
                "timestamps": stamps[start:end],
            }
            # Compact, strict JSON encoded once here: this is the hot path of training loops.
            try:
                content = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
            except (TypeError, ValueError) as exc:
                raise InvalidInput(f"metric points must hold numbers: {exc}") from exc
            try:
                self.http.call("POST", path, content=content, headers=_JSON)
            except PayloadTooLarge:
                if len(chunk) == 1:
                    raise
                batch = max(1, len(chunk) // 2)  # the server's body limit is lower: split
                continue
            start += len(chunk)

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        answer = self.http.call("GET", f"/runs/{_seg(run_id)}/metrics/history", params={"key": key})
        return [
            MetricPoint(k, float(v), s, t)
            for k, v, s, t in zip(
                answer["keys"], answer["values"], answer["steps"], answer["timestamps"], strict=True
            )
        ]

    def metric_history_arrays(
        self,
        run_id: str,
        key: str,
        *,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> MetricArrays:
        check_step_range(start_step, end_step)
        params: dict[str, Any] = {"key": key}
        if start_step is not None:
            params["start_step"] = start_step
        if end_step is not None:
            params["end_step"] = end_step
        answer = self.http.call("GET", f"/runs/{_seg(run_id)}/metrics/series", params=params)
        return MetricArrays(
            np.asarray(answer["steps"], dtype=np.int64),
            np.asarray(answer["timestamps"], dtype=np.int64),
            np.asarray([float(v) for v in answer["values"]], dtype=np.float64),
            int(answer["total"]),
        )

    def metric_summaries(self, run_id: str) -> dict[str, MetricSummary]:
        answer = self.http.call("GET", f"/runs/{_seg(run_id)}/metrics")
        return {k: _summary(v) for k, v in answer.items()}

    # -- artifacts ----------------------------------------------------------------------
    def log_artifact(self, artifact: Artifact) -> Artifact:
        body = {
            "path": artifact.path,
            "blob_hash": artifact.blob_hash,
            "size": artifact.size,
            "media_type": artifact.media_type,
            "created_at": artifact.created_at,
        }
        return _artifact(
            self.http.call("POST", f"/runs/{_seg(artifact.run_id)}/artifacts", json=body)
        )

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[Artifact]:
        answer = self.http.call("GET", f"/runs/{_seg(run_id)}/artifacts", params={"prefix": prefix})
        return [_artifact(d) for d in answer]

    def get_artifact(self, run_id: str, path: str) -> Artifact:
        answer = self.http.call("GET", f"/runs/{_seg(run_id)}/artifact", params={"path": path})
        return _artifact(answer)

    def delete_artifacts(self, run_id: str, path: str) -> int:
        answer = self.http.call("DELETE", f"/runs/{_seg(run_id)}/artifact", params={"path": path})
        return int(answer["deleted"])

    # -- lineage ------------------------------------------------------------------------
    def add_lineage(self, edge: LineageEdge) -> LineageEdge:
        body = {
            "source_type": edge.source_type,
            "source_id": edge.source_id,
            "target_type": edge.target_type,
            "target_id": edge.target_id,
            "role": edge.role,
            "created_at": edge.created_at,
            "properties": dict(edge.properties),
        }
        return _edge(self.http.call("POST", "/lineage", json=body))

    def list_lineage(
        self, entity_type: str, entity_id: str, *, direction: str = "both"
    ) -> list[LineageEdge]:
        params = {"entity_type": entity_type, "entity_id": entity_id, "direction": direction}
        return [_edge(d) for d in self.http.call("GET", "/lineage", params=params)]

    # -- users and tokens ---------------------------------------------------------------
    def create_user(self, name: str, *, is_admin: bool = False) -> User:
        return _user(self.http.call("POST", "/users", json={"name": name, "is_admin": is_admin}))

    def get_user(self, name: str) -> User:
        return _user(self.http.call("GET", f"/users/{_seg(name)}"))

    def create_token(self, user: str, name: str) -> tuple[str, ApiToken]:
        answer = self.http.call("POST", f"/users/{_seg(user)}/tokens", json={"name": name})
        return answer["secret"], _token(answer["token"])

    def list_tokens(self, user: str | None = None) -> list[ApiToken]:
        return [_token(d) for d in self.http.call("GET", "/tokens", params={"user": user})]

    def revoke_token(self, token_id: str) -> None:
        self.http.call("DELETE", f"/tokens/{_seg(token_id)}")

    def authenticate(self, secret: str) -> User | None:
        answer = self.http.call("POST", "/tokens/check", json={"secret": secret})
        return None if answer["user"] is None else _user(answer["user"])

    def whoami(self) -> User | None:
        """The user owning this client's token (``None`` when the server runs without auth)."""
        answer = self.http.call("GET", "/whoami")
        return None if answer["user"] is None else _user(answer["user"])

    # -- maintenance --------------------------------------------------------------------
    def referenced_blobs(self) -> Iterator[str]:
        yield from self.http.call("GET", "/referenced-blobs")["hashes"]

    def close(self) -> None:
        self.http.close()
