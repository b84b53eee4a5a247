"""Run search: compile a parsed filter (:mod:`stackml.store.filter`) to SQLAlchemy expressions.

Every value and key a user typed becomes a bound parameter; only column names from a fixed
allow-list appear in the SQL text. Each distinct ``metrics.X``/``params.X``/``tags.X`` in the
order gets one LEFT OUTER JOIN on its summary/param/tag row and each filter term one correlated
EXISTS, so one query selects and sorts the page; the page's params, tags and metric summaries
are then read in bulk by one more query (a UNION ALL of the three tables), never per run.

A query's parsed and built statement is cached (:func:`_plan`, keyed by project, experiments,
filter text and order), with the page's limit and offset bound per call, so SQLAlchemy reuses
its compiled SQL: re-reading or paging a runs table costs two prepared queries.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    Integer,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from stackml.errors import InvalidInput
from stackml.store.entities import MetricSummary, Run, RunPage, RunStatus
from stackml.store.filter import (
    NULL_OPS,
    Comparison,
    Node,
    OrderKey,
    parse_filter,
    parse_order_by,
)
from stackml.store.sql import inputs
from stackml.store.sql.direct import fetch_all
from stackml.store.sql.runs import chunks, metric_summary
from stackml.store.sql.snapshots import LATEST, PARAMS, RUNS, TAGS

MAX_LIMIT = 50_000
_TABLES = {"metric": LATEST, "param": PARAMS, "tag": TAGS}
_STATUSES = {status.value: status for status in RunStatus}
#: Distinct queries whose parsed and built statements are kept (a table view, re-paged or
#: refreshed, reuses its statement and SQLAlchemy's compiled form of it).
_PLAN_CACHE = 256
_LIMIT = bindparam("page_limit", type_=Integer)
_OFFSET = bindparam("page_offset", type_=Integer)


class _Joins:
    """One aliased outer join per distinct (entity, key) the query mentions."""

    def __init__(self) -> None:
        self.aliases: dict[tuple[str, str], Any] = {}
        self.filters = 0  # EXISTS subqueries made so far, for unique alias names

    def table(self, entity: str, key: str) -> Any:
        alias = self.aliases.get((entity, key))
        if alias is None:
            alias = _TABLES[entity].alias(f"{entity}_{len(self.aliases)}")
            self.aliases[(entity, key)] = alias
        return alias

    def apply(self, query: Select[Any]) -> Select[Any]:
        for (_, key), alias in self.aliases.items():
            query = query.outerjoin(alias, and_(alias.c.run_id == RUNS.c.id, alias.c.key == key))
        return query


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return column == value  # type: ignore[no-any-return]
    if op == "!=":
        return column != value  # type: ignore[no-any-return]
    if op == "<":
        return column < value  # type: ignore[no-any-return]
    if op == "<=":
        return column <= value  # type: ignore[no-any-return]
    if op == ">":
        return column > value  # type: ignore[no-any-return]
    if op == ">=":
        return column >= value  # type: ignore[no-any-return]
    if op == "LIKE":
        return column.like(value)  # type: ignore[no-any-return]
    if op == "ILIKE":
        return column.ilike(value)  # type: ignore[no-any-return]
    if op == "IN":
        return column.in_(list(value))  # type: ignore[no-any-return]
    if op == "NOT IN":
        return column.not_in(list(value))  # type: ignore[no-any-return]
    raise InvalidInput(f"unsupported operator {op!r}")  # pragma: no cover - parser refuses it


def _is_number(value: Any) -> bool:
    first = value[0] if isinstance(value, tuple) else value
    return isinstance(first, (int, float))


def _comparison(node: Comparison, joins: _Joins) -> ColumnElement[bool]:
    value = node.value
    if node.op in NULL_OPS:
        return _null_test(node, joins)
    if node.entity == "attribute":
        column = RUNS.c[node.key]
        if node.key == "status":
            value = (
                tuple(str(v).lower() for v in value)
                if isinstance(value, tuple)
                else (str(value).lower())
            )
        return _compare(column, node.op, value)
    # A correlated EXISTS, not a join: the database keeps walking runs in the order's index
    # (project, start_time) and stops after one page, instead of collecting every match of
    # the key's value index and sorting them. The filter language has no NOT, so "no row"
    # (false) and a join's NULL (unknown) select the same runs.
    table = _TABLES[node.entity].alias(f"{node.entity}_f{joins.filters}")
    joins.filters += 1
    if node.entity == "param" and _is_number(value):
        # Compared as numbers where the param spells one; other params do not match.
        condition = _compare(table.c.value_num, node.op, value)
    else:
        condition = _compare(table.c.value, node.op, value)
    return (
        select(table.c.run_id)
        .where(table.c.run_id == RUNS.c.id, table.c.key == node.key, condition)
        .exists()
    )


def _null_test(node: Comparison, joins: _Joins) -> ColumnElement[bool]:
    """``IS [NOT] NULL``: an empty attribute column, or no metric/param/tag row for the key."""
    if node.entity == "attribute":
        column = RUNS.c[node.key]
        return column.is_(None) if node.op == "IS NULL" else column.is_not(None)  # type: ignore[no-any-return]
    table = _TABLES[node.entity].alias(f"{node.entity}_f{joins.filters}")
    joins.filters += 1
    present = (
        select(table.c.run_id).where(table.c.run_id == RUNS.c.id, table.c.key == node.key).exists()
    )
    return present if node.op == "IS NOT NULL" else ~present


def compile_filter(node: Node, joins: _Joins) -> ColumnElement[bool]:
    """The WHERE expression of a parsed filter."""
    if isinstance(node, Comparison):
        return _comparison(node, joins)
    parts = [compile_filter(operand, joins) for operand in node.operands]
    return and_(*parts) if node.op == "and" else or_(*parts)


def _order_columns(key: OrderKey, joins: _Joins) -> list[Any]:
    if key.entity == "param":
        table = joins.table("param", key.key)
        # Numeric values in numeric order, then the others as text, then runs lacking it.
        columns = [table.c.value_num, table.c.value]
    elif key.entity == "attribute":
        columns = [RUNS.c[key.key]]
    else:
        # A NaN metric is NULL too, so it sorts with the runs that lack the metric.
        columns = [joins.table(key.entity, key.key).c.value]
    # NULLS LAST (not an "IS NULL" sort key) lets SQLite read a matching index in order and
    # stop at the page's end instead of sorting every match.
    return [(column.desc() if key.descending else column.asc()).nulls_last() for column in columns]


def _query_digest(
    project: str | None,
    experiment_ids: Sequence[str] | None,
    filter_text: str | None,
    order_by: Sequence[str] | None,
) -> str:
    identity = json.dumps(
        [project, list(experiment_ids or []), filter_text or "", list(order_by or [])]
    )
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def encode_page_token(offset: int, digest: str) -> str:
    """An opaque token for the page starting at ``offset`` of the query ``digest``."""
    raw = json.dumps({"offset": offset, "query": digest}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str, digest: str) -> int:
    """The offset a token stands for; ``InvalidInput`` if it was altered or is for another query."""
    bad = InvalidInput(
        "invalid page token: pass back next_page_token unchanged, with the same query"
    )
    if not isinstance(token, str) or len(token) > 512:
        raise bad
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as error:
        raise bad from error
    if not isinstance(data, dict) or set(data) != {"offset", "query"}:
        raise bad
    offset = data["offset"]
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise bad
    if data["query"] != digest:
        raise bad
    return offset


@dataclass(frozen=True)
class _Plan:
    """A compiled search: its page statement (limit and offset bound per call) and digest."""

    statement: Select[Any]
    narrow: bool
    digest: str


@functools.lru_cache(maxsize=_PLAN_CACHE)
def _plan(
    project: str | None,
    experiment_ids: tuple[str, ...] | None,
    filter_text: str | None,
    order_by: tuple[str, ...],
) -> _Plan:
    """Parse and build the page statement of a query (cached: the same table view, paged or
    refreshed, reuses the statement and SQLAlchemy's compiled form of it)."""
    node = parse_filter(filter_text)
    order_keys = [parse_order_by(text) for text in order_by]
    joins = _Joins()
    conditions: list[ColumnElement[bool]] = []
    if project is not None:
        conditions.append(RUNS.c.project == project)
    if experiment_ids is not None:
        conditions.append(RUNS.c.experiment_id.in_(list(experiment_ids)))
    if node is not None:
        conditions.append(compile_filter(node, joins))
    ordering: list[Any] = []
    for key in order_keys:
        ordering.extend(_order_columns(key, joins))
    ordering.extend([RUNS.c.start_time.desc(), RUNS.c.id])
    # Ordering by a joined value sorts every match: sort ids only, then read the page's rows
    # (a narrow sort is cheaper than one carrying whole run rows).
    narrow = bool(joins.aliases)
    query = joins.apply(select(RUNS.c.id if narrow else RUNS).select_from(RUNS))
    if conditions:
        query = query.where(and_(*conditions))
    query = query.order_by(*ordering).limit(_LIMIT).offset(_OFFSET)
    digest = _query_digest(project, experiment_ids, filter_text, order_by)
    return _Plan(query, narrow, digest)


def _null(type_: Any) -> Any:
    return cast(null(), type_)


_IDS: Any = bindparam("ids", expanding=True)
#: The page's runs by id (after a narrow sort picked their ids).
_RUN_ROWS = select(RUNS).where(RUNS.c.id.in_(_IDS))
#: Largest id list bound as fixed parameters (see :func:`_details`); longer ones expand.
_FIXED_IDS = 1024


def _details_of(ids: Any) -> Any:
    """Params, tags and metric summaries of the runs ``ids`` match, in one round trip: one
    UNION ALL whose column 0 says which table a row comes from."""
    return union_all(
        select(
            literal_column("0"),
            PARAMS.c.run_id,
            PARAMS.c.key,
            PARAMS.c.value,
            *(_null(t) for t in (Float, BigInteger, BigInteger, Float, Float, BigInteger)),
        ).where(PARAMS.c.run_id.in_(ids)),
        select(
            literal_column("1"),
            TAGS.c.run_id,
            TAGS.c.key,
            TAGS.c.value,
            *(_null(t) for t in (Float, BigInteger, BigInteger, Float, Float, BigInteger)),
        ).where(TAGS.c.run_id.in_(ids)),
        select(
            literal_column("2"),
            LATEST.c.run_id,
            LATEST.c.key,
            _null(Text),
            LATEST.c.value,
            LATEST.c.step,
            LATEST.c.timestamp,
            LATEST.c.min_value,
            LATEST.c.max_value,
            LATEST.c.count,
        ).where(LATEST.c.run_id.in_(ids)),
    )


_DETAILS = _details_of(_IDS)


@functools.lru_cache(maxsize=16)
def _details(size: int) -> Any:
    """:data:`_DETAILS` for exactly ``size`` ids as plain bound parameters ``i0``…: compiled
    once per size, where an expanding ``IN`` is rendered again on every execution (about a
    tenth of a page's search time)."""
    return _details_of([bindparam(f"i{k}") for k in range(size)])


def _details_rows(conn: Connection, chunk: Sequence[str]) -> Sequence[Any]:
    if not chunk:
        return []
    if len(chunk) > _FIXED_IDS:
        return conn.execute(_DETAILS, {"ids": list(chunk)}).all()
    size = 1 << (max(len(chunk), 8) - 1).bit_length()  # a few sizes: 8, 16, 32, ... 1024
    padded = [*chunk, *(chunk[-1] for _ in range(size - len(chunk)))]  # repeats match nothing new
    return fetch_all(conn, _details(size), {f"i{k}": v for k, v in enumerate(padded)})


def _rows_in_order(conn: Connection, ids: Sequence[str]) -> list[Any]:
    by_id: dict[str, Any] = {}
    for chunk in chunks(ids):
        by_id.update((row.id, row) for row in conn.execute(_RUN_ROWS, {"ids": list(chunk)}))
    return [by_id[run_id] for run_id in ids if run_id in by_id]


def load_page(conn: Connection, rows: Sequence[Any]) -> list[Run]:
    """Runs of page rows (in their order) with params, tags and metric summaries, read in one
    query per chunk of ids (one in all for a page of the UI's or API's size).

    ``rows`` are whole ``runs`` rows; they are read by position (unpacking a row costs a
    tenth of reading its fields by name, which matters on every page of the runs table).
    """
    ids = [row[0] for row in rows]
    params: dict[str, dict[str, str]] = {run_id: {} for run_id in ids}
    tags: dict[str, dict[str, str]] = {run_id: {} for run_id in ids}
    metrics: dict[str, dict[str, MetricSummary]] = {run_id: {} for run_id in ids}
    for chunk in chunks(ids):
        for row in _details_rows(conn, chunk):
            kind, run_id, key, text, value, step, stamp, low, high, count = row
            if kind == 2:
                metrics[run_id][key] = metric_summary(key, value, step, stamp, low, high, count)
            elif kind == 0:
                params[run_id][key] = text
            else:
                tags[run_id][key] = text
    statuses = _STATUSES
    return [
        Run(
            run_id,
            project,
            experiment,
            name,
            statuses[status],
            start,
            end,
            user,
            parent,
            params[run_id],
            tags[run_id],
            metrics[run_id],
        )
        for run_id, project, experiment, name, status, start, end, user, parent in rows
    ]


def search_runs(
    conn: Connection,
    *,
    project: str | None,
    experiment_ids: Sequence[str] | None,
    filter_text: str | None,
    order_by: Sequence[str] | None,
    limit: int,
    page_token: str | None,
) -> RunPage:
    """Run a search: one query selects the page, one more reads its params, tags and metric
    summaries (parsing and building the statement are cached per distinct query)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")
    if isinstance(order_by, str):
        raise InvalidInput("order_by must be a list of order keys, not a single string")
    if experiment_ids is not None and (
        isinstance(experiment_ids, str) or not all(isinstance(e, str) for e in experiment_ids)
    ):
        raise InvalidInput("experiment_ids must be a list of experiment ids")
    if project is not None:
        inputs.name(project, "project name")
    # The plan cache needs hashable text: let the parser word the error for anything else.
    if filter_text is not None and not isinstance(filter_text, str):
        parse_filter(filter_text)
    for text in order_by or ():
        if not isinstance(text, str):
            parse_order_by(text)
    plan = _plan(
        project,
        None if experiment_ids is None else tuple(experiment_ids),
        filter_text,
        tuple(order_by or ()),
    )
    offset = 0 if page_token is None else decode_page_token(page_token, plan.digest)
    rows = fetch_all(conn, plan.statement, {"page_limit": limit + 1, "page_offset": offset})
    if plan.narrow:
        rows = _rows_in_order(conn, [row[0] for row in rows])
    more = len(rows) > limit
    runs = load_page(conn, rows[:limit])
    next_token = encode_page_token(offset + limit, plan.digest) if more else None
    return RunPage(runs=runs, next_page_token=next_token)


__all__ = ["compile_filter", "decode_page_token", "encode_page_token", "load_page", "search_runs"]
