"""Agents: processes that join a sweep and run its trials, one tracked child run each.

An agent loops: take a trial slot from the metadata store (atomic, so parallel or restarted
agents never exceed the budget), let Optuna sample the trial (``study.ask``), run the
objective with a :class:`Trial` (pruning through Optuna's pruner), record the trial's final
metrics and its mirror row in one store transaction, finish its run and tell Optuna. One
heartbeat thread per agent keeps its running trial alive, and a reaper between trials fails
trials whose agent died (:mod:`stackml.tuning.heartbeat`). When the slots are spent it waits
for trials still running elsewhere (failing those whose heartbeat stopped) and marks the
sweep completed.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from optuna import TrialPruned

from stackml.errors import InvalidInput, NotFound, StackmlError
from stackml.store.entities import RunStatus
from stackml.tracking import get_store, start_run
from stackml.tracking.run import ActiveRun
from stackml.tracking.values import check_key, to_float
from stackml.training.scoring import score_metrics
from stackml.tuning import rounds as c2f
from stackml.tuning.heartbeat import AgentHeartbeat, Reaper
from stackml.tuning.space import suggest
from stackml.tuning.spec import SweepSpec
from stackml.tuning.study import load_study, make_sampler

if TYPE_CHECKING:
    import optuna

    from stackml.store import Store
    from stackml.store.training_base import MetricDefinition
    from stackml.store.tuning_base import Sweep

__all__ = ["AgentResult", "Trial", "TrialPruned", "import_target", "run_agent"]

logger = logging.getLogger(__name__)
RUN_ATTR = "stackml.run_id"
SWEEP_ATTR = "stackml.sweep_id"
_STATE = {
    "COMPLETE": "complete",
    "PRUNED": "pruned",
    "FAIL": "fail",
    "RUNNING": "running",
    "WAITING": "waiting",
}


Objective = Callable[["Trial"], "float | Mapping[str, float] | None"]


class Trial:
    """What an objective function receives: the sampled params, the trial's run, reporting.

    Attributes:
        params: The sampled hyperparameters (only the active ones of a conditional space).
        number: The trial's number in the sweep.
        run: The trial's tracked run (a child of the sweep's run).
        args: Fixed arguments from the sweep definition's ``args``.
        optuna: The underlying ``optuna.Trial`` (for extra define-by-run suggestions).
    """

    def __init__(
        self,
        optuna_trial: optuna.Trial,
        run: ActiveRun,
        spec: SweepSpec,
        params: dict[str, Any],
        definition: MetricDefinition | None,
    ) -> None:
        self.optuna = optuna_trial
        self.run = run
        self.params = params
        self.number = optuna_trial.number
        self.args = dict(spec.args)
        self._spec = spec
        self._definition = definition
        self.latest: dict[str, float] = {}

    def objective_values(self, metrics: Mapping[str, float]) -> list[float] | None:
        """The objective values from ``metrics``, or ``None`` when they are not all there."""
        if self._spec.objective.definition:
            assert self._definition is not None
            value = score_metrics(self._definition, metrics)
            return None if value is None else [float(value)]
        try:
            return [float(metrics[m]) for m in self._spec.objective.metrics]
        except KeyError:
            return None

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log metrics to the trial's run (they count for the final objective too)."""
        self.run.log_metrics(metrics, step=step)
        self.latest.update({k: float(v) for k, v in metrics.items()})

    def final_metrics(self, metrics: Mapping[str, float]) -> dict[str, float]:
        """Check and keep ``metrics`` as the trial's final values (they count for the objective).

        They are written when the trial ends, with its mirror row in one store transaction
        (one step after each key's latest step), not through the background writer. Raises
        ``InvalidInput`` for a malformed key or a value that is not a number.
        """
        final = {}
        for key, value in metrics.items():
            if key not in self.latest:
                check_key(key, what="metric key")
            final[key] = self.latest[key] = to_float(key, value)
        return final

    def report(self, metrics: Mapping[str, float] | float, step: int) -> None:
        """Log intermediate metrics at ``step`` and let the pruner judge the trial.

        A bare number is taken as the (single) objective metric. Raises :class:`TrialPruned`
        (Optuna's ``TrialPruned``) when the pruner stops the trial: let it propagate.
        """
        if not isinstance(metrics, Mapping):
            if self._spec.objective.definition or self._spec.objective.multi:
                raise InvalidInput("report a mapping of metrics for this objective")
            metrics = {self._spec.objective.metrics[0]: float(metrics)}
        self.log_metrics(metrics, step=step)
        values = self.objective_values(self.latest)
        if values is None or len(values) != 1:
            return
        self.optuna.report(values[0], step)
        if self.optuna.should_prune():
            self.run.set_tags({"sweep.pruned_at_step": str(step)})
            raise TrialPruned(f"trial {self.number} pruned at step {step}")

    def should_prune(self) -> bool:
        """Whether the pruner would stop the trial now."""
        return bool(self.optuna.should_prune())


