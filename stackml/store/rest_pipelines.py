"""``RestPipelineStore``: the pipelines part of the metadata store over HTTP.

Mixed into :class:`~stackml.store.rest.RestMetadataStore`; each method is one request under
``/api/v1/pipelines`` (or ``/api/v1/pipeline-runs``, ``/pipeline-cache``, ``/pipeline-triggers``).
The server validates everything again through its own SQL store.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from stackml._internal.names import InvalidName, validate_name
from stackml.errors import InvalidInput
from stackml.store.pipelines_base import (
    CacheEntry,
    DatasetTrigger,
    PipelineInfo,
    PipelineRunInfo,
    PipelineStore,
    PipelineWrites,
    Schedule,
    StepRunInfo,
)

if TYPE_CHECKING:
    from stackml.store._http import HttpTransport

__all__ = ["RestPipelineStore", "from_json", "to_json"]

T = TypeVar("T")


def _seg(value: object, what: str = "name") -> str:
    try:
        return quote(validate_name(value, what=what), safe="")
    except InvalidName as error:
        raise InvalidInput(str(error)) from error


def _id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise InvalidInput(f"invalid run id {value!r}")
    return quote(value, safe="")


def to_json(record: object) -> dict[str, Any]:
    """A pipelines record as a JSON object (checked: no NaN, only plain values)."""
    body = dataclasses.asdict(record)  # type: ignore[call-overload]
    try:
        return dict(json.loads(json.dumps(body, allow_nan=False)))
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{type(record).__name__} must be plain JSON: {error}") from error


def from_json(cls: type[T], data: Mapping[str, Any]) -> T:
    """Rebuild a record from its JSON form (lists become the tuples the dataclass holds)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = data.get(f.name, dataclasses.MISSING)
        if value is dataclasses.MISSING:
            continue
        if isinstance(value, list):
            value = tuple(dict(v) if isinstance(v, Mapping) else v for v in value)
        values[f.name] = value
    return cls(**values)


class RestPipelineStore(PipelineStore):
    """Pipelines rows through ``stackml server``."""

    http: HttpTransport

    # -- pipelines ------------------------------------------------------------------------
    def save_pipeline(self, info: PipelineInfo) -> PipelineInfo:
        answer = self.http.call("PUT", f"/pipelines/{_seg(info.name)}", json=to_json(info))
        return from_json(PipelineInfo, answer)

    def get_pipeline(self, name: str) -> PipelineInfo:
        return from_json(PipelineInfo, self.http.call("GET", f"/pipelines/{_seg(name)}"))

    def list_pipelines(self) -> list[PipelineInfo]:
        return [from_json(PipelineInfo, d) for d in self.http.call("GET", "/pipelines")]

    # -- runs -----------------------------------------------------------------------------
    def create_pipeline_run(self, info: PipelineRunInfo) -> PipelineRunInfo:
        answer = self.http.call("POST", "/pipeline-runs", json=to_json(info), retry=False)
        return from_json(PipelineRunInfo, answer)

    def update_pipeline_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        ended_at: int | None = None,
        error: str | None = None,
    ) -> PipelineRunInfo:
        body = {"status": status, "ended_at": ended_at, "error": error}
        answer = self.http.call("PATCH", f"/pipeline-runs/{_id(run_id)}", json=body)
        return from_json(PipelineRunInfo, answer)

    def get_pipeline_run(self, run_id: str) -> PipelineRunInfo:
        return from_json(PipelineRunInfo, self.http.call("GET", f"/pipeline-runs/{_id(run_id)}"))

    def list_pipeline_runs(
        self, pipeline: str | None = None, *, limit: int = 50
    ) -> list[PipelineRunInfo]:
        params = {"pipeline": pipeline, "limit": limit}
        answer = self.http.call("GET", "/pipeline-runs", params=params)
        return [from_json(PipelineRunInfo, d) for d in answer]

    def save_step_runs(self, steps: Sequence[StepRunInfo]) -> None:
        if not steps:
            return
        if any(not isinstance(s, StepRunInfo) for s in steps):
            raise InvalidInput("save_step_runs needs StepRunInfo records")
        self.http.call("PUT", "/pipeline-steps", json=[to_json(s) for s in steps])

    def write_pipeline_records(self, writes: PipelineWrites) -> None:
        if not isinstance(writes, PipelineWrites):
            raise InvalidInput("write_pipeline_records needs a PipelineWrites record")
        if writes:
            # Re-sending would repeat only idempotent upserts, so a retry is safe.
            self.http.call("PUT", "/pipeline-writes", json=to_json(writes))

    def list_step_runs(self, pipeline_run_id: str) -> list[StepRunInfo]:
        answer = self.http.call("GET", f"/pipeline-runs/{_id(pipeline_run_id)}/steps")
        return [from_json(StepRunInfo, d) for d in answer]

    # -- cache ----------------------------------------------------------------------------
    def get_cache_entries(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        wanted = [k for k in dict.fromkeys(keys) if k]
        if not wanted:
            return {}
        answer = self.http.call("POST", "/pipeline-cache/lookup", json={"keys": wanted})
        return {d["key"]: from_json(CacheEntry, d) for d in answer}

    def put_cache_entry(self, entry: CacheEntry) -> CacheEntry:
        answer = self.http.call("PUT", "/pipeline-cache", json=to_json(entry))
        return from_json(CacheEntry, answer)

    def delete_cache_entries(self, pipeline: str, step: str | None = None) -> int:
        answer = self.http.call(
            "DELETE", f"/pipelines/{_seg(pipeline)}/cache", params={"step": step}
        )
        return int(answer["deleted"])

    # -- schedules ------------------------------------------------------------------------
    def save_schedule(self, schedule: Schedule) -> Schedule:
        path = f"/pipelines/{_seg(schedule.pipeline)}/schedule"
        return from_json(Schedule, self.http.call("PUT", path, json=to_json(schedule)))

    def delete_schedule(self, pipeline: str) -> None:
        self.http.call("DELETE", f"/pipelines/{_seg(pipeline)}/schedule")

    def list_schedules(self) -> list[Schedule]:
        return [from_json(Schedule, d) for d in self.http.call("GET", "/pipeline-schedules")]

    def claim_schedule(
        self, pipeline: str, expected_next: int, new_next: int, fired_at: int
    ) -> bool:
        body = {"expected_next": expected_next, "new_next": new_next, "fired_at": fired_at}
        path = f"/pipelines/{_seg(pipeline)}/schedule/claim"
        return bool(self.http.call("POST", path, json=body, retry=False)["claimed"])

    # -- dataset triggers -----------------------------------------------------------------
    def save_trigger(self, trigger: DatasetTrigger) -> DatasetTrigger:
        path = f"/pipelines/{_seg(trigger.pipeline)}/triggers/{_seg(trigger.dataset)}"
        return from_json(DatasetTrigger, self.http.call("PUT", path, json=to_json(trigger)))

    def delete_trigger(self, pipeline: str, dataset: str) -> None:
        self.http.call("DELETE", f"/pipelines/{_seg(pipeline)}/triggers/{_seg(dataset)}")

    def list_triggers(self, dataset: str | None = None) -> list[DatasetTrigger]:
        answer = self.http.call("GET", "/pipeline-triggers", params={"dataset": dataset})
        return [from_json(DatasetTrigger, d) for d in answer]

    def advance_trigger(self, pipeline: str, dataset: str, expected: int, new: int) -> bool:
        path = f"/pipelines/{_seg(pipeline)}/triggers/{_seg(dataset)}/advance"
        body = {"expected": expected, "new": new}
        return bool(self.http.call("POST", path, json=body, retry=False)["claimed"])
