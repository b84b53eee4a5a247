"""``SqlDeploymentStore``: the serving part of the metadata store in SQL.

Mixed into :class:`~stackml.store.sql.store.SqlMetadataStore`. Validates input, then runs one
small query in one transaction.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, select

from stackml._internal.timeutil import now_ms
from stackml.errors import InvalidInput, NotFound
from stackml.store.serving_base import (
    DEPLOYMENT_STATUSES,
    FEEDBACK_FLAGS,
    Deployment,
    DeploymentStore,
    Feedback,
    PredictionChunk,
)
from stackml.store.sql import inputs, models_serving
from stackml.store.sql.engine import Database

__all__ = ["SqlDeploymentStore", "referenced_blobs"]

DEPLOYMENTS: Table = cast(Table, models_serving.DeploymentRow.__table__)
CHUNKS: Table = cast(Table, models_serving.PredictionChunkRow.__table__)
FEEDBACK: Table = cast(Table, models_serving.FeedbackRow.__table__)
MAX_JSON = 256_000
MAX_LABEL = 1000


def _json_map(value: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a mapping")
    try:
        text = json.dumps(dict(value), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be plain JSON without NaN: {exc}") from exc
    if len(text) > MAX_JSON:
        raise InvalidInput(f"{what} is larger than {MAX_JSON} bytes of JSON")
    return cast(dict[str, Any], json.loads(text))


def _models(models: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if not isinstance(models, Sequence) or isinstance(models, str) or not models:
        raise InvalidInput("a deployment serves at least one model")
    result = []
    for model in models:
        clean = _json_map(model, "a deployment model")
        inputs.name(clean.get("name"), "model name")
        weight = clean.get("weight", 1.0)
        if not isinstance(weight, (int, float)) or not 0 <= weight <= 1 or math.isnan(weight):
            raise InvalidInput(f"traffic weight {weight!r} must be between 0 and 1")
        result.append(clean)
    return result


def _ms(value: object, what: str) -> int | None:
    if value is None:
        return None
    return inputs.non_negative_int(value, what)


def _deployment(row: Any) -> Deployment:
    return Deployment(
        row.name,
        row.url,
        tuple(dict(m) for m in row.models),
        row.status,
        dict(row.config),
        dict(row.metrics),
        row.started_at,
        row.heartbeat_at,
    )


def _chunk(row: Any) -> PredictionChunk:
    return PredictionChunk(
        row.id,
        row.deployment,
        row.start_ms,
        row.end_ms,
        row.num_rows,
        row.parquet_hash,
        row.tensor_blob,
        row.created_at,
    )


def _feedback(row: Any) -> Feedback:
    return Feedback(row.id, row.deployment, row.request_id, row.label, row.flag, row.created_at)


def referenced_blobs(conn: Connection) -> Iterator[str]:
    """Every blob a prediction chunk points at (for ``stackml gc``)."""
    for row in conn.execute(select(CHUNKS.c.parquet_hash, CHUNKS.c.tensor_blob)):
        yield row.parquet_hash
        if row.tensor_blob:
            yield row.tensor_blob


class SqlDeploymentStore(DeploymentStore):
    """Serving rows on SQLite or PostgreSQL, over ``self._db`` (set by the concrete store)."""

    _db: Database

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
        name = inputs.name(name, "deployment name")
        if not isinstance(url, str) or len(url) > 2000:
            raise InvalidInput("a deployment URL is text of at most 2000 characters")
        if status not in DEPLOYMENT_STATUSES:
            raise InvalidInput(f"deployment status must be one of {DEPLOYMENT_STATUSES}")
        values = {
            "url": url,
            "models": _models(models),
            "status": status,
            "config": _json_map(config, "deployment config"),
            "metrics": _json_map(metrics, "deployment metrics"),
            "heartbeat_at": now_ms(),
        }

        def work(conn: Connection) -> Deployment:
            found = conn.execute(select(DEPLOYMENTS).where(DEPLOYMENTS.c.name == name)).first()
            if found is None:
                conn.execute(
                    DEPLOYMENTS.insert().values(
                        name=name, started_at=values["heartbeat_at"], **values
                    )
                )
            else:
                conn.execute(
                    DEPLOYMENTS.update().where(DEPLOYMENTS.c.name == name).values(**values)
                )
            row = conn.execute(select(DEPLOYMENTS).where(DEPLOYMENTS.c.name == name)).one()
            return _deployment(row)

        return self._db.transact(work, write=True, what="record deployment")

    def get_deployment(self, name: str) -> Deployment:
        name = inputs.name(name, "deployment name")

        def work(conn: Connection) -> Deployment:
            row = conn.execute(select(DEPLOYMENTS).where(DEPLOYMENTS.c.name == name)).first()
            if row is None:
                raise NotFound(f"no deployment {name!r}: start one with `stackml serve`")
            return _deployment(row)

        return self._db.transact(work, write=False, what="get deployment")

    def list_deployments(self) -> list[Deployment]:
        query = select(DEPLOYMENTS).order_by(DEPLOYMENTS.c.heartbeat_at.desc(), DEPLOYMENTS.c.name)
        return self._db.transact(
            lambda c: [_deployment(r) for r in c.execute(query)],
            write=False,
            what="list deployments",
        )

    def delete_deployment(self, name: str) -> None:
        name = inputs.name(name, "deployment name")

        def work(conn: Connection) -> None:
            gone = conn.execute(delete(DEPLOYMENTS).where(DEPLOYMENTS.c.name == name))
            if gone.rowcount == 0:
                raise NotFound(f"no deployment {name!r}")

        self._db.transact(work, write=True, what="delete deployment")

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
        deployment = inputs.name(deployment, "deployment name")
        start = inputs.non_negative_int(start_ms, "start_ms")
        end = inputs.non_negative_int(end_ms, "end_ms")
        if end < start:
            raise InvalidInput("a chunk's end_ms must not be before its start_ms")
        rows = inputs.non_negative_int(num_rows, "num_rows")
        chunk = PredictionChunk(
            uuid.uuid4().hex,
            deployment,
            start,
            end,
            rows,
            inputs.blob_hash(parquet_hash),
            None if tensor_blob is None else inputs.blob_hash(tensor_blob),
            now_ms(),
        )

        def work(conn: Connection) -> PredictionChunk:
            conn.execute(CHUNKS.insert().values(**chunk.__dict__))
            return chunk

        return self._db.transact(work, write=True, what="add prediction chunk")

    def list_prediction_chunks(
        self, deployment: str, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[PredictionChunk]:
        deployment = inputs.name(deployment, "deployment name")
        since, until = _ms(since_ms, "since_ms"), _ms(until_ms, "until_ms")
        query = select(CHUNKS).where(CHUNKS.c.deployment == deployment)
        if since is not None:
            query = query.where(CHUNKS.c.end_ms >= since)
        if until is not None:
            query = query.where(CHUNKS.c.start_ms <= until)
        query = query.order_by(CHUNKS.c.start_ms, CHUNKS.c.created_at, CHUNKS.c.id)
        return self._db.transact(
            lambda c: [_chunk(r) for r in c.execute(query)],
            write=False,
            what="list prediction chunks",
        )

    def add_feedback(
        self, deployment: str, request_id: str, label: str | None = None, flag: str | None = None
    ) -> Feedback:
        deployment = inputs.name(deployment, "deployment name")
        request_id = inputs.identifier(request_id, "request id")
        if label is None and flag is None:
            raise InvalidInput("feedback needs a label, a flag or both")
        if label is not None and (
            not isinstance(label, str) or not label or len(label) > MAX_LABEL or "\x00" in label
        ):
            raise InvalidInput(f"a feedback label is text of 1 to {MAX_LABEL} characters")
        if flag is not None and flag not in FEEDBACK_FLAGS:
            raise InvalidInput(f"flag must be one of {', '.join(FEEDBACK_FLAGS)}, not {flag!r}")
        created = now_ms()

        def work(conn: Connection) -> Feedback:
            result = conn.execute(
                FEEDBACK.insert().values(
                    deployment=deployment,
                    request_id=request_id,
                    label=label,
                    flag=flag,
                    created_at=created,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return Feedback(int(key[0]), deployment, request_id, label, flag, created)

        return self._db.transact(work, write=True, what="add feedback")

    def list_feedback(
        self,
        deployment: str,
        *,
        request_ids: Sequence[str] | None = None,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> list[Feedback]:
        deployment = inputs.name(deployment, "deployment name")
        query = select(FEEDBACK).where(FEEDBACK.c.deployment == deployment)
        if request_ids is not None:
            ids = [inputs.identifier(r, "request id") for r in request_ids]
            if not ids:
                return []
            query = query.where(FEEDBACK.c.request_id.in_(ids))
        since = _ms(since_ms, "since_ms")
        if since is not None:
            query = query.where(FEEDBACK.c.created_at >= since)
        query = query.order_by(FEEDBACK.c.created_at, FEEDBACK.c.id)
        if limit is not None:
            query = query.limit(inputs.non_negative_int(limit, "limit"))
        return self._db.transact(
            lambda c: [_feedback(r) for r in c.execute(query)],
            write=False,
            what="list feedback",
        )
