"""Label projects, members, groups and tasks inside a store transaction.

The queue (claims, leases, submissions, reviews) is in :mod:`.labeling_queue`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, bindparam, delete, func, select, update

from stackml._internal.timeutil import now_ms
from stackml.errors import AlreadyExists, Conflict, NotFound
from stackml.store.labeling_entities import (
    ANNOTATION_STATES,
    TASK_STATES,
    Annotation,
    LabelConfig,
    LabelMember,
    LabelProgress,
    LabelProject,
    LabelTask,
)
from stackml.store.sql import labeling_counts as counts
from stackml.store.sql import models_labeling as m
from stackml.store.sql.engine import dialect_insert

PROJECTS: Table = cast(Table, m.LabelProjectRow.__table__)
MEMBERS: Table = cast(Table, m.LabelMemberRow.__table__)
GROUPS: Table = cast(Table, m.LabelGroupRow.__table__)
TASKS: Table = cast(Table, m.LabelTaskRow.__table__)
LEASES: Table = cast(Table, m.LabelLeaseRow.__table__)
SKIPS: Table = cast(Table, m.LabelSkipRow.__table__)
ANNOTATIONS: Table = cast(Table, m.LabelAnnotationRow.__table__)
_PROJECT_EXISTS = select(PROJECTS.c.name).where(PROJECTS.c.name == bindparam("p"))


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


class NewTask(NamedTuple):
    """A checked task to insert: its parts, and the JSON texts of its mappings."""

    data: dict[str, Any]
    data_json: str
    priority: float
    source: str
    key: str | None
    prelabel: dict[str, Any] | None
    prelabel_json: str | None
    gold: dict[str, Any] | None
    gold_json: str | None
    assignee: str | None


_SQLITE_INSERT_TASKS = (
    "INSERT INTO label_tasks (project, key, data, priority, queue_rank, source, prelabel, gold,"
    " assignee, state, done_count, open_slots, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', 0, ?, ?)"
)


def add_tasks(
    conn: Connection, name: str, config: LabelConfig, tasks: Sequence[NewTask]
) -> list[int]:
    """Insert checked tasks in one batch; answer their ids in order."""
    if not tasks:
        return []
    now, slots = now_ms(), config.overlap
    counts.apply(conn, name, Counter({"tasks:open": len(tasks)}))
    if conn.dialect.name == "sqlite":
        # The write transaction holds SQLite's only write lock, so new rowids follow the
        # current largest one without gaps. The driver's executemany of the JSON texts
        # already encoded skips the per-row parameter processing of a Core insert.
        last = conn.execute(select(func.max(TASKS.c.id))).scalar() or 0
        params = [
            (name, t.key, t.data_json, t.priority, -t.priority, t.source, t.prelabel_json,
             t.gold_json, t.assignee, slots, now)
            for t in tasks
        ]  # fmt: skip
        conn.exec_driver_sql(_SQLITE_INSERT_TASKS, params)
        return list(range(last + 1, last + 1 + len(tasks)))
    rows = [
        {
            "project": name,
            "key": t.key,
            "data": t.data,
            "priority": t.priority,
            "queue_rank": -t.priority,
            "source": t.source,
            "prelabel": t.prelabel,
            "gold": t.gold,
            "assignee": t.assignee,
            "state": "open",
            "done_count": 0,
            "open_slots": slots,
            "created_at": now,
        }
        for t in tasks
    ]
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
    """Progress from the project's counters (see :mod:`.labeling_counts`)."""
    if conn.execute(_PROJECT_EXISTS, {"p": name}).first() is None:
        get_project_row(conn, name)  # raises NotFound
    c = counts.read(conn, name)
    states = {s: c.get("tasks:" + s, 0) for s in TASK_STATES}
    statuses = {s: c.get("annotations:" + s, 0) for s in ANNOTATION_STATES}
    per_user = sorted((k[5:], n) for k, n in c.items() if k.startswith("user:") and n)
    return LabelProgress(
        project=name,
        total=sum(states.values()),
        open=states["open"],
        leased=states["leased"],
        done=states["done"],
        annotations=sum(statuses.values()),
        submitted=statuses["submitted"] + statuses["audit"],
        accepted=statuses["accepted"],
        rejected=statuses["rejected"],
        machine=c.get("machine", 0),
        skipped=c.get("skipped", 0),
        per_user=dict(per_user),
    )


def count_check(conn: Connection, name: str) -> dict[str, int]:
    """The counters recomputed from the rows (what :func:`progress` must agree with)."""
    found: dict[str, int] = {}
    states = select(TASKS.c.state, func.count()).where(TASKS.c.project == name)
    for state, n in conn.execute(states.group_by(TASKS.c.state)):
        found["tasks:" + state] = int(n)
    statuses = select(ANNOTATIONS.c.status, func.count()).where(ANNOTATIONS.c.project == name)
    for status, n in conn.execute(statuses.group_by(ANNOTATIONS.c.status)):
        found["annotations:" + status] = int(n)
    users = select(ANNOTATIONS.c.user, ANNOTATIONS.c.origin == "machine", func.count())
    users = users.where(ANNOTATIONS.c.project == name)
    for user, machine, n in conn.execute(users.group_by(ANNOTATIONS.c.user, ANNOTATIONS.c.origin)):
        key = "machine" if machine else "user:" + user
        found[key] = found.get(key, 0) + int(n)
    skipped = select(func.count(func.distinct(SKIPS.c.task_id))).where(SKIPS.c.project == name)
    found["skipped"] = int(conn.execute(skipped).scalar_one())
    return {k: n for k, n in found.items() if n}


def referenced_blobs(conn: Connection) -> list[str]:
    """Hashes of the images label tasks show (so ``stackml gc`` keeps them)."""
    found = set()
    for (data,) in conn.execute(select(TASKS.c.data)):
        digest = (data or {}).get("image")
        if isinstance(digest, str):
            found.add(digest)
    return sorted(found)
