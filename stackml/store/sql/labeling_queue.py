"""The label queue inside a store transaction: claims with leases, submissions, skips, reviews.

Claims run in one write transaction. On PostgreSQL the candidate rows are locked with
``FOR UPDATE SKIP LOCKED`` so that annotators asking at the same moment take different tasks
instead of waiting on each other; on SQLite ``BEGIN IMMEDIATE`` serializes claims. Either way
the ``UPDATE ... WHERE open_slots > 0`` guards against handing out more slots than a task has.

Slot accounting of a task: ``open_slots = overlap - live leases - counted annotations``.
Every change of a task's state or an annotation's status also updates the project's progress
counters (:mod:`.labeling_counts`) in the same transaction.

The hot paths (claim, submit) run a fixed handful of indexed statements, prepared once: the
candidate scan reads the partial index of open tasks in queue order, and the project's config
is read as its stored text and parsed once per distinct text.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Text,
    bindparam,
    case,
    cast,
    delete,
    exists,
    literal_column,
    or_,
    select,
    update,
)

from stackml._internal.timeutil import now_ms
from stackml.errors import Conflict, InvalidInput, NotFound
from stackml.store.labeling_entities import Annotation, LabelConfig, LabelTask
from stackml.store.labeling_values import check_value
from stackml.store.sql import labeling_counts as counts
from stackml.store.sql.labeling_counts import Deltas
from stackml.store.sql.labeling_rows import (
    ANNOTATIONS,
    GROUPS,
    LEASES,
    PROJECTS,
    SKIPS,
    TASKS,
    annotation,
    get_project_row,
    task,
)

_PENDING = ("submitted", "audit")


def _state(done: int, slots: int, overlap: int) -> str:
    if done >= overlap:
        return "done"
    return "open" if slots > 0 else "leased"


# The hot paths' statements are built once: building SQLAlchemy statements per call costs
# more than running them on SQLite.
_P: Any = bindparam("p")
_U: Any = bindparam("u")
_NOW: Any = bindparam("now")
_HAS_EXPIRED = (
    select(LEASES.c.task_id).where(LEASES.c.project == _P, LEASES.c.expires_at < _NOW).limit(1)
)
_EXPIRED = select(LEASES.c.task_id, LEASES.c.user).where(
    LEASES.c.project == _P, LEASES.c.expires_at < _NOW
)
_DROP_LEASE = delete(LEASES).where(LEASES.c.task_id == bindparam("tid"), LEASES.c.user == _U)
_FREE_SLOTS = (
    update(TASKS)
    .where(TASKS.c.id == bindparam("tid"))
    .values(
        open_slots=TASKS.c.open_slots + bindparam("n"),
        state=case((TASKS.c.state == "done", "done"), else_="open"),
    )
)
_STATES_OF = select(TASKS.c.id, TASKS.c.state).where(
    TASKS.c.id.in_(bindparam("ids", expanding=True))
)
_HELD = (
    select(TASKS)
    .join(LEASES, LEASES.c.task_id == TASKS.c.id)
    .where(LEASES.c.project == _P, LEASES.c.user == _U)
    .order_by(TASKS.c.queue_rank, TASKS.c.id)
    .limit(bindparam("lim"))
)
_RENEW = (
    update(LEASES)
    .where(LEASES.c.user == _U, LEASES.c.task_id.in_(bindparam("ids", expanding=True)))
    .values(expires_at=bindparam("exp"))
)
_GROUPS = select(GROUPS.c.group).where(GROUPS.c.project == _P, GROUPS.c.user == _U)
_CANDIDATES = (
    select(TASKS.c.id)
    .where(
        TASKS.c.project == _P,
        # A literal, not a parameter: only then do planners use the partial index of open tasks.
        TASKS.c.state == literal_column("'open'"),
        or_(TASKS.c.assignee.is_(None), TASKS.c.assignee.in_(bindparam("who", expanding=True))),
        ~exists().where(ANNOTATIONS.c.task_id == TASKS.c.id, ANNOTATIONS.c.user == _U),
        ~exists().where(SKIPS.c.task_id == TASKS.c.id, SKIPS.c.user == _U),
        ~exists().where(LEASES.c.task_id == TASKS.c.id, LEASES.c.user == _U),
    )
    .order_by(TASKS.c.queue_rank, TASKS.c.id)
    .limit(bindparam("lim"))
)
_CANDIDATES_LOCKED = _CANDIDATES.with_for_update(skip_locked=True, of=TASKS)
_TAKE = (
    update(TASKS)
    .where(TASKS.c.id == bindparam("tid"), TASKS.c.open_slots > 0)
    .values(
        open_slots=TASKS.c.open_slots - 1,
        state=case((TASKS.c.open_slots > 1, "open"), else_="leased"),
    )
    .returning(*TASKS.c)
)
_ADD_LEASE = LEASES.insert()
# The config's stored text: parsing JSON per call costs more than the queue's queries.
_CONFIG_TEXT = cast(PROJECTS.c.config, Text)
_PROJECT_CONFIG = select(_CONFIG_TEXT).where(PROJECTS.c.name == _P)
# What a claim needs to know first, in one round trip: the config, and whether leases lapsed.
_CLAIM_START = select(_CONFIG_TEXT, _HAS_EXPIRED.exists()).where(PROJECTS.c.name == _P)


def has_expired(conn: Connection, name: str, now: int) -> bool:
    """A cheap indexed read: does any lease of the project lapse before ``now``?"""
    return conn.execute(_HAS_EXPIRED, {"p": name, "now": now}).first() is not None


def reap(conn: Connection, name: str) -> int:
    """Return expired leases' slots to the queue; answer how many leases lapsed."""
    now = now_ms()
    if not has_expired(conn, name, now):
        return 0
    query = _EXPIRED
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query, {"p": name, "now": now}).all()
    freed = Counter(int(r.task_id) for r in rows)
    for r in rows:
        conn.execute(_DROP_LEASE, {"tid": r.task_id, "u": r.user})
    deltas = Deltas()
    states = _STATES_OF.with_for_update() if conn.dialect.name == "postgresql" else _STATES_OF
    for _task_id, state in conn.execute(states, {"ids": list(freed)}).all():
        deltas.moved(state, "done" if state == "done" else "open")
    for task_id, count in freed.items():
        conn.execute(_FREE_SLOTS, {"tid": task_id, "n": count})
    counts.apply(conn, name, deltas)
    return len(rows)


