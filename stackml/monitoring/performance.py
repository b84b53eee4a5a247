"""Model performance once labels arrive: accuracy, F1, calibration, confusion; per window and slice.

Labels arrive late, through ``/feedback`` or a label import, keyed by the prediction's
``request_id``. :func:`join_labels` attaches the most recent label of each request to its
prediction (shadow rows excluded: they were not answered), and :func:`performance_of` computes
the metrics with DuckDB, grouped by window and by any slice column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

__all__ = ["feedback_table", "join_labels", "performance_of", "slice_performance"]

ECE_BINS = 10


def feedback_table(feedback: Iterable[Any]) -> pa.Table:
    """Feedback records: objects or mappings with ``request_id``, ``label``, ``flag``, ``ts_ms``."""
    rows: dict[str, list[Any]] = {"request_id": [], "label": [], "flag": [], "ts_ms": []}
    for i, item in enumerate(feedback):
        get = item.get if isinstance(item, Mapping) else lambda k, d=None, o=item: getattr(o, k, d)
        rows["request_id"].append(str(get("request_id")))
        label = get("label")
        rows["label"].append(None if label is None else str(label))
        flag = get("flag")
        rows["flag"].append(None if flag in (None, "", False) else str(flag))
        ts = get("ts_ms") or get("created_at") or i
        rows["ts_ms"].append(int(ts))
    return pa.table(
        rows,
        schema=pa.schema(
            [
                ("request_id", pa.string()),
                ("label", pa.string()),
                ("flag", pa.string()),
                ("ts_ms", pa.int64()),
            ]
        ),
    )


def join_labels(predictions: pa.Table, feedback: pa.Table) -> pa.Table:
    """Predictions (non-shadow) with a ``label`` column: each request's latest label, or null."""
    con = duckdb.connect()
    con.register("p", predictions)
    con.register("f", feedback)
    variant = (
        "WHERE coalesce(p.variant, 'primary') <> 'shadow'"
        if "variant" in predictions.column_names
        else ""
    )
    return con.sql(f"""
        WITH latest AS (
            SELECT request_id, arg_max(label, ts_ms) AS label
            FROM f WHERE label IS NOT NULL GROUP BY request_id)
        SELECT p.*, latest.label AS label FROM p
        LEFT JOIN latest ON latest.request_id = p.request_id {variant}
        ORDER BY p.ts_ms, p.request_id
    """).to_arrow_table()


def _metrics(pred: np.ndarray, label: np.ndarray, conf: np.ndarray | None) -> dict[str, Any]:
    classes = sorted(set(label.tolist()) | set(pred.tolist()))
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, ([index[v] for v in label], [index[v] for v in pred]), 1)
    tp = np.diag(cm).astype(np.float64)
    precision = np.divide(tp, cm.sum(0), out=np.zeros(k), where=cm.sum(0) > 0)
    recall = np.divide(tp, cm.sum(1), out=np.zeros(k), where=cm.sum(1) > 0)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros(k), where=(precision + recall) > 0
    )
    present = cm.sum(1) > 0
    out: dict[str, Any] = {
        "labeled": int(label.size),
        "accuracy": float(tp.sum() / max(label.size, 1)),
        "f1": float(f1[present].mean()) if present.any() else 0.0,
        "classes": classes,
        "confusion": cm.tolist(),
    }
    if conf is not None and conf.size and np.isfinite(conf).all():
        correct = (pred == label).astype(np.float64)
        bins = np.minimum((conf * ECE_BINS).astype(int), ECE_BINS - 1)
        acc = np.bincount(bins, weights=correct, minlength=ECE_BINS)
        cs = np.bincount(bins, weights=conf, minlength=ECE_BINS)
        out["ece"] = float(np.abs(acc - cs).sum() / conf.size)
    return out


def performance_of(labeled: pa.Table) -> dict[str, Any] | None:
    """Metrics over the labeled rows of a joined table; ``None`` when none is labeled."""
    con = duckdb.connect()
    con.register("t", labeled)
    has_conf = "confidence" in labeled.column_names
    rows = con.sql(
        f"SELECT prediction, label{', confidence' if has_conf else ''} FROM t "
        "WHERE label IS NOT NULL AND prediction IS NOT NULL"
    ).fetchnumpy()
    if not len(rows["label"]):
        return None
    conf = np.asarray(rows["confidence"], dtype=np.float64) if has_conf else None
    return _metrics(
        np.asarray(rows["prediction"], dtype=object).astype(str),
        np.asarray(rows["label"], dtype=object).astype(str),
        conf,
    )


def slice_performance(
    labeled: pa.Table, slices: Sequence[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """Accuracy and count per value of each slice column (numeric slices cut into quartiles)."""
    con = duckdb.connect()
    con.register("t", labeled)
    result: dict[str, dict[str, dict[str, float]]] = {}
    for column in slices:
        if column not in labeled.column_names:
            continue
        quoted = '"' + column.replace('"', '""') + '"'
        kind = labeled.schema.field(column).type
        if pa.types.is_floating(kind) or (pa.types.is_integer(kind) and column != "version"):
            key = f"'q' || ntile(4) OVER (ORDER BY {quoted})"
        else:
            key = f"CAST({quoted} AS VARCHAR)"
        rows = con.sql(f"""
            WITH s AS (SELECT {key} AS k, prediction = label AS ok FROM t
                       WHERE label IS NOT NULL AND prediction IS NOT NULL)
            SELECT k, count(*) AS n, avg(CAST(ok AS DOUBLE)) AS acc FROM s GROUP BY k ORDER BY k
        """).fetchall()
        result[column] = {str(k): {"labeled": int(n), "accuracy": float(a)} for k, n, a in rows}
    return result
