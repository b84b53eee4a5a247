"""Differences between two dataset versions: files, schema, rows by key and statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stackml.data.schema import Column, Schema

if TYPE_CHECKING:
    from stackml.data.handle import DatasetHandle


@dataclass(frozen=True)
class ColumnShift:
    """How one column's statistics moved: a standardised mean shift for numbers, the total
    variation distance of frequencies for categoricals."""

    column: str
    measure: str
    value: float


@dataclass(frozen=True)
class VersionDiff:
    """What changed from ``a`` to ``b``."""

    a: str
    b: str
    files_added: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    type_changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    rows_a: int | None = None
    rows_b: int | None = None
    key: str | None = None
    rows_added: int = 0
    rows_removed: int = 0
    rows_changed: int = 0
    shifts: list[ColumnShift] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """No file, schema or row differences."""
        return not (
            self.files_added
            or self.files_removed
            or self.files_changed
            or self.columns_added
            or self.columns_removed
            or self.type_changes
            or self.rows_added
            or self.rows_removed
            or self.rows_changed
            or self.rows_a != self.rows_b
        )


def _shift(col_a: Column, col_b: Column) -> ColumnShift | None:
    sa, sb = col_a.stats, col_b.stats
    if sa is None or sb is None:
        return None
    if col_a.type in {"int", "float", "bool"} and sa.mean is not None and sb.mean is not None:
        scale = sa.std or 1.0
        return ColumnShift(col_a.name, "mean shift (std units)", (sb.mean - sa.mean) / scale)
    if sa.frequencies or sb.frequencies:
        na, nb = sum(sa.frequencies.values()) or 1, sum(sb.frequencies.values()) or 1
        keys = set(sa.frequencies) | set(sb.frequencies)
        tvd = 0.5 * sum(
            abs(sa.frequencies.get(k, 0) / na - sb.frequencies.get(k, 0) / nb) for k in keys
        )
        return ColumnShift(col_a.name, "frequency distance (TVD)", tvd)
    return None


def _row_changes(a: DatasetHandle, b: DatasetHandle, key: str) -> tuple[int, int, int]:
    ta, tb = a.to_arrow(), b.to_arrow()
    if key not in ta.column_names or key not in tb.column_names:
        return 0, 0, 0
    common = [c for c in ta.column_names if c in tb.column_names]

    def rows(table: Any) -> dict[Any, tuple[Any, ...]]:
        cols = [table.column(c).to_pylist() for c in common]
        keys = table.column(key).to_pylist()
        return {k: tuple(col[i] for col in cols) for i, k in enumerate(keys)}

    ra, rb = rows(ta), rows(tb)
    added = len(rb.keys() - ra.keys())
    removed = len(ra.keys() - rb.keys())
    changed = sum(1 for k in ra.keys() & rb.keys() if ra[k] != rb[k])
    return added, removed, changed


def diff_versions(a: DatasetHandle, b: DatasetHandle, *, key: str | None = None) -> VersionDiff:
    """Compare two versions (of one dataset or of two)."""
    fa, fb = a.manifest.by_path(), b.manifest.by_path()
    changed = sorted(p for p in fa.keys() & fb.keys() if fa[p].hash != fb[p].hash)
    sa, sb = Schema.from_dict(a.version.schema), Schema.from_dict(b.version.schema)
    ca, cb = {c.name: c for c in sa.columns}, {c.name: c for c in sb.columns}
    types = {n: (ca[n].type, cb[n].type) for n in ca.keys() & cb.keys() if ca[n].type != cb[n].type}
    shifts = [s for n in sorted(ca.keys() & cb.keys()) if (s := _shift(ca[n], cb[n])) is not None]
    key = key or b.version.schema.get("key") or a.version.schema.get("key")
    added = removed = row_changed = 0
    if key and a.version.table_hash and b.version.table_hash:
        added, removed, row_changed = _row_changes(a, b, key)
    return VersionDiff(
        a=a.version.label,
        b=b.version.label,
        files_added=sorted(fb.keys() - fa.keys()),
        files_removed=sorted(fa.keys() - fb.keys()),
        files_changed=changed,
        columns_added=sorted(cb.keys() - ca.keys()),
        columns_removed=sorted(ca.keys() - cb.keys()),
        type_changes=types,
        rows_a=a.version.num_rows,
        rows_b=b.version.num_rows,
        key=key,
        rows_added=added,
        rows_removed=removed,
        rows_changed=row_changed,
        shifts=shifts,
    )
