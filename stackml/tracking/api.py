"""Module-level tracking API: the default store, flushing and reading runs back.

A store is opened lazily the first time it is needed and cached by where it lives, so a change
of ``STACKML_TRACKING_URI``, of working directory or a call to :func:`set_tracking_uri` is
picked up by the next call. Each store gets one :class:`~stackml.tracking.writer.MetricWriter`.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Sequence

from stackml.config import get_settings, resolve_location
from stackml.store import Run, RunPage, Store, open_store
from stackml.tracking.writer import MetricWriter, flush_all_writers, report_at_exit

__all__ = [
    "flush",
    "get_run",
    "get_store",
    "get_tracking_uri",
    "metric_history",
    "reset",
    "search_runs",
    "search_runs_page",
    "set_tracking_uri",
]

_lock = threading.RLock()
_tracking_uri: str | None = None
_stores: dict[tuple[str, str, str | None], Store] = {}
_writers: dict[int, MetricWriter] = {}
_exit_hook_registered = False


def set_tracking_uri(uri: str | None) -> None:
    """Use ``uri`` (a server URL, a database URL or a folder) for runs started from now on.

    ``None`` goes back to ``STACKML_TRACKING_URI`` or the nearest ``.stackml`` folder.
    """
    global _tracking_uri
    with _lock:
        _tracking_uri = uri


def get_tracking_uri() -> str:
    """Where runs started now would be stored (the resolved metadata URL)."""
    return resolve_location(_tracking_uri).metadata_url


def get_store(tracking_uri: str | None = None) -> Store:
    """The cached store for ``tracking_uri`` (default: the configured one), opened on first use."""
    location = resolve_location(tracking_uri or _tracking_uri)
    key = (location.kind, location.metadata_url, location.blob_url)
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = open_store(tracking_uri or _tracking_uri)
        return store


def writer_for(store: Store) -> MetricWriter:
    """The metric writer of ``store``, started on first use."""
    global _exit_hook_registered
    with _lock:
        writer = _writers.get(id(store))
        if writer is None:
            capacity = get_settings().metric_queue_size
            writer = _writers[id(store)] = MetricWriter(store.metadata, capacity=capacity)
        if not _exit_hook_registered:
            atexit.register(_at_exit)
            _exit_hook_registered = True
        return writer


def _wait_for(store: Store) -> None:
    """Let reads see the caller's own points; failures stay queued for ``flush`` to raise."""
    writer = _writers.get(id(store))
    if writer is not None:
        writer.wait()


def flush(timeout: float | None = None) -> None:
    """Block until every metric point logged so far is durable.

    Args:
        timeout: Seconds to wait at most; ``None`` waits as long as it takes.

    Raises:
        StoreUnavailable: Not every point was written within ``timeout``.
        StackmlError: Writing failed even after retries; the message says how many points
            were lost.
    """
    flush_all_writers(timeout)


def get_run(run_id: str, *, tracking_uri: str | None = None) -> Run:
    """A snapshot of a run: params, tags, status and the latest value of each metric."""
    store = get_store(tracking_uri)
    _wait_for(store)
    return store.metadata.get_run(run_id)


def metric_history(
    run_id: str, key: str, *, tracking_uri: str | None = None
) -> list[tuple[int, int, float]]:
    """Every point of metric ``key`` as ``(step, timestamp_ms, value)``, ordered by step."""
    store = get_store(tracking_uri)
    _wait_for(store)
    return [(p.step, p.timestamp, p.value) for p in store.metadata.metric_history(run_id, key)]


def search_runs_page(
    project: str | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | None = None,
    *,
    experiment_ids: Sequence[str] | None = None,
    max_results: int = 100,
    page_token: str | None = None,
    tracking_uri: str | None = None,
) -> RunPage:
    """One page of runs; pass ``page.next_page_token`` back for the next one."""
    store = get_store(tracking_uri)
    _wait_for(store)
    return store.metadata.search_runs(
        project=project,
        experiment_ids=experiment_ids,
        filter=filter,
        order_by=order_by,
        limit=max_results,
        page_token=page_token,
    )


def search_runs(
    project: str | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | None = None,
    limit: int = 100,
    *,
    experiment_ids: Sequence[str] | None = None,
    tracking_uri: str | None = None,
) -> list[Run]:
    """Runs matching ``filter`` (e.g. ``"metrics.acc > 0.9 and params.opt = 'adam'"``).

    Args:
        project: Only runs of this project.
        filter: Conditions on ``metrics.*``, ``params.*``, ``tags.*`` and run attributes.
        order_by: Keys such as ``"metrics.acc DESC"``; newest first by default.
        limit: Most runs returned.
        experiment_ids: Only runs of these experiments.
        tracking_uri: Search another store than the default one.
    """
    runs: list[Run] = []
    token: str | None = None
    while len(runs) < limit:
        page = search_runs_page(
            project,
            filter,
            order_by,
            experiment_ids=experiment_ids,
            max_results=min(limit - len(runs), 1000),
            page_token=token,
            tracking_uri=tracking_uri,
        )
        runs.extend(page.runs)
        token = page.next_page_token
        if not token or not page.runs:
            break
    return runs[:limit]


def _at_exit() -> None:
    from stackml.tracking.run import finish_abandoned_runs

    report_at_exit(get_settings().exit_flush_timeout)
    finish_abandoned_runs()


def reset() -> None:
    """Flush and close every writer and store this process opened (used between tests)."""
    global _tracking_uri
    with _lock:
        writers = list(_writers.values())
        stores = list(_stores.values())
        _writers.clear()
        _stores.clear()
        _tracking_uri = None
    for writer in writers:
        writer.close(timeout=30)
    for store in stores:
        store.close()
