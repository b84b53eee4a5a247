"""Monitors end to end: create one, run it over new prediction logs, read its state.

``run_monitor`` is what ``stackml monitor run`` and the server's scheduler call. It reads the
logs that arrived since the last evaluated window (through :mod:`stackml.serving.logs`),
evaluates each complete window, keeps the results, fires alert rules through the configured
notifiers, and routes candidates to labeling when the monitor has routing rules.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stackml._internal.timeutil import now_ms as _now_ms
from stackml.errors import InvalidInput, NotFound
from stackml.monitoring.alerts import Alert, due_alerts
from stackml.monitoring.evaluate import WindowReport, evaluate_window
from stackml.monitoring.flywheel import Candidate, LabelSink, route, select_candidates
from stackml.monitoring.notifiers import Notifier, NotifyError, make_notifier
from stackml.monitoring.performance import feedback_table, join_labels, performance_of
from stackml.monitoring.reference import Reference
from stackml.monitoring.spec import MonitorSpec
from stackml.monitoring.windows import split_windows
from stackml.store import Store
from stackml.store.entities import LineageEdge
from stackml.store.monitoring_base import AlertEvent, Monitor

__all__ = [
    "RunSummary",
    "add_labels",
    "create_monitor",
    "load_reference",
    "performance_history",
    "run_monitor",
]

logger = logging.getLogger(__name__)
Embedder = Callable[[np.ndarray], np.ndarray]


@dataclass
class RunSummary:
    """What one run of a monitor did."""

    monitor: str
    windows: list[WindowReport] = field(default_factory=list)
    alerts: list[AlertEvent] = field(default_factory=list)
    routed: list[tuple[Candidate, Any]] = field(default_factory=list)
    rows_read: int = 0


def _reference_from_dataset(store: Store, ref: str, label: str | None) -> tuple[Reference, str]:
    name, _, version = ref.partition("@")
    found = store.metadata.get_dataset_version(name, version or "latest")
    reference = Reference.from_schema(
        found.schema, label=label, source=f"{found.dataset}@v{found.number}"
    )
    return reference, found.id


def create_monitor(
    name: str,
    deployment: str,
    *,
    store: Store,
    reference: Reference | None = None,
    dataset: str | None = None,
    label: str | None = None,
    spec: MonitorSpec | Mapping[str, Any] | None = None,
) -> Monitor:
    """Create a monitor of ``deployment``.

    The reference is either given (a :class:`Reference`, e.g. from
    :meth:`Reference.from_table`) or taken from a dataset version's stored schema statistics
    (``dataset="wine@v1"``; ``label`` names the column whose frequencies are the prediction
    reference). It is stored once as a blob; evaluation never reads reference data again.
    """
    if (reference is None) == (dataset is None):
        raise InvalidInput("give either a reference or a dataset version to compare against")
    version_id = None
    if dataset is not None:
        reference, version_id = _reference_from_dataset(store, dataset, label)
    assert reference is not None
    if isinstance(spec, MonitorSpec):
        checked = spec
    else:
        checked = MonitorSpec.from_dict({"deployment": deployment, **dict(spec or {})})
    if checked.deployment != deployment:
        checked = MonitorSpec.from_dict({**checked.to_dict(), "deployment": deployment})
    if dataset is not None and not checked.reference:
        checked = MonitorSpec.from_dict({**checked.to_dict(), "reference": dataset})
    for config in checked.notifiers:
        make_notifier(config)  # refuse bad notifier settings (and SSRF targets) up front
    blob = store.blobs.put_bytes(json.dumps(reference.to_dict()).encode())
    monitor = store.metadata.create_monitor(
        name, deployment, checked.to_dict(), reference_hash=blob
    )
    if version_id is not None:
        store.metadata.add_lineage(
            LineageEdge("dataset_version", version_id, "monitor", name, "reference")
        )
    return monitor


def load_reference(store: Store, monitor: Monitor) -> Reference:
    """The monitor's stored reference."""
    if not monitor.reference_hash:
        raise NotFound(f"monitor {monitor.name!r} has no reference")
    return Reference.from_dict(json.loads(store.blobs.get_bytes(monitor.reference_hash)))


