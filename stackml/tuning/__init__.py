"""Hyperparameter sweeps on Optuna: search spaces, methods, pruning, parallel agents, analysis.

::

    from stackml import tuning

    def train(trial: tuning.Trial) -> dict[str, float]:
        for epoch in range(10):
            acc = fit_one_epoch(lr=trial.params["lr"])
            trial.report({"val_accuracy": acc}, step=epoch)   # may prune the trial
        return {"val_accuracy": acc}

    sweep, result = tuning.optimize("sweep.yaml", train)
    tuning.best_trial(sweep.id); tuning.importances(sweep.id)

Optuna samples and prunes; stackml keeps the study in the metadata database, makes every trial
a tracked child run of the sweep's run, hands out trial slots atomically to parallel agents
and adds coarse-to-fine search on top. See ``docs/tuning.md``.
"""

from __future__ import annotations

from stackml.tuning.agent import AgentResult, Trial, TrialPruned, run_agent
from stackml.tuning.analysis import (
    TrialSummary,
    best_trial,
    importances,
    pareto_front,
    sweep_report,
    trials,
)
from stackml.tuning.api import create_sweep, get_sweep, list_sweeps, optimize, stop_sweep
from stackml.tuning.launch import launch_sweep
from stackml.tuning.space import check_space
from stackml.tuning.spec import SweepSpec, load_spec

__all__ = [
    "AgentResult",
    "SweepSpec",
    "Trial",
    "TrialPruned",
    "TrialSummary",
    "best_trial",
    "check_space",
    "create_sweep",
    "get_sweep",
    "importances",
    "launch_sweep",
    "list_sweeps",
    "load_spec",
    "optimize",
    "pareto_front",
    "run_agent",
    "stop_sweep",
    "sweep_report",
    "trials",
]
