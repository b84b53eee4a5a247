"""Run lifecycle, params, tags, nesting and search through the public SDK."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import stackml
from stackml.errors import Conflict, InvalidInput, NotFound
from stackml.store import RunStatus


@pytest.fixture
def project(mode: str) -> str:
    """A project name no other test uses (the live server is shared by the session)."""
    return f"p-{uuid.uuid4().hex[:10]}"


def test_context_manager_completes_and_flushes(project: str) -> None:
    with stackml.start_run(project=project, params={"lr": 3e-4}, tags={"team": "vision"}) as run:
        assert stackml.active_run() is run
        run.log_metrics({"loss": 0.5}, step=0)
        run.log_metrics({"loss": 0.25}, step=1)
    assert stackml.active_run() is None
    snapshot = stackml.get_run(run.id)
    assert snapshot.status is RunStatus.COMPLETED
    assert snapshot.end_time is not None and snapshot.end_time >= snapshot.start_time
    assert snapshot.project == project
    assert snapshot.params["lr"] == repr(3e-4)
    assert float(snapshot.params["lr"]) == 3e-4
    assert snapshot.tags["team"] == "vision"
    assert snapshot.metric("loss") == 0.25


def test_exception_marks_run_failed_and_propagates(project: str) -> None:
    with pytest.raises(ZeroDivisionError), stackml.start_run(project=project) as run:
        run.log_metric("x", 1.0)
        _ = 1 / 0
    assert stackml.get_run(run.id).status is RunStatus.FAILED
    assert stackml.metric_history(run.id, "x")[0][2] == 1.0


def test_keyboard_interrupt_marks_run_killed(project: str) -> None:
    with pytest.raises(KeyboardInterrupt), stackml.start_run(project=project) as run:
        raise KeyboardInterrupt
    assert stackml.get_run(run.id).status is RunStatus.KILLED


def test_finish_is_idempotent_and_checks_status(project: str) -> None:
    run = stackml.start_run(project=project, capture_environment=False)
    with pytest.raises(InvalidInput):
        run.finish("running")
    with pytest.raises(InvalidInput):
        run.finish("bogus")
    run.finish("failed")
    run.finish("completed")  # no effect: already finished
    assert stackml.get_run(run.id).status is RunStatus.FAILED
    assert stackml.active_run() is None


def test_nested_runs(project: str) -> None:
    with stackml.start_run(project=project, name="outer") as outer:
        with pytest.raises(Conflict):
            stackml.start_run(project=project)
        with stackml.start_run(project=project, nested=True, name="inner") as inner:
            assert stackml.active_run() is inner
            assert inner.parent_id == outer.id
        assert stackml.active_run() is outer
        explicit = stackml.start_run(project=project, parent=outer.id, capture_environment=False)
        explicit.finish()
    assert stackml.get_run(inner.id).parent_id == outer.id
    assert stackml.get_run(explicit.id).parent_id == outer.id
    assert stackml.get_run(outer.id).parent_id is None


def test_params_are_flattened_stringified_and_immutable(project: str) -> None:
    with stackml.start_run(project=project, capture_environment=False) as run:
        run.log_params({"optim": {"name": "adam", "betas": [0.9, 0.999], "lr": 1e-3}, "epochs": 10})
        run.log_params({"epochs": 10})  # the same value again is fine
        with pytest.raises(Conflict):
            run.log_params({"epochs": 20})
        with pytest.raises(InvalidInput):
            run.log_params({"bad\nkey": 1})
        with pytest.raises(InvalidInput):
            run.log_params(["not", "a", "mapping"])  # type: ignore[arg-type]
    params = stackml.get_run(run.id).params
    assert params == {
        "optim.name": "adam",
        "optim.betas": "[0.9, 0.999]",
        "optim.lr": "0.001",
        "epochs": "10",
    }


def test_numpy_params_round_trip(project: str) -> None:
    np = pytest.importorskip("numpy")
    with stackml.start_run(
        project=project, params={"lr": np.float64(3e-4), "n": np.int64(7)}
    ) as run:
        pass
    params = stackml.get_run(run.id).params
    assert params["lr"] == "0.0003"
    assert params["n"] == "7"


def test_tags_overwrite(project: str) -> None:
    with stackml.start_run(project=project, tags={"a": 1}, capture_environment=False) as run:
        run.set_tags({"a": "2", "b": True})
        run.set_tag("c", "x")
    tags = stackml.get_run(run.id).tags
    assert (tags["a"], tags["b"], tags["c"]) == ("2", "True", "x")


def test_invalid_project_is_refused(mode: str) -> None:
    with pytest.raises(InvalidInput):
        stackml.start_run(project="../escape", capture_environment=False)
    assert stackml.active_run() is None


def test_get_unknown_run_is_not_found(mode: str) -> None:
    with pytest.raises(NotFound):
        stackml.get_run("does-not-exist")


def test_search_runs_filter_and_order(project: str) -> None:
    settings = [("adam", 0.95), ("sgd", 0.97), ("adam", 0.85), ("adam", 0.99)]
    ids = {}
    for opt, acc in settings:
        with stackml.start_run(
            project=project, params={"opt": opt}, capture_environment=False
        ) as run:
            run.log_metrics({"acc": acc})
        ids[acc] = run.id
    runs = stackml.search_runs(
        project=project,
        filter="metrics.acc > 0.9 and params.opt = 'adam'",
        order_by=["metrics.acc DESC"],
        limit=100,
    )
    assert [r.id for r in runs] == [ids[0.99], ids[0.95]]
    assert len(stackml.search_runs(project=project, limit=2)) == 2
    everything = stackml.search_runs(project=project)
    assert {r.id for r in everything} == set(ids.values())
    page = stackml.tracking.search_runs_page(project=project, max_results=3)
    assert len(page.runs) == 3 and page.next_page_token
    rest = stackml.tracking.search_runs_page(
        project=project, max_results=3, page_token=page.next_page_token
    )
    assert len(rest.runs) == 1
    with pytest.raises(InvalidInput):
        stackml.search_runs(project=project, filter="metrics.acc >>> 1")


def test_module_level_helpers_act_on_the_active_run(project: str) -> None:
    with pytest.raises(Conflict):
        stackml.tracking.log_metrics({"x": 1.0})
    run = stackml.start_run(project=project, capture_environment=False)
    stackml.tracking.log_params({"a": 1})
    stackml.tracking.set_tags({"t": "v"})
    stackml.tracking.log_metrics({"x": 2.0}, step=4)
    stackml.tracking.end_run("killed")
    stackml.tracking.end_run()  # nothing active any more: no effect
    snapshot = stackml.get_run(run.id)
    assert snapshot.status is RunStatus.KILLED
    assert (snapshot.params, snapshot.tags["t"], snapshot.metric("x")) == ({"a": "1"}, "v", 2.0)


def test_run_finished_in_another_thread_is_not_active(project: str) -> None:
    import threading

    run = stackml.start_run(project=project, capture_environment=False)
    worker = threading.Thread(target=run.finish)
    worker.start()
    worker.join()
    assert stackml.active_run() is None
    stackml.start_run(project=project, capture_environment=False).finish()


def test_tracking_uri_can_be_set(tmp_path: Path) -> None:
    stackml.tracking.set_tracking_uri(str(tmp_path / "elsewhere"))
    with stackml.start_run(project="moved", capture_environment=False) as run:
        run.log_metric("x", 1.0)
    assert (tmp_path / "elsewhere" / ".stackml" / "stackml.db").exists()
    assert stackml.tracking.get_tracking_uri().endswith("elsewhere/.stackml/stackml.db")
    assert stackml.get_run(run.id).metric("x") == 1.0
    stackml.tracking.set_tracking_uri(None)
    with pytest.raises(NotFound):
        stackml.get_run(run.id)
