"""The reference a monitor compares production traffic against, kept as compact sketches.

A :class:`Reference` is built once, when a monitor is created, and stored as a JSON blob; the
reference data is never read again. Each numeric column is kept in one of two forms:

* **exact** — the column's distinct values and how often each occurs. This is lossless, so
  Kolmogorov-Smirnov and Wasserstein statistics equal SciPy's on the raw data. Used when the
  column has at most ``max_exact`` distinct values.
* **binned** — a histogram with uniform edges (the dataset schema's own 20-bin histogram, or a
  finer one built from the data). Statistics are then computed on the histogram, at the cost of
  bin-width resolution.

Categorical columns keep their value frequencies; images keep per-channel pixel statistics and
histograms of per-image brightness and contrast; embeddings keep a small fixed sample.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stackml.errors import InvalidInput

__all__ = [
    "CategoricalReference",
    "EmbeddingReference",
    "ImageReference",
    "NumericReference",
    "Reference",
]

#: Columns with at most this many distinct values keep them all (lossless, exact statistics).
MAX_EXACT = 4096
#: Bins of the histogram kept for columns with more distinct values.
DEFAULT_BINS = 512
#: Strings with at most this many distinct values are categoricals.
MAX_CATEGORIES = 200


def _floats(values: Any) -> tuple[np.ndarray, int]:
    """Finite float64 values and the count of missing (null or NaN) ones."""
    if isinstance(values, (pa.ChunkedArray, pa.Array)):
        arr = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    else:
        arr = np.asarray(values, dtype=np.float64)
    arr = arr.ravel()
    finite = np.isfinite(arr)
    if finite.all():
        return arr, 0
    return arr[finite], int(arr.size - finite.sum())


@dataclass(frozen=True)
class NumericReference:
    """Reference distribution of one numeric column.

    ``exact``: ``points`` are the sorted distinct values and ``counts`` their multiplicities.
    Otherwise ``points`` are ``len(counts) + 1`` uniform bin edges (NumPy's histogram
    convention: the last bin is closed).
    """

    name: str
    points: np.ndarray
    counts: np.ndarray
    exact: bool
    missing: int = 0
    mean: float = 0.0
    std: float = 0.0

    @property
    def count(self) -> int:
        """Number of non-missing reference values."""
        return int(self.counts.sum())

    @property
    def min(self) -> float:
        """Smallest reference value (lower edge when binned)."""
        return float(self.points[0])

    @property
    def max(self) -> float:
        """Largest reference value (upper edge when binned)."""
        return float(self.points[-1])

    @classmethod
    def from_values(
        cls, name: str, values: Any, *, max_exact: int = MAX_EXACT, bins: int = DEFAULT_BINS
    ) -> NumericReference:
        """Sketch ``values`` (array-like or Arrow): exact if few distinct values, else binned."""
        data, missing = _floats(values)
        if data.size == 0:
            raise InvalidInput(f"reference column {name!r} has no finite values")
        mean, std = float(data.mean()), float(data.std())
        uniq, counts = np.unique(data, return_counts=True)
        if uniq.size <= max_exact:
            return cls(name, uniq, counts.astype(np.int64), True, missing, mean, std)
        lo, hi = float(uniq[0]), float(uniq[-1])
        hist, edges = np.histogram(data, bins=bins, range=(lo, hi))
        return cls(name, edges, hist.astype(np.int64), False, missing, mean, std)

    @classmethod
    def from_histogram(
        cls,
        name: str,
        edges: Sequence[float],
        counts: Sequence[int],
        *,
        missing: int = 0,
        mean: float | None = None,
        std: float | None = None,
    ) -> NumericReference:
        """A binned reference from stored histogram edges and counts (uniform edges)."""
        e = np.asarray(edges, dtype=np.float64)
        c = np.asarray(counts, dtype=np.int64)
        if e.ndim != 1 or e.size != c.size + 1 or c.size == 0 or np.any(np.diff(e) <= 0):
            raise InvalidInput(
                f"histogram of {name!r} needs increasing edges, one more than counts"
            )
        centers = (e[:-1] + e[1:]) / 2
        total = max(int(c.sum()), 1)
        m = float((centers * c).sum() / total) if mean is None else float(mean)
        s = float(np.sqrt((c * (centers - m) ** 2).sum() / total)) if std is None else float(std)
        return cls(name, e, c, False, missing, m, s)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "kind": "numeric",
            "name": self.name,
            "points": self.points.tolist(),
            "counts": self.counts.tolist(),
            "exact": self.exact,
            "missing": self.missing,
            "mean": self.mean,
            "std": self.std,
        }


@dataclass(frozen=True)
class CategoricalReference:
    """Reference frequencies of one categorical column (value -> count)."""

    name: str
    frequencies: dict[str, int]
    missing: int = 0

    @property
    def count(self) -> int:
        """Number of non-missing reference values."""
        return sum(self.frequencies.values())

    @classmethod
    def from_values(cls, name: str, values: Any) -> CategoricalReference:
        """Count the values of an array-like or Arrow column."""
        arr = values if isinstance(values, (pa.ChunkedArray, pa.Array)) else pa.array(values)
        arr = arr.cast(pa.string())
        counted = pc.value_counts(arr).to_pylist()
        freqs = {str(v["values"]): int(v["counts"]) for v in counted if v["values"] is not None}
        return cls(name, dict(sorted(freqs.items())), int(arr.null_count))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "kind": "categorical",
            "name": self.name,
            "frequencies": self.frequencies,
            "missing": self.missing,
        }


@dataclass(frozen=True)
class ImageReference:
    """Pixel statistics of reference images (0..255 scale or the images' own scale).

    ``brightness`` and ``contrast`` sketch the per-image mean and standard deviation of pixel
    values, so their drift is tested like any numeric column.
    """

    channel_mean: tuple[float, ...]
    channel_std: tuple[float, ...]
    brightness: NumericReference | None = None
    contrast: NumericReference | None = None

    @classmethod
    def from_images(cls, images: np.ndarray, *, bins: int = 256) -> ImageReference:
        """Sketch a stack of images ``(N, H, W)`` or ``(N, H, W, C)``."""
        arr = np.asarray(images, dtype=np.float64)
        if arr.ndim < 3 or arr.shape[0] == 0:
            raise InvalidInput("reference images must be a non-empty stack (N, H, W[, C])")
        flat = arr.reshape(arr.shape[0], -1)
        per_channel = arr.reshape(-1, arr.shape[3] if arr.ndim == 4 else 1)
        return cls(
            tuple(float(v) for v in per_channel.mean(axis=0)),
            tuple(float(v) for v in per_channel.std(axis=0)),
            NumericReference.from_values("image.brightness", flat.mean(axis=1), bins=bins),
            NumericReference.from_values("image.contrast", flat.std(axis=1), bins=bins),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "channel_mean": list(self.channel_mean),
            "channel_std": list(self.channel_std),
            "brightness": None if self.brightness is None else self.brightness.to_dict(),
            "contrast": None if self.contrast is None else self.contrast.to_dict(),
        }


@dataclass(frozen=True)
class EmbeddingReference:
    """A fixed random sample of reference embeddings ``(n, d)`` for kernel two-sample tests."""

    sample: np.ndarray

    @classmethod
    def from_embeddings(
        cls, embeddings: np.ndarray, *, size: int = 300, seed: int = 0
    ) -> EmbeddingReference:
        """Keep at most ``size`` rows, drawn with a fixed seed."""
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] < 2:
            raise InvalidInput("reference embeddings must be a (n >= 2, d) matrix")
        if emb.shape[0] > size:
            emb = emb[np.random.default_rng(seed).choice(emb.shape[0], size, replace=False)]
        return cls(emb)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"sample": np.round(self.sample.astype(np.float64), 6).tolist()}


def _column_from_dict(d: Mapping[str, Any]) -> NumericReference | CategoricalReference:
    if d.get("kind") == "categorical":
        return CategoricalReference(d["name"], dict(d["frequencies"]), int(d.get("missing", 0)))
    return NumericReference(
        d["name"],
        np.asarray(d["points"], dtype=np.float64),
        np.asarray(d["counts"], dtype=np.int64),
        bool(d["exact"]),
        int(d.get("missing", 0)),
        float(d.get("mean", 0.0)),
        float(d.get("std", 0.0)),
    )


@dataclass(frozen=True)
class Reference:
    """Everything a monitor compares against: feature columns, predictions, images, embeddings."""

    columns: dict[str, NumericReference | CategoricalReference] = field(default_factory=dict)
    predictions: CategoricalReference | None = None
    images: ImageReference | None = None
    embeddings: EmbeddingReference | None = None
    source: str = ""
    #: The model's confidence (top probability) on the reference data.
    confidence: NumericReference | None = None

    @classmethod
    def from_table(
        cls,
        table: Any,
        *,
        features: Sequence[str] | None = None,
        categorical: Sequence[str] = (),
        predictions: Sequence[Any] | None = None,
        max_exact: int = MAX_EXACT,
        bins: int = DEFAULT_BINS,
        source: str = "",
    ) -> Reference:
        """Sketch the columns of an Arrow or pandas table (read once, here only)."""
        from stackml.data.schema import as_arrow, logical_type

        tab = as_arrow(table)
        names = list(features) if features is not None else list(tab.column_names)
        cols: dict[str, NumericReference | CategoricalReference] = {}
        for name in names:
            if name not in tab.column_names:
                raise InvalidInput(f"reference table has no column {name!r}")
            data = tab.column(name)
            kind = logical_type(data.type)
            if name in categorical or kind in {"string", "category", "bool"}:
                cols[name] = CategoricalReference.from_values(name, data)
            elif kind in {"int", "float"}:
                cols[name] = NumericReference.from_values(
                    name, data, max_exact=max_exact, bins=bins
                )
        preds = (
            None
            if predictions is None
            else CategoricalReference.from_values("prediction", list(map(str, predictions)))
        )
        return cls(cols, preds, source=source)

    @classmethod
    def from_schema(
        cls,
        schema: Mapping[str, Any] | Any,
        *,
        features: Sequence[str] | None = None,
        label: str | None = None,
        source: str = "",
    ) -> Reference:
        """Use a dataset version's stored schema statistics as they are (no data read).

        Numeric columns become binned references over the schema's histogram; categoricals
        keep their frequencies; ``label``'s frequencies become the prediction reference.
        """
        from stackml.data.schema import Schema

        sch = schema if isinstance(schema, Schema) else Schema.from_dict(schema)
        cols: dict[str, NumericReference | CategoricalReference] = {}
        preds = None
        for col in sch.columns:
            stats = col.stats
            if stats is None:
                continue
            if label is not None and col.name == label:
                if stats.frequencies:
                    preds = CategoricalReference(
                        "prediction", dict(stats.frequencies), stats.missing
                    )
                continue
            if features is not None and col.name not in features:
                continue
            if col.type == "category" and stats.frequencies:
                cols[col.name] = CategoricalReference(
                    col.name, dict(stats.frequencies), stats.missing
                )
            elif stats.histogram is not None and col.type in {"int", "float", "bool"}:
                h = stats.histogram
                cols[col.name] = NumericReference.from_histogram(
                    col.name,
                    h.edges,
                    h.counts,
                    missing=stats.missing,
                    mean=stats.mean,
                    std=stats.std,
                )
        images = None
        if sch.images is not None:
            images = ImageReference(tuple(sch.images.channel_mean), tuple(sch.images.channel_std))
        return cls(cols, preds, images, source=source)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form (stored as a blob next to the monitor)."""
        return {
            "columns": [c.to_dict() for c in self.columns.values()],
            "predictions": None if self.predictions is None else self.predictions.to_dict(),
            "images": None if self.images is None else self.images.to_dict(),
            "embeddings": None if self.embeddings is None else self.embeddings.to_dict(),
            "source": self.source,
            "confidence": None if self.confidence is None else self.confidence.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Reference:
        """Rebuild from :meth:`to_dict` output."""
        cols = {c["name"]: _column_from_dict(c) for c in d.get("columns", ())}
        p = d.get("predictions")
        preds = _column_from_dict(p) if p else None
        img = d.get("images")
        images = None
        if img:
            b, c = img.get("brightness"), img.get("contrast")
            images = ImageReference(
                tuple(img["channel_mean"]),
                tuple(img["channel_std"]),
                _column_from_dict(b) if b else None,  # type: ignore[arg-type]
                _column_from_dict(c) if c else None,  # type: ignore[arg-type]
            )
        e = d.get("embeddings")
        emb = EmbeddingReference(np.asarray(e["sample"], dtype=np.float32)) if e else None
        c = d.get("confidence")
        confidence = _column_from_dict(c) if c else None
        return cls(
            cols,
            preds if isinstance(preds, CategoricalReference) else None,
            images,
            emb,
            d.get("source", ""),
            confidence if isinstance(confidence, NumericReference) else None,
        )

    def with_parts(self, **parts: Any) -> Reference:
        """A copy with some parts replaced (``images=``, ``embeddings=``, ``confidence=``...)."""
        return dataclasses.replace(self, **parts)


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is a finite int or float."""
    return isinstance(value, (int, float)) and math.isfinite(float(value))
