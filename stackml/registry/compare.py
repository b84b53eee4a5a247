"""Side-by-side report of model versions: size, latency, accuracy, agreement.

:func:`compare` loads each ref (or takes ready :class:`Predictor` objects), and on the same test
rows measures:

* **size**: bytes of the version's files;
* **latency**: p50 and p99 of ``predict`` wall time at batch 1 and batch 32 (after a warm-up;
  the same rows for every model, in one process, one model at a time);
* **accuracy** on the test split, when labels are given and the model is a classifier;
* **agreement**: share of rows whose predicted class equals the first model's (the original).

``stackml models compare A B ...`` prints it with :func:`report_table`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.errors import InvalidInput
from stackml.registry.runtime import Predictor

if TYPE_CHECKING:
    from rich.table import Table

    from stackml.store import Store

__all__ = [
    "CompareReport",
    "CompareRow",
    "compare",
    "measure_latency",
    "predicted_labels",
    "report_table",
]


@dataclass(frozen=True)
class CompareRow:
    """One model's figures. Latencies are milliseconds keyed by batch size."""

    label: str
    format: str
    runtime: str
    size_bytes: int | None
    p50_ms: dict[int, float] = field(default_factory=dict)
    p99_ms: dict[int, float] = field(default_factory=dict)
    accuracy: float | None = None
    agreement: float | None = None


@dataclass(frozen=True)
class CompareReport:
    """Rows in the order the models were given; the first is the reference for agreement."""

    rows: tuple[CompareRow, ...]
    test_rows: int
    batch_sizes: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "rows": [asdict(r) for r in self.rows],
            "test_rows": self.test_rows,
            "batch_sizes": list(self.batch_sizes),
        }


def measure_latency(
    predictor: Predictor, x: np.ndarray, batch: int, *, repeats: int = 50, warmup: int = 5
) -> tuple[float, float]:
    """p50 and p99 milliseconds of ``predict`` on ``batch`` rows of ``x`` (cycled)."""
    if len(x) == 0:
        raise InvalidInput("latency needs at least one row")
    reps = np.resize(np.arange(len(x)), max(batch, 1) * (repeats + warmup))
    times = []
    for i in range(repeats + warmup):
        rows = x[reps[i * batch : (i + 1) * batch]]
        start = time.perf_counter()
        predictor.predict(rows)
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1e3)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def predicted_labels(predictor: Predictor, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """Predicted class labels as strings (``label`` output, else arg-max of the scores)."""
    sig = predictor.signature
    labels: list[np.ndarray] = []
    for start in range(0, len(x), batch_size):
        out = predictor.predict(x[start : start + batch_size])
        if "label" in out:
            labels.append(np.asarray(out["label"]).astype(str).reshape(-1))
            continue
        scores = out.get(sig.probabilities or "", None)
        if scores is None:
            scores = next(iter(out.values()))
        index = np.asarray(scores).reshape(len(scores), -1).argmax(axis=1)
        names = np.asarray(sig.classes) if sig.classes else index.astype(str)
        labels.append(names[index] if sig.classes else names)
    return np.concatenate(labels) if labels else np.empty(0, dtype=str)


def _size(predictor: Predictor, version: Any) -> int | None:
    if version is not None:
        return int(version.size_bytes)
    size = getattr(predictor, "size_bytes", None)
    return int(size) if size else None


def compare(
    refs: Sequence[str | Predictor],
    test_data: np.ndarray | tuple[np.ndarray, np.ndarray],
    *,
    store: Store | None = None,
    trust: bool = False,
    batch_sizes: Sequence[int] = (1, 32),
    repeats: int = 50,
    labels: Sequence[str] | None = None,
) -> CompareReport:
    """Compare models on the same test rows (see the module docstring).

    Args:
        refs: Registry refs (``digits@3``, ``digits@production``) or predictors; the first is
            the original that agreement is measured against.
        test_data: Test inputs, or ``(inputs, labels)`` to measure accuracy too.
        store: Where refs are looked up (default the configured store).
        trust: Passed to :func:`stackml.registry.load` (pickle versions).
        batch_sizes: Batch sizes to time.
        repeats: Timed calls per batch size.
        labels: Row labels (default ``name@version`` of each).
    """
    if not refs:
        raise InvalidInput("name at least one model to compare")
    if isinstance(test_data, tuple):
        x, y = np.asarray(test_data[0]), np.asarray(test_data[1])
    else:
        x, y = np.asarray(test_data), None
    if len(x) == 0:
        raise InvalidInput("the test data is empty")
    rows: list[CompareRow] = []
    original: np.ndarray | None = None
    for i, ref in enumerate(refs):
        version = None
        if isinstance(ref, Predictor):
            predictor = ref
        else:
            from stackml.registry.loading import get_version, load
            from stackml.registry.versions import get_store

            st = get_store(store)
            version = get_version(ref, store=st)
            predictor = load(version.ref, store=st, trust=trust)
        predicted = predicted_labels(predictor, x)
        if original is None:
            original = predicted
        p50, p99 = {}, {}
        for batch in batch_sizes:
            p50[batch], p99[batch] = measure_latency(predictor, x, batch, repeats=repeats)
        accuracy = None
        if y is not None and predictor.signature.task == "classification":
            accuracy = float(np.mean(predicted == y.astype(str).reshape(-1)))
        if labels and i < len(labels):
            name = labels[i]
        else:
            name = f"{predictor.name}@{predictor.version}" if predictor.name else f"model {i + 1}"
        rows.append(
            CompareRow(
                label=name,
                format=version.format if version is not None else "",
                runtime=predictor.runtime,
                size_bytes=_size(predictor, version),
                p50_ms=p50,
                p99_ms=p99,
                accuracy=accuracy,
                agreement=float(np.mean(predicted == original)),
            )
        )
    return CompareReport(tuple(rows), len(x), tuple(batch_sizes))


def _bytes(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def report_table(report: CompareReport) -> Table:
    """The report as a Rich table (size ratio and latency against the first row)."""
    from rich.table import Table

    table = Table(title=f"model comparison on {report.test_rows} test rows", header_style="bold")
    table.add_column("model")
    table.add_column("format")
    table.add_column("runtime")
    table.add_column("size", justify="right")
    for batch in report.batch_sizes:
        table.add_column(f"p50/p99 ms @{batch}", justify="right")
    table.add_column("accuracy", justify="right")
    table.add_column("agreement", justify="right")
    base = report.rows[0].size_bytes if report.rows else None
    for row in report.rows:
        size = _bytes(row.size_bytes)
        if base and row.size_bytes and row is not report.rows[0]:
            size += f" ({base / row.size_bytes:.1f}x smaller)" if row.size_bytes < base else ""
        table.add_row(
            row.label,
            row.format or "-",
            row.runtime,
            size,
            *(f"{row.p50_ms[b]:.2f} / {row.p99_ms[b]:.2f}" for b in report.batch_sizes),
            "-" if row.accuracy is None else f"{row.accuracy:.4f}",
            "-" if row.agreement is None else f"{row.agreement:.4f}",
        )
    return table
