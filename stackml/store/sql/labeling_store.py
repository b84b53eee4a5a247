"""``SqlLabelingStore``: the labeling part of the metadata store in SQL.

Validates input, then runs one function of :mod:`.labeling_rows` or :mod:`.labeling_queue`
in one transaction. Mixed into :class:`~stackml.store.sql.store.SqlMetadataStore`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stackml.errors import InvalidInput
from stackml.store.labeling_base import LabelingStore
from stackml.store.labeling_entities import (
    ORIGINS,
    REVIEW_DECISIONS,
    TASK_STATES,
    Annotation,
    LabelConfig,
    LabelMember,
    LabelProgress,
    LabelProject,
    LabelTask,
    TaskDraft,
    check_config,
    check_ids,
    check_role,
)
from stackml.store.labeling_values import encode_data
from stackml.store.sql import inputs
from stackml.store.sql import labeling_queue as queue
from stackml.store.sql import labeling_rows as rows

if TYPE_CHECKING:
    from stackml.store.sql.engine import Database

__all__ = ["SqlLabelingStore", "check_assignee", "check_draft_fields", "check_limit"]

MAX_BATCH = 100_000


def check_limit(value: object, what: str = "limit", high: int = 100_000) -> int:
    """An integer in ``1..high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InvalidInput(f"{what} must be an integer between 1 and {high}")
    return value


def check_assignee(value: object) -> str | None:
    """A user name, ``@group`` or ``None``."""
    if value is None:
        return None
    if isinstance(value, str) and value.startswith("@"):
        return "@" + inputs.name(value[1:], "group name")
    return inputs.name(value, "assignee")


def _priority(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"a priority must be a finite number, not {value!r}")
    return float(value)


def check_draft_fields(draft: TaskDraft) -> TaskDraft:
    """The parts of a draft that do not depend on the project's config."""
    if not isinstance(draft, TaskDraft):
        raise InvalidInput("tasks are TaskDraft objects")
    for part, what in ((draft.prelabel, "prelabel"), (draft.gold, "gold")):
        if part is not None and not isinstance(part, Mapping):
            raise InvalidInput(f"a task's {what} must be a mapping or null")
    return TaskDraft(
        data=draft.data,
        priority=_priority(draft.priority),
        source=inputs.label(draft.source, "task source") if draft.source else "",
        key=None if draft.key is None else inputs.label(draft.key, "task key"),
        prelabel=draft.prelabel,
        gold=draft.gold,
        assignee=check_assignee(draft.assignee),
    )


def _json(part: Mapping[str, Any] | None, what: str) -> str | None:
    if part is None:
        return None
    try:
        return json.dumps(dict(part), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"a task's {what} must be plain JSON: {error}") from error


def _checked_task(config: LabelConfig, draft: TaskDraft) -> rows.NewTask:
    """A draft checked once, with its JSON encoded once (imports run this 100,000 times)."""
    if not isinstance(draft, TaskDraft):
        raise InvalidInput("tasks are TaskDrafts")
    if draft.source or draft.key is not None or draft.assignee is not None:
        draft = check_draft_fields(draft)
    else:
        for part, what in ((draft.prelabel, "prelabel"), (draft.gold, "gold")):
            if part is not None and not isinstance(part, Mapping):
                raise InvalidInput(f"a task's {what} must be a mapping or null")
    data, text = encode_data(config, draft.data)
    return rows.NewTask(
        data=data,
        data_json=text,
        priority=_priority(draft.priority),
        source=draft.source,
        key=draft.key,
        prelabel=None if draft.prelabel is None else dict(draft.prelabel),
        prelabel_json=_json(draft.prelabel, "prelabel"),
        gold=None if draft.gold is None else dict(draft.gold),
        gold_json=_json(draft.gold, "gold"),
        assignee=draft.assignee,
    )


