"""The sweeps part of the metadata-store contract, run against SQLite, PostgreSQL and REST."""

from __future__ import annotations

import pytest

from stackml.errors import AlreadyExists, InvalidInput, NotFound
from stackml.store.base import MetadataStore
from stackml.store.entities import MetricPoint

SPEC = {"space": {"x": {"type": "float", "low": 0, "high": 1}}, "method": "tpe"}


class SweepStoreContract:
    """Behaviour every sweeps store shows. Needs a ``store`` fixture."""

    def _sweep(self, store: MetadataStore, name: str = "s1", budget: int = 3):  # type: ignore[no-untyped-def]
        run = store.create_run("tune", name=name)
        return store.create_sweep(
            name, project="tune", run_id=run.id, method="tpe", spec=SPEC, budget=budget
        )

    def test_sweep_lifecycle(self, store: MetadataStore) -> None:
        sweep = self._sweep(store)
        assert sweep.state == "running" and sweep.claimed == 0 and sweep.spec == SPEC
        assert store.get_sweep(sweep.id) == sweep
        assert store.get_sweep("tune/s1") == sweep
        with pytest.raises(AlreadyExists):
            self._sweep(store)
        other = self._sweep(store, "s2")
        assert {s.id for s in store.list_sweeps()} == {other.id, sweep.id}
        assert store.list_sweeps("elsewhere") == []
        stopped = store.set_sweep_state(sweep.id, "stopped")
        assert stopped.state == "stopped"
        with pytest.raises(InvalidInput):
            store.set_sweep_state(sweep.id, "paused")
        with pytest.raises(NotFound):
            store.get_sweep("0" * 32)
        with pytest.raises(NotFound):
            store.get_sweep("tune/missing")

    def test_slots_are_handed_out_once_up_to_the_budget(self, store: MetadataStore) -> None:
        sweep = self._sweep(store, budget=3)
        assert [store.claim_trial_slot(sweep.id) for _ in range(5)] == [0, 1, 2, None, None]
        assert store.get_sweep(sweep.id).claimed == 3
        other = self._sweep(store, "s2", budget=5)
        store.set_sweep_state(other.id, "stopped")
        assert store.claim_trial_slot(other.id) is None  # a stopped sweep starts nothing

    def test_trials_and_rounds(self, store: MetadataStore) -> None:
        sweep = self._sweep(store)
        run = store.create_run("tune", name="t0")
        store.record_trial(sweep.id, 0, run_id=run.id, state="running", params={"x": 0.5})
        done = store.record_trial(
            sweep.id, 0, run_id=run.id, state="complete", values=[0.25], params={"x": 0.5}
        )
        assert done.values == [0.25] and done.state == "complete"
        store.record_trial(sweep.id, 1, run_id=run.id, state="pruned", params={"x": 0.1})
        listed = store.list_sweep_trials(sweep.id)
        assert [(t.number, t.state, t.values) for t in listed] == [
            (0, "complete", [0.25]),
            (1, "pruned", None),
        ]
        with pytest.raises(InvalidInput):
            store.record_trial(sweep.id, 2, run_id=run.id, state="exploded")
        with pytest.raises(InvalidInput):
            store.record_trial(sweep.id, -1, run_id=run.id, state="complete")
        first = store.add_sweep_round(sweep.id, 1, {"x": {"low": 0.2}})
        second = store.add_sweep_round(sweep.id, 1, {"x": {"low": 0.9}})
        assert first.space == second.space == {"x": {"low": 0.2}}  # the first one stays
        store.add_sweep_round(sweep.id, 0, {"x": {"low": 0.0}})
        assert [r.round for r in store.list_sweep_rounds(sweep.id)] == [0, 1]

    def test_finish_trial_writes_final_metrics_and_the_mirror(self, store: MetadataStore) -> None:
        sweep = self._sweep(store)
        run = store.create_run("tune", name="t0")
        store.log_metrics(run.id, [MetricPoint("loss", 0.9, 0, 1)])  # an intermediate value
        done = store.finish_trial(
            sweep.id,
            0,
            run_id=run.id,
            state="complete",
            values=[0.25],
            params={"x": 0.5},
            metrics={"loss": 0.25, "acc": 0.8},  # after the latest step of each key
            timestamp=2,
        )
        assert (done.state, done.values, done.params) == ("complete", [0.25], {"x": 0.5})
        assert [(p.step, p.value) for p in store.metric_history(run.id, "loss")] == [
            (0, 0.9),
            (1, 0.25),
        ]
        assert [(p.step, p.value) for p in store.metric_history(run.id, "acc")] == [(0, 0.8)]
        store.finish_trial(sweep.id, 1, run_id=run.id, state="fail", params={"x": 0.1})
        assert [(t.number, t.state) for t in store.list_sweep_trials(sweep.id)] == [
            (0, "complete"),
            (1, "fail"),
        ]
        with pytest.raises(NotFound):
            store.finish_trial("0" * 32, 0, run_id=run.id, state="complete", values=[1.0])
        with pytest.raises(InvalidInput):
            store.finish_trial(sweep.id, 2, run_id=run.id, state="complete", metrics={"": 1.0})

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"name": "../x"}, "sweep name"),
            ({"method": "annealing"}, "method"),
            ({"budget": 0}, "budget"),
            ({"spec": {"bad": float("nan")}}, "JSON"),
        ],
    )
    def test_bad_sweeps_are_refused(self, store: MetadataStore, change: dict, message: str) -> None:
        run = store.create_run("tune", name="r")
        args = {"name": "ok", "project": "tune", "run_id": run.id, "method": "tpe",
                "spec": SPEC, "budget": 3, **change}  # fmt: skip
        name = args.pop("name")
        with pytest.raises(InvalidInput, match=message):
            store.create_sweep(name, **args)
