"""``stackml pipeline``: run, ls, show, logs, schedule, unschedule, trigger, export, run-step."""

from __future__ import annotations

import ast
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from stackml.cli.main import app
from stackml.store import open_store
from tests.pipelines.conftest import count

ENTRY = "tests.pipelines.steps_demo:numbers"


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    uri = str(tmp_path / "clistore")

    def invoke(*args: str) -> Result:
        return runner.invoke(app, ["--tracking-uri", uri, *args], env={"COLUMNS": "200"})

    invoke.uri = uri  # type: ignore[attr-defined]
    return invoke


def test_run_ls_show_logs(cli: Any, marks: Path) -> None:
    first = cli("pipeline", "run", ENTRY, "--param", "n=6")
    assert first.exit_code == 0, first.output
    assert "succeeded: 3 ran, 0 reused from cache" in first.output
    again = cli("pipeline", "run", "numbers", "-P", "n=6")
    assert again.exit_code == 0 and "0 ran, 3 reused from cache" in again.output
    assert "cached" in again.output
    forced = cli("pipeline", "run", "numbers", "-P", "n=6", "--force-step", "total")
    assert "1 ran, 2 reused" in forced.output
    assert count(marks, "total") == 2
    listing = cli("pipeline", "ls")
    assert "numbers" in listing.output and "pipetest" in listing.output
    shown = cli("pipeline", "show", "numbers")
    assert "split  <- make_numbers" in shown.output
    store = open_store(cli.uri)
    run_id = store.metadata.list_pipeline_runs("numbers")[-1].id
    store.close()
    run_view = cli("pipeline", "show", run_id)
    assert run_view.exit_code == 0 and "make_numbers" in run_view.output
    logs = cli("pipeline", "logs", run_id, "--step", "make_numbers")
    assert "making 6 numbers" in logs.output
    missing = cli("pipeline", "logs", run_id, "--step", "nope")
    assert missing.exit_code == 1


