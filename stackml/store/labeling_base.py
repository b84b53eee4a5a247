"""Labeling: the part of the :class:`~stackml.store.base.MetadataStore` interface that keeps
label projects, tasks with leases, annotations, reviews and members.

Queue contract:

* :meth:`LabelingStore.next_label_tasks` hands tasks out with a lease in one transaction
  (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite): a task is held by
  at most ``overlap`` annotators at once (counting those who already submitted), never twice
  by the same one. Higher ``priority`` first, then older. Expired leases return to the queue
  before every claim. Tasks assigned to a user or ``@group`` go only to them.
* :meth:`LabelingStore.submit_annotation` records who, when and how long. A submission after
  the lease expired still counts when a slot is free; when the task was completed by others
  meanwhile it is kept as an *extra* annotation and never overwrites theirs.
* A rejected annotation frees its slot again, so the task returns to the queue.

Errors: ``NotFound`` for unknown projects, tasks and annotations, ``InvalidInput`` for
malformed input (annotation values are checked by :mod:`stackml.store.labeling_values`),
``AlreadyExists``/``Conflict`` for duplicates and wrong states. Role checks belong to the
server's routes; the store trusts the ``user`` it is given.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from stackml.store.labeling_entities import (
    Annotation,
    LabelConfig,
    LabelMember,
    LabelProgress,
    LabelProject,
    LabelTask,
    TaskDraft,
)

__all__ = ["LabelingStore"]


class LabelingStore(abc.ABC):
    """Labeling rows of the metadata store. Same thread-safety and error contract as the store."""

    # -- projects and members -----------------------------------------------------------
    @abc.abstractmethod
    def create_label_project(
        self,
        name: str,
        config: LabelConfig,
        *,
        description: str = "",
        source: str | None = None,
        created_by: str = "",
    ) -> LabelProject:
        """Create a project; its creator becomes its manager. ``AlreadyExists`` if taken."""

    @abc.abstractmethod
    def get_label_project(self, name: str) -> LabelProject:
        """One project. Raises ``NotFound``."""

    @abc.abstractmethod
    def list_label_projects(self) -> list[LabelProject]:
        """Every project, by name."""

    @abc.abstractmethod
    def update_label_project(
        self, name: str, *, config: LabelConfig | None = None, description: str | None = None
    ) -> LabelProject:
        """Change the config (its task type cannot change) or description."""

    @abc.abstractmethod
    def set_label_member(self, project: str, user: str, role: str | None) -> list[LabelMember]:
        """Give ``user`` a role in the project (``None`` removes them); answer every member."""

    @abc.abstractmethod
    def list_label_members(self, project: str) -> list[LabelMember]:
        """Members and their roles, by user name."""

    @abc.abstractmethod
    def set_label_group(
        self, project: str, group: str, users: Sequence[str]
    ) -> dict[str, list[str]]:
        """Set the members of a group (an empty list removes it); answer every group."""

    @abc.abstractmethod
    def list_label_groups(self, project: str) -> dict[str, list[str]]:
        """Groups of a project and their members."""

    # -- tasks --------------------------------------------------------------------------
    @abc.abstractmethod
    def add_label_tasks(self, project: str, drafts: Sequence[TaskDraft]) -> list[int]:
        """Push items into the queue (one bulk insert); answer their ids in order."""

    @abc.abstractmethod
    def get_label_task(self, task_id: int) -> LabelTask:
        """One task. Raises ``NotFound``."""

    @abc.abstractmethod
    def list_label_tasks(
        self,
        project: str,
        *,
        state: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[LabelTask]:
        """Tasks by id, after ``after_id`` (for paging), optionally in one state."""

    @abc.abstractmethod
    def next_label_tasks(
        self, project: str, user: str, *, limit: int = 1, lease_s: float | None = None
    ) -> list[LabelTask]:
        """Lease up to ``limit`` tasks to ``user`` (see the module's queue contract)."""

    @abc.abstractmethod
    def skip_label_task(self, task_id: int, user: str, reason: str) -> LabelTask:
        """Give a leased task back with a reason; it is not offered to ``user`` again."""

    @abc.abstractmethod
    def set_label_priorities(self, project: str, priorities: Mapping[int, float]) -> int:
        """Set tasks' priorities (active learning, flywheel scores); answer how many changed."""

    @abc.abstractmethod
    def assign_label_tasks(
        self, project: str, task_ids: Sequence[int], assignee: str | None
    ) -> int:
        """Reserve tasks for a user or ``@group`` (``None`` frees them); answer how many."""

    # -- annotations and reviews --------------------------------------------------------
    @abc.abstractmethod
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
        """Record a label (value checked and clamped); see the module's queue contract.

        A second submission by the same user replaces their earlier, unreviewed one.
        ``origin="machine"`` marks a model's label (``model``, ``confidence`` keep its
        provenance); ``audit=True`` puts it in the reviewers' queue (status ``audit``).
        """

    @abc.abstractmethod
    def list_annotations(
        self,
        project: str,
        *,
        task_id: int | None = None,
        user: str | None = None,
        after_id: int = 0,
        limit: int = 10_000,
    ) -> list[Annotation]:
        """Annotations by id, after ``after_id``, optionally of one task or one user."""

    @abc.abstractmethod
    def get_annotation(self, annotation_id: int) -> Annotation:
        """One annotation. Raises ``NotFound``."""

    @abc.abstractmethod
    def review_annotation(
        self,
        annotation_id: int,
        reviewer: str,
        decision: str,
        *,
        comment: str = "",
        value: Mapping[str, Any] | None = None,
    ) -> Annotation:
        """``accept``, ``reject`` (the task returns to the queue) or ``fix`` (``value`` is
        stored as the reviewer's own annotation, the original is marked ``fixed``).
        Answers the reviewed annotation (for ``fix``: the reviewer's new one)."""

    @abc.abstractmethod
    def label_progress(self, project: str) -> LabelProgress:
        """Counts of tasks by state and annotations by status."""
