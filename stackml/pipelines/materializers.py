"""Materializers: how a step's output becomes a blob, and a blob becomes an input again.

Each materializer is one small class. :func:`materializer_for` picks the first registered one
whose :meth:`Materializer.can_save` accepts a value; :func:`register_materializer` adds your
own (ahead of the built-ins). The built-ins, in lookup order:

==============  =====================================  ===============================
name            values                                 stored as
==============  =====================================  ===============================
``dataset``     :class:`~stackml.store.datasets_base.DatasetVersion`  a JSON reference
``files``       :class:`pathlib.Path` (file or folder) one blob per file + a manifest
``numpy``       :class:`numpy.ndarray`                 ``.npy`` (``allow_pickle=False``)
``parquet``     pandas ``DataFrame``, ``pyarrow.Table``  Parquet
``safetensors`` a torch ``state_dict`` (str → Tensor)  safetensors
``json``        JSON-able values                       JSON
==============  =====================================  ===============================

``pickle`` is never chosen on its own: a step must opt in with ``Step(pickle=True)``.
"""

from __future__ import annotations

import abc
import io
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from stackml.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from stackml.store import Store

__all__ = [
    "MaterializeContext",
    "Materializer",
    "Stored",
    "get_materializer",
    "materializer_for",
    "register_materializer",
]


@dataclass(frozen=True)
class MaterializeContext:
    """What a materializer may use: the store (blobs and metadata) and a scratch folder."""

    store: Store
    scratch: Path


@dataclass(frozen=True)
class Stored:
    """A stored value: its blob hash and what :meth:`Materializer.load` needs besides."""

    hash: str
    meta: Mapping[str, Any]


class Materializer(abc.ABC):
    """Turns values of some types into one blob and back. Subclasses set ``name``."""

    name: ClassVar[str]

    @abc.abstractmethod
    def can_save(self, value: object) -> bool:
        """Whether this materializer handles ``value``."""

    @abc.abstractmethod
    def save(self, value: Any, ctx: MaterializeContext) -> Stored:
        """Store ``value``; the blob hash is the content hash the cache builds on."""

    @abc.abstractmethod
    def load(self, stored: Stored, ctx: MaterializeContext) -> Any:
        """The value a :meth:`save` stored."""


def _module_of(value: object) -> str:
    return type(value).__module__.split(".", 1)[0]


class JsonMaterializer(Materializer):
    name = "json"

    def can_save(self, value: object) -> bool:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            return False
        return True

    def save(self, value: Any, ctx: MaterializeContext) -> Stored:
        data = json.dumps(value, allow_nan=False, sort_keys=True).encode()
        # Tuples come back as lists from JSON; remember to turn them back.
        return Stored(ctx.store.blobs.put_bytes(data), {"tuple": isinstance(value, tuple)})

    def load(self, stored: Stored, ctx: MaterializeContext) -> Any:
        value = json.loads(ctx.store.blobs.get_bytes(stored.hash))
        return tuple(value) if stored.meta.get("tuple") else value


class NumpyMaterializer(Materializer):
    name = "numpy"

    def can_save(self, value: object) -> bool:
        return _module_of(value) == "numpy" and type(value).__name__ == "ndarray"

    def save(self, value: Any, ctx: MaterializeContext) -> Stored:
        import numpy as np

        if value.dtype == object:
            raise InvalidInput("object arrays need pickle; return a typed array or opt in")
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        meta = {"dtype": str(value.dtype), "shape": list(value.shape)}
        return Stored(ctx.store.blobs.put_bytes(buffer.getvalue()), meta)

    def load(self, stored: Stored, ctx: MaterializeContext) -> Any:
        import numpy as np

        return np.load(io.BytesIO(ctx.store.blobs.get_bytes(stored.hash)), allow_pickle=False)


class ParquetMaterializer(Materializer):
    name = "parquet"

    def can_save(self, value: object) -> bool:
        kind = (_module_of(value), type(value).__name__)
        return kind in {("pandas", "DataFrame"), ("pyarrow", "Table")}

    def save(self, value: Any, ctx: MaterializeContext) -> Stored:
        import pyarrow as pa
        import pyarrow.parquet as pq

        is_pandas = _module_of(value) == "pandas"
        table = pa.Table.from_pandas(value) if is_pandas else value
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        meta = {"kind": "pandas" if is_pandas else "arrow", "rows": table.num_rows}
        return Stored(ctx.store.blobs.put_bytes(buffer.getvalue()), meta)

    def load(self, stored: Stored, ctx: MaterializeContext) -> Any:
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(ctx.store.blobs.get_bytes(stored.hash)))
        return table.to_pandas() if stored.meta.get("kind") == "pandas" else table


class SafetensorsMaterializer(Materializer):
    """A torch ``state_dict``: a mapping of names to tensors (``OrderedDict`` included)."""

    name = "safetensors"

    def can_save(self, value: object) -> bool:
        if not isinstance(value, Mapping) or not value:
            return False
        return all(
            isinstance(k, str) and _module_of(v) == "torch" and type(v).__name__ == "Tensor"
            for k, v in value.items()
        )

    def save(self, value: Any, ctx: MaterializeContext) -> Stored:
        from safetensors.torch import save

        tensors = {k: v.detach().cpu().contiguous() for k, v in value.items()}
        return Stored(ctx.store.blobs.put_bytes(save(tensors)), {"keys": list(tensors)})

    def load(self, stored: Stored, ctx: MaterializeContext) -> Any:
        from collections import OrderedDict

        from safetensors.torch import load

        loaded = load(ctx.store.blobs.get_bytes(stored.hash))
        order = stored.meta.get("keys") or list(loaded)
        return OrderedDict((k, loaded[k]) for k in order)


