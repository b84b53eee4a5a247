"""The ``Schema``: column types, nullability and statistics of a table (and images' stats).

One schema object serves every part of stackml: it is inferred when a dataset version is
added and stored with it, and later validates training input, describes a model's signature,
checks serving requests and is the baseline drift is measured against. It is a family of
small frozen dataclasses that round-trip through plain JSON (:meth:`Schema.to_dict` /
:meth:`Schema.from_dict`). Statistics keep histograms (bin edges and counts) and categorical
frequencies, so a drift test compares new data against them without re-reading the
baseline.

Logical types are few on purpose: ``int``, ``float``, ``bool``, ``string``, ``category``,
``timestamp``, ``binary`` and ``other``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HISTOGRAM_BINS = 20
#: Strings with at most this many distinct values are categoricals (domain + frequencies).
MAX_CATEGORIES = 50
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass(frozen=True)
class Histogram:
    """Counts of values in ``len(counts)`` bins between consecutive ``edges``."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class ColumnStats:
    """Statistics of one column; numeric fields are ``None`` where they do not apply."""

    count: int
    missing: int
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    histogram: Histogram | None = None
    #: Value -> count, for categoricals (the domain is its keys).
    frequencies: dict[str, int] = field(default_factory=dict)
    distinct: int | None = None


@dataclass(frozen=True)
class Column:
    """A column's name, logical type, nullability and statistics."""

    name: str
    type: str
    nullable: bool = True
    stats: ColumnStats | None = None

    @property
    def domain(self) -> tuple[str, ...]:
        """Allowed values of a categorical column (empty otherwise)."""
        return tuple(self.stats.frequencies) if self.stats else ()


@dataclass(frozen=True)
class ImageStats:
    """Shape, dtype and per-channel mean and standard deviation (0..255 scale) of images."""

    count: int
    shapes: dict[str, int]
    dtype: str
    channel_mean: tuple[float, ...]
    channel_std: tuple[float, ...]


@dataclass(frozen=True)
class Schema:
    """Columns of a table and optional image statistics of the files it references."""

    columns: tuple[Column, ...] = ()
    num_rows: int | None = None
    images: ImageStats | None = None

    def column(self, name: str) -> Column:
        """The column called ``name``. Raises ``KeyError``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in order."""
        return tuple(c.name for c in self.columns)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible form."""
        return _clean(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        """Rebuild from :meth:`to_dict` output (an empty mapping is the empty schema)."""
        columns = []
        for c in data.get("columns", ()):
            stats = c.get("stats")
            if stats is not None:
                hist = stats.get("histogram")
                stats = ColumnStats(
                    **{
                        **stats,
                        "histogram": None
                        if hist is None
                        else Histogram(tuple(hist["edges"]), tuple(hist["counts"])),
                    }
                )
            columns.append(Column(c["name"], c["type"], c.get("nullable", True), stats))
        images = data.get("images")
        image_stats = None
        if images:
            image_stats = ImageStats(
                count=images["count"],
                shapes=dict(images["shapes"]),
                dtype=images["dtype"],
                channel_mean=tuple(images["channel_mean"]),
                channel_std=tuple(images["channel_std"]),
            )
        return cls(tuple(columns), data.get("num_rows"), image_stats)

    def validate(self, table: pa.Table | Any) -> list[str]:
        """Problems with ``table`` (Arrow or pandas) against this schema; empty when it fits.

        Checks that every column is present with a compatible type, that non-nullable
        columns have no missing values and that categorical values are in the domain.
        Extra columns are allowed.
        """
        table = as_arrow(table)
        problems: list[str] = []
        for col in self.columns:
            if col.name not in table.column_names:
                problems.append(f"column {col.name!r} is missing")
                continue
            data = table.column(col.name)
            found = logical_type(data.type)
            if not compatible(col.type, found):
                problems.append(f"column {col.name!r} has type {found}, expected {col.type}")
                continue
            if not col.nullable and data.null_count:
                problems.append(f"column {col.name!r} has {data.null_count} missing values")
            if col.type == "category" and col.domain:
                values = set(pc.unique(data.cast(pa.string())).to_pylist()) - {None}
                unknown = sorted(values - set(col.domain))
                if unknown:
                    problems.append(f"column {col.name!r} has unknown values {unknown[:5]}")
        return problems


def _clean(value: Any) -> Any:
    """NaN/inf become None so the result is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def as_arrow(table: Any) -> pa.Table:
    """An Arrow table from Arrow or pandas input."""
    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pa.RecordBatch):
        return pa.Table.from_batches([table])
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        pd = None
    if pd is not None and isinstance(table, pd.DataFrame):
        return pa.Table.from_pandas(table, preserve_index=False)
    raise TypeError(f"expected a pyarrow or pandas table, got {type(table).__name__}")


