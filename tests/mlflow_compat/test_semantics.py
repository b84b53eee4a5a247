"""MLflow semantics through the real client: lifecycles, tags, limits, paging and search."""

from __future__ import annotations

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from tests.mlflow_compat.conftest import MlflowServed


def test_experiment_lifecycle_and_tags(served: MlflowServed) -> None:
    client = MlflowClient()
    plain = client.create_experiment("vision", tags={"team": "cv"})
    free = client.create_experiment("/Users/ada/my first experiment")
    nested = client.create_experiment("vision/ablation")
    assert client.get_experiment(free).name == "/Users/ada/my first experiment"
    assert client.get_experiment_by_name("vision/ablation").experiment_id == nested
    stored = served.store.metadata.get_experiment(nested)
    assert (stored.project, stored.name) == ("vision", "ablation")
    assert served.store.metadata.get_experiment(free).project == "Users-ada-my-first-experiment"

    client.set_experiment_tag(plain, "owner", "ada")
    assert client.get_experiment(plain).tags == {"team": "cv", "owner": "ada"}
    client.delete_experiment_tag(plain, "team")
    assert client.get_experiment(plain).tags == {"owner": "ada"}

    client.rename_experiment(free, "renamed")
    assert client.get_experiment_by_name("renamed").experiment_id == free
    assert client.get_experiment_by_name("/Users/ada/my first experiment") is None
    with pytest.raises(MlflowException) as taken:
        client.rename_experiment(free, "vision")
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"

    client.delete_experiment(nested)
    assert client.get_experiment(nested).lifecycle_stage == "deleted"
    active = {e.name for e in client.search_experiments()}
    assert "vision/ablation" not in active and {"vision", "renamed"} <= active
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert [e.experiment_id for e in deleted] == [nested]
    with pytest.raises(MlflowException):
        client.create_run(nested)
    client.restore_experiment(nested)
    assert client.get_experiment(nested).lifecycle_stage == "active"


def test_experiment_search_filter_order_and_pages(served: MlflowServed) -> None:
    client = MlflowClient()
    for index in range(7):
        client.create_experiment(f"exp-{index}", tags={"parity": "even" if index % 2 else "odd"})
    names = [e.name for e in client.search_experiments(filter_string="name LIKE 'exp-%'")]
    assert sorted(names) == [f"exp-{i}" for i in range(7)]
    odd = client.search_experiments(
        filter_string="tags.parity = 'odd' and name != 'exp-0'", order_by=["name DESC"]
    )
    assert [e.name for e in odd] == ["exp-6", "exp-4", "exp-2"]
    seen, token = [], None
    while True:
        page = client.search_experiments(
            max_results=3, page_token=token, filter_string="name ILIKE 'EXP-%'"
        )
        seen += [e.name for e in page]
        token = page.token
        if not token:
            break
    assert sorted(seen) == sorted(names)


def test_run_lifecycle_tags_and_view_types(served: MlflowServed) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("lifecycle")
    keep = client.create_run(experiment_id, run_name="keep").info.run_id
    drop = client.create_run(experiment_id, run_name="drop").info.run_id
    client.set_tag(keep, "note", "first")
    client.set_tag(keep, "note", "second")  # tags overwrite
    assert client.get_run(keep).data.tags["note"] == "second"
    client.delete_tag(keep, "note")
    assert "note" not in client.get_run(keep).data.tags
    with pytest.raises(MlflowException) as missing_tag:
        client.delete_tag(keep, "note")
    assert missing_tag.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    client.delete_run(drop)
    assert client.get_run(drop).info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [keep]
    deleted = client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [drop]
    assert len(client.search_runs([experiment_id], run_view_type=ViewType.ALL)) == 2
    client.restore_run(drop)
    assert len(client.search_runs([experiment_id])) == 2

    client.update_run(keep, status="KILLED", name="kept")
    info = client.get_run(keep).info
    assert info.status == "KILLED" and info.run_name == "kept" and info.end_time
    assert served.store.metadata.get_run(keep).name == "kept"


def test_log_batch_semantics(served: MlflowServed) -> None:
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment("batch")).info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric("m", float(i), 1000 + i, i) for i in range(3)],
        params=[Param("p", "1")],
        tags=[RunTag("t", "a")],
    )
    # Same param value again is fine; tags overwrite; metrics append.
    client.log_batch(
        run_id,
        metrics=[Metric("m", 9.0, 2000, 3)],
        params=[Param("p", "1")],
        tags=[RunTag("t", "b")],
    )
    run = client.get_run(run_id)
    assert run.data.params == {"p": "1"} and run.data.tags["t"] == "b"
    assert [m.value for m in client.get_metric_history(run_id, "m")] == [0.0, 1.0, 2.0, 9.0]
    with pytest.raises(MlflowException) as changed:
        client.log_batch(run_id, params=[Param("p", "2")])
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as changed_single:
        client.log_param(run_id, "p", "3")
    assert changed_single.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run_id).data.params == {"p": "1"}


