"""Active runs: the object a training script logs through.

``start_run`` creates a run in the store, records the environment it runs in and pushes it on
a per-context stack so that :func:`active_run` and nested runs work. Metrics go to the store's
background :class:`~stackml.tracking.writer.MetricWriter`; everything else is written at once.
"""

from __future__ import annotations

import contextvars
import getpass
import logging
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from stackml._internal.timeutil import now_ms
from stackml.errors import Conflict, InvalidInput, StackmlError
from stackml.store import Artifact, LineageEdge, Run, RunStatus, Store
from stackml.tracking import api, artifacts
from stackml.tracking.environment import capture_environment as _capture
from stackml.tracking.values import (
    check_key,
    check_name,
    flatten_params,
    stringify_tags,
    to_float,
)
from stackml.tracking.writer import MetricWriter

__all__ = [
    "ActiveRun",
    "active_run",
    "finish_abandoned_runs",
    "forget_active_runs",
    "start_run",
]

logger = logging.getLogger(__name__)

#: Value types ``log_metrics`` hands to the writer as they are (bool is an int).
_PLAIN_TYPES = frozenset({float, int, bool})

_stack: contextvars.ContextVar[tuple[ActiveRun, ...]] = contextvars.ContextVar(
    "stackml_active_runs", default=()
)
# Runs not finished yet, whatever context started them, so the exit hook can close them.
_unfinished: weakref.WeakSet[ActiveRun] = weakref.WeakSet()