def claim(
    conn: Connection, name: str, user: str, limit: int, lease_s: float | None
) -> list[LabelTask]:
    """Lease up to ``limit`` tasks to ``user``: the ones it holds first, then new ones."""
    start = conn.execute(_CLAIM_START, {"p": name, "now": now_ms()}).first()
    if start is None:
        raise NotFound(f"label project {name!r} does not exist")
    seconds = _parsed_config(start[0]).lease_s if lease_s is None else lease_s
    if start[1]:
        reap(conn, name)
    now = now_ms()
    expires = now + int(seconds * 1000)
    held = conn.execute(_HELD, {"p": name, "u": user, "lim": limit}).all()
    if held:  # asking again renews what it holds (a reloaded page keeps its task)
        conn.execute(_RENEW, {"u": user, "ids": [r.id for r in held], "exp": expires})
    out = [task(r, expires) for r in held]
    need = limit - len(held)
    if need <= 0:
        return out
    groups = ["@" + g for g in conn.execute(_GROUPS, {"p": name, "u": user}).scalars()]
    query = _CANDIDATES_LOCKED if conn.dialect.name == "postgresql" else _CANDIDATES
    params = {"p": name, "u": user, "who": [user, *groups], "lim": need}
    deltas = Deltas()
    for (task_id,) in conn.execute(query, params).all():
        taken = conn.execute(_TAKE, {"tid": task_id}).first()
        if taken is None:  # taken meanwhile (only possible without row locks)
            continue
        deltas.moved("open", taken.state)
        conn.execute(
            _ADD_LEASE,
            {
                "task_id": task_id,
                "user": user,
                "project": name,
                "started_at": now,
                "expires_at": expires,
            },
        )
        out.append(task(taken, expires))
    counts.apply(conn, name, deltas, user)
    return out


_GET_TASK = select(TASKS).where(TASKS.c.id == bindparam("tid"))
_GET_TASK_LOCKED = _GET_TASK.with_for_update()
# A task with its project's config text (a submit needs both; one round trip).
_TASK_CONFIG = (
    select(TASKS, _CONFIG_TEXT.label("config_text"))
    .join(PROJECTS, PROJECTS.c.name == TASKS.c.project)
    .where(TASKS.c.id == bindparam("tid"))
)
_TASK_CONFIG_LOCKED = _TASK_CONFIG.with_for_update(of=TASKS)
_LEASE = select(LEASES).where(LEASES.c.task_id == bindparam("tid"), LEASES.c.user == _U)
_END_LEASE = (
    delete(LEASES)
    .where(LEASES.c.task_id == bindparam("tid"), LEASES.c.user == _U)
    .returning(LEASES.c.started_at)
)
_PENDING_OF = (
    select(ANNOTATIONS)
    .where(
        ANNOTATIONS.c.task_id == bindparam("tid"),
        ANNOTATIONS.c.user == _U,
        ANNOTATIONS.c.status.in_(_PENDING),
    )
    .order_by(ANNOTATIONS.c.id.desc())
    .limit(1)
)
_SET_COUNTS = (
    update(TASKS)
    .where(TASKS.c.id == bindparam("tid"))
    .values(open_slots=bindparam("slots"), done_count=bindparam("done"), state=bindparam("st"))
)
_ADD_ANNOTATION = ANNOTATIONS.insert().returning(*ANNOTATIONS.c)
_CORRECT = (
    update(ANNOTATIONS)
    .where(ANNOTATIONS.c.id == bindparam("aid"))
    .values(value=bindparam("v"), duration_ms=bindparam("spent"), created_at=bindparam("at"))
    .returning(*ANNOTATIONS.c)
)


