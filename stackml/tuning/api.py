"""The Python API of sweeps: create, run in this process, inspect and stop them.

::

    from stackml import tuning

    sweep = tuning.create_sweep({
        "name": "lr-search", "project": "digits", "method": "tpe",
        "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
        "objective": {"metric": "val_accuracy", "direction": "maximize"},
        "budget": {"trials": 20},
    })
    tuning.run_agent(sweep.id, train)          # train(trial) -> {"val_accuracy": ...}
    tuning.best_trial(sweep.id)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stackml.errors import StackmlError
from stackml.store.entities import RunStatus
from stackml.store.tuning_base import Sweep
from stackml.tracking import get_store
from stackml.tuning.agent import AgentResult, Objective, run_agent
from stackml.tuning.spec import SweepSpec, load_spec
from stackml.tuning.study import load_study

__all__ = ["create_sweep", "get_sweep", "list_sweeps", "optimize", "stop_sweep"]


def _spec(definition: SweepSpec | Mapping[str, Any] | str | Path) -> SweepSpec:
    if isinstance(definition, SweepSpec):
        return definition
    if isinstance(definition, (str, Path)):
        return load_spec(definition)
    return SweepSpec.from_mapping(definition)


def create_sweep(
    definition: SweepSpec | Mapping[str, Any] | str | Path, *, tracking_uri: str | None = None
) -> Sweep:
    """Check a definition, then record the sweep, its parent run and its Optuna study.

    ``definition`` is a :class:`SweepSpec`, a mapping or the path of a YAML/JSON file. Every
    check runs before anything is written, so a bad space never starts a sweep.
    """
    spec = _spec(definition)
    store = get_store(tracking_uri)
    store.metadata.study_storage_url()  # fails early against a server: see the tuning guide
    if spec.objective.definition:
        store.metadata.get_metric_definition(spec.project)  # NotFound before anything is made
    run = store.metadata.create_run(
        spec.project,
        name=spec.name,
        tags={"sweep.method": spec.method, "sweep.role": "parent"},
        params={"sweep.method": spec.method, "sweep.trials": str(spec.budget.trials)},
    )
    try:
        sweep = store.metadata.create_sweep(
            spec.name,
            project=spec.project,
            run_id=run.id,
            method=spec.method,
            spec=spec.to_dict(),
            budget=spec.budget_trials,
        )
    except StackmlError:
        store.metadata.update_run(run.id, status=RunStatus.FAILED)
        raise
    store.metadata.set_tags(run.id, {"sweep.id": sweep.id})
    load_study(store, sweep, spec, create=True)
    return sweep


def get_sweep(sweep_ref: str, *, tracking_uri: str | None = None) -> Sweep:
    """A sweep by id or ``project/name``."""
    return get_store(tracking_uri).metadata.get_sweep(sweep_ref)


def list_sweeps(project: str | None = None, *, tracking_uri: str | None = None) -> list[Sweep]:
    """Sweeps, newest first."""
    return get_store(tracking_uri).metadata.list_sweeps(project)


def stop_sweep(sweep_ref: str, *, tracking_uri: str | None = None) -> Sweep:
    """Stop handing out trial slots; running trials finish, agents then leave."""
    store = get_store(tracking_uri)
    sweep = store.metadata.get_sweep(sweep_ref)
    if sweep.state != "running":
        return sweep
    stopped = store.metadata.set_sweep_state(sweep.id, "stopped")
    store.metadata.update_run(sweep.run_id, status=RunStatus.KILLED)
    return stopped


def optimize(
    definition: SweepSpec | Mapping[str, Any] | str | Path,
    objective: Objective | None = None,
    *,
    tracking_uri: str | None = None,
) -> tuple[Sweep, AgentResult]:
    """Create a sweep and run all its trials in this process."""
    sweep = create_sweep(definition, tracking_uri=tracking_uri)
    result = run_agent(sweep.id, objective, tracking_uri=tracking_uri, wait_for_others_s=0)
    return get_store(tracking_uri).metadata.get_sweep(sweep.id), result
