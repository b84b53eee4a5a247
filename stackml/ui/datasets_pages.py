"""View models of the dataset pages: the datasets list, a version page and a diff view.

The version page shows the schema with statistics and histograms, a preview of the table's
first rows, thumbnails of the first images (inlined as ``data:`` URLs, small ones only), the
lineage (runs that used the version, versions derived from it) and the aliases' history.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stackml.ui.rendering import Area, register_area

if TYPE_CHECKING:
    from stackml.data.diff import VersionDiff
    from stackml.data.schema import Column, Schema
    from stackml.store import Store
    from stackml.store.datasets_base import AliasEvent, Dataset, DatasetVersion
    from stackml.store.entities import LineageEdge

register_area(Area("datasets", "Datasets", "/datasets"), after="runs")

PREVIEW_ROWS = 20
THUMBNAILS = 12
#: Images larger than this are not inlined as thumbnails.
MAX_THUMBNAIL_BYTES = 256 * 1024
_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


@dataclass(frozen=True)
class Bar:
    """One histogram bar, ready for an SVG: position and height in 0..100."""

    x: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class ColumnView:
    """A schema column with its statistics and its histogram as bars."""

    column: Column
    bars: list[Bar]
    top_values: list[tuple[str, int]]


@dataclass(frozen=True)
class VersionPage:
    """Everything the version page shows."""

    version: DatasetVersion
    versions: list[DatasetVersion]
    columns: list[ColumnView]
    schema: Schema
    preview_columns: list[str] = field(default_factory=list)
    preview_rows: list[list[str]] = field(default_factory=list)
    thumbnails: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, int, str]] = field(default_factory=list)
    runs: list[LineageEdge] = field(default_factory=list)
    derived: list[LineageEdge] = field(default_factory=list)
    aliases: list[AliasEvent] = field(default_factory=list)


def list_datasets(store: Store) -> list[Dataset]:
    """Every dataset, by name."""
    return store.metadata.list_datasets()


def _bars(col: Column) -> list[Bar]:
    stats = col.stats
    if stats is None or stats.histogram is None or col.type == "category":
        return []
    counts = stats.histogram.counts
    edges = stats.histogram.edges
    top = max(counts) or 1
    width = 100 / len(counts)
    return [
        Bar(i * width, width, 100 * c / top, f"{edges[i]:.4g} to {edges[i + 1]:.4g}: {c}")
        for i, c in enumerate(counts)
    ]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)[:200]


def build_version_page(store: Store, name: str, ref: str) -> VersionPage:
    """The version page of ``name@ref``. Raises ``NotFound``."""
    from stackml.data.handle import DatasetHandle

    version = store.metadata.get_dataset_version(name, ref)
    handle = DatasetHandle(store, version)
    schema = handle.schema
    columns = [
        ColumnView(c, _bars(c), list(c.stats.frequencies.items())[:8] if c.stats else [])
        for c in schema.columns
    ]
    preview_columns: list[str] = []
    preview_rows: list[list[str]] = []
    if version.table_hash:
        table = handle.to_arrow().slice(0, PREVIEW_ROWS)
        preview_columns = table.column_names
        preview_rows = [[_cell(v) for v in row.values()] for row in table.to_pylist()]
    thumbnails: list[tuple[str, str]] = []
    files: list[tuple[str, int, str]] = []
    if version.manifest_hash:
        entries = handle.manifest.entries
        files = [(e.path, e.size, e.media_type) for e in entries[:50]]
        for entry in (e for e in entries if e.media_type in _IMAGE_TYPES):
            if len(thumbnails) >= THUMBNAILS:
                break
            if entry.size <= MAX_THUMBNAIL_BYTES:
                data = base64.b64encode(store.blobs.get_bytes(entry.hash)).decode()
                thumbnails.append((entry.path, f"data:{entry.media_type};base64,{data}"))
    edges = store.metadata.list_lineage("dataset_version", version.ref, direction="downstream")
    return VersionPage(
        version=version,
        versions=store.metadata.list_dataset_versions(name, include_deleted=True),
        columns=columns,
        schema=schema,
        preview_columns=preview_columns,
        preview_rows=preview_rows,
        thumbnails=thumbnails,
        files=files,
        runs=[e for e in edges if e.target_type == "run"],
        derived=[e for e in edges if e.target_type == "dataset_version"],
        aliases=store.metadata.alias_history(name),
    )


def build_diff(store: Store, name: str, a: str, b: str) -> VersionDiff:
    """The differences between ``name@a`` and ``name@b``."""
    import stackml.data as sd

    return sd.diff(f"{name}@{a}", f"{name}@{b}", store=store)
