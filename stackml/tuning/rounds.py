"""Coarse-to-fine: rounds of random search, each in a space narrowed around the best trials.

The trial budget is cut into ``rounds`` equal rounds. Round 0 samples the declared space.
Before round ``r`` starts, the agent that gets there first waits for round ``r - 1`` to
finish, takes the ``top_k`` best completed trials so far and narrows the previous round's
space around them (:func:`stackml.tuning.space.narrow`); the store keeps the first space
recorded for a round (:meth:`SweepStore.add_sweep_round`), so every agent samples the same
one, and the UI and CLI show each round's space.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stackml.tuning.space import narrow
from stackml.tuning.spec import SweepSpec

if TYPE_CHECKING:
    import optuna

    from stackml.store import Store
    from stackml.store.tuning_base import Sweep

__all__ = ["ROUND_ATTR", "round_of_slot", "round_sampler", "space_for_slot"]

ROUND_ATTR = "stackml.round"
POLL_S = 0.2


def round_of_slot(spec: SweepSpec, slot: int) -> int:
    """Which round a trial slot belongs to."""
    rounds = spec.coarse_to_fine["rounds"]
    per = math.ceil(spec.budget.trials / rounds)
    return min(slot // per, rounds - 1)


def _best(study: optuna.Study, before: int, top_k: int) -> list[Mapping[str, Any]]:
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.user_attrs.get(ROUND_ATTR, 0) < before and t.values
    ]
    sign = 1.0 if study.directions[0] == StudyDirection.MINIMIZE else -1.0
    done.sort(key=lambda t: sign * t.values[0])
    return [dict(t.params) for t in done[:top_k]]


def _wait_for_round(
    study: optuna.Study, spec: SweepSpec, r: int, reap: Callable[[], None] | None
) -> None:
    """Block until no trial of rounds before ``r`` is running (``reap`` fails stale ones)."""
    from optuna.trial import TrialState

    per = math.ceil(spec.budget.trials / spec.coarse_to_fine["rounds"])
    deadline = time.monotonic() + spec.grace_s * 2 + 30
    while time.monotonic() < deadline:
        if reap is not None:
            reap()
        trials = [
            t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(ROUND_ATTR, 0) < r
        ]
        busy = any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials)
        if not busy and len(trials) >= per * r:
            return
        if not busy and not any(
            t.state == TrialState.RUNNING for t in study.get_trials(deepcopy=False)
        ):
            # Nothing is running anywhere: slots were claimed by agents that died before
            # their trials started. Go on with what finished.
            return
        time.sleep(POLL_S)


def space_for_slot(
    store: Store,
    sweep: Sweep,
    study: optuna.Study,
    slot: int,
    reap: Callable[[], None] | None = None,
) -> tuple[dict[str, Any], int]:
    """The space the trial of ``slot`` samples from, and its round.

    ``reap`` fails trials whose agent died while this one waits for the previous round
    (the agent's :meth:`~stackml.tuning.heartbeat.Reaper.reap`).
    """
    spec = SweepSpec.from_mapping(sweep.spec)
    r = round_of_slot(spec, slot)
    recorded = {x.round: x.space for x in store.metadata.list_sweep_rounds(sweep.id)}
    if r in recorded:
        return recorded[r], r
    if r == 0:
        return store.metadata.add_sweep_round(sweep.id, 0, spec.space).space, 0
    per = math.ceil(spec.budget.trials / spec.coarse_to_fine["rounds"])
    previous = recorded.get(r - 1) or space_for_slot(store, sweep, study, (r - 1) * per, reap)[0]
    _wait_for_round(study, spec, r, reap)
    top = _best(study, r, spec.coarse_to_fine["top_k"])
    space = narrow(previous, top) if top else dict(previous)
    return store.metadata.add_sweep_round(sweep.id, r, space).space, r


def round_sampler(
    spec: SweepSpec, narrowed: dict[str, Any], seed: int | None
) -> tuple[dict[str, Any], optuna.samplers.BaseSampler]:
    """The space to suggest from and the sampler of one coarse-to-fine trial.

    Numbers are sampled by Optuna's ``RandomSampler`` from the narrowed bounds. Optuna does
    not let a categorical's choices change within a study, so categoricals keep their declared
    choices and ``PartialFixedSampler`` pins them to a value drawn from the narrowed choices.
    """
    import random
    import warnings

    import optuna

    rng = random.Random(seed)
    space = dict(narrowed)
    fixed: dict[str, Any] = {}
    for name, declared in spec.space.items():
        if declared["type"] != "categorical" or name not in narrowed:
            continue
        choices = narrowed[name]["choices"]
        if choices != declared["choices"]:
            fixed[name] = rng.choice(choices)
            space[name] = dict(narrowed[name], choices=declared["choices"])
    base = optuna.samplers.RandomSampler(seed=seed)
    if not fixed:
        return space, base
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return space, optuna.samplers.PartialFixedSampler(fixed, base)
