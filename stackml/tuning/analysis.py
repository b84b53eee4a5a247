"""Reading a sweep's results: best trial, parameter importances (fANOVA), Pareto front, and
the series the web UI draws.

Importances are computed on a copy of the finished trials that uses the sweep's *declared*
distributions (coarse-to-fine rounds narrow them, which would otherwise hide every parameter
from Optuna's intersection search space).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stackml.errors import InvalidInput, NotFound
from stackml.tracking import get_store
from stackml.tuning.space import distributions
from stackml.tuning.spec import SweepSpec
from stackml.tuning.study import load_study

if TYPE_CHECKING:
    import optuna

    from stackml.store import Store
    from stackml.store.tuning_base import Sweep

__all__ = ["TrialSummary", "best_trial", "importances", "pareto_front", "sweep_report", "trials"]


@dataclass(frozen=True)
class TrialSummary:
    """One trial as analysis shows it."""

    number: int
    state: str
    values: list[float] | None
    params: dict[str, Any]
    run_id: str | None
    intermediate: dict[int, float] = field(default_factory=dict)
    duration_s: float | None = None
    round: int | None = None


def _open(
    sweep_ref: str, tracking_uri: str | None, store: Store | None = None
) -> tuple[Store, Sweep, SweepSpec, optuna.Study]:
    store = store or get_store(tracking_uri)
    sweep = store.metadata.get_sweep(sweep_ref)
    spec = SweepSpec.from_mapping(sweep.spec)
    return store, sweep, spec, load_study(store, sweep, spec)


def _summary(t: optuna.trial.FrozenTrial) -> TrialSummary:
    duration = None
    if t.datetime_start and t.datetime_complete:
        duration = (t.datetime_complete - t.datetime_start).total_seconds()
    return TrialSummary(
        t.number,
        t.state.name.lower(),
        list(t.values) if t.values else None,
        dict(t.params),
        t.user_attrs.get("stackml.run_id"),
        dict(t.intermediate_values),
        duration,
        t.user_attrs.get("stackml.round"),
    )


def trials(sweep_ref: str, *, tracking_uri: str | None = None) -> list[TrialSummary]:
    """Every trial of the sweep, by number."""
    *_, study = _open(sweep_ref, tracking_uri)
    return [_summary(t) for t in study.get_trials(deepcopy=False)]


def best_trial(sweep_ref: str, *, tracking_uri: str | None = None) -> TrialSummary:
    """The best completed trial of a single-objective sweep.

    Raises:
        NotFound: No trial completed yet.
        InvalidInput: The sweep has several objectives (see :func:`pareto_front`).
    """
    *_, study = _open(sweep_ref, tracking_uri)
    if len(study.directions) > 1:
        raise InvalidInput("a multi-objective sweep has a Pareto front, not one best trial")
    try:
        return _summary(study.best_trial)
    except ValueError as exc:
        raise NotFound(f"sweep {sweep_ref} has no completed trial yet") from exc


def pareto_front(sweep_ref: str, *, tracking_uri: str | None = None) -> list[TrialSummary]:
    """The non-dominated completed trials (one trial for a single objective)."""
    *_, study = _open(sweep_ref, tracking_uri)
    return [_summary(t) for t in study.best_trials]


def _analysis_study(study: optuna.Study, spec: SweepSpec) -> optuna.Study:
    import optuna

    declared = distributions(spec.space)
    copy = optuna.create_study(directions=study.directions)
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        params = {k: v for k, v in t.params.items() if k in declared}
        dists = {k: declared[k] for k in params}
        if any(not dists[k]._contains(dists[k].to_internal_repr(v)) for k, v in params.items()):
            continue
        copy.add_trial(
            optuna.trial.create_trial(params=params, distributions=dists, values=t.values)
        )
    return copy


def importances(
    sweep_ref: str,
    *,
    objective: int = 0,
    tracking_uri: str | None = None,
    store: Store | None = None,
) -> dict[str, float]:
    """Parameter importances by Optuna's fANOVA (they sum to 1), most important first.

    Raises:
        NotFound: Fewer than two trials completed.
    """
    import optuna

    _, _, spec, study = _open(sweep_ref, tracking_uri, store)
    copy = _analysis_study(study, spec)
    if len(copy.trials) < 2:
        raise NotFound("importances need at least two completed trials")
    target = None
    if len(copy.directions) > 1:

        def target(t: optuna.trial.FrozenTrial) -> float:
            return float(t.values[objective])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            found = optuna.importance.get_param_importances(
                copy, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0), target=target
            )
        except (ValueError, RuntimeError) as exc:
            raise NotFound(f"importances cannot be computed yet: {exc}") from exc
    return {k: float(v) for k, v in found.items() if math.isfinite(v)}


def sweep_report(
    sweep_ref: str, *, tracking_uri: str | None = None, store: Store | None = None
) -> dict[str, Any]:
    """Everything the sweep page and ``stackml sweep status`` show, as plain data."""
    store, sweep, spec, study = _open(sweep_ref, tracking_uri, store)
    items = [_summary(t) for t in study.get_trials(deepcopy=False)]
    counts: dict[str, int] = {}
    for t in items:
        counts[t.state] = counts.get(t.state, 0) + 1
    best: list[TrialSummary] = []
    try:
        best = [_summary(t) for t in study.best_trials]
    except ValueError:
        best = []
    try:
        enough = counts.get("complete", 0) >= 2
        imp = importances(sweep.id, tracking_uri=tracking_uri, store=store) if enough else {}
    except NotFound:
        imp = {}
    rounds = [
        {"round": r.round, "space": r.space} for r in store.metadata.list_sweep_rounds(sweep.id)
    ]
    return {
        "sweep": sweep,
        "spec": spec,
        "directions": [d.name.lower() for d in study.directions],
        "trials": items,
        "counts": counts,
        "best": best,
        "importances": imp,
        "rounds": rounds,
    }