@functools.lru_cache(maxsize=256)
def _parsed_config(text: str) -> LabelConfig:
    return LabelConfig.from_dict(json.loads(text))


def _config_of(conn: Connection, name: str) -> LabelConfig:
    text = conn.execute(_PROJECT_CONFIG, {"p": name}).scalar()
    if text is None:
        raise NotFound(f"label project {name!r} does not exist")
    # Configs are checked when written; parse each distinct one once.
    return _parsed_config(text)


def _task_row(conn: Connection, task_id: int, *, lock: bool = False) -> Any:
    query = _GET_TASK_LOCKED if lock and conn.dialect.name == "postgresql" else _GET_TASK
    row = conn.execute(query, {"tid": task_id}).first()
    if row is None:
        raise NotFound(f"label task {task_id} does not exist")
    return row


def _lease(conn: Connection, task_id: int, user: str) -> Any:
    return conn.execute(_LEASE, {"tid": task_id, "u": user}).first()


def skip(conn: Connection, task_id: int, user: str, reason: str) -> LabelTask:
    row = _task_row(conn, task_id, lock=True)
    if _lease(conn, task_id, user) is None:
        raise Conflict(f"task {task_id} is not leased to {user!r}; ask for the next task first")
    conn.execute(delete(LEASES).where(LEASES.c.task_id == task_id, LEASES.c.user == user))
    conn.execute(delete(SKIPS).where(SKIPS.c.task_id == task_id, SKIPS.c.user == user))
    others = select(SKIPS.c.user).where(SKIPS.c.task_id == task_id).limit(1)
    skipped_before = conn.execute(others).first() is not None
    conn.execute(
        SKIPS.insert().values(
            task_id=task_id, user=user, project=row.project, reason=reason, created_at=now_ms()
        )
    )
    overlap = _config_of(conn, row.project).overlap
    slots = row.open_slots + 1
    state = _state(row.done_count, slots, overlap)
    conn.execute(update(TASKS).where(TASKS.c.id == task_id).values(open_slots=slots, state=state))
    deltas = Deltas()
    deltas.moved(row.state, state)
    if not skipped_before:
        deltas["skipped"] += 1
    counts.apply(conn, row.project, deltas, user)
    return task(_task_row(conn, task_id))


def submit(
    conn: Connection,
    task_id: int,
    user: str,
    value: Mapping[str, Any],
    *,
    duration_ms: int | None,
    origin: str,
    model: str | None,
    confidence: float | None,
    audit: bool,
) -> Annotation:
    locked = conn.dialect.name == "postgresql"
    row = conn.execute(_TASK_CONFIG_LOCKED if locked else _TASK_CONFIG, {"tid": task_id}).first()
    if row is None:
        raise NotFound(f"label task {task_id} does not exist")
    config = _parsed_config(row.config_text)
    checked = check_value(config, row.data, value)
    now = now_ms()
    pending = conn.execute(_PENDING_OF, {"tid": task_id, "u": user}).first()
    if pending is not None:  # a correction of one's own unreviewed label (e.g. after "previous")
        spent = (pending.duration_ms or 0) + (duration_ms or 0)
        params = {"aid": pending.id, "v": checked, "spent": spent, "at": now}
        return annotation(conn.execute(_CORRECT, params).one())
    lease_start = conn.execute(_END_LEASE, {"tid": task_id, "u": user}).scalar()
    slots, done = int(row.open_slots), int(row.done_count)
    started = None
    if lease_start is not None:
        counted, started = True, int(lease_start)
        done += 1
    elif slots > 0 and row.state != "done":
        counted, slots, done = True, slots - 1, done + 1
    else:
        # The lease lapsed and others completed the task meanwhile: keep it beside theirs.
        counted = False
    if duration_ms is None and started is not None:
        duration_ms = now - started
    deltas = Deltas()
    if counted:
        state = _state(done, slots, config.overlap)
        conn.execute(_SET_COUNTS, {"tid": task_id, "slots": slots, "done": done, "st": state})
        deltas.moved(row.state, state)
    status = "audit" if audit else "submitted"
    deltas.annotated(user, status, origin)
    counts.apply(conn, row.project, deltas, user)
    values = {
        "task_id": task_id,
        "project": row.project,
        "user": user,
        "value": checked,
        "origin": origin,
        "status": status,
        "counted": counted,
        "extra": not counted,
        "model": model,
        "confidence": confidence,
        "created_at": now,
        "started_at": started,
        "duration_ms": duration_ms,
        "comment": "",
        "reviewer": None,
        "reviewed_at": None,
    }
    return annotation(conn.execute(_ADD_ANNOTATION, values).one())


