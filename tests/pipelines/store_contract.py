"""Behaviour every store shows for pipelines rows (SQLite, PostgreSQL and REST run it)."""

from __future__ import annotations

import pytest

from stackml.errors import AlreadyExists, InvalidInput, NotFound
from stackml.store.base import MetadataStore
from stackml.store.pipelines_base import (
    CacheEntry,
    DatasetTrigger,
    PipelineInfo,
    PipelineRunInfo,
    Schedule,
    StepRunInfo,
)

KEY = "ab" * 32
BLOB = "cd" * 32


def _pipeline(store: MetadataStore, name: str = "etl") -> PipelineInfo:
    spec = {"steps": [{"name": "load", "upstream": []}, {"name": "fit", "upstream": ["load"]}]}
    return store.save_pipeline(PipelineInfo(name, "proj", "pkg.mod:etl", "/src", "ETL", spec))


class PipelineStoreContract:
    """Needs a ``store`` fixture yielding an empty :class:`MetadataStore`."""

    def test_pipelines(self, store: MetadataStore) -> None:
        saved = _pipeline(store)
        assert saved.entrypoint == "pkg.mod:etl" and saved.spec["steps"][1]["upstream"] == ["load"]
        assert saved.created_at > 0
        updated = store.save_pipeline(PipelineInfo("etl", "proj", "pkg.mod:etl2"))
        assert updated.created_at == saved.created_at and updated.entrypoint == "pkg.mod:etl2"
        _pipeline(store, "alpha")
        assert [p.name for p in store.list_pipelines()] == ["alpha", "etl"]
        assert store.get_pipeline("etl") == updated
        with pytest.raises(NotFound):
            store.get_pipeline("missing")
        with pytest.raises(InvalidInput):
            store.save_pipeline(PipelineInfo("bad name", "proj", "m:f"))
        with pytest.raises(InvalidInput):
            store.save_pipeline(PipelineInfo("ok", "proj", ""))

    def test_runs_and_steps(self, store: MetadataStore) -> None:
        _pipeline(store)
        run = store.create_pipeline_run(
            PipelineRunInfo("r" * 32, "etl", params={"n": 3}, trigger="manual", started_at=5)
        )
        assert run.status == "running" and run.params == {"n": 3} and run.started_at == 5
        with pytest.raises(AlreadyExists):
            store.create_pipeline_run(PipelineRunInfo("r" * 32, "etl"))
        with pytest.raises(NotFound):
            store.create_pipeline_run(PipelineRunInfo("s" * 32, "nope"))
        with pytest.raises(InvalidInput):
            store.create_pipeline_run(PipelineRunInfo("t" * 32, "etl", status="weird"))
        done = store.update_pipeline_run(run.id, status="failed", ended_at=9, error="boom")
        assert (done.status, done.ended_at, done.error) == ("failed", 9, "boom")
        assert store.get_pipeline_run(run.id) == done
        store.create_pipeline_run(PipelineRunInfo("u" * 32, "etl", started_at=10))
        assert [r.id for r in store.list_pipeline_runs("etl")] == ["u" * 32, "r" * 32]
        assert len(store.list_pipeline_runs(limit=1)) == 1
        with pytest.raises(NotFound):
            store.get_pipeline_run("0" * 32)

        out = {"name": "output", "materializer": "json", "hash": BLOB, "meta": {}}
        steps = [
            StepRunInfo(
                run.id,
                "load",
                "succeeded",
                "c" * 32,
                KEY,
                False,
                1,
                2,
                1,
                "inprocess",
                (),
                (out,),
                BLOB,
                "",
            ),
            StepRunInfo(run.id, "fit", "pending", upstream=("load",)),
        ]
        store.save_step_runs(steps)
        store.save_step_runs(
            [StepRunInfo(run.id, "fit", "failed", error="bad", attempts=2, upstream=("load",))]
        )
        listed = store.list_step_runs(run.id)
        assert [s.step for s in listed] == ["load", "fit"]
        assert listed[0] == steps[0]
        assert (listed[1].status, listed[1].error, listed[1].attempts) == ("failed", "bad", 2)
        with pytest.raises(NotFound):
            store.save_step_runs([StepRunInfo("0" * 32, "x")])
        with pytest.raises(InvalidInput):
            store.save_step_runs([StepRunInfo(run.id, "x", "nonsense")])
        with pytest.raises(InvalidInput):
            store.save_step_runs([StepRunInfo(run.id, "x", cache_key="not hex!")])

    def test_cache(self, store: MetadataStore) -> None:
        out = {"name": "output", "materializer": "numpy", "hash": BLOB, "meta": {"shape": [3]}}
        entry = store.put_cache_entry(CacheEntry(KEY, "etl", "load", (out,), "c" * 32))
        assert entry.created_at > 0
        found = store.get_cache_entries([KEY, "ef" * 32])
        assert list(found) == [KEY] and found[KEY].outputs == (out,)
        assert found[KEY].run_id == "c" * 32
        assert store.get_cache_entries([]) == {}
        store.put_cache_entry(CacheEntry("ef" * 32, "etl", "fit"))
        assert store.delete_cache_entries("etl", "load") == 1
        assert list(store.get_cache_entries([KEY, "ef" * 32])) == ["ef" * 32]
        assert store.delete_cache_entries("etl") == 1
        with pytest.raises(InvalidInput):
            store.put_cache_entry(CacheEntry("", "etl", "x"))

    def test_schedules(self, store: MetadataStore) -> None:
        _pipeline(store)
        with pytest.raises(NotFound):
            store.save_schedule(Schedule("nope", "0 3 * * *"))
        for bad in ("not cron", "61 * * * *", "* * * *"):
            with pytest.raises(InvalidInput):
                store.save_schedule(Schedule("etl", bad))
        with pytest.raises(InvalidInput):
            store.save_schedule(Schedule("etl", "0 3 * * *", policy="sometimes"))
        saved = store.save_schedule(
            Schedule("etl", "0  3 * * *", "catch_up", next_fire_at=100, params={"n": 1})
        )
        assert saved.cron == "0 3 * * *" and saved.policy == "catch_up" and saved.params == {"n": 1}
        assert store.list_schedules() == [saved]
        assert store.claim_schedule("etl", 100, 200, 150) is True
        assert store.claim_schedule("etl", 100, 300, 150) is False
        after = store.list_schedules()[0]
        assert (after.next_fire_at, after.last_fire_at) == (200, 150)
        store.delete_schedule("etl")
        assert store.list_schedules() == []
        with pytest.raises(NotFound):
            store.delete_schedule("etl")

    def test_triggers(self, store: MetadataStore) -> None:
        _pipeline(store)
        with pytest.raises(NotFound):
            store.save_trigger(DatasetTrigger("nope", "digits"))
        saved = store.save_trigger(DatasetTrigger("etl", "digits", 2))
        assert saved.last_version == 2
        assert store.list_triggers() == [saved]
        assert store.list_triggers("other") == []
        assert store.advance_trigger("etl", "digits", 2, 3) is True
        assert store.advance_trigger("etl", "digits", 2, 4) is False
        assert store.list_triggers("digits")[0].last_version == 3
        store.delete_trigger("etl", "digits")
        with pytest.raises(NotFound):
            store.delete_trigger("etl", "digits")


