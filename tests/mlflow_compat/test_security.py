"""Traversal through the MLflow routes is refused before anything touches the file system.

The server runs in this process, so an audit hook sees every file the server opens, creates,
lists or removes while the attacks are sent: nothing outside the store may appear.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient

from tests.mlflow_compat.conftest import MlflowServed
from tests.server.conftest import raw_request

SECRET = b"top-secret-contents-7f3a"
_WATCHED = {"open", "os.mkdir", "os.remove", "os.rename", "os.listdir", "os.scandir", "os.rmdir"}
_events: list[str] | None = None


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _events is not None and event in _WATCHED and args:
        _events.append(str(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def watched(served: MlflowServed, tmp_path: Path) -> Iterator[list[str]]:
    """Paths under ``tmp_path`` but outside the store that the process touched meanwhile."""
    global _events
    (tmp_path / "secret.txt").write_bytes(SECRET)
    before = sorted(p.name for p in tmp_path.iterdir())
    _events = []
    touched: list[str] = []
    try:
        yield touched
    finally:
        events, _events = _events, None
        root, store = str(tmp_path), str(served.root)
        touched += [p for p in events if p.startswith(root) and not p.startswith(store)]
        assert sorted(p.name for p in tmp_path.iterdir()) == before


def _run(served: MlflowServed) -> tuple[str, str]:
    client = MlflowClient()
    run = client.create_run("0")
    httpx.put(
        f"{served.url}/api/2.0/mlflow-artifacts/artifacts/"
        f"{run.info.experiment_id}/{run.info.run_id}/artifacts/ok.txt",
        content=b"fine",
    ).raise_for_status()
    return run.info.experiment_id, run.info.run_id


def _refused(status: int, body: bytes) -> None:
    assert status in {400, 404}, (status, body)
    assert SECRET not in body


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",
        "../../../../secret.txt",
        "/etc/passwd",
        "..%2Fsecret.txt",
        "%2e%2e/secret.txt",
        "%252e%252e%252fsecret.txt",
        "sub/../../secret.txt",
        "..\\secret.txt",
        "ok.txt/../../secret.txt",
    ],
)
def test_artifacts_list_refuses_traversal(
    served: MlflowServed, watched: list[str], path: str
) -> None:
    _, run_id = _run(served)
    answer = httpx.get(
        f"{served.url}/api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": path}
    )
    _refused(answer.status_code, answer.content)
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert watched == []


@pytest.mark.parametrize(
    "tail",
    [
        "../../../secret.txt",
        "%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "%252e%252e/%252e%252e/secret.txt",
        "..%2f..%2f..%2fsecret.txt",
        "..%252f..%252fsecret.txt",
        "sub/..%5c..%5csecret.txt",
        "%2fetc%2fpasswd",
        "./ok.txt",
        "ok.txt%00.png",
    ],
)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_proxy_refuses_mixed_traversal(
    served: MlflowServed, watched: list[str], tail: str, method: str
) -> None:
    experiment_id, run_id = _run(served)
    target = f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/{tail}"
    status, body = raw_request(served.server.port, method, target, body=SECRET)
    _refused(status, body)
    assert watched == []
    assert [a.path for a in served.store.metadata.list_artifacts(run_id)] == ["ok.txt"]


@pytest.mark.parametrize(
    "target",
    [
        "/api/2.0/mlflow-artifacts/artifacts/../../secret.txt",
        "/api/2.0/mlflow-artifacts/artifacts/%2e%2e/%2e%2e/secret.txt",
        "/api/2.0/mlflow-artifacts/artifacts//etc/passwd",
        "/api/2.0/mlflow-artifacts/artifacts?path=..%2F..%2Fsecret.txt",
        "/api/2.0/mlflow-artifacts/artifacts?path=%252e%252e%252fsecret.txt",
        "/ajax-api/2.0/mlflow-artifacts/artifacts/%2e%2e%2fsecret.txt",
    ],
)
def test_proxy_refuses_paths_outside_runs(
    served: MlflowServed, watched: list[str], target: str
) -> None:
    _run(served)
    status, body = raw_request(served.server.port, "GET", target)
    _refused(status, body)
    assert watched == []


def test_proxy_refuses_another_runs_files(served: MlflowServed, watched: list[str]) -> None:
    experiment_id, run_id = _run(served)
    other = MlflowClient().create_experiment("other")
    for target in (
        f"{other}/{run_id}/artifacts/ok.txt",  # right run, wrong experiment
        f"{experiment_id}/{run_id}/artifacts/../{run_id}/artifacts/ok.txt",
        f"{experiment_id}/{run_id}/not-artifacts/ok.txt",
    ):
        status, body = raw_request(
            served.server.port, "GET", f"/api/2.0/mlflow-artifacts/artifacts/{target}"
        )
        assert status in {400, 404} and b"fine" not in body
    assert watched == []


@pytest.mark.parametrize(
    "location", ["/tmp/elsewhere", "file:///etc", "../outside", "s3://bucket/x", "."]
)
def test_artifact_location_is_refused(
    served: MlflowServed, watched: list[str], tmp_path: Path, location: str
) -> None:
    answer = httpx.post(
        f"{served.url}/api/2.0/mlflow/experiments/create",
        json={"name": "placed", "artifact_location": location},
    )
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert MlflowClient().get_experiment_by_name("placed") is None
    assert watched == []