def list_annotations(
    conn: Connection,
    name: str,
    task_id: int | None,
    user: str | None,
    after_id: int,
    limit: int,
    statuses: Sequence[str] | None = None,
) -> list[Annotation]:
    get_project_row(conn, name)
    query = (
        select(ANNOTATIONS)
        .where(ANNOTATIONS.c.project == name, ANNOTATIONS.c.id > after_id)
        .order_by(ANNOTATIONS.c.id)
        .limit(limit)
    )
    if task_id is not None:
        query = query.where(ANNOTATIONS.c.task_id == task_id)
    if user is not None:
        query = query.where(ANNOTATIONS.c.user == user)
    if statuses:
        query = query.where(ANNOTATIONS.c.status.in_(list(statuses)))
    return [annotation(r) for r in conn.execute(query)]


def get_annotation(conn: Connection, annotation_id: int) -> Annotation:
    row = conn.execute(select(ANNOTATIONS).where(ANNOTATIONS.c.id == annotation_id)).first()
    if row is None:
        raise NotFound(f"annotation {annotation_id} does not exist")
    return annotation(row)


def review(
    conn: Connection,
    annotation_id: int,
    reviewer: str,
    decision: str,
    comment: str,
    value: Mapping[str, Any] | None,
) -> Annotation:
    query = select(ANNOTATIONS).where(ANNOTATIONS.c.id == annotation_id)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"annotation {annotation_id} does not exist")
    trow = _task_row(conn, row.task_id, lock=True)
    if conn.dialect.name == "postgresql":  # task first, then annotation, as a submit locks them
        row = conn.execute(query.with_for_update()).one()
    if row.status not in _PENDING:
        raise Conflict(f"annotation {annotation_id} was already reviewed ({row.status})")
    config = _config_of(conn, row.project)
    now = now_ms()
    reviewed = {"reviewer": reviewer, "reviewed_at": now, "comment": comment}
    deltas = Deltas()
    if decision == "accept":
        deltas.restated(row.status, "accepted")
        counts.apply(conn, row.project, deltas, reviewer)
        conn.execute(
            update(ANNOTATIONS)
            .where(ANNOTATIONS.c.id == annotation_id)
            .values(status="accepted", **reviewed)
        )
        return annotation(
            conn.execute(select(ANNOTATIONS).where(ANNOTATIONS.c.id == annotation_id)).one()
        )
    if decision == "reject":
        conn.execute(
            update(ANNOTATIONS)
            .where(ANNOTATIONS.c.id == annotation_id)
            .values(status="rejected", counted=False, **reviewed)
        )
        deltas.restated(row.status, "rejected")
        if row.counted:  # its slot is free again: the task goes back to the queue
            slots, done = trow.open_slots + 1, trow.done_count - 1
            state = _state(done, slots, config.overlap)
            conn.execute(
                update(TASKS)
                .where(TASKS.c.id == trow.id)
                .values(open_slots=slots, done_count=done, state=state)
            )
            deltas.moved(trow.state, state)
        counts.apply(conn, row.project, deltas, reviewer)
        return annotation(
            conn.execute(select(ANNOTATIONS).where(ANNOTATIONS.c.id == annotation_id)).one()
        )
    if decision != "fix" or value is None:
        raise InvalidInput("a review decision is accept, reject, or fix with a value")
    checked = check_value(config, trow.data, value)
    conn.execute(
        update(ANNOTATIONS)
        .where(ANNOTATIONS.c.id == annotation_id)
        .values(status="fixed", counted=False, **reviewed)
    )
    deltas.restated(row.status, "fixed")
    deltas.annotated(reviewer, "accepted", "review")
    counts.apply(conn, row.project, deltas, reviewer)
    new_id = conn.execute(
        ANNOTATIONS.insert()
        .values(
            task_id=row.task_id,
            project=row.project,
            user=reviewer,
            value=checked,
            origin="review",
            status="accepted",
            counted=bool(row.counted),
            extra=bool(row.extra),
            model=None,
            confidence=None,
            created_at=now,
            started_at=None,
            duration_ms=None,
            comment=comment,
            reviewer=reviewer,
            reviewed_at=now,
        )
        .returning(ANNOTATIONS.c.id)
    ).scalar_one()
    return annotation(conn.execute(select(ANNOTATIONS).where(ANNOTATIONS.c.id == new_id)).one())
