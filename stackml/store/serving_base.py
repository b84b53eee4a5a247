"""Serving: the part of the :class:`~stackml.store.base.MetadataStore` interface that keeps
deployments, prediction-log chunks and feedback.

* A **deployment** is one ``stackml serve`` process (or a named fleet of replicas): the models
  it serves with their traffic split, its URL, and a heartbeat carrying a snapshot of its live
  metrics so the web UI can show it.
* A **prediction chunk** indexes one Parquet blob of logged predictions (and, for tensor
  inputs, one ``.npy`` blob holding the stacked inputs). Rows hold hashes, never bytes.
* **Feedback** attaches a ground-truth label or a user flag to a request id, later.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FEEDBACK_FLAGS",
    "Deployment",
    "DeploymentStore",
    "Feedback",
    "PredictionChunk",
]

#: Flags a user may attach to a prediction.
FEEDBACK_FLAGS: tuple[str, ...] = ("wrong", "uncertain", "offensive", "other")


@dataclass(frozen=True)
class Deployment:
    """A serving deployment as last reported by its process.

    ``models`` lists one mapping per served variant: ``ref`` (as asked, e.g. ``digits@prod``),
    ``name``, ``version``, ``variant`` (``primary``/``canary``/``shadow``) and ``weight``
    (share of traffic, 0..1). ``metrics`` is the latest live snapshot (requests, errors,
    latency percentiles, queue depth, batch sizes).
    """

    name: str
    url: str
    models: tuple[Mapping[str, Any], ...]
    status: str
    config: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    started_at: int = 0
    heartbeat_at: int = 0


@dataclass(frozen=True)
class PredictionChunk:
    """One Parquet blob of logged predictions, rows with ``ts_ms`` in ``[start_ms, end_ms]``."""

    id: str
    deployment: str
    start_ms: int
    end_ms: int
    num_rows: int
    parquet_hash: str
    tensor_blob: str | None
    created_at: int


@dataclass(frozen=True)
class Feedback:
    """A label or flag attached to one served request."""

    id: int
    deployment: str
    request_id: str
    label: str | None
    flag: str | None
    created_at: int


#: Statuses a deployment reports.
DEPLOYMENT_STATUSES: tuple[str, ...] = ("starting", "ready", "not-ready", "draining", "stopped")


class DeploymentStore(abc.ABC):
    """Serving rows. Same thread-safety and error contract as the store."""

    @abc.abstractmethod
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
        """Create or replace a deployment; ``started_at`` is kept when it already exists.

        Also serves as the heartbeat: ``heartbeat_at`` becomes now. Raises ``InvalidInput``.
        """

    @abc.abstractmethod
    def get_deployment(self, name: str) -> Deployment:
        """One deployment. Raises ``NotFound``."""

    @abc.abstractmethod
    def list_deployments(self) -> list[Deployment]:
        """Every deployment, most recent heartbeat first."""

    @abc.abstractmethod
    def delete_deployment(self, name: str) -> None:
        """Forget a deployment (its chunks and feedback stay). Raises ``NotFound``."""

    @abc.abstractmethod
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
        """Index a Parquet chunk already stored in the blob store. Raises ``InvalidInput``."""

    @abc.abstractmethod
    def list_prediction_chunks(
        self, deployment: str, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[PredictionChunk]:
        """Chunks that may hold rows in ``[since_ms, until_ms]``, oldest first."""

    @abc.abstractmethod
    def add_feedback(
        self, deployment: str, request_id: str, label: str | None = None, flag: str | None = None
    ) -> Feedback:
        """Attach a label and/or a flag (one of :data:`FEEDBACK_FLAGS`) to a request id.

        Raises ``InvalidInput`` when both are missing or malformed.
        """

    @abc.abstractmethod
    def list_feedback(
        self,
        deployment: str,
        *,
        request_ids: Sequence[str] | None = None,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> list[Feedback]:
        """Feedback of a deployment, oldest first, optionally only for some request ids."""
