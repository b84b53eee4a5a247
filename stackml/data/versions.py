"""Adding a dataset version: files and tables to blobs first, the version row last.

The order is what makes an interrupted add harmless: every blob (files, manifest, Parquet
table) is stored before :meth:`~stackml.store.datasets_base.DatasetStore.create_dataset_version`
commits the version row, its blob references and the ``latest`` alias in one transaction.
Killed before that, an add leaves only unreferenced blobs (deduplicated on the next attempt,
freed by ``stackml gc``) and no row.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import getpass
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from stackml._internal.names import InvalidName, validate_name
from stackml.data import expectations as expect
from stackml.data.hashcache import HashCache
from stackml.data.manifest import Manifest, Progress, scan
from stackml.data.schema import ImageStats, image_stats, infer_schema
from stackml.data.splits import SPLIT_COLUMN, assign_splits, check_spec, split_summary
from stackml.data.storing import store_tree
from stackml.data.tables import is_table_file, read_table, to_parquet_bytes
from stackml.errors import InvalidInput
from stackml.store.datasets_base import DatasetVersion, VersionDraft

if TYPE_CHECKING:
    from stackml.store import Store

IMAGE_TYPES = ("image/png", "image/jpeg", "image/bmp", "image/gif")
#: Images decoded for statistics (a deterministic, evenly spaced sample of larger sets).
IMAGE_SAMPLE = 2000


@functools.lru_cache(maxsize=1)
def author_name() -> str:
    """Who is adding: the OS user, or ``unknown``."""
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return "unknown"


def check_dataset_name(name: object) -> str:
    """A valid dataset name. Raises ``InvalidInput``."""
    try:
        return validate_name(name, what="dataset name")
    except InvalidName as error:
        raise InvalidInput(str(error)) from error


def _image_stats(manifest: Manifest, source: Path) -> ImageStats | None:
    images = [e for e in manifest.entries if e.media_type in IMAGE_TYPES]
    if not images:
        return None
    try:
        import numpy as np
        from PIL import Image
    except ImportError:  # Pillow is optional: image statistics need it
        return None
    step = max(1, len(images) // IMAGE_SAMPLE)
    arrays = []
    root = source if source.is_dir() else source.parent
    for entry in images[::step][:IMAGE_SAMPLE]:
        try:
            with Image.open(root / entry.path) as img:
                arrays.append(np.asarray(img))
        except OSError as error:
            raise InvalidInput(f"{root / entry.path}: not a readable image: {error}") from error
    return image_stats(arrays)


def _with_splits(
    table: pa.Table,
    spec: Mapping[str, float],
    seed: int,
    label: str | None,
) -> tuple[pa.Table, dict[str, Any]]:
    if SPLIT_COLUMN in table.column_names:
        raise InvalidInput(
            f"the table already has a {SPLIT_COLUMN!r} column; drop it or omit --split"
        )
    labels = None
    if label is not None:
        if label not in table.column_names:
            raise InvalidInput(f"label column {label!r} is not in the table")
        labels = table.column(label).to_pylist()
    assigned = assign_splits(table.num_rows, spec, seed=seed, labels=labels)
    table = table.append_column(SPLIT_COLUMN, pa.array(assigned, pa.string()))
    record = {
        "spec": dict(spec),
        "seed": seed,
        "stratify": label,
        "column": SPLIT_COLUMN,
        "counts": {name: split_summary(assigned).get(name, 0) for name in spec},
    }
    return table, record


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for the duration of an add.

    An add of many files allocates tens of thousands of small objects that form no cycles;
    each allocation burst would otherwise trigger full-heap scans that find nothing (about a
    fifth of a warm re-add). Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@_without_cyclic_gc()
def add_version(
    store: Store,
    name: str,
    source: Any = None,
    *,
    table: Any = None,
    message: str = "",
    split: Mapping[str, float] | None = None,
    seed: int = 0,
    label: str | None = None,
    key: str | None = None,
    path_column: str | None = None,
    expectations: str | Mapping[str, Any] | None = None,
    follow_symlinks: bool = False,
    verify: bool = False,
    parent: str | None = None,
    transform: Mapping[str, Any] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    use_cache: bool = True,
    inherit_splits: Mapping[str, Any] | None = None,
) -> DatasetVersion:
    """Store files and/or a table as a new version; see :func:`stackml.data.add`."""
    name = check_dataset_name(name)
    if source is None and table is None:
        raise InvalidInput("give a folder, a file or a table to add")
    manifest: Manifest | None = None
    manifest_hash: str | None = None
    images = None
    if isinstance(source, (str, Path)) and not (
        Path(source).is_file() and is_table_file(Path(source)) and table is None
    ):
        root = Path(source)
        files = scan(root, follow_symlinks=follow_symlinks)
        cache = HashCache() if use_cache else None
        try:
            manifest, manifest_hash = store_tree(
                files,
                store.blobs,
                cache=cache,
                verify=verify,
                workers=workers,
                progress=progress,
                source_root=root.absolute(),
            )
        finally:
            if cache is not None:
                cache.close()
        images = _image_stats(manifest, root)
    elif source is not None:
        if table is not None:
            raise InvalidInput("give the table either as the source or as table=, not both")
        table = source
    arrow = None if table is None else read_table(table)
    splits: dict[str, Any] = {}
    if split is not None:
        spec = check_spec(split)
        if arrow is None:
            assert manifest is not None
            arrow = pa.table({"path": [e.path for e in manifest.entries]})
            path_column = path_column or "path"
        arrow, splits = _with_splits(arrow, spec, seed, label)
    elif inherit_splits and arrow is not None and SPLIT_COLUMN in arrow.column_names:
        counts = split_summary(arrow.column(SPLIT_COLUMN).to_pylist())
        splits = {**inherit_splits, "counts": counts}
    if arrow is not None:
        for col, what in ((key, "key"), (label, "label"), (path_column, "path")):
            if col is not None and col not in arrow.column_names:
                raise InvalidInput(f"{what} column {col!r} is not in the table")
    if arrow is not None and path_column is not None and manifest is not None:
        known = {e.path for e in manifest.entries}
        missing = [p for p in arrow.column(path_column).to_pylist() if p not in known]
        if missing:
            raise InvalidInput(
                f"{len(missing)} rows of column {path_column!r} name files not in the folder, "
                f"e.g. {missing[0]!r}"
            )
    doc = expect.parse(expectations) if expectations is not None else None
    schema = (
        infer_schema(arrow, categorical=[label] if label else (), images=images)
        if arrow is not None
        else None
    )
    schema_json: dict[str, Any] = {}
    if schema is not None:
        schema_json = schema.to_dict()
    elif images is not None:
        from stackml.data.schema import Schema

        schema_json = Schema(images=images).to_dict()
    schema_json.update(key=key, label=label, path_column=path_column, expectations=doc)
    table_hash = None
    blob_hashes: Sequence[str] = ()
    if manifest is not None:
        blob_hashes = sorted({e.hash for e in manifest.entries})
    if arrow is not None:
        table_hash = store.blobs.put_bytes(to_parquet_bytes(arrow))
    kind = "mixed" if manifest and arrow is not None else ("files" if manifest else "table")
    draft = VersionDraft(
        dataset=name,
        kind=kind,
        manifest_hash=manifest_hash,
        table_hash=table_hash,
        blob_hashes=tuple(blob_hashes),
        num_files=len(manifest.entries) if manifest else 0,
        num_rows=None if arrow is None else arrow.num_rows,
        size_bytes=(manifest.size_bytes if manifest else 0),
        message=message,
        author=author_name(),
        schema=schema_json,
        splits=splits,
        transform=dict(transform or {}),
        parent_id=parent,
    )
    return store.metadata.create_dataset_version(draft)
