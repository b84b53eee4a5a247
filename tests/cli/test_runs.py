"""``stackml runs ls|show|compare`` over runs recorded through the SDK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.support import Invoke, RecordedRuns, assert_clean_failure


def test_ls_shows_every_run_with_its_metrics(cli: Invoke, recorded_runs: RecordedRuns) -> None:
    result = cli("runs", "ls")
    assert result.exit_code == 0, result.output
    for run_id in (recorded_runs.slow, recorded_runs.fast):
        assert run_id in result.stdout
    assert "slow-lr" in result.stdout and "fast-lr" in result.stdout
    assert "0.95" in result.stdout and "0.8" in result.stdout
    assert "completed" in result.stdout
    assert "2 run(s)" in result.stdout


def test_ls_filters_orders_and_limits(cli: Invoke, recorded_runs: RecordedRuns) -> None:
    result = cli("runs", "ls", "--filter", "metrics.acc > 0.9")
    assert result.exit_code == 0, result.output
    assert recorded_runs.fast in result.stdout
    assert recorded_runs.slow not in result.stdout

    result = cli("runs", "ls", "--order-by", "metrics.acc ASC", "--limit", "1", "--json")
    assert result.exit_code == 0, result.output
    assert [run["id"] for run in json.loads(result.stdout)] == [recorded_runs.slow]

    result = cli("runs", "ls", "--project", "no-such-project")
    assert result.exit_code == 0, result.output
    assert recorded_runs.slow not in result.stdout


def test_ls_json_is_machine_readable(cli: Invoke, recorded_runs: RecordedRuns) -> None:
    result = cli("runs", "ls", "--json")
    assert result.exit_code == 0, result.output
    runs = {run["id"]: run for run in json.loads(result.stdout)}
    assert set(runs) == {recorded_runs.slow, recorded_runs.fast}
    slow = runs[recorded_runs.slow]
    assert slow["params"] == {"lr": "0.01", "opt": "adam"}
    assert slow["status"] == "completed"
    assert slow["metrics"]["acc"] == {"latest": 0.8, "step": 1, "min": 0.5, "max": 0.8, "count": 2}
    assert slow["tags"]["team"] == "vision"


def test_ls_with_a_bad_filter_fails_cleanly(cli: Invoke, recorded_runs: RecordedRuns) -> None:
    result = cli("runs", "ls", "--filter", "metrics.acc >>> banana")
    stderr = assert_clean_failure(result)
    assert stderr.startswith("Error: ")
    assert len(stderr.strip().splitlines()) == 1


def test_show_prints_params_tags_metrics_artifacts_and_lineage(
    cli: Invoke, recorded_runs: RecordedRuns
) -> None:
    result = cli("runs", "show", recorded_runs.slow)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert recorded_runs.slow in out and "slow-lr" in out and "demo" in out
    assert "completed" in out
    assert "0.01" in out and "adam" in out  # params
    assert "team" in out and "vision" in out  # tags
    assert "0.5" in out and "0.8" in out and "0.9" in out and "0.4" in out  # min/max
    assert "notes.txt" in out and "5 B" in out  # artifact and its size
    assert "dataset_version:digits@v1" in out  # lineage
    assert "duration" in out and "running" not in out


def test_show_json_includes_artifacts_and_lineage(cli: Invoke, recorded_runs: RecordedRuns) -> None:
    result = cli("runs", "show", recorded_runs.slow, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["id"] == recorded_runs.slow
    assert [a["path"] for a in data["artifacts"]] == ["notes.txt"]
    assert data["lineage"][0]["source"] == "dataset_version:digits@v1"
    assert data["duration_ms"] is not None and data["duration_ms"] >= 0


def test_show_unknown_run_fails_cleanly(cli: Invoke, recorded_runs: RecordedRuns) -> None:
    result = cli("runs", "show", "0" * 32)
    stderr = assert_clean_failure(result)
    assert "0" * 32 in stderr


def test_compare_marks_differences_and_best_values(
    cli: Invoke, recorded_runs: RecordedRuns
) -> None:
    result = cli("runs", "compare", recorded_runs.slow, recorded_runs.fast)
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "0.01" in rows["lr"] and "0.1" in rows["lr"]
    assert "0.95 *" in rows["acc"] and "0.8 *" not in rows["acc"]  # higher accuracy is better
    assert "0.2 *" in rows["loss"] and "0.4 *" not in rows["loss"]  # lower loss is better

    result = cli("runs", "compare", recorded_runs.slow, recorded_runs.fast, "--minimize", "acc")
    assert "0.8 *" in result.stdout

    result = cli("runs", "compare", recorded_runs.slow, recorded_runs.fast, "--diff-only")
    assert result.exit_code == 0, result.output
    assert " lr " in result.stdout
    assert " opt " not in result.stdout  # same value in both runs


def test_compare_needs_two_runs(cli: Invoke, recorded_runs: RecordedRuns) -> None:
    assert_clean_failure(cli("runs", "compare", recorded_runs.slow), code=2)


def test_compare_with_an_unknown_run_fails_cleanly(
    cli: Invoke, recorded_runs: RecordedRuns
) -> None:
    stderr = assert_clean_failure(cli("runs", "compare", recorded_runs.slow, "f" * 32))
    assert "f" * 32 in stderr


def test_tracking_uri_option_and_variable_pick_the_store(
    cli: Invoke, recorded_runs: RecordedRuns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = Path.cwd() / ".stackml"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = cli("--tracking-uri", str(store_dir), "runs", "ls", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 2

    result = cli("runs", "ls", "--json", env={"STACKML_TRACKING_URI": str(store_dir)})
    assert len(json.loads(result.stdout)) == 2

    result = cli("runs", "ls", "--json")  # a new, empty store in the other folder
    assert json.loads(result.stdout) == []