@pytest.mark.parametrize(
    ("field", "count"),
    [("metrics", 1001), ("params", 101), ("tags", 101)],
)
def test_log_batch_limits(served: MlflowServed, field: str, count: int) -> None:
    run_id = MlflowClient().create_run("0").info.run_id
    item = (
        (lambda i: {"key": f"k{i}", "value": 1.0, "timestamp": 1, "step": i})
        if field == "metrics"
        else (lambda i: {"key": f"k{i}", "value": "v"})
    )
    body = {"run_id": run_id, field: [item(i) for i in range(count)]}
    answer = httpx.post(f"{served.url}/api/2.0/mlflow/runs/log-batch", json=body)
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert served.store.metadata.get_run(run_id).params == {}


def test_log_batch_total_and_length_limits(served: MlflowServed) -> None:
    run_id = MlflowClient().create_run("0").info.run_id
    url = f"{served.url}/api/2.0/mlflow/runs/log-batch"
    body = {
        "run_id": run_id,
        "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(950)],
        "params": [{"key": f"p{i}", "value": "v"} for i in range(51)],
    }
    assert httpx.post(url, json=body).json()["error_code"] == "INVALID_PARAMETER_VALUE"
    long_value = {"run_id": run_id, "params": [{"key": "p", "value": "x" * 6001}]}
    assert httpx.post(url, json=long_value).status_code == 400
    long_key = {"run_id": run_id, "tags": [{"key": "k" * 251, "value": "v"}]}
    assert httpx.post(url, json=long_key).status_code == 400
    assert served.store.metadata.get_run(run_id).metrics == {}


def test_metric_history_pages_and_special_values(served: MlflowServed) -> None:
    client = MlflowClient()
    run_id = client.create_run("0").info.run_id
    client.log_batch(run_id, metrics=[Metric("m", float(i), i, i) for i in range(1000)])
    client.log_metric(run_id, "odd", float("nan"), step=0)
    client.log_metric(run_id, "odd", float("inf"), step=1)
    assert len(client.get_metric_history(run_id, "m")) == 1000
    url = f"{served.url}/api/2.0/mlflow/metrics/get-history"
    params = {"run_id": run_id, "metric_key": "m", "max_results": 300}
    steps, token = [], None
    while True:
        page = httpx.get(url, params={**params, **({"page_token": token} if token else {})}).json()
        steps += [m["step"] for m in page["metrics"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert steps == list(range(1000))
    odd = client.get_metric_history(run_id, "odd")
    assert str(odd[0].value) == "nan" and odd[1].value == float("inf")


def test_search_runs_language_and_large_pages(served: MlflowServed) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("search")
    ids = []
    for index in range(30):
        run = client.create_run(
            experiment_id, run_name=f"r{index:02d}", tags={"group": f"g{index % 3}"}
        )
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("acc", index / 30, 1, 0)],
            params=[Param("opt", "adam" if index % 2 else "sgd"), Param("n", str(index))],
        )
        ids.append(run.info.run_id)
    search = client.search_runs
    assert len(search([experiment_id], "metrics.acc >= 0.5")) == 15
    assert len(search([experiment_id], "params.opt = 'adam' and tags.group IN ('g0', 'g1')")) == 10
    assert len(search([experiment_id], "attributes.run_name ILIKE 'R0%'")) == 10
    assert len(search([experiment_id], "tags.`mlflow.runName` LIKE 'r1%'")) == 10
    assert len(search([experiment_id], f"attributes.run_id IN ('{ids[0]}', '{ids[1]}')")) == 2
    assert len(search([experiment_id], "attributes.status = 'RUNNING'")) == 30
    assert len(search([experiment_id], "attributes.user_id != 'nobody'")) == 30
    ordered = search([experiment_id], order_by=["metrics.acc DESC"], max_results=3)
    assert [r.info.run_name for r in ordered] == ["r29", "r28", "r27"]
    assert len(search([experiment_id], max_results=50_000)) == 30
    names, token = [], None
    while True:
        page = search([experiment_id], order_by=["params.n ASC"], max_results=7, page_token=token)
        names += [r.info.run_name for r in page]
        token = page.token
        if not token:
            break
    assert len(names) == 30 and len(set(names)) == 30
    with pytest.raises(MlflowException):
        search([experiment_id], max_results=50_001)
    all_runs = mlflow.search_runs([experiment_id], output_format="list")
    assert len(all_runs) == 30


def test_log_inputs_records_dataset_lineage(served: MlflowServed) -> None:
    import numpy as np

    dataset = mlflow.data.from_numpy(np.arange(12.0).reshape(4, 3), name="digits-small")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
    inputs = MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert [d.dataset.name for d in inputs] == ["digits-small"]
    assert inputs[0].tags[0].value == "training"
    edges = served.store.metadata.list_lineage("run", run.info.run_id, direction="upstream")
    assert [e.source_type for e in edges] == ["mlflow_dataset"]
