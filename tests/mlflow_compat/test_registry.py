"""MLflow's model registry calls against the stackml registry."""

from __future__ import annotations

from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from stackml.store.rest import RestMetadataStore
from tests.mlflow_compat.conftest import MlflowServed


def _logged_model_run(tmp_path: Path) -> str:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors:\n  python_function: {}\n")
    (folder / "model.pkl").write_bytes(b"\x80\x04weights")
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 0.97)
        mlflow.log_artifacts(str(folder), artifact_path="model")
    return run.info.run_id


def test_register_alias_download_and_read_back(served: MlflowServed, tmp_path: Path) -> None:
    mlflow.set_experiment("digits")
    run_id = _logged_model_run(tmp_path)
    version = mlflow.register_model(f"runs:/{run_id}/model", "digits-clf")
    assert version.version == "1" and version.run_id == run_id
    client = MlflowClient()
    client.set_registered_model_alias("digits-clf", "champion", "1")
    by_alias = client.get_model_version_by_alias("digits-clf", "champion")
    assert by_alias.version == "1" and by_alias.aliases == ["champion"]
    model = client.get_registered_model("digits-clf")
    assert model.aliases == {"champion": "1"}
    assert [v.version for v in model.latest_versions] == ["1"]
    assert client.get_model_version_download_uri("digits-clf", "1").startswith("mlflow-artifacts:/")
    out = Path(
        mlflow.artifacts.download_artifacts(
            "models:/digits-clf@champion", dst_path=str(tmp_path / "dl")
        )
    )
    assert (out / "model.pkl").read_bytes() == b"\x80\x04weights"

    second = mlflow.register_model(f"runs:/{run_id}/model", "digits-clf")
    assert second.version == "2"
    found = client.search_model_versions(f"name = 'digits-clf' and run_id = '{run_id}'")
    assert sorted(v.version for v in found) == ["1", "2"]
    assert [m.name for m in client.search_registered_models("name LIKE 'digits%'")] == [
        "digits-clf"
    ]
    client.delete_registered_model_alias("digits-clf", "champion")
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias("digits-clf", "champion")

    # The stackml registry holds the same versions and alias history.
    rest = RestMetadataStore(served.url)
    stored = rest.get_model_version("digits-clf", 1)
    assert stored.run_id == run_id and stored.artifact_path == "model"
    assert [f.path for f in stored.files] == ["model/MLmodel", "model/model.pkl"]
    moves = rest.model_alias_history("digits-clf", "champion")
    assert [(m.version, m.action) for m in moves] == [(1, "set"), (None, "remove")]

    client.delete_registered_model("digits-clf")
    with pytest.raises(MlflowException) as gone:
        client.get_registered_model("digits-clf")
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_registered_models() == []


@pytest.mark.parametrize(
    "source",
    [
        "/etc/passwd",
        "file:///etc/passwd",
        "../../secret",
        "s3://bucket/model",
        "runs:/{run}/../../secret",
        "runs:/{run}/%2e%2e/secret",
        "mlflow-artifacts:/{exp}/{run}/artifacts/../../secret",
        "mlflow-artifacts:/0/{run}/artifacts/model",
    ],
)
def test_version_sources_outside_the_run_are_refused(
    served: MlflowServed, tmp_path: Path, source: str
) -> None:
    run_id = _logged_model_run(tmp_path)
    experiment_id = MlflowClient().get_run(run_id).info.experiment_id
    MlflowClient().create_registered_model("guarded")
    answer = httpx.post(
        f"{served.url}/api/2.0/mlflow/model-versions/create",
        json={"name": "guarded", "source": source.format(run=run_id, exp=experiment_id)},
    )
    assert answer.status_code in {400, 404}
    assert answer.json()["error_code"] in {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"}
    assert served.store.metadata.list_model_versions("guarded") == []


def test_a_gated_alias_moves_only_through_its_gates(served: MlflowServed, tmp_path: Path) -> None:
    import stackml.registry as reg
    from stackml.store import open_store

    mlflow.set_experiment("gated")
    run_id = _logged_model_run(tmp_path)
    mlflow.register_model(f"runs:/{run_id}/model", "gated-clf")
    store = open_store(served.url)
    client = MlflowClient()
    try:
        reg.set_gates("gated-clf", ["metric:acc>=0.99"], store=store)
        with pytest.raises(MlflowException) as refused:
            client.set_registered_model_alias("gated-clf", "production", "1")
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "acc" in refused.value.message
        assert store.metadata.model_alias_history("gated-clf", "production") == []
        # Ungated aliases move freely, as before.
        client.set_registered_model_alias("gated-clf", "staging", "1")

        reg.set_gates("gated-clf", ["metric:acc>=0.9"], store=store)
        client.set_registered_model_alias("gated-clf", "production", "1")
        (move,) = store.metadata.model_alias_history("gated-clf", "production")
        assert move.version == 1 and move.action == "promote"
        assert move.gates["metric:acc>=0.9"]["passed"] is True
    finally:
        store.close()
