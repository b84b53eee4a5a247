"""Loading a registered version as a :class:`~stackml.registry.runtime.Predictor`.

:func:`load` resolves the ref, copies the version's files out of the blob store (each one
verified against the hash recorded at registration: a changed or corrupted file fails with
:class:`~stackml.errors.IntegrityError`), extracts an archive safely if the version is one,
and hands the folder to the version's format. Pickle-based formats load only with
``trust=True``.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from stackml.errors import IntegrityError, NotFound
from stackml.registry.archives import is_archive, safe_extract
from stackml.registry.refs import parse_ref, resolve
from stackml.registry.signature import Signature
from stackml.registry.versions import get_store

if TYPE_CHECKING:
    from stackml.registry.runtime import Predictor
    from stackml.store import Store
    from stackml.store.registry_base import ModelVersion, RegisteredModel

__all__ = ["download_version", "get_version", "list_models", "list_versions", "load"]


def get_version(ref: str, *, store: Store | None = None) -> ModelVersion:
    """The version a ref names now (``NAME@N``, ``NAME@ALIAS`` or ``NAME``)."""
    store = get_store(store)
    name, number = resolve(parse_ref(ref), store.metadata)
    return store.metadata.get_model_version(name, number)


def list_models(*, store: Store | None = None) -> list[RegisteredModel]:
    """Every registered model, by name."""
    return get_store(store).metadata.list_registered_models()


def list_versions(name: str, *, store: Store | None = None) -> list[ModelVersion]:
    """The versions of model ``name``, newest first."""
    return get_store(store).metadata.list_model_versions(name)


def _relative(version: ModelVersion, path: str) -> str:
    root = version.artifact_path
    return path.rsplit("/", 1)[-1] if path == root else path[len(root) + 1 :]


def download_version(store: Store, version: ModelVersion, dest: str | Path) -> Path:
    """Copy the version's files into ``dest``, verifying every blob against its hash.

    Raises:
        IntegrityError: A file's bytes do not match the hash recorded at registration, or
            the blob is gone.
    """
    dest = Path(dest)
    for item in version.files:
        target = dest.joinpath(*_relative(version, item.path).split("/"))
        try:
            store.blobs.get_file(item.blob_hash, target)
        except IntegrityError as error:
            raise IntegrityError(
                f"{version.ref}: file {item.path!r} does not match its recorded hash "
                f"{item.blob_hash[:12]}...: the stored bytes were changed or corrupted since "
                f"registration; refusing to load it (run 'stackml fsck') [{error}]"
            ) from error
        except NotFound as error:
            raise IntegrityError(
                f"{version.ref}: file {item.path!r} (blob {item.blob_hash[:12]}...) is missing "
                "from the blob store"
            ) from error
    return dest


def _model_dir(version: ModelVersion, folder: Path) -> Path:
    files = list(folder.rglob("*"))
    single = [f for f in files if f.is_file()]
    if len(version.files) == 1 and len(single) == 1 and is_archive(single[0].name):
        extracted = folder.parent / "extracted"
        safe_extract(single[0], extracted)
        return extracted
    return folder


def load(
    ref: str, *, store: Store | None = None, trust: bool = False, threads: int | None = None
) -> Predictor:
    """The predictor of the version ``ref`` names: ``"digits@production"``, ``"digits@3"``,
    ``"digits"`` (the latest). ``threads`` caps the runtime's threads per call (ONNX Runtime's
    intra-op threads; default: the runtime's choice).

    Raises:
        NotFound: No such model, version or alias.
        IntegrityError: A file does not match its recorded hash.
        InvalidInput: The format needs ``trust=True`` (pickle), or an archive is unsafe.
    """
    from stackml.registry.formats import load_predictor

    store = get_store(store)
    version = get_version(ref, store=store)
    work = Path(tempfile.mkdtemp(prefix=f"stackml-{version.model}-{version.version}-"))
    try:
        model_dir = _model_dir(version, download_version(store, version, work / "files"))
        predictor = load_predictor(
            version.format,
            model_dir,
            dict(version.meta),
            Signature.from_dict(version.signature),
            trust=trust,
            name=version.model,
            version=version.version,
            threads=threads,
        )
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    # The files live as long as the predictor: some runtimes map them lazily.
    weakref.finalize(predictor, shutil.rmtree, work, True)
    return predictor
