"""``stackml import mlflow``: an MLflow store written by the real client, imported twice."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric
from typer.testing import CliRunner

from stackml.cli.main import app
from stackml.store import open_store
from stackml.store.entities import RunStatus
from stackml.tracking.importers.mlflow import SOURCE_TAG, import_mlflow
from tests.mlflow_compat.conftest import MlflowServed


def _fill(uri: str, tmp_path: Path) -> dict[str, str]:
    """Two experiments and three runs written by the MLflow client into ``uri``."""
    client = MlflowClient(tracking_uri=uri)
    digits = client.create_experiment("digits", tags={"team": "vision"})
    odd = client.create_experiment("/Users/ada/odd name")
    ids: dict[str, str] = {}
    run = client.create_run(digits, run_name="baseline", tags={"stage": "dev"})
    client.log_param(run.info.run_id, "lr", "0.1")
    client.log_batch(
        run.info.run_id, metrics=[Metric("loss", 1.0 / (s + 1), 1000 + s, s) for s in range(300)]
    )
    client.log_metric(run.info.run_id, "acc", 0.93, step=5)
    report = tmp_path / "report.txt"
    report.write_text("all good\n")
    client.log_artifact(run.info.run_id, str(report))
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "sub" / "w.bin").write_bytes(b"\x00\x01" * 500)
    client.log_artifacts(run.info.run_id, str(model), "model")
    client.set_terminated(run.info.run_id, end_time=run.info.start_time + 5000)
    ids["baseline"] = run.info.run_id
    gone = client.create_run(digits, run_name="gone")
    client.set_terminated(gone.info.run_id, status="FAILED")
    client.delete_run(gone.info.run_id)
    ids["gone"] = gone.info.run_id
    other = client.create_run(odd, run_name="other")
    client.log_metric(other.info.run_id, "x", 1.0)
    ids["other"] = other.info.run_id
    return ids


@pytest.fixture
def file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, str]]:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    folder = tmp_path / "mlruns"
    folder.mkdir()
    return str(folder), _fill(folder.as_uri(), tmp_path)


def test_cli_import_is_complete_and_idempotent(
    file_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    source, ids = file_store
    target = tmp_path / "target"
    runner = CliRunner()
    first = runner.invoke(app, ["--tracking-uri", str(target), "import", "mlflow", source])
    assert first.exit_code == 0, first.output
    assert "2 new experiments, 3 new runs" in first.output

    with closing(open_store(str(target))) as store:
        meta = store.metadata
        runs = {r.tags[SOURCE_TAG]: r for r in meta.search_runs(limit=100).runs}
        assert set(runs) == set(ids.values())
        baseline = runs[ids["baseline"]]
        assert baseline.project == "digits" and baseline.name == "baseline"
        assert baseline.status is RunStatus.COMPLETED
        assert baseline.end_time == baseline.start_time + 5000
        assert baseline.params == {"lr": "0.1"} and baseline.tags["stage"] == "dev"
        history = meta.metric_history(baseline.id, "loss")
        assert [(p.step, p.timestamp, p.value) for p in history] == [
            (s, 1000 + s, 1.0 / (s + 1)) for s in range(300)
        ]
        assert baseline.metrics["acc"].latest == 0.93
        assert [a.path for a in meta.list_artifacts(baseline.id)] == [
            "model/MLmodel",
            "model/sub/w.bin",
            "report.txt",
        ]
        blob = meta.get_artifact(baseline.id, "model/sub/w.bin").blob_hash
        assert store.blobs.get_bytes(blob) == b"\x00\x01" * 500
        gone = runs[ids["gone"]]
        assert gone.status is RunStatus.FAILED and gone.tags["stackml.lifecycle"] == "deleted"
        digits = meta.get_experiment(baseline.experiment_id)
        assert digits.tags["team"] == "vision"
        other = meta.get_experiment(runs[ids["other"]].experiment_id)
        assert other.tags["stackml.mlflow_name"] == "/Users/ada/odd name"

    again = runner.invoke(app, ["--tracking-uri", str(target), "import", "mlflow", source])
    assert again.exit_code == 0, again.output
    assert "0 new experiments, 0 new runs, 0 updated, 3 unchanged" in again.output

    # New data in the source: only the difference comes over.
    client = MlflowClient(tracking_uri=Path(source).as_uri())
    client.log_batch(ids["other"], metrics=[Metric("x", 2.0, 5, 1), Metric("x", 3.0, 6, 2)])
    client.set_tag(ids["other"], "late", "yes")
    with closing(open_store(str(target))) as store:
        report = import_mlflow(source, store)
        assert (report.runs_created, report.runs_updated, report.metric_points) == (0, 1, 2)
        run = next(
            r
            for r in store.metadata.search_runs(limit=100).runs
            if r.tags[SOURCE_TAG] == ids["other"]
        )
        assert [p.value for p in store.metadata.metric_history(run.id, "x")] == [1.0, 2.0, 3.0]
        assert run.tags["late"] == "yes"
        assert len(store.metadata.search_runs(limit=100).runs) == 3


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_import_one_experiment_from_sqlite(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ids = _fill(uri, tmp_path)
    with closing(open_store(str(tmp_path / "target"))) as store:
        seen = []
        report = import_mlflow(uri, store, experiments=["digits"], on_progress=seen.append)
        assert report.runs_created == 2 and report.metric_points == 301
        assert seen[-1].done == seen[-1].total == 2
        stored = {r.tags[SOURCE_TAG] for r in store.metadata.search_runs(limit=10).runs}
        assert stored == {ids["baseline"], ids["gone"]}
    assert mlflow.get_tracking_uri() != uri  # the import does not change the global client


def test_import_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["import", "mlflow", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1
    assert "neither a tracking URI nor an mlruns folder" in missing.output


def test_import_from_a_tracking_server(served: MlflowServed, tmp_path: Path) -> None:
    """A server speaking MLflow's REST API (here a stackml server) is a source too."""
    ids = _fill(served.url, tmp_path)
    with closing(open_store(str(tmp_path / "copy"))) as store:
        report = import_mlflow(served.url, store)
        assert (report.runs_created, report.metric_points, report.artifacts) == (3, 302, 3)
        runs = {r.tags[SOURCE_TAG]: r for r in store.metadata.search_runs(limit=10).runs}
        baseline = runs[ids["baseline"]]
        assert len(store.metadata.metric_history(baseline.id, "loss")) == 300
        again = import_mlflow(served.url, store)
        assert (again.runs_created, again.runs_unchanged) == (0, 3)
