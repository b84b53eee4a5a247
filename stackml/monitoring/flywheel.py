"""The data flywheel: route production predictions to labeling, record each turn of the loop.

:func:`select_candidates` picks, from one window of logs, the requests worth a label:

* ``flagged`` - a user flagged the prediction through ``/feedback`` (highest priority);
* ``canary_disagreement`` - a canary or shadow model answered the same request differently;
* ``drifted_slice`` - a drifted feature's value lies where current data is over-represented
  against the reference (at least twice the reference share of that bin);
* ``low_confidence`` - confidence under the threshold; priority ``1 - confidence``, raised
  by one when the window drifted.

:func:`route` keeps a labeling budget, never routes a request twice (the store remembers),
and pushes the items to a label queue through a :class:`LabelSink`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from stackml.monitoring.evaluate import WindowReport, feature_columns
from stackml.monitoring.reference import NumericReference, Reference
from stackml.monitoring.sketch import sketch_categorical, sketch_numeric
from stackml.monitoring.spec import RoutingSpec

if TYPE_CHECKING:
    from stackml.store import Store

__all__ = ["Candidate", "LabelSink", "LabelingSink", "record_turn", "route", "select_candidates"]

#: A bin is over-represented when its current share is at least this multiple of the reference's.
OVER_REPRESENTED = 2.0


@dataclass(frozen=True)
class Candidate:
    """A request proposed for labeling, with the reason and its priority (higher first)."""

    request_id: str
    reason: str
    priority: float
    row: int


def _rows_in_drifted_slices(
    table: pa.Table, reference: Reference, report: WindowReport
) -> dict[int, float]:
    """Row -> over-representation ratio of its bin, for rows in over-represented bins."""
    out: dict[int, float] = {}
    cols = feature_columns(table, reference)
    for name in report.drifted_features:
        column = cols.get(name)
        if column is None or column not in table.column_names:
            continue
        ref = reference.columns[name]
        data = table.column(column)
        if isinstance(ref, NumericReference):
            values = data.cast(pa.float64()).to_numpy(zero_copy_only=False)
            sk = sketch_numeric(ref, values)
            ref_c, cur_c = sk.coarse()
            total = sk.ref_le[-1]
            targets = np.arange(1, ref_c.size) * (total / ref_c.size)
            cut = np.unique(np.searchsorted(sk.ref_le, targets, side="left"))
            cut = cut[cut < sk.ref_le.size - 1]
            bounds = sk.grid[cut]
            bins = np.searchsorted(bounds, values, side="left")
        else:
            sk2 = sketch_categorical(ref, data)
            index = {c: i for i, c in enumerate(sk2.categories)}
            ref_c = np.append(sk2.ref_counts, 0.0)
            cur_c = np.append(sk2.cur_counts, float(sk2.unseen))
            bins = np.array([index.get(v, len(index)) for v in data.cast(pa.string()).to_pylist()])
        p = ref_c / max(ref_c.sum(), 1.0)
        q = cur_c / max(cur_c.sum(), 1.0)
        ratio = np.where(p > 0, q / np.maximum(p, 1e-12), np.inf)
        hot = ratio >= OVER_REPRESENTED
        for row in np.flatnonzero(hot[np.minimum(bins, hot.size - 1)]):
            r = float(min(ratio[min(bins[row], ratio.size - 1)], 100.0))
            out[int(row)] = max(out.get(int(row), 0.0), r)
    return out


def select_candidates(
    table: pa.Table,
    report: WindowReport,
    reference: Reference,
    routing: RoutingSpec,
    *,
    flagged: Sequence[str] = (),
) -> list[Candidate]:
    """Every routing rule applied to one window; one candidate per request, best reason kept."""
    best: dict[str, Candidate] = {}

    def offer(rid: str | None, reason: str, priority: float, row: int) -> None:
        if rid is None:
            return
        old = best.get(rid)
        if old is None or priority > old.priority:
            best[rid] = Candidate(rid, reason, float(priority), row)

    ids = table.column("request_id").to_pylist() if "request_id" in table.column_names else []
    variants = (
        table.column("variant").to_pylist()
        if "variant" in table.column_names
        else ["primary"] * len(ids)
    )
    window_drifted = report.dataset_drift or any(
        c.drifted for c in report.checks if c.feature in ("prediction", "image", "embedding")
    )
    if routing.flagged and flagged:
        wanted = set(flagged)
        for row, rid in enumerate(ids):
            if rid in wanted:
                offer(rid, "flagged", 3.0, row)
    if routing.canary_disagreement and "prediction" in table.column_names and ids:
        con = duckdb.connect()
        con.register("t", table.select(["request_id", "variant", "prediction"]))
        for (rid,) in con.sql(
            "SELECT request_id FROM t GROUP BY request_id "
            "HAVING count(DISTINCT variant) > 1 AND count(DISTINCT prediction) > 1"
        ).fetchall():
            offer(rid, "canary_disagreement", 2.5, ids.index(rid))
    if routing.drifted_slices and report.drifted_features:
        for row, ratio in _rows_in_drifted_slices(table, reference, report).items():
            if variants[row] != "shadow":
                offer(ids[row], "drifted_slice", 1.0 + min(ratio, 100.0) / 100.0, row)
    if routing.confidence_below is not None and "confidence" in table.column_names:
        conf = table.column("confidence").cast(pa.float64()).to_numpy(zero_copy_only=False)
        for row in np.flatnonzero(np.nan_to_num(conf, nan=1.0) < routing.confidence_below).tolist():
            if variants[row] != "shadow":
                offer(
                    ids[row], "low_confidence", (1.0 - conf[row]) + float(window_drifted), int(row)
                )
    return sorted(best.values(), key=lambda c: (-c.priority, c.request_id))


class LabelSink(abc.ABC):
    """Where routed items go: a label project's queue."""

    @abc.abstractmethod
    def push(self, project: str, items: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Queue items (``data``, ``priority``, ``source``, ``key``, ``prelabel``); returns ids."""


class LabelingSink(LabelSink):
    """Queue tasks with :func:`stackml.labeling.add_tasks` (images given as PNG bytes)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def push(self, project: str, items: Sequence[Mapping[str, Any]]) -> list[Any]:
        from stackml.labeling import add_tasks

        flat = []
        for item in items:
            entry = dict(item["data"])
            for key in ("prelabel", "key", "priority", "source"):
                if item.get(key) is not None:
                    entry[key] = item[key]
            flat.append(entry)
        return list(add_tasks(project, flat, store=self.store))


def route(
    store: Store,
    monitor: str,
    candidates: Sequence[Candidate],
    *,
    budget: int,
    make_item: Any,
    project: str = "",
    sink: LabelSink | None = None,
) -> list[tuple[Candidate, Any]]:
    """Route up to ``budget`` new candidates (in priority order) and queue them.

    ``make_item(candidate)`` builds the label item (its ``data`` and ``prelabel``). Requests
    routed before, by this monitor, are skipped. Returns ``(candidate, task id)`` pairs.
    """
    chosen: list[Candidate] = []
    pending = list(candidates)
    while pending and len(chosen) < budget:
        batch, pending = pending[: budget - len(chosen)], pending[budget - len(chosen) :]
        fresh = set(
            store.metadata.record_routed(
                monitor,
                [
                    {"request_id": c.request_id, "reason": c.reason, "priority": c.priority}
                    for c in batch
                ],
            )
        )
        chosen.extend(c for c in batch if c.request_id in fresh)
    if not chosen or not project:
        return [(c, None) for c in chosen]
    items = []
    for c in chosen:
        item = dict(make_item(c))
        item.setdefault("priority", c.priority)
        item.setdefault("source", f"monitor:{monitor}:{c.reason}")
        item.setdefault("key", c.request_id)
        items.append(item)
    ids = (sink or LabelingSink(store)).push(project, items)
    return list(zip(chosen, ids, strict=False))


def record_turn(
    store: Store,
    monitor: str,
    *,
    routed: int,
    labeled: int,
    dataset_version: str | None,
    old_accuracy: float | None,
    new_accuracy: float | None,
    start_ms: int,
    end_ms: int,
    **extra: Any,
) -> Any:
    """Keep one turn of the loop as a ``flywheel`` result (the flywheel report reads these)."""
    payload = {
        "routed": routed,
        "labeled": labeled,
        "dataset_version": dataset_version,
        "old_accuracy": old_accuracy,
        "new_accuracy": new_accuracy,
        **extra,
    }
    return store.metadata.add_monitor_result(monitor, "flywheel", start_ms, end_ms, payload)