class ActiveRun:
    """A run being recorded. Use :func:`start_run` to get one; it is also a context manager.

    Leaving the ``with`` block flushes the run's metrics and marks it ``completed``, or
    ``failed`` when an exception escapes (``killed`` for ``KeyboardInterrupt``).
    """

    def __init__(self, store: Store, writer: MetricWriter, run: Run) -> None:
        self._store = store
        self._writer = writer
        self.info = run
        self._id = run.id
        self._known_keys: set[str] = set()
        self._last_step: dict[str, int] = {}
        self._finished = False
        self._finish_lock = threading.Lock()

    # -- identity -----------------------------------------------------------------------
    @property
    def id(self) -> str:
        """The run's stable id."""
        return self._id

    @property
    def project(self) -> str:
        return self.info.project

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def parent_id(self) -> str | None:
        return self.info.parent_id

    @property
    def store(self) -> Store:
        """The store the run is recorded in."""
        return self._store

    @property
    def finished(self) -> bool:
        return self._finished

    def __repr__(self) -> str:
        return f"ActiveRun(id={self._id!r}, project={self.project!r}, name={self.name!r})"

    # -- params, tags, metrics ----------------------------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record params; nested mappings are flattened with ``.``, values become strings.

        Raises:
            Conflict: A param already has a different value (params are immutable).
        """
        flat = flatten_params(params)
        if flat:
            self._store.metadata.log_params(self._id, flat)

    def log_param(self, key: str, value: Any) -> None:
        """Record one param (see :meth:`log_params`)."""
        self.log_params({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set or overwrite tags."""
        clean = stringify_tags(tags)
        if clean:
            self._store.metadata.set_tags(self._id, clean)

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag."""
        self.set_tags({key: value})

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Queue metric values for the background writer; returns without waiting on I/O.

        Args:
            metrics: Key to value; values are Python, NumPy or one-element torch scalars.
            step: The step of every value; ``None`` continues each key's own count from
                the last step logged for it (starting at 0).

        Raises:
            InvalidInput: A key is malformed or a value is not a number.
        """
        # This is the hot path of a training loop: no per-point objects, keys validated
        # once per new key, value types checked once per new type.
        try:
            if _PLAIN_TYPES.issuperset(map(type, metrics.values())):
                # Python floats and ints are immutable: copy the dict, the writer converts.
                floats = dict(metrics)
            else:
                # Other scalars (NumPy, torch) may be mutable or live on a device: convert now.
                floats = {k: to_float(k, v) for k, v in metrics.items()}
        except AttributeError as exc:
            raise InvalidInput(f"metrics must be a mapping of keys to numbers: {exc}") from exc
        if not floats:
            return
        if not self._known_keys.issuperset(floats):
            for key in floats:
                if key not in self._known_keys:
                    self._known_keys.add(check_key(key, what="metric key"))
        timestamp = time.time_ns() // 1_000_000
        last = self._last_step
        if step is None:
            steps = {k: last.get(k, -1) + 1 for k in floats}
            last.update(steps)
            self._writer.put((self._id, 0, steps, timestamp, floats), len(floats))
        else:
            if type(step) is not int:
                step = _to_step(step)
            last.update(dict.fromkeys(floats, step))
            self._writer.put((self._id, step, None, timestamp, floats), len(floats))

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Queue one metric value (see :meth:`log_metrics`)."""
        self.log_metrics({key: value}, step=step)

    def flush(self, timeout: float | None = None) -> None:
        """Block until every metric point queued so far is durable."""
        self._writer.flush(timeout)

    # -- artifacts and lineage ----------------------------------------------------------
    def log_artifact(self, path: str | Path, name: str | None = None) -> list[Artifact]:
        """Store a file, or a directory recursively, as artifacts of this run.

        Args:
            path: A local file or directory.
            name: Logical path inside the run; defaults to the file or directory name.

        Returns:
            The artifact records, one per file.

        Raises:
            InvalidInput: The path is missing or a symlink inside a directory points outside
                it; nothing is recorded then.
        """
        return artifacts.log_path(self._store, self._id, path, name)

    def log_text(self, text: str, name: str) -> Artifact:
        """Store ``text`` (UTF-8) as artifact ``name``."""
        return artifacts.log_bytes(self._store, self._id, text.encode(), name, "text/plain")

    def log_dict(self, data: Any, name: str) -> Artifact:
        """Store ``data`` as a JSON artifact ``name``."""
        return artifacts.log_json(self._store, self._id, data, name)

    def use_dataset(self, name: str, version: str | None = None) -> LineageEdge:
        """Record that a dataset version is an input of this run.

        A version stored here is recorded by its immutable id (``name@<id>``), whatever ref
        named it (``v3``, ``latest``, ``prod``), so the edge keeps pointing at the same data
        when an alias moves; the ref given is kept in the edge's properties. A dataset this
        store does not know is recorded as given.
        """
        from stackml.errors import NotFound

        check_name(name, what="dataset name")
        if version is not None:
            check_name(version, what="dataset version")
        ref = version or "latest"
        try:
            found = self._store.metadata.get_dataset_version(name, ref)
        except NotFound:
            return self.log_input("dataset_version", f"{name}@{ref}")
        return self.log_input(
            "dataset_version", found.ref, properties={"ref": ref, "number": found.number}
        )

    def log_input(
        self, entity_type: str, entity_id: str, *, properties: Mapping[str, Any] | None = None
    ) -> LineageEdge:
        """Record a lineage edge ``entity -> this run`` with role ``input``."""
        edge = LineageEdge(
            entity_type, entity_id, "run", self._id, "input", now_ms(), dict(properties or {})
        )
        return self._store.metadata.add_lineage(edge)

    def log_output(
        self, entity_type: str, entity_id: str, *, properties: Mapping[str, Any] | None = None
    ) -> LineageEdge:
        """Record a lineage edge ``this run -> entity`` with role ``output``."""
        edge = LineageEdge(
            "run", self._id, entity_type, entity_id, "output", now_ms(), dict(properties or {})
        )
        return self._store.metadata.add_lineage(edge)

    # -- lifecycle ----------------------------------------------------------------------
    def refresh(self) -> Run:
        """The run's current snapshot, after its queued metrics are written."""
        self._writer.wait()
        self.info = self._store.metadata.get_run(self._id)
        return self.info

    def finish(
        self, status: str | RunStatus = "completed", *, flush_timeout: float | None = None
    ) -> None:
        """Flush the run's metrics and mark it finished. Calling it again does nothing.

        Args:
            status: ``"completed"``, ``"failed"`` or ``"killed"``.
            flush_timeout: Seconds to wait for queued metrics at most.

        Raises:
            StackmlError: Queued metrics could not be written (the run is still finished).
        """
        final = _terminal_status(status)
        with self._finish_lock:
            if self._finished:
                return
            self._finished = True
        _pop(self)
        _unfinished.discard(self)
        error: StackmlError | None = None
        try:
            self._writer.flush(flush_timeout)
        except StackmlError as exc:
            error = exc
        self.info = self._store.metadata.update_run(self._id, status=final, end_time=now_ms())
        if error is not None:
            raise error

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish("completed")
            return
        status = "killed" if issubclass(exc_type, KeyboardInterrupt) else "failed"
        try:
            self.finish(status)
        except StackmlError:
            # The user's exception is the one to see; the write failure is logged.
            logger.exception("could not finish run %s cleanly", self._id)


