"""``RestLabelingStore``: the labeling part of the metadata store over HTTP.

Mixed into :class:`~stackml.store.rest.RestMetadataStore`; each method is one request to the
labeling routes (large task imports are sent in batches).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from stackml._internal.names import InvalidName, validate_name
from stackml.errors import InvalidInput
from stackml.store.labeling_base import LabelingStore
from stackml.store.labeling_entities import (
    Annotation,
    LabelConfig,
    LabelMember,
    LabelProgress,
    LabelProject,
    LabelTask,
    TaskDraft,
    check_config,
    check_ids,
)

if TYPE_CHECKING:
    from stackml.store._http import HttpTransport

__all__ = ["RestLabelingStore"]

#: Tasks per request when importing (keeps each JSON body well under the server's limit).
IMPORT_BATCH = 2000


def _seg(value: object, what: str = "name") -> str:
    try:
        return quote(validate_name(value, what=what), safe="")
    except InvalidName as error:
        raise InvalidInput(str(error)) from error


def _id(value: object, what: str) -> int:
    return check_ids([value], what)[0]  # type: ignore[list-item]


def _plain(body: Any, what: str) -> Any:
    """``body`` if it is plain JSON (no NaN or infinity), else ``InvalidInput``."""
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{what} must be plain JSON (no NaN or infinity): {error}") from error
    return body


def _project(d: Mapping[str, Any]) -> LabelProject:
    return LabelProject(
        d["name"],
        d["description"],
        LabelConfig.from_dict(d["config"]),
        d["source"],
        d["created_by"],
        d["created_at"],
    )


def _task(d: Mapping[str, Any]) -> LabelTask:
    return LabelTask(**dict(d))


def _annotation(d: Mapping[str, Any]) -> Annotation:
    return Annotation(**dict(d))


class RestLabelingStore(LabelingStore):
    """Labeling rows through ``stackml server``."""

    http: HttpTransport

    def create_label_project(
        self,
        name: str,
        config: LabelConfig,
        *,
        description: str = "",
        source: str | None = None,
        created_by: str = "",
    ) -> LabelProject:
        if not isinstance(config, LabelConfig):
            raise InvalidInput("create_label_project needs a LabelConfig")
        body = {
            "name": name,
            "config": check_config(config).to_dict(),
            "description": description,
            "source": source,
            "created_by": created_by,
        }
        return _project(self.http.call("POST", "/label-projects", json=body, retry=False))

    def get_label_project(self, name: str) -> LabelProject:
        return _project(self.http.call("GET", f"/label-projects/{_seg(name)}"))

    def list_label_projects(self) -> list[LabelProject]:
        return [_project(d) for d in self.http.call("GET", "/label-projects")]

    def update_label_project(
        self, name: str, *, config: LabelConfig | None = None, description: str | None = None
    ) -> LabelProject:
        body = {
            "config": None if config is None else check_config(config).to_dict(),
            "description": description,
        }
        return _project(self.http.call("PATCH", f"/label-projects/{_seg(name)}", json=body))

    def set_label_member(self, project: str, user: str, role: str | None) -> list[LabelMember]:
        path = f"/label-projects/{_seg(project)}/members/{_seg(user, 'user name')}"
        answer = self.http.call("PUT", path, json={"role": role})
        return [LabelMember(d["project"], d["user"], d["role"]) for d in answer]

    def list_label_members(self, project: str) -> list[LabelMember]:
        answer = self.http.call("GET", f"/label-projects/{_seg(project)}/members")
        return [LabelMember(d["project"], d["user"], d["role"]) for d in answer]

    def set_label_group(
        self, project: str, group: str, users: Sequence[str]
    ) -> dict[str, list[str]]:
        if not isinstance(users, (list, tuple)):
            raise InvalidInput("group members must be a list of user names")
        path = f"/label-projects/{_seg(project)}/groups/{_seg(group, 'group name')}"
        answer: dict[str, list[str]] = self.http.call("PUT", path, json={"users": list(users)})
        return answer

    def list_label_groups(self, project: str) -> dict[str, list[str]]:
        answer: dict[str, list[str]] = self.http.call(
            "GET", f"/label-projects/{_seg(project)}/groups"
        )
        return answer

    def add_label_tasks(self, project: str, drafts: Sequence[TaskDraft]) -> list[int]:
        if not isinstance(drafts, (list, tuple)):
            raise InvalidInput("tasks must be a list of TaskDrafts")
        ids: list[int] = []
        path = f"/label-projects/{_seg(project)}/tasks"
        for start in range(0, len(drafts), IMPORT_BATCH):
            batch = []
            for d in drafts[start : start + IMPORT_BATCH]:
                if not isinstance(d, TaskDraft):
                    raise InvalidInput("tasks are TaskDraft objects")
                batch.append(
                    {
                        "data": dict(d.data) if isinstance(d.data, Mapping) else d.data,
                        "priority": d.priority,
                        "source": d.source,
                        "key": d.key,
                        "prelabel": None if d.prelabel is None else dict(d.prelabel),
                        "gold": None if d.gold is None else dict(d.gold),
                        "assignee": d.assignee,
                    }
                )
            _plain(batch, "tasks")
            answer = self.http.call("POST", path, json={"tasks": batch}, retry=False)
            ids.extend(int(i) for i in answer["ids"])
        return ids

    def get_label_task(self, task_id: int) -> LabelTask:
        return _task(self.http.call("GET", f"/label-tasks/{_id(task_id, 'task id')}"))

    def list_label_tasks(
        self,
        project: str,
        *,
        state: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[LabelTask]:
        params: dict[str, Any] = {"after_id": after_id, "limit": limit}
        if state is not None:
            params["state"] = state
        answer = self.http.call("GET", f"/label-projects/{_seg(project)}/tasks", params=params)
        return [_task(d) for d in answer]

    def next_label_tasks(
        self, project: str, user: str, *, limit: int = 1, lease_s: float | None = None
    ) -> list[LabelTask]:
        body = {"user": user, "limit": limit, "lease_s": lease_s}
        answer = self.http.call(
            "POST", f"/label-projects/{_seg(project)}/next", json=body, retry=False
        )
        return [_task(d) for d in answer]

    def skip_label_task(self, task_id: int, user: str, reason: str) -> LabelTask:
        path = f"/label-tasks/{_id(task_id, 'task id')}/skip"
        return _task(self.http.call("POST", path, json={"user": user, "reason": reason}))

    def set_label_priorities(self, project: str, priorities: Mapping[int, float]) -> int:
        if not isinstance(priorities, Mapping):
            raise InvalidInput("priorities must map task ids to numbers")
        body = {"priorities": {str(_id(k, "task id")): v for k, v in priorities.items()}}
        _plain(body, "priorities")
        answer = self.http.call("PUT", f"/label-projects/{_seg(project)}/priorities", json=body)
        return int(answer["count"])

    def assign_label_tasks(
        self, project: str, task_ids: Sequence[int], assignee: str | None
    ) -> int:
        body = {"task_ids": check_ids(task_ids), "assignee": assignee}
        answer = self.http.call("POST", f"/label-projects/{_seg(project)}/assign", json=body)
        return int(answer["count"])

    def submit_annotation(
        self,
        task_id: int,
        user: str,
        value: Mapping[str, Any],
        *,
        duration_ms: int | None = None,
        origin: str = "human",
        model: str | None = None,
        confidence: float | None = None,
        audit: bool = False,
    ) -> Annotation:
        if not isinstance(value, Mapping):
            raise InvalidInput("an annotation value must be a mapping")
        body = {
            "user": user,
            "value": dict(value),
            "duration_ms": duration_ms,
            "origin": origin,
            "model": model,
            "confidence": confidence,
            "audit": audit,
        }
        path = f"/label-tasks/{_id(task_id, 'task id')}/annotations"
        _plain(body, "an annotation")
        return _annotation(self.http.call("POST", path, json=body, retry=False))

    def list_annotations(
        self,
        project: str,
        *,
        task_id: int | None = None,
        user: str | None = None,
        after_id: int = 0,
        limit: int = 10_000,
    ) -> list[Annotation]:
        params: dict[str, Any] = {"after_id": after_id, "limit": limit}
        if task_id is not None:
            params["task_id"] = _id(task_id, "task id")
        if user is not None:
            params["user"] = user
        answer = self.http.call(
            "GET", f"/label-projects/{_seg(project)}/annotations", params=params
        )
        return [_annotation(d) for d in answer]

    def get_annotation(self, annotation_id: int) -> Annotation:
        path = f"/label-annotations/{_id(annotation_id, 'annotation id')}"
        return _annotation(self.http.call("GET", path))

    def review_annotation(
        self,
        annotation_id: int,
        reviewer: str,
        decision: str,
        *,
        comment: str = "",
        value: Mapping[str, Any] | None = None,
    ) -> Annotation:
        body = {
            "reviewer": reviewer,
            "decision": decision,
            "comment": comment,
            "value": None if value is None else dict(value),
        }
        path = f"/label-annotations/{_id(annotation_id, 'annotation id')}/review"
        _plain(body, "a review")
        return _annotation(self.http.call("POST", path, json=body, retry=False))

    def label_progress(self, project: str) -> LabelProgress:
        d = dict(self.http.call("GET", f"/label-projects/{_seg(project)}/progress"))
        d.pop("percent", None)
        return LabelProgress(**d)