class FilesMaterializer(Materializer):
    """A file or a folder: every file is a blob; the manifest (path → hash) is the output."""

    name = "files"

    def can_save(self, value: object) -> bool:
        return isinstance(value, Path)

    def save(self, value: Any, ctx: MaterializeContext) -> Stored:
        path = Path(value)
        if not path.exists():
            raise InvalidInput(f"step returned the path {path}, which does not exist")
        if path.is_file():
            files = {path.name: ctx.store.blobs.put_file(path)}
        else:
            files = {}
            for item in sorted(path.rglob("*")):
                if item.is_symlink():
                    raise InvalidInput(f"{item} is a symbolic link; steps return real files")
                if item.is_file():
                    files[item.relative_to(path).as_posix()] = ctx.store.blobs.put_file(item)
        manifest = json.dumps({"files": files}, sort_keys=True).encode()
        meta = {"is_file": path.is_file(), "name": path.name, "count": len(files)}
        return Stored(ctx.store.blobs.put_bytes(manifest), meta)

    def load(self, stored: Stored, ctx: MaterializeContext) -> Any:
        files: dict[str, str] = json.loads(ctx.store.blobs.get_bytes(stored.hash))["files"]
        root = ctx.scratch / stored.hash[:16]
        for rel, digest in files.items():
            target = root / rel
            if not target.resolve().is_relative_to(root.resolve()):
                raise InvalidInput(f"manifest path {rel!r} leaves its folder")
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                ctx.store.blobs.get_file(digest, target)
        if stored.meta.get("is_file"):
            return root / next(iter(files))
        return root


class DatasetMaterializer(Materializer):
    """A dataset version is stored by reference, never copied.

    The blob holds the version's *content* (dataset name, manifest and table hashes), so
    re-adding identical data as a new version keeps downstream cache hits; the version id
    travels in the metadata for lineage and loading.
    """

    name = "dataset"

    def can_save(self, value: object) -> bool:
        return type(value).__name__ == "DatasetVersion" and hasattr(value, "manifest_hash")

    def save(self, value: Any, ctx: MaterializeContext) -> Stored:
        content = {
            "dataset": value.dataset,
            "manifest": value.manifest_hash,
            "table": value.table_hash,
        }
        data = json.dumps(content, sort_keys=True).encode()
        meta = {"dataset": value.dataset, "id": value.id, "number": value.number}
        return Stored(ctx.store.blobs.put_bytes(data), meta)

    def load(self, stored: Stored, ctx: MaterializeContext) -> Any:
        dataset, version = stored.meta.get("dataset"), stored.meta.get("id")
        if not dataset or not version:
            raise InvalidInput(f"dataset reference {stored.hash} lacks its version id")
        return ctx.store.metadata.get_dataset_version(str(dataset), str(version))


class PickleMaterializer(Materializer):
    """Any picklable value. Only used when a step opts in with ``pickle=True``: loading a
    pickle runs code, so it is for values the step's own pipeline wrote."""

    name = "pickle"

    def can_save(self, value: object) -> bool:
        return True

    def save(self, value: Any, ctx: MaterializeContext) -> Stored:
        import pickle

        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        return Stored(ctx.store.blobs.put_bytes(data), {"type": type(value).__qualname__})

    def load(self, stored: Stored, ctx: MaterializeContext) -> Any:
        import pickle

        return pickle.loads(ctx.store.blobs.get_bytes(stored.hash))


_BUILTIN: list[Materializer] = [
    DatasetMaterializer(),
    FilesMaterializer(),
    NumpyMaterializer(),
    ParquetMaterializer(),
    SafetensorsMaterializer(),
    JsonMaterializer(),
]
_USER: list[Materializer] = []
_PICKLE = PickleMaterializer()


def register_materializer(materializer: Materializer) -> Materializer:
    """Add a materializer; it is tried before the built-ins (latest registered first)."""
    if not isinstance(materializer, Materializer) or not getattr(materializer, "name", ""):
        raise InvalidInput("register a Materializer instance with a name")
    _USER[:] = [m for m in _USER if m.name != materializer.name]
    _USER.insert(0, materializer)
    return materializer


def get_materializer(name: str) -> Materializer:
    """The materializer called ``name``. Raises ``NotFound``."""
    for m in (*_USER, *_BUILTIN, _PICKLE):
        if m.name == name:
            return m
    raise NotFound(
        f"no materializer named {name!r}: import the module that registers it before running"
    )


def materializer_for(value: object, *, allow_pickle: bool = False) -> Materializer:
    """The first materializer that can store ``value``.

    Raises:
        InvalidInput: none can, and pickle is not allowed.
    """
    for m in (*_USER, *_BUILTIN):
        if m.can_save(value):
            return m
    if allow_pickle:
        return _PICKLE
    raise InvalidInput(
        f"no materializer stores a {type(value).__module__}.{type(value).__qualname__}: "
        "return a NumPy array, DataFrame, state_dict, Path, dataset version or JSON, "
        "register a Materializer, or opt in to pickle with @step(pickle=True)"
    )


def scratch_dir() -> Path:
    """A folder for file-tree inputs, shared by the steps of this machine."""
    root = Path(tempfile.gettempdir()) / "stackml-pipeline-files"
    if not root.is_dir():  # a stat per step, not a failing mkdir
        root.mkdir(parents=True, exist_ok=True)
    return root
