"""``SqlMonitoringStore``: the monitoring part of the metadata store in SQL.

Mixed into :class:`~stackml.store.sql.store.SqlMetadataStore`. Validates input, then runs one
small query in one transaction.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, select, update

from stackml._internal.timeutil import now_ms
from stackml.errors import AlreadyExists, InvalidInput, NotFound
from stackml.store.monitoring_base import (
    RESULT_KINDS,
    AlertEvent,
    Monitor,
    MonitoringStore,
    MonitorResult,
    RoutedItem,
)
from stackml.store.sql import inputs, models_monitoring
from stackml.store.sql.engine import Database

__all__ = ["SqlMonitoringStore", "referenced_blobs"]

MONITORS: Table = cast(Table, models_monitoring.MonitorRow.__table__)
RESULTS: Table = cast(Table, models_monitoring.MonitorResultRow.__table__)
ALERTS: Table = cast(Table, models_monitoring.MonitorAlertRow.__table__)
ROUTED: Table = cast(Table, models_monitoring.MonitorRoutedRow.__table__)
MAX_JSON = 4_000_000
SEVERITIES = ("info", "warning", "critical")
MAX_ROUTED = 10_000


def json_map(value: Any, what: str) -> dict[str, Any]:
    """Plain JSON (no NaN) of bounded size, as a dict. Raises ``InvalidInput``."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a JSON object")
    try:
        text = json.dumps(dict(value), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be plain JSON without NaN: {exc}") from exc
    if len(text) > MAX_JSON:
        raise InvalidInput(f"{what} is larger than {MAX_JSON} bytes of JSON")
    return cast(dict[str, Any], json.loads(text))


def finite(value: object, what: str) -> float:
    """A finite float. Raises ``InvalidInput``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number")
    return float(value)


def request_ids(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validated routed items (request id, reason, priority)."""
    if isinstance(items, (str, bytes)) or len(items) > MAX_ROUTED:
        raise InvalidInput(f"route at most {MAX_ROUTED} items at once")
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            raise InvalidInput("a routed item is a mapping with request_id, reason and priority")
        rid = item.get("request_id")
        if not isinstance(rid, str) or not rid or len(rid) > 64:
            raise InvalidInput(f"invalid request id {rid!r}")
        out.append(
            {
                "request_id": rid,
                "reason": inputs.name(item.get("reason", "manual"), "routing reason")[:32],
                "priority": finite(item.get("priority", 0.0), "priority"),
            }
        )
    return out


def _monitor(row: Any) -> Monitor:
    return Monitor(
        row.name,
        row.deployment,
        dict(row.spec),
        row.reference_hash,
        row.created_at,
        row.updated_at,
        row.last_run_at,
        row.last_window_end,
    )


def _result(row: Any) -> MonitorResult:
    return MonitorResult(
        row.id, row.monitor, row.kind, row.start_ms, row.end_ms, row.created_at, dict(row.payload)
    )


def _alert(row: Any) -> AlertEvent:
    return AlertEvent(
        row.id,
        row.monitor,
        row.rule,
        row.statistic,
        row.value,
        row.threshold,
        row.severity,
        row.message,
        row.fired_at,
        tuple(row.notified),
    )


def _require(conn: Connection, name: str) -> Any:
    row = conn.execute(select(MONITORS).where(MONITORS.c.name == name)).first()
    if row is None:
        raise NotFound(f"no monitor named {name!r}; create it with `stackml monitor create`")
    return row


def referenced_blobs(conn: Connection) -> Iterator[str]:
    """Every reference blob a monitor points at (for ``stackml gc``)."""
    for row in conn.execute(select(MONITORS.c.reference_hash)):
        if row.reference_hash:
            yield row.reference_hash


def _opt_ms(value: object, what: str) -> int | None:
    return None if value is None else inputs.non_negative_int(value, what)


class SqlMonitoringStore(MonitoringStore):
    """Monitoring rows on SQLite or PostgreSQL, over ``self._db`` (set by the concrete store)."""

    _db: Database

    def create_monitor(
        self,
        name: str,
        deployment: str,
        spec: Mapping[str, Any],
        *,
        reference_hash: str | None = None,
    ) -> Monitor:
        name = inputs.name(name, "monitor name")
        deployment = inputs.name(deployment, "deployment name")
        clean = json_map(spec, "monitor definition")
        ref = None if reference_hash is None else inputs.blob_hash(reference_hash)

        def work(conn: Connection) -> Monitor:
            if conn.execute(select(MONITORS.c.name).where(MONITORS.c.name == name)).first():
                raise AlreadyExists(f"a monitor named {name!r} already exists")
            now = now_ms()
            conn.execute(
                MONITORS.insert().values(
                    name=name,
                    deployment=deployment,
                    spec=clean,
                    reference_hash=ref,
                    created_at=now,
                    updated_at=now,
                    last_run_at=None,
                    last_window_end=None,
                )
            )
            return _monitor(_require(conn, name))

        return self._db.transact(work, write=True, what="create monitor")

    def update_monitor(
        self,
        name: str,
        *,
        spec: Mapping[str, Any] | None = None,
        reference_hash: str | None = None,
        last_run_at: int | None = None,
        last_window_end: int | None = None,
    ) -> Monitor:
        name = inputs.name(name, "monitor name")
        values: dict[str, Any] = {"updated_at": now_ms()}
        if spec is not None:
            values["spec"] = json_map(spec, "monitor definition")
        if reference_hash is not None:
            values["reference_hash"] = inputs.blob_hash(reference_hash)
        if last_run_at is not None:
            values["last_run_at"] = _opt_ms(last_run_at, "last run time")
        if last_window_end is not None:
            values["last_window_end"] = _opt_ms(last_window_end, "last window end")

        def work(conn: Connection) -> Monitor:
            _require(conn, name)
            conn.execute(update(MONITORS).where(MONITORS.c.name == name).values(**values))
            return _monitor(_require(conn, name))

        return self._db.transact(work, write=True, what="update monitor")

    def get_monitor(self, name: str) -> Monitor:
        name = inputs.name(name, "monitor name")
        return self._db.transact(
            lambda c: _monitor(_require(c, name)), write=False, what="get monitor"
        )

    def list_monitors(self, deployment: str | None = None) -> list[Monitor]:
        query = select(MONITORS).order_by(MONITORS.c.name)
        if deployment is not None:
            query = query.where(MONITORS.c.deployment == inputs.name(deployment, "deployment"))
        return self._db.transact(
            lambda c: [_monitor(r) for r in c.execute(query)], write=False, what="list monitors"
        )

    def delete_monitor(self, name: str) -> None:
        name = inputs.name(name, "monitor name")

        def work(conn: Connection) -> None:
            _require(conn, name)
            for table in (ROUTED, ALERTS, RESULTS):
                conn.execute(delete(table).where(table.c.monitor == name))
            conn.execute(delete(MONITORS).where(MONITORS.c.name == name))

        self._db.transact(work, write=True, what="delete monitor")

    def add_monitor_result(
        self, monitor: str, kind: str, start_ms: int, end_ms: int, payload: Mapping[str, Any]
    ) -> MonitorResult:
        monitor = inputs.name(monitor, "monitor name")
        if kind not in RESULT_KINDS:
            raise InvalidInput(f"result kind must be one of {RESULT_KINDS}")
        start = inputs.non_negative_int(start_ms, "window start")
        end = inputs.non_negative_int(end_ms, "window end")
        if end < start:
            raise InvalidInput("a window cannot end before it starts")
        body = json_map(payload, "monitor result")

        def work(conn: Connection) -> MonitorResult:
            _require(conn, monitor)
            new_id = conn.execute(
                RESULTS.insert().values(
                    monitor=monitor,
                    kind=kind,
                    start_ms=start,
                    end_ms=end,
                    created_at=now_ms(),
                    payload=body,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            row = conn.execute(select(RESULTS).where(RESULTS.c.id == new_id)).one()
            return _result(row)

        return self._db.transact(work, write=True, what="add monitor result")

    def list_monitor_results(
        self,
        monitor: str,
        *,
        kind: str | None = None,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> list[MonitorResult]:
        monitor = inputs.name(monitor, "monitor name")
        query = select(RESULTS).where(RESULTS.c.monitor == monitor)
        if kind is not None:
            if kind not in RESULT_KINDS:
                raise InvalidInput(f"result kind must be one of {RESULT_KINDS}")
            query = query.where(RESULTS.c.kind == kind)
        if since_ms is not None:
            query = query.where(RESULTS.c.end_ms >= inputs.non_negative_int(since_ms, "since"))
        query = query.order_by(RESULTS.c.id.desc())
        if limit is not None:
            query = query.limit(inputs.non_negative_int(limit, "limit"))

        def work(conn: Connection) -> list[MonitorResult]:
            _require(conn, monitor)
            return [_result(r) for r in reversed(conn.execute(query).all())]

        return self._db.transact(work, write=False, what="list monitor results")

    def add_alert_event(
        self,
        monitor: str,
        *,
        rule: str,
        statistic: str,
        value: float,
        threshold: float,
        severity: str,
        message: str,
        notified: Sequence[str] = (),
    ) -> AlertEvent:
        monitor = inputs.name(monitor, "monitor name")
        values = {
            "monitor": monitor,
            "rule": inputs.name(rule, "alert rule name"),
            "statistic": inputs.label(statistic, "statistic"),
            "value": finite(value, "alert value"),
            "threshold": finite(threshold, "alert threshold"),
            "severity": severity,
            "message": inputs.label(message or "-", "alert message", max_len=4000),
            "notified": [inputs.name(n, "notifier") for n in notified],
        }
        if severity not in SEVERITIES:
            raise InvalidInput(f"severity must be one of {SEVERITIES}")

        def work(conn: Connection) -> AlertEvent:
            _require(conn, monitor)
            new_id = conn.execute(
                ALERTS.insert().values(fired_at=now_ms(), **values)
            ).inserted_primary_key[0]  # type: ignore[index]
            return _alert(conn.execute(select(ALERTS).where(ALERTS.c.id == new_id)).one())

        return self._db.transact(work, write=True, what="add alert event")

    def list_alert_events(
        self, monitor: str | None = None, *, rule: str | None = None, limit: int = 100
    ) -> list[AlertEvent]:
        query = select(ALERTS)
        if monitor is not None:
            query = query.where(ALERTS.c.monitor == inputs.name(monitor, "monitor name"))
        if rule is not None:
            query = query.where(ALERTS.c.rule == inputs.name(rule, "alert rule name"))
        query = query.order_by(ALERTS.c.id.desc()).limit(inputs.non_negative_int(limit, "limit"))
        return self._db.transact(
            lambda c: [_alert(r) for r in c.execute(query)], write=False, what="list alerts"
        )

    def record_routed(self, monitor: str, items: Sequence[Mapping[str, Any]]) -> list[str]:
        monitor = inputs.name(monitor, "monitor name")
        clean = request_ids(items)

        def work(conn: Connection) -> list[str]:
            _require(conn, monitor)
            wanted = list(dict.fromkeys(i["request_id"] for i in clean))
            seen: set[str] = set()
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                seen.update(
                    conn.execute(
                        select(ROUTED.c.request_id).where(
                            ROUTED.c.monitor == monitor, ROUTED.c.request_id.in_(part)
                        )
                    ).scalars()
                )
            now, fresh, rows = now_ms(), [], []
            for item in clean:
                rid = item["request_id"]
                if rid in seen:
                    continue
                seen.add(rid)
                fresh.append(rid)
                rows.append({"monitor": monitor, "routed_at": now, **item})
            if rows:
                conn.execute(ROUTED.insert(), rows)
            return fresh

        return self._db.transact(work, write=True, what="record routed items")

    def list_routed(self, monitor: str, *, limit: int = 1000) -> list[RoutedItem]:
        monitor = inputs.name(monitor, "monitor name")
        query = (
            select(ROUTED)
            .where(ROUTED.c.monitor == monitor)
            .order_by(ROUTED.c.routed_at.desc(), ROUTED.c.priority.desc())
            .limit(inputs.non_negative_int(limit, "limit"))
        )

        def work(conn: Connection) -> list[RoutedItem]:
            _require(conn, monitor)
            return [
                RoutedItem(r.monitor, r.request_id, r.reason, r.priority, r.routed_at)
                for r in conn.execute(query)
            ]

        return self._db.transact(work, write=False, what="list routed items")