def logical_type(arrow_type: pa.DataType) -> str:
    """The schema's logical type for an Arrow type."""
    if pa.types.is_null(arrow_type):
        return "null"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_integer(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "float"
    if pa.types.is_dictionary(arrow_type):
        return "category"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "timestamp"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "binary"
    return "other"


def compatible(expected: str, found: str) -> bool:
    """Whether data of logical type ``found`` satisfies a column declared ``expected``."""
    if expected == found or found == "null":  # an all-missing column fits any type
        return True
    widening = {"float": {"int", "bool"}, "int": {"bool"}, "category": {"string"}}
    return found in widening.get(expected, set()) or (expected == "string" and found == "category")


def _numeric_stats(values: np.ndarray, count: int, missing: int) -> ColumnStats:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return ColumnStats(count=count, missing=missing)
    qs = np.quantile(finite, QUANTILES)
    lo, hi = float(finite.min()), float(finite.max())
    counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS, range=(lo, hi if hi > lo else lo + 1))
    return ColumnStats(
        count=count,
        missing=missing,
        min=lo,
        max=hi,
        mean=float(finite.mean()),
        std=float(finite.std()),
        quantiles={f"p{round(q * 100)}": float(v) for q, v in zip(QUANTILES, qs, strict=True)},
        histogram=Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts)),
        distinct=int(np.unique(finite).size),
    )


def column_of(name: str, data: pa.ChunkedArray, *, categorical: Sequence[str] = ()) -> Column:
    """Infer one column's type and statistics."""
    kind = logical_type(data.type)
    count, missing = len(data), data.null_count
    stats: ColumnStats
    if kind in {"int", "float", "bool"}:
        values = data.cast(pa.float64()).to_numpy(zero_copy_only=False)
        stats = _numeric_stats(values[~np.isnan(values)], count, missing)
        if name in categorical:
            kind, stats = "category", _categorical(data, count, missing)
    elif kind in {"string", "category"}:
        distinct = len(pc.unique(data))
        if kind == "category" or name in categorical or distinct <= MAX_CATEGORIES:
            kind, stats = "category", _categorical(data, count, missing)
        else:
            lengths = pc.utf8_length(data).cast(pa.float64()).to_numpy(zero_copy_only=False)
            base = _numeric_stats(lengths[~np.isnan(lengths)], count, missing)
            stats = ColumnStats(
                count=count,
                missing=missing,
                distinct=distinct,
                histogram=base.histogram,
                mean=base.mean,
                std=base.std,
            )
    else:
        stats = ColumnStats(count=count, missing=missing)
    return Column(name, kind, missing > 0, stats)


def _categorical(data: pa.ChunkedArray, count: int, missing: int) -> ColumnStats:
    counted = pc.value_counts(data.cast(pa.string())).to_pylist()
    freqs = {str(v["values"]): int(v["counts"]) for v in counted if v["values"] is not None}
    freqs = dict(sorted(freqs.items(), key=lambda kv: (-kv[1], kv[0])))
    return ColumnStats(count=count, missing=missing, frequencies=freqs, distinct=len(freqs))


def infer_schema(
    table: pa.Table | Any,
    *,
    categorical: Sequence[str] = (),
    images: ImageStats | None = None,
) -> Schema:
    """Infer a :class:`Schema` with statistics from an Arrow or pandas table.

    Args:
        table: the data.
        categorical: columns to treat as categoricals even if numeric (e.g. a label).
        images: image statistics of the files the table references, if any.
    """
    table = as_arrow(table)
    columns = tuple(
        column_of(name, table.column(name), categorical=categorical) for name in table.column_names
    )
    return Schema(columns, table.num_rows, images)


def image_stats(arrays: Sequence[np.ndarray]) -> ImageStats | None:
    """Shapes, dtype and per-channel mean/std of decoded images (H x W or H x W x C)."""
    if not arrays:
        return None
    shapes: dict[str, int] = {}
    sums: np.ndarray | None = None
    squares: np.ndarray | None = None
    pixels = 0
    for arr in arrays:
        key = "x".join(str(d) for d in arr.shape)
        shapes[key] = shapes.get(key, 0) + 1
        flat = arr.reshape(-1, arr.shape[2] if arr.ndim == 3 else 1).astype(np.float64)
        if sums is None or sums.shape[0] != flat.shape[1]:
            if sums is not None:
                continue  # mixed channel counts: stats describe the first kind seen
            sums, squares = np.zeros(flat.shape[1]), np.zeros(flat.shape[1])
        sums += flat.sum(axis=0)
        squares += (flat**2).sum(axis=0)  # type: ignore[operator]
        pixels += flat.shape[0]
    assert sums is not None and squares is not None
    mean = sums / max(pixels, 1)
    std = np.sqrt(np.maximum(squares / max(pixels, 1) - mean**2, 0.0))
    return ImageStats(
        count=len(arrays),
        shapes=shapes,
        dtype=str(arrays[0].dtype),
        channel_mean=tuple(float(m) for m in mean),
        channel_std=tuple(float(s) for s in std),
    )
