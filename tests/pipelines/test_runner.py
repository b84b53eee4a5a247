"""Running pipelines: caching, forcing, failures and resume, tracking and lineage."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import stackml
from stackml.pipelines import run_pipeline
from stackml.store import Store
from tests.pipelines import steps_demo
from tests.pipelines.conftest import count


def test_first_run_executes_and_second_is_all_cache_hits(store: Store, marks: Path) -> None:
    first = steps_demo.numbers.run({"n": 10}, store=store)
    assert first.status == "succeeded"
    assert first.executed == ["make_numbers", "split", "total"]
    assert first.output("total") == {"evens": 20, "odds": 25, "scale": 1}
    np.testing.assert_array_equal(first.output("split", "evens"), [0, 2, 4, 6, 8])
    second = steps_demo.numbers.run({"n": 10}, store=store)
    assert second.status == "succeeded"
    assert second.cache_hits == ["make_numbers", "split", "total"]
    assert second.output("total") == first.output("total")
    assert count(marks, "make_numbers") == 1 and count(marks, "total") == 1
    # The cached steps point at the runs that produced their outputs.
    assert second.steps["total"].run_id == first.steps["total"].run_id


def test_changed_parameter_reruns_only_what_depends_on_it(store: Store, marks: Path) -> None:
    steps_demo.numbers.run({"n": 10}, store=store)
    again = steps_demo.numbers.run({"n": 11}, store=store)
    assert again.executed == ["make_numbers", "split", "total"]
    assert count(marks, "make_numbers") == 2


def test_force_and_force_step(store: Store, marks: Path) -> None:
    steps_demo.numbers.run({"n": 6}, store=store)
    forced = run_pipeline(steps_demo.numbers, params={"n": 6}, force=True, store=store)
    assert forced.executed == ["make_numbers", "split", "total"]
    one = run_pipeline("numbers", params={"n": 6}, force_steps=["split"], store=store)
    # split ran again; its outputs have the same content, so total stays a cache hit.
    assert one.executed == ["split"]
    assert one.cache_hits == ["make_numbers", "total"]
    with pytest.raises(stackml.InvalidInput, match="unknown steps"):
        run_pipeline(steps_demo.numbers, params={"n": 6}, force_steps=["nope"], store=store)


def test_failed_step_keeps_other_outputs_and_resume_continues(
    store: Store, marks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKML_TEST_FAIL", "1")
    failed = steps_demo.resumable.run({"n": 5}, store=store)
    assert failed.status == "failed"
    assert failed.steps["flaky"].status == "failed"
    assert "failed on purpose" in failed.steps["flaky"].error
    assert failed.steps["other_branch"].status == "succeeded"  # the independent branch ran
    assert failed.output("other_branch") == 4
    info = store.metadata.get_pipeline_run(failed.run_id)
    assert info.status == "failed" and "flaky" in info.error
    assert store.metadata.get_run(failed.run_id).status.value == "failed"

    monkeypatch.delenv("STACKML_TEST_FAIL")
    resumed = run_pipeline("resumable", params={"n": 5}, resume=True, store=store)
    assert resumed.status == "succeeded"
    assert resumed.executed == ["flaky"]
    # noisy is cache=False, yet a resume reuses its successful output.
    assert resumed.steps["noisy"].status == "resumed"
    assert resumed.output("noisy") == failed.output("noisy")
    assert count(marks, "noisy") == 1 and count(marks, "other_branch") == 1
    assert store.metadata.get_pipeline_run(resumed.run_id).resumed_from == failed.run_id


def test_cache_false_step_runs_every_time(store: Store, marks: Path) -> None:
    steps_demo.resumable.run({"n": 3}, store=store)
    again = steps_demo.resumable.run({"n": 3}, store=store)
    assert again.executed == ["noisy"]
    assert count(marks, "noisy") == 2


def test_retries(store: Store, tmp_path: Path) -> None:
    attempts = tmp_path / "attempts"

    @stackml.step(retries=2)
    def shaky() -> int:
        with attempts.open("a") as f:
            f.write("x")
        if len(attempts.read_text()) < 3:
            raise RuntimeError("not yet")
        return 7

    @stackml.pipeline(name="retrying")
    def retrying():
        shaky()

    result = retrying.run(store=store)
    assert result.status == "succeeded" and result.output("shaky") == 7
    assert result.steps["shaky"].attempts == 3


def test_independent_branches_run_in_parallel(store: Store) -> None:
    barrier = threading.Barrier(2, timeout=10)

    @stackml.step(cache=False)
    def left() -> int:
        barrier.wait()  # only passes when the other branch runs at the same time
        return 1

    @stackml.step(cache=False)
    def right() -> int:
        barrier.wait()
        return 2

    @stackml.step(cache=False)
    def join(a: int, b: int) -> int:
        return a + b

    @stackml.pipeline(name="diamond")
    def diamond():
        join(left(), right())

    result = diamond.run(store=store)
    assert result.status == "succeeded" and result.output("join") == 3


def test_runs_are_tracked_with_parent_child_logs_and_lineage(store: Store, marks: Path) -> None:
    result = steps_demo.numbers.run({"n": 4}, store=store)
    parent = store.metadata.get_run(result.run_id)
    assert parent.tags["stackml.pipeline"] == "numbers"
    assert parent.tags["stackml.cache_hits"] == "0"
    assert parent.project == "pipetest"
    make = result.steps["make_numbers"]
    child = store.metadata.get_run(make.run_id)
    assert child.parent_id == result.run_id
    assert child.tags["stackml.step"] == "make_numbers" and child.tags["stackml.cache"] == "miss"
    assert child.status.value == "completed"
    paths = {a.path for a in store.metadata.list_artifacts(make.run_id)}
    assert {"logs/step.log", "outputs/output"} <= paths
    assert b"making 4 numbers" in store.blobs.get_bytes(make.log_hash)
    out_hash = make.outputs[0]["hash"]
    split_run = result.steps["split"].run_id
    upstream = store.metadata.list_lineage("run", split_run, direction="upstream")
    assert ("pipeline_artifact", out_hash) in {(e.source_type, e.source_id) for e in upstream}
    downstream = store.metadata.list_lineage("run", make.run_id, direction="downstream")
    assert ("pipeline_artifact", out_hash) in {(e.target_type, e.target_id) for e in downstream}
    timed = result.steps["total"]
    assert timed.started_at is not None and timed.ended_at >= timed.started_at


def test_cached_pipeline_records_cache_hits_in_tags(store: Store) -> None:
    steps_demo.numbers.run({"n": 4}, store=store)
    second = steps_demo.numbers.run({"n": 4}, store=store)
    assert store.metadata.get_run(second.run_id).tags["stackml.cache_hits"] == "3"
    steps = store.metadata.list_step_runs(second.run_id)
    assert [s.status for s in steps] == ["cached", "cached", "cached"]
    assert all(s.cache_hit for s in steps)


def test_run_by_name_from_the_store_imports_the_entrypoint(store: Store) -> None:
    steps_demo.numbers.run({"n": 3}, store=store)
    info = store.metadata.get_pipeline("numbers")
    assert info.entrypoint == "tests.pipelines.steps_demo:numbers"
    assert [s["name"] for s in info.spec["steps"]] == ["make_numbers", "split", "total"]
    assert info.spec["steps"][2]["upstream"] == ["split"]
    assert run_pipeline(
        "tests.pipelines.steps_demo:numbers", params={"n": 3}, store=store
    ).succeeded
    with pytest.raises(stackml.NotFound):
        run_pipeline("never_defined", store=store)


def test_dataset_input_is_resolved_recorded_and_part_of_the_key(
    store: Store, tmp_path: Path
) -> None:
    from stackml.pipelines import dataset

    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "a.txt").write_text("one")
    v1 = _add(store, folder)

    @stackml.step
    def count_files(version) -> int:
        return version.num_files

    @stackml.pipeline(name="reads_data")
    def reads_data():
        count_files(dataset("raw"))

    first = reads_data.run(store=store)
    assert first.output("count_files") == 1
    run_id = first.steps["count_files"].run_id
    edges = store.metadata.list_lineage("run", run_id, direction="upstream")
    assert ("dataset_version", v1.ref) in {(e.source_type, e.source_id) for e in edges}
    assert reads_data.run(store=store).cache_hits == ["count_files"]
    (folder / "b.txt").write_text("two")
    _add(store, folder)
    third = reads_data.run(store=store)
    assert third.executed == ["count_files"] and third.output("count_files") == 2


def _add(store: Store, folder: Path):  # type: ignore[no-untyped-def]
    from stackml.data import add as add_dataset

    return add_dataset("raw", folder, store=store)
