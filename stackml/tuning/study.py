"""The Optuna side of a sweep: where its study is stored, and its sampler and pruner.

**Storage.** A sweep's study lives beside the metadata store, through Optuna's own
``RDBStorage``:

- **PostgreSQL**: in the *same database*, in its own schema ``optuna`` (the connection's
  ``search_path``). Optuna keeps its schema version in an Alembic ``alembic_version`` table,
  exactly like stackml's migrations; a schema of its own keeps the two apart, so neither
  tool ever reads the other's revision. Agents on many machines share a study through it.
- **SQLite**: SQLite has no schemas, and both tools would stamp the one ``alembic_version``
  table, so the study goes to ``optuna.db`` next to the metadata file (same folder, same
  machine, same WAL settings). Processes on one machine share it.
- **in-memory SQLite** (tests, notebooks): an in-memory Optuna storage for this process.

A REST tracking URI has no database to lend: :meth:`SweepStore.study_storage_url` raises a
clear ``InvalidInput``.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from stackml.errors import InvalidInput, StackmlError, StoreUnavailable
from stackml.tuning.spec import SweepSpec

if TYPE_CHECKING:
    import optuna

    from stackml.store import Store
    from stackml.store.tuning_base import Sweep

__all__ = [
    "OPTUNA_SCHEMA",
    "load_study",
    "make_pruner",
    "make_sampler",
    "study_storage",
    "tune_sqlite",
]

OPTUNA_SCHEMA = "optuna"
logger = logging.getLogger(__name__)
_lock = threading.Lock()
_storages: dict[tuple[str, int, int, int, int], Any] = {}


def _optuna_url(store_url: str) -> tuple[str, dict[str, Any]]:
    url = make_url(store_url)
    backend = url.get_backend_name()
    if backend == "postgresql":
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {OPTUNA_SCHEMA}"))
        finally:
            engine.dispose()
        kwargs = {
            "connect_args": {"options": f"-c search_path={OPTUNA_SCHEMA}"},
            "pool_pre_ping": True,
        }
        return url.render_as_string(hide_password=False), kwargs
    if backend == "sqlite":
        database = url.database
        if database in (None, "", ":memory:"):
            return "", {}
        path = Path(database).expanduser().resolve()
        target = path.with_name("optuna.db")
        return f"sqlite:///{target}", {"connect_args": {"timeout": 60}}
    raise InvalidInput(f"sweeps need SQLite or PostgreSQL, not {backend!r}")


class _StaleTrial:
    """Heartbeat callback: a trial whose agent died is failed, its run too, maybe re-queued."""

    def __init__(self, store: Store, retries: int) -> None:
        import optuna

        self.store = store
        self.retry = None
        if retries:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self.retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=retries)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        import optuna

        from stackml.store.entities import RunStatus
        from stackml.tuning.agent import RUN_ATTR

        if self.retry is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self.retry(study, trial)
        run_id, sweep_id = trial.user_attrs.get(RUN_ATTR), study.study_name.removeprefix("stackml-")
        if not run_id or not sweep_id:
            return
        try:
            self.store.metadata.update_run(run_id, status=RunStatus.FAILED)
            self.store.metadata.set_tags(run_id, {"sweep.trial_state": "fail"})
            self.store.metadata.record_trial(
                sweep_id, trial.number, run_id=run_id, state="fail", params=trial.params
            )
        except StackmlError:
            logger.warning("could not mark the run of stale trial %s failed", trial.number)


def tune_sqlite(storage: Any) -> None:
    """WAL, a busy timeout and ``synchronous=NORMAL`` for Optuna's SQLite file, as stackml's."""
    engine = storage.engine
    if engine.dialect.name != "sqlite":
        return

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA busy_timeout = 60000")
        finally:
            cursor.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections opened before the listener go away


def study_storage(
    store: Store, *, heartbeat_s: int = 10, grace_s: int = 30, retries: int = 0
) -> Any:
    """The Optuna storage of the store's sweeps (cached per process, thread-safe).

    Args:
        store: An embedded or database-backed store.
        heartbeat_s: How often a running trial proves it is alive (the agent's heartbeat
            thread, :mod:`stackml.tuning.heartbeat`, records it in Optuna's heartbeat table).
        grace_s: After how long without a heartbeat a trial is stale and marked failed.
        retries: How many times a stale trial is re-queued (``RetryFailedTrialCallback``).
    """
    import optuna

    store_url = store.metadata.study_storage_url()
    key = (store_url, heartbeat_s, grace_s, retries, id(store))
    with _lock:
        found = _storages.get(key)
        if found is not None:
            return found
        url, kwargs = _optuna_url(store_url)
        if not url:
            storage: Any = optuna.storages.InMemoryStorage()
        else:
            callback = _StaleTrial(store, retries)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    storage = optuna.storages.RDBStorage(
                        url,
                        engine_kwargs=kwargs,
                        heartbeat_interval=heartbeat_s,
                        grace_period=grace_s,
                        heartbeat_stale_trial_callback=callback,
                    )
            except Exception as exc:  # Optuna raises RuntimeError/SQLAlchemy errors here
                raise StoreUnavailable(f"cannot open the sweeps' Optuna storage: {exc}") from exc
            tune_sqlite(storage)
        _storages[key] = storage
        return storage


def make_sampler(spec: SweepSpec, *, round_seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The Optuna sampler of the sweep's method."""
    import optuna

    seed = spec.seed if round_seed is None else round_seed
    method = spec.method
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if method == "grid":
            from stackml.tuning.space import grid_points

            # Every agent shuffles the grid with the same seed, and Optuna gives trial number
            # n grid point n: parallel agents never evaluate the same point twice.
            return optuna.samplers.GridSampler(grid_points(spec.space), seed=spec.seed or 0)
        if method in ("random", "coarse-to-fine"):
            return optuna.samplers.RandomSampler(seed=seed)
        if method == "tpe":
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
        if method == "gp":
            return optuna.samplers.GPSampler(seed=seed)
        if method == "cmaes":
            try:
                import cmaes  # noqa: F401
            except ImportError as exc:
                raise InvalidInput(
                    "method cmaes needs the cmaes package: pip install cmaes"
                ) from exc
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    raise InvalidInput(f"unknown sweep method {method!r}")


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    """The Optuna pruner of the sweep (``NopPruner`` when it has none)."""
    import optuna

    p = dict(spec.pruner or {})
    kind = p.pop("type", None)
    if kind is None:
        return optuna.pruners.NopPruner()
    if kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=p.get("n_startup_trials", 5), n_warmup_steps=p.get("n_warmup_steps", 0)
        )
    if kind == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=p.get("min_resource", "auto"),
            reduction_factor=p.get("reduction_factor", 3),
        )
    return optuna.pruners.HyperbandPruner(
        min_resource=p.get("min_resource", 1),
        max_resource=p.get("max_resource", "auto"),
        reduction_factor=p.get("reduction_factor", 3),
    )


