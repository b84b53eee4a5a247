"""The real ``mlflow`` client logs to a stackml server; stackml's own API reads it back."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from stackml.store.entities import RunStatus
from stackml.store.rest import RestMetadataStore
from tests.mlflow_compat.conftest import MlflowServed


def _log_a_run(tmp_path: Path, name: str, lr: float, losses: list[float]) -> str:
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_param("lr", lr)
        mlflow.log_params({"optimizer": "adam", "batch_size": 32})
        for step, loss in enumerate(losses):
            mlflow.log_metric("loss", loss, step=step)
        mlflow.log_metrics({"accuracy": 1 - losses[-1], "f1": 0.5})
        mlflow.set_tag("stage", "dev")
        report = tmp_path / f"{name}-report.txt"
        report.write_text(f"report of {name}\n")
        mlflow.log_artifact(str(report))
        folder = tmp_path / f"{name}-model"
        (folder / "weights").mkdir(parents=True)
        (folder / "MLmodel").write_text("flavors: {}\n")
        (folder / "weights" / "w.bin").write_bytes(bytes(range(256)) * 40)
        mlflow.log_artifacts(str(folder), artifact_path="model")
    return run.info.run_id


def test_client_workflow_reads_back_through_stackml(served: MlflowServed, tmp_path: Path) -> None:
    experiment = mlflow.set_experiment("digits")
    assert experiment.name == "digits"
    first = _log_a_run(tmp_path, "baseline", 0.1, [1.0, 0.5, 0.25])
    second = _log_a_run(tmp_path, "cnn", 0.01, [0.9, 0.3, 0.1, 0.05])

    found = mlflow.search_runs(
        filter_string="metrics.accuracy > 0.9 and params.optimizer = 'adam'",
        order_by=["metrics.loss ASC"],
    )
    assert list(found["run_id"]) == [second]
    assert found["params.lr"][0] == "0.01"
    assert found["tags.mlflow.runName"][0] == "cnn"
    both = mlflow.search_runs(
        filter_string="attributes.status = 'FINISHED' and tags.stage = 'dev'",
        order_by=["attributes.start_time ASC"],
    )
    assert list(both["run_id"]) == [first, second]
    assert list(mlflow.search_runs(filter_string="tags.mlflow.runName LIKE 'base%'")["run_id"]) == [
        first
    ]

    client = MlflowClient()
    history = client.get_metric_history(second, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.3), (2, 0.1), (3, 0.05)]
    run = client.get_run(second)
    assert run.info.status == "FINISHED" and run.info.run_name == "cnn"
    assert run.data.params == {"lr": "0.01", "optimizer": "adam", "batch_size": "32"}
    assert run.data.metrics["loss"] == 0.05 and run.data.tags["stage"] == "dev"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")

    listed = {a.path: a.is_dir for a in client.list_artifacts(second)}
    assert listed == {"cnn-report.txt": False, "model": True}
    assert [a.path for a in client.list_artifacts(second, "model")] == [
        "model/MLmodel",
        "model/weights",
    ]
    out = Path(mlflow.artifacts.download_artifacts(run_id=second, dst_path=str(tmp_path / "dl")))
    assert (out / "cnn-report.txt").read_text() == "report of cnn\n"
    assert (out / "model" / "weights" / "w.bin").read_bytes() == bytes(range(256)) * 40
    one = client.download_artifacts(second, "model/MLmodel", str(tmp_path / "one"))
    assert Path(one).read_text() == "flavors: {}\n"

    # The same data through stackml's own API (the REST store and plain HTTP).
    rest = RestMetadataStore(served.url)
    stored = rest.get_run(second)
    assert stored.project == "digits" and stored.name == "cnn"
    assert stored.status is RunStatus.COMPLETED and stored.end_time is not None
    assert stored.params == {"lr": "0.01", "optimizer": "adam", "batch_size": "32"}
    assert stored.tags["stage"] == "dev" and stored.tags["mlflow.runName"] == "cnn"
    assert stored.metrics["loss"].latest == 0.05 and stored.metrics["loss"].count == 4
    assert math.isclose(stored.metrics["accuracy"].latest, 0.95)
    assert [(p.step, p.value) for p in rest.metric_history(second, "loss")] == [
        (0, 0.9),
        (1, 0.3),
        (2, 0.1),
        (3, 0.05),
    ]
    assert [a.path for a in rest.list_artifacts(second)] == [
        "cnn-report.txt",
        "model/MLmodel",
        "model/weights/w.bin",
    ]
    body = httpx.get(f"{served.url}/api/v1/runs/{second}/artifacts/model/MLmodel").content
    assert body == b"flavors: {}\n"
    page = rest.search_runs(project="digits", filter="metrics.loss < 0.1")
    assert [r.id for r in page.runs] == [second]


def test_default_experiment_and_nested_runs(served: MlflowServed) -> None:
    with mlflow.start_run() as parent, mlflow.start_run(nested=True) as child:
        mlflow.log_metric("x", 1.0)
    stored = served.store.metadata.get_run(child.info.run_id)
    assert stored.parent_id == parent.info.run_id
    assert stored.project == "Default"
    assert MlflowClient().get_experiment("0").name == "Default"


def test_errors_raise_the_usual_exceptions(served: MlflowServed) -> None:
    client = MlflowClient()
    with pytest.raises(MlflowException) as missing:
        client.get_run("0" * 32)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert missing.value.get_http_status_code() == 404
    client.create_experiment("twice")
    with pytest.raises(MlflowException) as twice:
        client.create_experiment("twice")
    assert twice.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as bad_filter:
        client.search_runs(["0"], filter_string="metrics.acc >>> 1")
    assert bad_filter.value.error_code == "INVALID_PARAMETER_VALUE"
    answer = httpx.post(f"{served.url}/api/2.0/mlflow/runs/get-nothing", json={})
    assert answer.status_code == 404 and answer.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    answer = httpx.get(f"{served.url}/ajax-api/2.0/mlflow/runs/get", params={"run_id": "zz"})
    assert answer.status_code == 404
    assert set(answer.json()) == {"error_code", "message"}


def test_token_auth(served_auth: MlflowServed, monkeypatch: pytest.MonkeyPatch) -> None:
    client = MlflowClient()
    with pytest.raises(MlflowException) as refused:
        client.search_experiments()
    assert refused.value.error_code == "UNAUTHENTICATED"
    served_auth.store.metadata.create_user("ada")
    secret, _ = served_auth.store.metadata.create_token("ada", "laptop")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", secret)
    experiment_id = client.create_experiment("secured")
    run = client.create_run(experiment_id)
    client.log_param(run.info.run_id, "k", "v")
    assert served_auth.store.metadata.get_run(run.info.run_id).user == "ada"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "wrong")
    with pytest.raises(MlflowException) as wrong:
        client.get_run(run.info.run_id)
    assert wrong.value.error_code == "UNAUTHENTICATED"
