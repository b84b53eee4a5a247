"""Label projects, members, groups and tasks inside a store transaction.

The queue (claims, leases, submissions, reviews) is in :mod:`.labeling_queue`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, func, select, update

from stackml._internal.timeutil import now_ms
from stackml.errors import AlreadyExists, Conflict, NotFound
from stackml.store.labeling_entities import (
    Annotation,
    LabelConfig,
    LabelMember,
    LabelProgress,
    LabelProject,
    LabelTask,
    TaskDraft,
)
from stackml.store.sql import models_labeling as m
from stackml.store.sql.engine import dialect_insert

PROJECTS: Table = cast(Table, m.LabelProjectRow.__table__)
MEMBERS: Table = cast(Table, m.LabelMemberRow.__table__)
GROUPS: Table = cast(Table, m.LabelGroupRow.__table__)
TASKS: Table = cast(Table, m.LabelTaskRow.__table__)
LEASES: Table = cast(Table, m.LabelLeaseRow.__table__)
SKIPS: Table = cast(Table, m.LabelSkipRow.__table__)
ANNOTATIONS: Table = cast(Table, m.LabelAnnotationRow.__table__)


def project(row: Any) -> LabelProject:
    """The snapshot of a project row (its config was checked when written)."""
    return LabelProject(
        name=row.name,
        description=row.description,
        config=LabelConfig.from_dict(row.config),
        source=row.source,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def task(row: Any, lease_expires_at: int | None = None) -> LabelTask:
    """The snapshot of a task row."""
    return LabelTask(
        id=int(row.id),
        project=row.project,
        key=row.key,
        data=dict(row.data or {}),
        priority=float(row.priority),
        source=row.source,
        prelabel=None if row.prelabel is None else dict(row.prelabel),
        gold=None if row.gold is None else dict(row.gold),
        assignee=row.assignee,
        state=row.state,
        done_count=int(row.done_count),
        created_at=row.created_at,
        lease_expires_at=lease_expires_at,
    )


def annotation(row: Any) -> Annotation:
    """The snapshot of an annotation row."""
    return Annotation(
        id=int(row.id),
        task_id=int(row.task_id),
        project=row.project,
        user=row.user,
        value=dict(row.value or {}),
        origin=row.origin,
        status=row.status,
        created_at=row.created_at,
        started_at=row.started_at,
        duration_ms=row.duration_ms,
        model=row.model,
        confidence=row.confidence,
        extra=bool(row.extra),
        comment=row.comment,
        reviewer=row.reviewer,
        reviewed_at=row.reviewed_at,
    )


def get_project_row(conn: Connection, name: str) -> Any:
    row = conn.execute(select(PROJECTS).where(PROJECTS.c.name == name)).first()
    if row is None:
        raise NotFound(
            f"label project {name!r} does not exist; create it with `stackml label create`"
        )
    return row


def create_project(
    conn: Connection,
    name: str,
    config: LabelConfig,
    description: str,
    source: str | None,
    created_by: str,
    manager: str | None,
) -> LabelProject:
    stmt = (
        dialect_insert(conn, PROJECTS)
        .values(
            name=name,
            description=description,
            task_type=config.task_type,
            config=config.to_dict(),
            source=source,
            created_by=created_by,
            created_at=now_ms(),
        )
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(PROJECTS.c.name)
    )
    if conn.execute(stmt).first() is None:
        raise AlreadyExists(f"label project {name!r} already exists")
    if manager:
        conn.execute(MEMBERS.insert().values(project=name, user=manager, role="manager"))
    return project(get_project_row(conn, name))


def list_projects(conn: Connection) -> list[LabelProject]:
    return [project(r) for r in conn.execute(select(PROJECTS).order_by(PROJECTS.c.name))]


def update_project(
    conn: Connection, name: str, config: LabelConfig | None, description: str | None
) -> LabelProject:
    row = get_project_row(conn, name)
    values: dict[str, Any] = {}
    if description is not None:
        values["description"] = description
    if config is not None:
        old = LabelConfig.from_dict(row.config)
        if config.task_type != old.task_type:
            raise Conflict("the task type of a label project cannot change; create a new project")
        if config.overlap != old.overlap:
            has_tasks = conn.execute(select(TASKS.c.id).where(TASKS.c.project == name).limit(1))
            if has_tasks.first() is not None:
                raise Conflict("overlap cannot change once the project has tasks")
        values["config"] = config.to_dict()
    if values:
        conn.execute(update(PROJECTS).where(PROJECTS.c.name == name).values(**values))
    return project(get_project_row(conn, name))


def set_member(conn: Connection, name: str, user: str, role: str | None) -> list[LabelMember]:
    get_project_row(conn, name)
    conn.execute(delete(MEMBERS).where(MEMBERS.c.project == name, MEMBERS.c.user == user))
    if role is not None:
        conn.execute(MEMBERS.insert().values(project=name, user=user, role=role))
    return list_members(conn, name)


def list_members(conn: Connection, name: str) -> list[LabelMember]:
    get_project_row(conn, name)
    rows = conn.execute(select(MEMBERS).where(MEMBERS.c.project == name).order_by(MEMBERS.c.user))
    return [LabelMember(r.project, r.user, r.role) for r in rows]


def set_group(
    conn: Connection, name: str, group: str, users: Sequence[str]
) -> dict[str, list[str]]:
    get_project_row(conn, name)
    conn.execute(delete(GROUPS).where(GROUPS.c.project == name, GROUPS.c.group == group))
    if users:
        conn.execute(GROUPS.insert(), [{"project": name, "group": group, "user": u} for u in users])
    return list_groups(conn, name)


def list_groups(conn: Connection, name: str) -> dict[str, list[str]]:
    get_project_row(conn, name)
    groups: dict[str, list[str]] = defaultdict(list)
    query = select(GROUPS).where(GROUPS.c.project == name).order_by(GROUPS.c.group, GROUPS.c.user)
    for r in conn.execute(query):
        groups[r.group].append(r.user)
    return dict(groups)


def add_tasks(
    conn: Connection, name: str, config: LabelConfig, drafts: Sequence[TaskDraft]
) -> list[int]:
    now = now_ms()
    rows = [
        {
            "project": name,
            "key": d.key,
            "data": dict(d.data),
            "priority": float(d.priority),
            "queue_rank": -float(d.priority),
            "source": d.source,
            "prelabel": None if d.prelabel is None else dict(d.prelabel),
            "gold": None if d.gold is None else dict(d.gold),
            "assignee": d.assignee,
            "state": "open",
            "done_count": 0,
            "open_slots": config.overlap,
            "created_at": now,
        }
        for d in drafts
    ]
    if not rows:
        return []
    if conn.dialect.name == "sqlite":
        # The write transaction holds SQLite's only write lock, so new rowids follow the
        # current largest one without gaps; a plain executemany is many times faster than
        # RETURNING row by row.
        last = conn.execute(select(func.max(TASKS.c.id))).scalar() or 0
        conn.execute(TASKS.insert(), rows)
        return list(range(last + 1, last + 1 + len(rows)))
    stmt = TASKS.insert().returning(TASKS.c.id, sort_by_parameter_order=True)
    return [int(r[0]) for r in conn.execute(stmt, rows)]


def get_task_row(conn: Connection, task_id: int, *, lock: bool = False) -> Any:
    query = select(TASKS).where(TASKS.c.id == task_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"label task {task_id} does not exist")
    return row


def list_tasks(
    conn: Connection, name: str, state: str | None, after_id: int, limit: int
) -> list[LabelTask]:
    get_project_row(conn, name)
    query = (
        select(TASKS)
        .where(TASKS.c.project == name, TASKS.c.id > after_id)
        .order_by(TASKS.c.id)
        .limit(limit)
    )
    if state is not None:
        query = query.where(TASKS.c.state == state)
    return [task(r) for r in conn.execute(query)]


def set_priorities(conn: Connection, name: str, priorities: Mapping[int, float]) -> int:
    get_project_row(conn, name)
    params = [{"tid": k, "p": float(v), "r": -float(v)} for k, v in priorities.items()]
    if not params:
        return 0
    from sqlalchemy import bindparam

    stmt = (
        update(TASKS)
        .where(TASKS.c.id == bindparam("tid"), TASKS.c.project == name)
        .values(priority=bindparam("p"), queue_rank=bindparam("r"))
    )
    result = conn.execute(stmt, params)
    return int(result.rowcount or 0)


def assign_tasks(conn: Connection, name: str, ids: Sequence[int], assignee: str | None) -> int:
    get_project_row(conn, name)
    total = 0
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        result = conn.execute(
            update(TASKS)
            .where(TASKS.c.project == name, TASKS.c.id.in_(chunk))
            .values(assignee=assignee)
        )
        total += int(result.rowcount or 0)
    return total


def progress(conn: Connection, name: str) -> LabelProgress:
    get_project_row(conn, name)
    states = dict(
        conn.execute(
            select(TASKS.c.state, func.count())
            .where(TASKS.c.project == name)
            .group_by(TASKS.c.state)
        ).all()
    )
    statuses = dict(
        conn.execute(
            select(ANNOTATIONS.c.status, func.count())
            .where(ANNOTATIONS.c.project == name)
            .group_by(ANNOTATIONS.c.status)
        ).all()
    )
    machine = conn.execute(
        select(func.count()).where(ANNOTATIONS.c.project == name, ANNOTATIONS.c.origin == "machine")
    ).scalar_one()
    skipped = conn.execute(
        select(func.count(func.distinct(SKIPS.c.task_id))).where(SKIPS.c.project == name)
    ).scalar_one()
    per_user = dict(
        conn.execute(
            select(ANNOTATIONS.c.user, func.count())
            .where(ANNOTATIONS.c.project == name, ANNOTATIONS.c.origin != "machine")
            .group_by(ANNOTATIONS.c.user)
            .order_by(ANNOTATIONS.c.user)
        ).all()
    )
    return LabelProgress(
        project=name,
        total=int(sum(states.values())),
        open=int(states.get("open", 0)),
        leased=int(states.get("leased", 0)),
        done=int(states.get("done", 0)),
        annotations=int(sum(statuses.values())),
        submitted=int(statuses.get("submitted", 0) + statuses.get("audit", 0)),
        accepted=int(statuses.get("accepted", 0)),
        rejected=int(statuses.get("rejected", 0)),
        machine=int(machine),
        skipped=int(skipped),
        per_user={str(k): int(v) for k, v in per_user.items()},
    )


def referenced_blobs(conn: Connection) -> list[str]:
    """Hashes of the images label tasks show (so ``stackml gc`` keeps them)."""
    found = set()
    for (data,) in conn.execute(select(TASKS.c.data)):
        digest = (data or {}).get("image")
        if isinstance(digest, str):
            found.add(digest)
    return sorted(found)