def _to_step(step: object) -> int:
    try:
        return int(step.__index__())  # type: ignore[attr-defined]
    except (AttributeError, TypeError) as exc:
        raise InvalidInput(f"step must be an integer, not {step!r}") from exc


def _terminal_status(status: str | RunStatus) -> RunStatus:
    try:
        final = RunStatus(status)
    except ValueError as exc:
        raise InvalidInput(
            f"unknown run status {status!r}: use 'completed', 'failed' or 'killed'"
        ) from exc
    if not final.is_terminal:
        raise InvalidInput("a run is finished with 'completed', 'failed' or 'killed'")
    return final


def _pop(run: ActiveRun) -> None:
    stack = _stack.get()
    if run in stack:
        _stack.set(tuple(r for r in stack if r is not run))


def forget_active_runs() -> None:
    """Empty this context's stack of active runs without finishing them."""
    _stack.set(())


def active_run() -> ActiveRun | None:
    """The innermost run started in this context and not finished yet, or ``None``."""
    # A run finished from another thread is still on this context's stack: skip it.
    for run in reversed(_stack.get()):
        if not run.finished:
            return run
    return None


def start_run(
    project: str = "default",
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    experiment: str | None = None,
    parent: ActiveRun | str | None = None,
    nested: bool = False,
    tracking_uri: str | None = None,
    capture_environment: bool = True,
) -> ActiveRun:
    """Start recording a run.

    Args:
        project: Project name (created if missing).
        name: Display name; generated when ``None``.
        params: Hyperparameters (nested mappings are flattened with ``.``).
        tags: Free-form tags.
        experiment: Experiment name inside the project (default ``"default"``).
        parent: A run or run id to nest this run under.
        nested: Nest under the active run instead of refusing to start a second one.
        tracking_uri: Record in this store instead of the default one.
        capture_environment: Record git state, Python, packages, host and command line.

    Raises:
        Conflict: A run is already active and neither ``nested`` nor ``parent`` is given.
    """
    current = active_run()
    if parent is None and current is not None:
        if not nested:
            raise Conflict(
                f"run {current.id} is still active: finish it first, or pass nested=True "
                "to start a child run"
            )
        parent = current
    parent_id = parent.id if isinstance(parent, ActiveRun) else parent
    flat_params = flatten_params(params or {})
    all_tags = stringify_tags(tags)
    env = _capture() if capture_environment else None
    if env is not None:
        all_tags = {**env.tags, **all_tags}
    store = api.get_store(tracking_uri)
    writer = api.writer_for(store)
    info = store.metadata.create_run(
        project,
        experiment=experiment,
        name=name,
        user=_user(),
        parent_id=parent_id,
        tags=all_tags,
        params=flat_params,
    )
    run = ActiveRun(store, writer, info)
    _stack.set((*_stack.get(), run))
    _unfinished.add(run)
    if env is not None:
        for path, data in env.files.items():
            try:
                artifacts.log_bytes(store, run.id, data, path, "text/plain")
            except StackmlError:  # the environment is a courtesy; never fail a run over it
                logger.warning("could not store %s for run %s", path, run.id, exc_info=True)
    return run


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def finish_abandoned_runs() -> None:
    """Exit hook: mark runs still open as finished, ``failed`` if an exception ended Python."""
    status = RunStatus.FAILED if hasattr(sys, "last_type") else RunStatus.COMPLETED
    for run in list(_unfinished):
        if run.finished:
            continue
        run._finished = True
        try:
            run.store.metadata.update_run(run.id, status=status, end_time=now_ms())
        except Exception:  # the interpreter is exiting; nothing else can be done
            logger.warning("could not mark run %s as %s", run.id, status.value)