class PipelineWritesContract:
    """The one-transaction write; needs a ``store`` fixture."""

    def test_write_pipeline_records(self, store: MetadataStore) -> None:
        from stackml.store.entities import Artifact, LineageEdge
        from stackml.store.pipelines_base import FinishedRun, PipelineWrites

        _pipeline(store)
        tracked = store.create_run("proj", name="etl")
        child = store.create_run("proj", name="etl.load", parent_id=tracked.id)
        store.create_pipeline_run(PipelineRunInfo(tracked.id, "etl"))
        out = {"name": "output", "materializer": "json", "hash": BLOB, "meta": {}}
        writes = PipelineWrites(
            steps=(StepRunInfo(tracked.id, "load", "succeeded", child.id, KEY, outputs=(out,)),),
            cache=(CacheEntry(KEY, "etl", "load", (out,), child.id),),
            artifacts=(Artifact(child.id, "outputs/output", BLOB, 3, "application/json", 1),),
            lineage=(
                LineageEdge("run", child.id, "pipeline_artifact", BLOB, "output", 1, {"o": 1}),
            ),
            finished_runs=(FinishedRun(child.id, "completed", 5),),
        )
        store.write_pipeline_records(writes)
        store.write_pipeline_records(PipelineWrites())  # nothing to do
        assert store.list_step_runs(tracked.id)[0].outputs == (out,)
        assert KEY in store.get_cache_entries([KEY])
        assert store.get_artifact(child.id, "outputs/output").blob_hash == BLOB
        edges = store.list_lineage("run", child.id, direction="downstream")
        assert [(e.target_type, e.target_id) for e in edges] == [("pipeline_artifact", BLOB)]
        closed = store.get_run(child.id)
        assert closed.status.value == "completed" and closed.end_time == 5
        # All or nothing: a bad record leaves nothing behind.
        other = "ef" * 32
        bad = PipelineWrites(
            cache=(CacheEntry(other, "etl", "load"),),
            finished_runs=(FinishedRun(child.id, "running", 6),),
        )
        with pytest.raises(InvalidInput):
            store.write_pipeline_records(bad)
        assert store.get_cache_entries([other]) == {}
        missing = PipelineWrites(
            cache=(CacheEntry(other, "etl", "load"),),
            artifacts=(Artifact("0" * 32, "x", BLOB, 1, "text/plain", 1),),
        )
        with pytest.raises(NotFound):
            store.write_pipeline_records(missing)
        assert store.get_cache_entries([other]) == {}

    def test_write_starts_child_runs(self, store: MetadataStore) -> None:
        from stackml.store.entities import Artifact, LineageEdge, RunStatus
        from stackml.store.pipelines_base import FinishedRun, PipelineWrites, StartedRun

        _pipeline(store)
        parent = store.create_run("proj", name="etl", user="ada")
        store.create_pipeline_run(PipelineRunInfo(parent.id, "etl"))
        child_id = "1f" * 16
        tags = {"stackml.step": "load", "stackml.cache": "miss"}
        started = StartedRun(child_id, parent.id, "etl.load", 7, tags)
        edge = LineageEdge("pipeline_artifact", BLOB, "run", child_id, "input", 7, {})
        step = StepRunInfo(parent.id, "load", "running", child_id, KEY)
        # The child run is created first, so the same write can give it edges and a step.
        store.write_pipeline_records(
            PipelineWrites(steps=(step,), lineage=(edge,), started_runs=(started,))
        )
        child = store.get_run(child_id)
        assert child.parent_id == parent.id and child.status is RunStatus.RUNNING
        assert (child.project, child.experiment_id, child.user) == (
            parent.project,
            parent.experiment_id,
            "ada",
        )
        assert child.name == "etl.load" and child.start_time == 7
        assert child.tags["stackml.step"] == "load" and child.tags["stackml.cache"] == "miss"
        assert [r.id for r in store.search_runs(project="proj").runs].count(child_id) == 1
        assert store.list_step_runs(parent.id)[0].run_id == child_id
        assert store.list_lineage("run", child_id, direction="upstream")[0].source_id == BLOB
        # Writing the same start again (a retried request) changes nothing; closing works.
        art = Artifact(child_id, "logs/step.log", BLOB, 3, "text/plain", 8)
        store.write_pipeline_records(
            PipelineWrites(
                artifacts=(art,),
                finished_runs=(FinishedRun(child_id, "completed", 9),),
                started_runs=(started,),
            )
        )
        closed = store.get_run(child_id)
        assert closed.status is RunStatus.COMPLETED and closed.end_time == 9
        # An unknown parent fails the whole write.
        orphan = StartedRun("2e" * 16, "0" * 32, "etl.fit", 7)
        with pytest.raises(NotFound):
            store.write_pipeline_records(
                PipelineWrites(cache=(CacheEntry("ef" * 32, "etl", "fit"),), started_runs=(orphan,))
            )
        assert store.get_cache_entries(["ef" * 32]) == {}
        with pytest.raises(NotFound):
            store.get_run("2e" * 16)
        with pytest.raises(InvalidInput):
            store.write_pipeline_records(
                PipelineWrites(started_runs=(StartedRun(child_id, parent.id, "", 7),))
            )

    def test_write_with_repeated_cache_key_keeps_the_last(self, store: MetadataStore) -> None:
        from stackml.store.pipelines_base import PipelineWrites

        _pipeline(store)
        first = {"name": "output", "materializer": "json", "hash": BLOB, "meta": {}}
        second = {**first, "hash": "ef" * 32}
        store.write_pipeline_records(
            PipelineWrites(
                cache=(
                    CacheEntry(KEY, "etl", "load", (first,)),
                    CacheEntry(KEY, "etl", "load_2", (second,)),
                )
            )
        )
        entry = store.get_cache_entries([KEY])[KEY]
        assert entry.step == "load_2" and entry.outputs == (second,)
