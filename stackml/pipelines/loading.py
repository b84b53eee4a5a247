"""Finding a pipeline by name: in this process, or through the entrypoint the store keeps."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from stackml.errors import InvalidInput, NotFound
from stackml.pipelines.definition import Pipeline, known_pipelines
from stackml.pipelines.execution import import_function

if TYPE_CHECKING:
    from stackml.store import Store

__all__ = ["load_entrypoint", "resolve_pipeline"]


def load_entrypoint(entrypoint: str, source_root: str = "") -> Pipeline:
    """Import ``module:function`` (or ``path/file.py:function``) and answer its pipeline."""
    if source_root and source_root not in sys.path:
        sys.path.insert(0, source_root)
    module, _, qualname = entrypoint.rpartition(":")
    if not module or not qualname:
        raise InvalidInput(f"{entrypoint!r} is not 'module:function' or 'file.py:function'")
    source_file = module if module.endswith(".py") else ""
    import_function(entrypoint, source_file)
    # Importing ran the @pipeline decorator, which registered it under its name.
    for candidate in known_pipelines().values():
        if candidate.fn.__qualname__ == qualname and (
            candidate.entrypoint == entrypoint
            or candidate.fn.__module__ in {module, "stackml_pipeline_script"}
        ):
            return candidate
    raise InvalidInput(f"{entrypoint!r} is not a function decorated with @stackml.pipeline")


def resolve_pipeline(name_or_fn: str | Pipeline, store: Store) -> Pipeline:
    """The pipeline ``name_or_fn`` stands for.

    Raises:
        NotFound: no pipeline of that name here or in the store.
    """
    if isinstance(name_or_fn, Pipeline):
        return name_or_fn
    if not isinstance(name_or_fn, str):
        raise InvalidInput(f"run a Pipeline or a pipeline name, not {name_or_fn!r}")
    if ":" in name_or_fn:
        return load_entrypoint(name_or_fn)
    here = known_pipelines().get(name_or_fn)
    if here is not None:
        return here
    try:
        info = store.metadata.get_pipeline(name_or_fn)
    except NotFound:
        raise NotFound(
            f"no pipeline named {name_or_fn!r}: run it once as 'module:function' "
            "(or from Python) so the store knows where its code is"
        ) from None
    found = load_entrypoint(info.entrypoint, info.source_root)
    if found.name != name_or_fn:
        found = known_pipelines().get(name_or_fn, found)
    return found
