"""``RestDeploymentStore``: the serving part of the metadata store over HTTP.

Mixed into :class:`~stackml.store.rest.RestMetadataStore`; each method is one request under
``/api/v1/deployments``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from stackml.errors import InvalidInput
from stackml.store._http import HttpTransport
from stackml.store.serving_base import Deployment, DeploymentStore, Feedback, PredictionChunk

__all__ = ["RestDeploymentStore"]


def _seg(value: str) -> str:
    if not isinstance(value, str) or not value or value in {".", ".."}:
        raise InvalidInput(f"invalid name {value!r}")
    return quote(value, safe="")


def _deployment(d: Mapping[str, Any]) -> Deployment:
    return Deployment(
        d["name"],
        d["url"],
        tuple(dict(m) for m in d["models"]),
        d["status"],
        dict(d["config"]),
        dict(d["metrics"]),
        d["started_at"],
        d["heartbeat_at"],
    )


def _chunk(d: Mapping[str, Any]) -> PredictionChunk:
    return PredictionChunk(
        d["id"],
        d["deployment"],
        d["start_ms"],
        d["end_ms"],
        d["num_rows"],
        d["parquet_hash"],
        d.get("tensor_blob"),
        d["created_at"],
    )


def _feedback(d: Mapping[str, Any]) -> Feedback:
    return Feedback(
        d["id"], d["deployment"], d["request_id"], d.get("label"), d.get("flag"), d["created_at"]
    )


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class RestDeploymentStore(DeploymentStore):
    """Serving rows through ``stackml server`` (over ``self.http``, set by the concrete store)."""

    http: HttpTransport

    def record_deployment(
        self,
        name: str,
        *,
        url: str,
        models: Sequence[Mapping[str, Any]],
        status: str,
        config: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> Deployment:
        body = {
            "url": url,
            "models": [dict(m) for m in models],
            "status": status,
            "config": dict(config or {}),
            "metrics": dict(metrics or {}),
        }
        return _deployment(self.http.call("PUT", f"/deployments/{_seg(name)}", json=body))

    def get_deployment(self, name: str) -> Deployment:
        return _deployment(self.http.call("GET", f"/deployments/{_seg(name)}"))

    def list_deployments(self) -> list[Deployment]:
        return [_deployment(d) for d in self.http.call("GET", "/deployments")]

    def delete_deployment(self, name: str) -> None:
        self.http.call("DELETE", f"/deployments/{_seg(name)}")

    def add_prediction_chunk(
        self,
        deployment: str,
        *,
        start_ms: int,
        end_ms: int,
        num_rows: int,
        parquet_hash: str,
        tensor_blob: str | None = None,
    ) -> PredictionChunk:
        body = {
            "start_ms": start_ms,
            "end_ms": end_ms,
            "num_rows": num_rows,
            "parquet_hash": parquet_hash,
            "tensor_blob": tensor_blob,
        }
        path = f"/deployments/{_seg(deployment)}/prediction-chunks"
        return _chunk(self.http.call("POST", path, json=body))

    def list_prediction_chunks(
        self, deployment: str, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[PredictionChunk]:
        path = f"/deployments/{_seg(deployment)}/prediction-chunks"
        answer = self.http.call("GET", path, params=_params(since_ms=since_ms, until_ms=until_ms))
        return [_chunk(d) for d in answer]

    def add_feedback(
        self, deployment: str, request_id: str, label: str | None = None, flag: str | None = None
    ) -> Feedback:
        body = {"request_id": request_id, "label": label, "flag": flag}
        path = f"/deployments/{_seg(deployment)}/feedback"
        return _feedback(self.http.call("POST", path, json=body))

    def list_feedback(
        self,
        deployment: str,
        *,
        request_ids: Sequence[str] | None = None,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> list[Feedback]:
        path = f"/deployments/{_seg(deployment)}/feedback/query"
        body = {
            "request_ids": None if request_ids is None else list(request_ids),
            "since_ms": since_ms,
            "limit": limit,
        }
        return [_feedback(d) for d in self.http.call("POST", path, json=body)]