def _read_logs(
    store: Store, deployment: str, since_ms: int | None, until_ms: int | None
) -> pa.Table:
    from stackml.serving.logs import read_predictions

    return read_predictions(store, deployment, since_ms=since_ms, until_ms=until_ms)


def _images(store: Store, table: pa.Table) -> np.ndarray | None:
    if "input_row" not in table.column_names or table.num_rows == 0:
        return None
    have = table.filter(pc.is_valid(table.column("input_row")))
    if have.num_rows == 0:
        return None
    from stackml.serving.logs import read_prediction_tensors

    return read_prediction_tensors(store, have)


def _feedback(store: Store, deployment: str, table: pa.Table) -> pa.Table:
    ids = table.column("request_id").to_pylist() if "request_id" in table.column_names else []
    if not ids:
        return feedback_table([])
    found = store.metadata.list_feedback(deployment, request_ids=list(dict.fromkeys(ids)))
    return feedback_table(found)


def _notifiers(spec: MonitorSpec, extra: Sequence[Notifier]) -> list[Notifier]:
    return [make_notifier(c) for c in spec.notifiers] + list(extra)


def _fire(
    store: Store, monitor: str, spec: MonitorSpec, notifiers: Sequence[Notifier], now: int
) -> list[AlertEvent]:
    if not spec.rules:
        return []
    depth = max(r.duration for r in spec.rules)
    history = [
        dict(r.payload.get("stats", {}))
        for r in store.metadata.list_monitor_results(monitor, kind="window", limit=depth)
    ]
    last: dict[str, int] = {}
    for rule in spec.rules:
        events = store.metadata.list_alert_events(monitor, rule=rule.name, limit=1)
        if events:
            last[rule.name] = events[0].fired_at
    out = []
    for alert in due_alerts(monitor, spec.rules, history, last, now):
        out.append(_deliver(store, alert, notifiers))
    return out


def _deliver(store: Store, alert: Alert, notifiers: Sequence[Notifier]) -> AlertEvent:
    delivered = []
    for notifier in notifiers:
        try:
            notifier.send(alert)
            delivered.append(notifier.name)
        except NotifyError as exc:
            logger.warning("alert %s not delivered by %s: %s", alert.rule, notifier.name, exc)
    return store.metadata.add_alert_event(
        alert.monitor,
        rule=alert.rule,
        statistic=alert.statistic,
        value=alert.value,
        threshold=alert.threshold,
        severity=alert.severity,
        message=alert.message,
        notified=delivered,
    )


def _label_item(
    table: pa.Table,
    images: np.ndarray | None,
    store: Store,
    value_range: tuple[float, float] | None = None,
) -> Callable[[Candidate], dict[str, Any]]:
    """Builds the labeling item of a routed row: its features or its image, and a pre-label."""
    features = [c for c in table.column_names if c.startswith("f.")]
    # Images hold only the rows that logged an input, in row order.
    has_input = (
        table.column("input_row").is_valid().to_numpy(zero_copy_only=False)
        if "input_row" in table.column_names
        else np.zeros(table.num_rows, dtype=bool)
    )
    position = np.cumsum(has_input) - 1

    def make(c: Candidate) -> dict[str, Any]:
        row = table.slice(c.row, 1).to_pylist()[0]
        data: dict[str, Any] = {"request_id": c.request_id, "reason": c.reason}
        if features:
            data["record"] = {k[2:]: row[k] for k in features}
        if images is not None and row.get("input_row") is not None:
            from stackml.monitoring.images import image_item

            data.update(image_item(images[int(position[c.row])], value_range))
        prelabel = None
        if row.get("prediction") is not None:
            prelabel = {
                "value": row["prediction"],
                "model": f"{row.get('model')}@{row.get('version')}",
                "confidence": row.get("confidence"),
            }
        return {"data": data, "prelabel": prelabel}

    return make