class SqlLabelingStore(LabelingStore):
    """Labeling rows on SQLite or PostgreSQL."""

    _db: Database

    def _project(self, name: str) -> str:
        return inputs.name(name, "label project name")

    # -- projects and members -----------------------------------------------------------
    def create_label_project(
        self,
        name: str,
        config: LabelConfig,
        *,
        description: str = "",
        source: str | None = None,
        created_by: str = "",
    ) -> LabelProject:
        name = self._project(name)
        if not isinstance(config, LabelConfig):
            raise InvalidInput("create_label_project needs a LabelConfig")
        checked = check_config(config)
        if not isinstance(description, str) or len(description) > inputs.MAX_VALUE:
            raise InvalidInput("a description must be text of at most 65535 characters")
        src = None if source is None else inputs.label(source, "source")
        author = inputs.label(created_by or "unknown", "created_by")
        try:
            manager: str | None = inputs.name(created_by, "user") if created_by else None
        except InvalidInput:
            manager = None
        return self._db.transact(
            lambda c: rows.create_project(c, name, checked, description, src, author, manager),
            write=True,
            what="create label project",
        )

    def get_label_project(self, name: str) -> LabelProject:
        name = self._project(name)
        return self._db.transact(
            lambda c: rows.project(rows.get_project_row(c, name)),
            write=False,
            what="get label project",
        )

    def list_label_projects(self) -> list[LabelProject]:
        return self._db.transact(rows.list_projects, write=False, what="list label projects")

    def update_label_project(
        self, name: str, *, config: LabelConfig | None = None, description: str | None = None
    ) -> LabelProject:
        name = self._project(name)
        checked = None if config is None else check_config(config)
        if description is not None and (
            not isinstance(description, str) or len(description) > inputs.MAX_VALUE
        ):
            raise InvalidInput("a description must be text of at most 65535 characters")
        return self._db.transact(
            lambda c: rows.update_project(c, name, checked, description),
            write=True,
            what="update label project",
        )

    def set_label_member(self, project: str, user: str, role: str | None) -> list[LabelMember]:
        project = self._project(project)
        user = inputs.name(user, "user name")
        checked = None if role is None else check_role(role)
        return self._db.transact(
            lambda c: rows.set_member(c, project, user, checked), write=True, what="set member"
        )

    def list_label_members(self, project: str) -> list[LabelMember]:
        project = self._project(project)
        return self._db.transact(
            lambda c: rows.list_members(c, project), write=False, what="list members"
        )

    def set_label_group(
        self, project: str, group: str, users: Sequence[str]
    ) -> dict[str, list[str]]:
        project = self._project(project)
        group = inputs.name(group, "group name")
        if not isinstance(users, (list, tuple)):
            raise InvalidInput("group members must be a list of user names")
        members = sorted({inputs.name(u, "user name") for u in users})
        return self._db.transact(
            lambda c: rows.set_group(c, project, group, members), write=True, what="set group"
        )

    def list_label_groups(self, project: str) -> dict[str, list[str]]:
        project = self._project(project)
        return self._db.transact(
            lambda c: rows.list_groups(c, project), write=False, what="list groups"
        )

    # -- tasks --------------------------------------------------------------------------
    def add_label_tasks(self, project: str, drafts: Sequence[TaskDraft]) -> list[int]:
        project = self._project(project)
        if not isinstance(drafts, (list, tuple)) or len(drafts) > MAX_BATCH:
            raise InvalidInput(f"tasks must be a list of at most {MAX_BATCH} TaskDrafts")
        config = self.get_label_project(project).config
        checked = [_checked_task(config, d) for d in drafts]
        return self._db.transact(
            lambda c: rows.add_tasks(c, project, config, checked), write=True, what="add tasks"
        )

    def get_label_task(self, task_id: int) -> LabelTask:
        (task_id,) = check_ids([task_id], "task id")
        return self._db.transact(
            lambda c: rows.task(rows.get_task_row(c, task_id)), write=False, what="get task"
        )

    def list_label_tasks(
        self,
        project: str,
        *,
        state: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[LabelTask]:
        project = self._project(project)
        if state is not None and state not in TASK_STATES:
            raise InvalidInput(f"unknown task state {state!r}: use one of {TASK_STATES}")
        after = inputs.non_negative_int(after_id, "after_id")
        limit = check_limit(limit)
        return self._db.transact(
            lambda c: rows.list_tasks(c, project, state, after, limit),
            write=False,
            what="list tasks",
        )

    def next_label_tasks(
        self, project: str, user: str, *, limit: int = 1, lease_s: float | None = None
    ) -> list[LabelTask]:
        project = self._project(project)
        user = inputs.name(user, "user name")
        limit = check_limit(limit, high=100)
        if lease_s is not None and (
            isinstance(lease_s, bool)
            or not isinstance(lease_s, (int, float))
            or not 0 < lease_s <= 86400
        ):
            raise InvalidInput("lease_s must be a number of seconds in (0, 86400]")
        seconds = None if lease_s is None else float(lease_s)
        return self._db.transact(
            lambda c: queue.claim(c, project, user, limit, seconds),
            write=True,
            what="claim label tasks",
        )

    def skip_label_task(self, task_id: int, user: str, reason: str) -> LabelTask:
        (task_id,) = check_ids([task_id], "task id")
        user = inputs.name(user, "user name")
        reason = inputs.label(reason or "skipped", "skip reason", max_len=1000)
        return self._db.transact(
            lambda c: queue.skip(c, task_id, user, reason), write=True, what="skip task"
        )

    def set_label_priorities(self, project: str, priorities: Mapping[int, float]) -> int:
        project = self._project(project)
        if not isinstance(priorities, Mapping):
            raise InvalidInput("priorities must map task ids to numbers")
        checked = {check_ids([k])[0]: _priority(v) for k, v in priorities.items()}
        return self._db.transact(
            lambda c: rows.set_priorities(c, project, checked), write=True, what="set priorities"
        )

    def assign_label_tasks(
        self, project: str, task_ids: Sequence[int], assignee: str | None
    ) -> int:
        project = self._project(project)
        ids = check_ids(task_ids)
        who = check_assignee(assignee)
        return self._db.transact(
            lambda c: rows.assign_tasks(c, project, ids, who), write=True, what="assign tasks"
        )

    # -- annotations and reviews --------------------------------------------------------
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
        (task_id,) = check_ids([task_id], "task id")
        user = inputs.name(user, "user name")
        if duration_ms is not None:
            duration_ms = inputs.non_negative_int(duration_ms, "duration_ms")
        if origin not in ORIGINS:
            raise InvalidInput(f"unknown origin {origin!r}: use one of {ORIGINS}")
        model = None if model is None else inputs.label(model, "model")
        if confidence is not None:
            confidence = _priority(confidence)
        return self._db.transact(
            lambda c: queue.submit(
                c,
                task_id,
                user,
                value,
                duration_ms=duration_ms,
                origin=origin,
                model=model,
                confidence=confidence,
                audit=bool(audit),
            ),
            write=True,
            what="submit annotation",
        )

    def list_annotations(
        self,
        project: str,
        *,
        task_id: int | None = None,
        user: str | None = None,
        after_id: int = 0,
        limit: int = 10_000,
    ) -> list[Annotation]:
        project = self._project(project)
        tid = None if task_id is None else check_ids([task_id], "task id")[0]
        who = None if user is None else inputs.name(user, "user name")
        after = inputs.non_negative_int(after_id, "after_id")
        limit = check_limit(limit)
        return self._db.transact(
            lambda c: queue.list_annotations(c, project, tid, who, after, limit),
            write=False,
            what="list annotations",
        )

    def get_annotation(self, annotation_id: int) -> Annotation:
        (annotation_id,) = check_ids([annotation_id], "annotation id")
        return self._db.transact(
            lambda c: queue.get_annotation(c, annotation_id), write=False, what="get annotation"
        )

    def review_annotation(
        self,
        annotation_id: int,
        reviewer: str,
        decision: str,
        *,
        comment: str = "",
        value: Mapping[str, Any] | None = None,
    ) -> Annotation:
        (annotation_id,) = check_ids([annotation_id], "annotation id")
        reviewer = inputs.name(reviewer, "reviewer")
        if decision not in REVIEW_DECISIONS:
            raise InvalidInput(f"unknown decision {decision!r}: use one of {REVIEW_DECISIONS}")
        if not isinstance(comment, str) or len(comment) > 10_000:
            raise InvalidInput("a review comment is text of at most 10000 characters")
        return self._db.transact(
            lambda c: queue.review(c, annotation_id, reviewer, decision, comment, value),
            write=True,
            what="review annotation",
        )

    def label_progress(self, project: str) -> LabelProgress:
        project = self._project(project)
        return self._db.transact(
            lambda c: rows.progress(c, project), write=False, what="label progress"
        )