def test_failed_run_exits_1_and_resume_latest(cli: Any, marks: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("STACKML_TEST_FAIL", "1")
    failed = cli("pipeline", "run", "tests.pipelines.steps_demo:resumable")
    assert failed.exit_code == 1 and "failed" in failed.output
    monkeypatch.delenv("STACKML_TEST_FAIL")
    resumed = cli("pipeline", "run", "resumable", "--resume", "latest")
    assert resumed.exit_code == 0 and "1 ran, 3 reused" in resumed.output


def test_bad_input_is_a_clean_error(cli: Any) -> None:
    assert cli("pipeline", "run", "nothing_here").exit_code == 1
    assert cli("pipeline", "run", ENTRY, "--param", "novalue").exit_code == 1
    assert cli("pipeline", "run", ENTRY, "--executor", "mars").exit_code == 1
    assert cli("pipeline", "export", "numbers").exit_code == 1


def test_schedule_unschedule_trigger(cli: Any) -> None:
    assert cli("pipeline", "run", ENTRY, "-P", "n=2").exit_code == 0
    bad = cli("pipeline", "schedule", "numbers", "--cron", "whenever")
    assert bad.exit_code == 1
    ok = cli("pipeline", "schedule", "numbers", "--cron", "0 3 * * *", "--policy", "catch_up")
    assert ok.exit_code == 0 and "scheduled numbers" in ok.output
    assert "0 3 * * * (catch_up)" in cli("pipeline", "ls").output
    assert cli("pipeline", "unschedule", "numbers").exit_code == 0
    assert cli("pipeline", "unschedule", "numbers").exit_code == 1
    trig = cli("pipeline", "trigger", "numbers", "--on-dataset", "digits")
    assert trig.exit_code == 0 and "after v0" in trig.output
    assert "digits" in cli("pipeline", "ls").output
    assert (
        cli("pipeline", "trigger", "numbers", "--on-dataset", "digits", "--remove").exit_code == 0
    )


class _Task:
    def __init__(self, dag: Any, task_id: str, bash_command: str, **kwargs: Any) -> None:
        self.task_id, self.bash_command, self.kwargs = task_id, bash_command, kwargs
        self.downstream: list[_Task] = []
        dag.tasks[task_id] = self

    def __rshift__(self, other: _Task) -> _Task:
        self.downstream.append(other)
        return other


def _fake_airflow() -> tuple[dict[str, Any], dict[str, types.ModuleType]]:
    """Just enough of Airflow's API to execute a DAG file and see its tasks and edges."""
    seen: dict[str, Any] = {}

    class DAG:
        current: Any = None

        def __init__(self, **kwargs: Any) -> None:
            self.kwargs, self.tasks = kwargs, {}
            seen["dag"] = self

        def __enter__(self) -> Any:
            DAG.current = self
            return self

        def __exit__(self, *args: Any) -> None:
            DAG.current = None

    def bash_operator(**kwargs: Any) -> _Task:
        return _Task(DAG.current, **kwargs)

    airflow = types.ModuleType("airflow")
    airflow.DAG = DAG  # type: ignore[attr-defined]
    operators = types.ModuleType("airflow.operators")
    bash = types.ModuleType("airflow.operators.bash")
    bash.BashOperator = bash_operator  # type: ignore[attr-defined]
    return seen, {
        "airflow": airflow,
        "airflow.operators": operators,
        "airflow.operators.bash": bash,
    }


def test_airflow_export_and_run_step(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    assert cli("pipeline", "run", ENTRY, "-P", "n=4").exit_code == 0
    target = tmp_path / "dag.py"
    out = cli(
        "pipeline",
        "export",
        "numbers",
        "--airflow",
        "-o",
        str(target),
        "-P",
        "n=5",
        "--cron",
        "0 3 * * *",
    )
    assert out.exit_code == 0, out.output
    source = target.read_text()
    ast.parse(source)  # valid Python
    seen, modules = _fake_airflow()
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    exec(compile(source, str(target), "exec"), {"__name__": "dag_file"})
    dag = seen["dag"]
    assert dag.kwargs["dag_id"] == "stackml_numbers" and dag.kwargs["schedule"] == "0 3 * * *"
    tasks = dag.tasks
    assert set(tasks) == {"begin", "end", "step_make_numbers", "step_split", "step_total"}
    edges = {(a, b.task_id) for a, t in tasks.items() for b in t.downstream}
    assert edges == {
        ("begin", "step_make_numbers"),
        ("step_make_numbers", "step_split"),
        ("step_split", "step_total"),
        ("step_total", "end"),
    }
    command = tasks["step_split"].bash_command
    assert command.startswith("stackml pipeline run-step numbers split --param n=5")
    assert "--run-key '{{ run_id }}'" in command

    # What the Airflow tasks do, in order, with one run key.
    key = ["--run-key", "manual__2027-01-01", "-P", "n=5"]
    begin = cli("pipeline", "run-step", "numbers", "--begin", *key)
    assert begin.exit_code == 0, begin.output
    early = cli("pipeline", "run-step", "numbers", "total", *key)
    assert early.exit_code == 1  # its inputs are not there yet
    for step in ("make_numbers", "split", "total"):
        result = cli("pipeline", "run-step", "numbers", step, *key)
        assert result.exit_code == 0, result.output
    end = cli("pipeline", "run-step", "numbers", "--end", *key)
    assert end.exit_code == 0 and "succeeded" in end.output
    store = open_store(cli.uri)
    try:
        runs = store.metadata.list_pipeline_runs("numbers")
        airflow_run = next(r for r in runs if r.trigger == "airflow:manual__2027-01-01")
        assert airflow_run.status == "succeeded"
        steps = store.metadata.list_step_runs(airflow_run.id)
        assert [s.status for s in steps] == ["succeeded", "succeeded", "succeeded"]
    finally:
        store.close()
