"""The agent's heartbeat thread and the stale-trial reaper, on a real SQLite Optuna storage."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from stackml.tuning.heartbeat import AgentHeartbeat, Reaper, heartbeat_enabled

GRACE_S = 2


@pytest.fixture
def study(tmp_path: Path) -> Iterator[optuna.Study]:
    """A study on SQLite with 1 s heartbeats and a 2 s grace period."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(
            f"sqlite:///{tmp_path / 'optuna.db'}", heartbeat_interval=1, grace_period=GRACE_S
        )
    yield optuna.create_study(storage=storage)
    storage.engine.dispose()


def _ask(study: optuna.Study) -> optuna.Trial:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "heartbeats are meant for Study.optimize"
        return study.ask()


def _state(study: optuna.Study, trial: optuna.Trial) -> TrialState:
    return study._storage.get_trial(trial._trial_id).state


def test_a_trial_whose_agent_died_before_any_heartbeat_is_failed(study: optuna.Study) -> None:
    orphan = _ask(study)  # started, then its agent vanished: no heartbeat was ever recorded
    reaper = Reaper(study, AgentHeartbeat(study._storage, 1), every_s=0)
    reaper.reap()  # first sighting: the reaper gives it a heartbeat, it is not stale yet
    assert _state(study, orphan) == TrialState.RUNNING
    time.sleep(GRACE_S + 1.5)
    reaper.reap()
    assert _state(study, orphan) == TrialState.FAIL


def test_the_agent_heartbeat_keeps_its_running_trial_alive(study: optuna.Study) -> None:
    heartbeat = AgentHeartbeat(study._storage, 1)
    mine, orphan = _ask(study), _ask(study)
    heartbeat.add(mine._trial_id)
    heartbeat.start()
    try:
        other_agent = Reaper(study, AgentHeartbeat(study._storage, 1), every_s=0)
        other_agent.reap()
        time.sleep(GRACE_S + 1.5)
        other_agent.reap()
        assert _state(study, mine) == TrialState.RUNNING
        assert _state(study, orphan) == TrialState.FAIL
        heartbeat.discard(mine._trial_id)
        assert heartbeat.trial_ids() == frozenset()
    finally:
        heartbeat.stop()


def test_storage_without_heartbeats_needs_neither() -> None:
    study = optuna.create_study()  # in memory
    assert not heartbeat_enabled(study._storage)
    heartbeat = AgentHeartbeat(study._storage, 1)
    heartbeat.start()  # no thread
    trial = study.ask()
    Reaper(study, heartbeat, every_s=0).reap()
    assert study._storage.get_trial(trial._trial_id).state == TrialState.RUNNING
    heartbeat.stop()