def directions(
    spec: SweepSpec, definition_goal: Callable[[], str]
) -> list[Literal["minimize", "maximize"]]:
    """The study's directions; a definition objective asks the project's goal."""
    if spec.objective.definition:
        return ["maximize" if definition_goal() == "max" else "minimize"]
    return ["maximize" if d == "maximize" else "minimize" for d in spec.objective.directions]


def load_study(
    store: Store,
    sweep: Sweep,
    spec: SweepSpec,
    *,
    sampler: optuna.samplers.BaseSampler | None = None,
    create: bool = False,
) -> optuna.Study:
    """Open (or with ``create``, create) the sweep's Optuna study."""
    import optuna

    retries = spec.on_failure.max_retries if spec.on_failure.policy == "retry" else 0
    storage = study_storage(
        store, heartbeat_s=spec.heartbeat_s, grace_s=spec.grace_s, retries=retries
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if create:
        goal = (
            store.metadata.get_metric_definition(spec.project).goal
            if spec.objective.definition
            else "max"
        )
        return optuna.create_study(
            storage=storage,
            study_name=sweep.study_name,
            directions=directions(spec, lambda: goal),
            sampler=sampler or make_sampler(spec),
            pruner=make_pruner(spec),
            load_if_exists=True,
        )
    return optuna.load_study(
        study_name=sweep.study_name,
        storage=storage,
        sampler=sampler or make_sampler(spec),
        pruner=make_pruner(spec),
    )