@dataclass
class AgentResult:
    """What one agent did."""

    sweep_id: str
    trials: list[int] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)
    completed_sweep: bool = False


def import_target(target: str | None) -> Objective:
    """The function a ``module:function`` target names."""
    if not target:
        raise InvalidInput(
            "this sweep has no target: pass an objective function, or set target: "
            "'module:function' in the sweep definition"
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise NotFound(f"cannot import {module_name!r} for target {target!r}: {exc}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise NotFound(f"{module_name!r} has no function {attr!r}")
    return fn  # type: ignore[no-any-return]


def _finite(values: list[float]) -> list[float]:
    for value in values:
        if not math.isfinite(value):
            raise InvalidInput(f"the objective is not a finite number: {value}")
    return values


class _Runner:
    """One agent's state: the store, the sweep, the study and the objective."""

    def __init__(self, store: Store, sweep: Sweep, fn: Objective, tracking_uri: str | None) -> None:
        self.store = store
        self.sweep = sweep
        self.spec = SweepSpec.from_mapping(sweep.spec)
        self.fn = fn
        self.tracking_uri = tracking_uri
        self.study = load_study(store, sweep, self.spec)
        self.definition = (
            store.metadata.get_metric_definition(self.spec.project)
            if self.spec.objective.definition
            else None
        )
        self.space = self.spec.space
        self.round: int | None = None
        self.states: dict[int, str] = {}
        self._seeded = False
        self.heartbeat = AgentHeartbeat(self.study._storage, self.spec.heartbeat_s)
        self.reaper = Reaper(self.study, self.heartbeat, every_s=self.spec.heartbeat_s)

    def objective(self, ot: optuna.Trial) -> list[float]:
        """Run the objective on ``ot`` in a child run; answers the objective values.

        The run is finished and the trial mirrored before this returns or raises (pruned:
        ``TrialPruned``; failed: the objective's exception).
        """
        params = suggest(ot, self.space)
        if self.round is not None:
            ot.set_user_attr(c2f.ROUND_ATTR, self.round)
        run = start_run(
            self.spec.project,
            name=f"{self.sweep.name}-{ot.number}",
            params=params,
            tags={"sweep.id": self.sweep.id, "sweep.trial": str(ot.number)},
            parent=self.sweep.run_id,
            tracking_uri=self.tracking_uri,
            capture_environment=False,
        )
        ot.set_user_attr(RUN_ATTR, run.id)
        trial = Trial(ot, run, self.spec, params, self.definition)
        final: dict[str, float] = {}
        try:
            answer = self.fn(trial)
            if isinstance(answer, Mapping):
                final = trial.final_metrics(answer)
                values = trial.objective_values(trial.latest)
            elif answer is None:
                values = trial.objective_values(trial.latest)
            else:
                if self.spec.objective.multi:
                    raise InvalidInput("a multi-objective trial returns a mapping of metrics")
                values = [float(answer)]
                if not self.spec.objective.definition:
                    final = trial.final_metrics({self.spec.objective.metrics[0]: values[0]})
            if values is None:
                raise InvalidInput(
                    f"trial {ot.number} did not produce the objective "
                    f"{list(self.spec.objective.metrics) or 'of the metric definition'}; "
                    f"it logged {sorted(trial.latest)}"
                )
            _finite(values)
        except TrialPruned:
            self._close(run, "completed", "pruned", ot, params, None, {})
            raise
        except BaseException as exc:
            self._close(run, "failed", "fail", ot, params, None, {})
            if isinstance(exc, Exception):
                run_error = f"{type(exc).__name__}: {exc}"
                ot.set_user_attr("stackml.error", run_error[:1000])
            raise
        self._close(run, "completed", "complete", ot, params, values, final)
        return values

    def _close(
        self,
        run: ActiveRun,
        status: str,
        state: str,
        ot: optuna.Trial,
        params: dict[str, Any],
        values: list[float] | None,
        final: Mapping[str, float],
    ) -> None:
        """Final metrics and the mirror row in one transaction, then the run's status."""
        try:
            # Intermediate values still queued must land first: the final metrics follow
            # each key's latest stored step (nothing queued: returns at once).
            run.flush()
            self.store.metadata.finish_trial(
                self.sweep.id,
                ot.number,
                run_id=run.id,
                state=state,
                values=values,
                params=params,
                metrics=final,
            )
        except StackmlError:
            logger.warning("could not record trial %s of sweep %s", ot.number, self.sweep.id)
        try:
            run.finish(status)
        except StackmlError:
            logger.warning("could not finish the run of trial %s", ot.number)

    def grid_exhausted(self) -> bool:
        from optuna.trial import TrialState

        if self.spec.method != "grid":
            return False
        seen = set()
        for t in self.study.get_trials(deepcopy=False):
            if t.state == TrialState.WAITING:
                return False
            if "grid_id" in t.system_attrs and t.state != TrialState.FAIL:
                seen.add(t.system_attrs["grid_id"])
        return len(seen) >= self.spec.budget_trials

    def run_one(self, slot: int) -> int:
        """Run the trial of ``slot``; answers its number."""
        from optuna.trial import TrialState

        seed = self.spec.seed
        method = self.spec.method
        if method == "coarse-to-fine":
            narrowed, self.round = c2f.space_for_slot(
                self.store, self.sweep, self.study, slot, self.reaper.reap
            )
            self.space, self.study.sampler = c2f.round_sampler(
                self.spec, narrowed, None if seed is None else seed + slot
            )
        elif method == "random" or (not self._seeded and method != "grid"):
            # Seeds differ per slot, so parallel agents never draw the same sequence.
            self.study.sampler = make_sampler(
                self.spec, round_seed=None if seed is None else seed + slot
            )
            self._seeded = True
        self.reaper.maybe_reap()
        # The agent's loop stands in for ``Study.optimize``: Optuna code that expects to run
        # inside it (``GridSampler`` calls ``study.stop()`` on the last grid point, ``ask``
        # warns about heartbeats outside it) sees it so. The stop flag is not used: the
        # slots and ``grid_exhausted`` end the loop.
        local = self.study._thread_local
        local.in_optimize_loop = True
        try:
            ot = self.study.ask()
            self.heartbeat.add(ot._trial_id)
            values: list[float] | None = None
            try:
                values = self.objective(ot)
                state = TrialState.COMPLETE
            except TrialPruned:
                state = TrialState.PRUNED
            except Exception as exc:
                logger.warning(
                    "trial %s failed: %s: %s",
                    ot.number,
                    type(exc).__name__,
                    exc,
                    exc_info=not isinstance(exc, StackmlError),
                )
                state = TrialState.FAIL
            except BaseException:
                self.heartbeat.discard(ot._trial_id)
                _tell(self.study, ot, None, TrialState.FAIL)
                raise
            self.heartbeat.discard(ot._trial_id)
            state = _tell(self.study, ot, values, state)
        finally:
            local.in_optimize_loop = False
            self.study._stop_flag = False
        if state == TrialState.FAIL:
            self._maybe_retry(ot)
        self.states[ot.number] = _STATE.get(state.name, "fail")
        return ot.number

    def _maybe_retry(self, ot: optuna.Trial) -> None:
        policy = self.spec.on_failure
        if policy.policy != "retry":
            return
        attempt = int(ot.user_attrs.get("stackml.attempt", 0))
        if attempt >= policy.max_retries:
            return
        self.study.enqueue_trial(
            ot.params, user_attrs={"stackml.retry_of": ot.number, "stackml.attempt": attempt + 1}
        )


def _tell(
    study: optuna.Study,
    ot: optuna.Trial,
    values: list[float] | None,
    state: optuna.trial.TrialState,
) -> optuna.trial.TrialState:
    """Tell Optuna how the trial ended, as ``Study.optimize`` does; answers its final state.

    ``Study.tell`` would read the whole trial back from the database for its answer; the
    agent needs only the state. A trial that another agent's reaper already failed (its
    heartbeat stalled) stays failed.
    """
    from optuna.study._tell import _tell_with_warning

    # Positional: (study, trial, values, state, skip_if_finished, suppress_warning) in every
    # Optuna version since 3.
    told = _tell_with_warning(study, ot, values, state, True, True)
    # Optuna 4 and later answer (state, values, message); earlier versions a FrozenTrial.
    return told[0] if isinstance(told, tuple) else told.state  # type: ignore[no-any-return]


def _finish_if_done(runner: _Runner, *, wait_s: float) -> bool:
    """Wait for trials still running (failing stale ones); mark the sweep completed."""
    from optuna.trial import TrialState

    store, sweep = runner.store, runner.sweep
    deadline = time.monotonic() + wait_s
    while True:
        runner.reaper.reap()
        running = runner.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not running:
            break
        if time.monotonic() > deadline:
            return False
        time.sleep(min(1.0, runner.spec.heartbeat_s / 2))
    current = store.metadata.get_sweep(sweep.id)
    if current.state != "running":
        return False
    for t in runner.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        # Retries left over when the budget ran out: they will never run.
        runner.study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    store.metadata.set_sweep_state(sweep.id, "completed")
    store.metadata.update_run(sweep.run_id, status=RunStatus.COMPLETED)
    return True


def run_agent(
    sweep_ref: str,
    objective: Objective | None = None,
    *,
    count: int | None = None,
    tracking_uri: str | None = None,
    wait_for_others_s: float | None = None,
    on_trial: Callable[[int], None] | None = None,
) -> AgentResult:
    """Join a sweep and run trials until its budget is spent (or ``count`` trials ran).

    Args:
        sweep_ref: The sweep's id or ``project/name``.
        objective: The function to evaluate; default the sweep's ``target``.
        count: Run at most this many trials in this agent.
        tracking_uri: The store (default the configured one); must be a database or folder.
        wait_for_others_s: How long the last agent waits for trials still running elsewhere
            before leaving (default: the heartbeat grace period plus a minute).
        on_trial: Called with each finished trial's number (progress display).
    """
    store = get_store(tracking_uri)
    sweep = store.metadata.get_sweep(sweep_ref)
    fn = objective or import_target(SweepSpec.from_mapping(sweep.spec).target)
    runner = _Runner(store, sweep, fn, tracking_uri)
    result = AgentResult(sweep.id)
    timeout = runner.spec.budget.timeout_s
    stop_at = None if timeout is None else sweep.created_at / 1000 + timeout
    runner.heartbeat.start()
    try:
        while count is None or len(result.trials) < count:
            if stop_at is not None and time.time() >= stop_at:
                store.metadata.set_sweep_state(sweep.id, "completed")
                break
            if runner.grid_exhausted():
                break
            slot = store.metadata.claim_trial_slot(sweep.id)
            if slot is None:
                break
            number = runner.run_one(slot)
            result.trials.append(number)
            if on_trial is not None:
                on_trial(number)
        for number in result.trials:
            state = runner.states.get(number, "fail")
            result.states[state] = result.states.get(state, 0) + 1
        if count is None or len(result.trials) < count:
            wait = runner.spec.grace_s + 60 if wait_for_others_s is None else wait_for_others_s
            result.completed_sweep = _finish_if_done(runner, wait_s=wait)
    finally:
        runner.heartbeat.stop()
    return result