def run_monitor(
    name: str,
    *,
    store: Store,
    now_ms: int | None = None,
    logs: pa.Table | None = None,
    embedder: Embedder | None = None,
    notifiers: Sequence[Notifier] = (),
    sink: LabelSink | None = None,
    include_partial: bool = False,
) -> RunSummary:
    """Evaluate the windows of logs that completed since the last run.

    ``logs`` overrides reading the deployment's logs (the table must have the prediction-log
    columns). ``embedder`` maps the window's image inputs to model embeddings (for example
    a registry ``Predictor.embed``) when the reference holds embeddings.
    """
    monitor = store.metadata.get_monitor(name)
    spec = MonitorSpec.from_dict(monitor.spec)
    reference = load_reference(store, monitor)
    now = _now_ms() if now_ms is None else now_ms
    since = None if monitor.last_window_end is None else monitor.last_window_end
    table = logs if logs is not None else _read_logs(store, monitor.deployment, since, None)
    if since is not None and table.num_rows:
        table = table.filter(pc.greater_equal(table.column("ts_ms"), since))
    summary = RunSummary(name, rows_read=table.num_rows)
    active = _notifiers(spec, notifiers)
    last_end = monitor.last_window_end
    candidates: list[Candidate] = []
    makers: dict[str, Callable[[Candidate], dict[str, Any]]] = {}
    for window in split_windows(table, spec.window, include_partial=True):
        complete = window.complete or (spec.window.kind == "time" and window.end_ms <= now)
        # An open window is evaluated on request, once it holds half a window's rows.
        if not complete and (
            not include_partial or 2 * window.table.num_rows < _rows_expected(spec)
        ):
            continue
        part = window.table
        images = _images(store, part) if reference.images is not None and logs is None else None
        embeddings = None
        if reference.embeddings is not None and embedder is not None and images is not None:
            embeddings = embedder(images)
        report = evaluate_window(
            part,
            reference,
            spec,
            start_ms=window.start_ms,
            end_ms=window.end_ms,
            images=images,
            embeddings=embeddings,
            feedback=_feedback(store, monitor.deployment, part) if logs is None else None,
        )
        store.metadata.add_monitor_result(
            name, "window", window.start_ms, window.end_ms, report.to_dict()
        )
        summary.windows.append(report)
        summary.alerts.extend(_fire(store, name, spec, active, now))
        if spec.routing is not None:
            flagged = []
            if logs is None:
                fb = _feedback(store, monitor.deployment, part)
                flagged = [
                    r
                    for r, f in zip(
                        fb.column("request_id").to_pylist(),
                        fb.column("flag").to_pylist(),
                        strict=True,
                    )
                    if f
                ]
            maker = _label_item(part, images, store, spec.routing.image_range)
            for c in select_candidates(part, report, reference, spec.routing, flagged=flagged):
                candidates.append(c)
                makers[c.request_id] = maker
        last_end = window.end_ms
    if spec.routing is not None and candidates:
        # One budget for the whole run, spent on the highest priorities of every window (a
        # drifted window's candidates outrank a clean window's).
        candidates.sort(key=lambda c: (-c.priority, c.request_id))
        summary.routed = route(
            store,
            name,
            candidates,
            budget=spec.routing.budget,
            project=spec.routing.project,
            make_item=lambda c: makers[c.request_id](c),
            sink=sink,
        )
    store.metadata.update_monitor(name, last_run_at=now, last_window_end=last_end)
    return summary


def _rows_expected(spec: MonitorSpec) -> int:
    return spec.window.size if spec.window.kind == "count" else 2


def performance_history(
    store: Store, name: str, *, limit: int | None = 100_000
) -> list[dict[str, Any]]:
    """Performance per window over the monitor's logs with the labels known now.

    Labels that arrived after a window was evaluated count here: each request's latest label
    is joined to its prediction.
    """
    monitor = store.metadata.get_monitor(name)
    spec = MonitorSpec.from_dict(monitor.spec)
    from stackml.serving.logs import read_predictions

    table = read_predictions(store, monitor.deployment, limit=limit)
    if table.num_rows == 0:
        return []
    labeled = join_labels(table, _feedback(store, monitor.deployment, table))
    out = []
    for window in split_windows(labeled, spec.window):
        perf = performance_of(window.table)
        if perf is not None:
            out.append({"start_ms": window.start_ms, "end_ms": window.end_ms, **perf})
    return out


def add_labels(store: Store, deployment: str, labels: Mapping[str, Any]) -> int:
    """Import ground-truth labels (request id -> label) as feedback; returns how many."""
    for request_id, label in labels.items():
        store.metadata.add_feedback(deployment, request_id, label=str(label))
    return len(labels)
