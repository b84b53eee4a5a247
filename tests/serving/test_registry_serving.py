"""``stackml serve`` over registry models (an ONNX export of a small CNN run by onnxruntime):
the CLI as a real process, hot reload when an alias moves, packaging and its k8s manifests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from stackml.store import Store
from tests.serving.helpers import free_port

CLASSES = [str(i) for i in range(10)]


def _cnn(seed: int) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 64, 10),
        nn.Softmax(dim=1),
    ).eval()


@pytest.fixture(scope="module")
def registry_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str, dict]]:
    """A store with digits@1 and digits@2 (ONNX) and ``production`` on version 1."""
    import stackml
    import stackml.tracking as tracking
    from stackml.registry import log_model, set_alias

    root = tmp_path_factory.mktemp("registry")
    store = tracking.get_store(str(root / "store"))
    uri = str(store.location.root.parent)  # type: ignore[union-attr]
    models = {}
    x = np.random.default_rng(0).random((8, 1, 8, 8)).astype(np.float32)
    for seed in (1, 2):
        model = _cnn(seed)
        with stackml.start_run(
            project="digits", tracking_uri=uri, capture_environment=False
        ) as run:
            log_model(
                run, model, "model", format="onnx", example=x, classes=CLASSES, register_as="digits"
            )
        import torch

        with torch.no_grad():
            models[seed] = model
    set_alias("digits@1", "production", store=store)
    yield store, uri, models
    tracking.reset()


def _expected(model: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _serve(uri: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "from stackml.cli.main import main; main()",
        "--tracking-uri",
        uri,
        "serve",
        *args,
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, HOME=os.environ.get("HOME", "/tmp")),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v2/health/ready").status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read() if proc.stderr else "died")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("never ready")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    return proc.stderr.read() if proc.stderr else ""


def test_cli_serves_the_alias_and_hot_reloads_when_it_moves(registry_store: tuple) -> None:
    from stackml.registry import set_alias

    store, uri, models = registry_store
    proc, url = _serve(uri, "digits@production", "--reload-seconds", "0.3", "--name", "cli-digits")
    try:
        x = np.random.default_rng(3).random((4, 1, 8, 8)).astype(np.float32)
        body = {
            "inputs": [
                {"name": "x", "shape": [4, 1, 8, 8], "datatype": "FP32", "data": x.ravel().tolist()}
            ]
        }
        meta = httpx.get(url + "/v2/models/digits").json()
        assert meta["platform"] == "onnxruntime" and meta["versions"] == ["1"]
        body["inputs"][0]["name"] = meta["inputs"][0]["name"]
        first = httpx.post(url + "/v2/models/digits/infer", json=body)
        assert first.status_code == 200, first.text
        got = np.array(first.json()["outputs"][0]["data"], np.float32).reshape(4, -1)
        np.testing.assert_allclose(got[:, :10], _expected(models[1], x), atol=1e-4)
        predicted = httpx.post(
            url + "/predict", json={"inputs": {meta["inputs"][0]["name"]: x.tolist()}}
        )
        assert predicted.json()["predictions"][0]["label"] in CLASSES
        set_alias("digits@2", "production", store=store)
        deadline = time.monotonic() + 30
        version = "1"
        while version == "1" and time.monotonic() < deadline:
            r = httpx.post(url + "/v2/models/digits/infer", json=body)
            assert r.status_code == 200  # no request fails while the model swaps
            version = r.headers["X-Model-Version"]
        assert version == "2"
        got = np.array(r.json()["outputs"][0]["data"], np.float32).reshape(4, -1)
        np.testing.assert_allclose(got[:, :10], _expected(models[2], x), atol=1e-4)
    finally:
        stderr = _stop(proc)
    assert "completed" in stderr
    assert store.metadata.get_deployment("cli-digits").status == "stopped"


def test_package_serves_as_a_plain_process(registry_store: tuple, tmp_path: Path) -> None:
    _, uri, models = registry_store
    out = tmp_path / "pkg"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from stackml.cli.main import main; main()",
            "--tracking-uri",
            uri,
            "models",
            "package",
            "digits@1",
            str(out),
            "--k8s",
            "--drain-seconds",
            "15",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "model" / "stackml-model.json").is_file()
    requirements = (out / "requirements.txt").read_text().splitlines()
    assert requirements[0].startswith("stackml==")
    assert any(r.startswith("onnxruntime==") for r in requirements)
    assert all("==" in r for r in requirements)
    dockerfile = (out / "Dockerfile").read_text()
    assert "pip install --no-cache-dir -r requirements.txt" in dockerfile
    assert 'ENTRYPOINT ["/app/entrypoint.sh"]' in dockerfile and "COPY model/ model/" in dockerfile
    assert "stackml serve digits --model-dir" in (out / "entrypoint.sh").read_text()

    deployment = yaml.safe_load((out / "k8s" / "deployment.yaml").read_text())
    assert deployment["kind"] == "Deployment" and deployment["apiVersion"] == "apps/v1"
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    prestop = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["terminationGracePeriodSeconds"] > 15 + prestop
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"name": "DRAIN_SECONDS", "value": "15"} in container["env"]
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["template"]["metadata"]["labels"] == labels
    service = yaml.safe_load((out / "k8s" / "service.yaml").read_text())
    assert service["kind"] == "Service" and service["spec"]["selector"] == labels
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    hpa = yaml.safe_load((out / "k8s" / "hpa.yaml").read_text())
    assert hpa["kind"] == "HorizontalPodAutoscaler" and hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]

    # The directory serves with no store: the entrypoint as a plain process.
    port = free_port()
    env = dict(
        os.environ,
        PORT=str(port),
        HOST="127.0.0.1",
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    )
    proc = subprocess.Popen(
        [str(out / "entrypoint.sh")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
        meta = httpx.get(url + "/v2/models/digits").json()
        x = np.random.default_rng(5).random((2, 1, 8, 8)).astype(np.float32)
        r = httpx.post(url + "/predict", json={"inputs": {meta["inputs"][0]["name"]: x.tolist()}})
        assert r.status_code == 200, r.text
        expected = _expected(models[1], x).argmax(1)
        assert [p["label"] for p in r.json()["predictions"]] == [str(i) for i in expected]
    finally:
        _stop(proc)
    assert proc.returncode == 0


def test_workers_share_the_port(registry_store: tuple) -> None:
    _, uri, _ = registry_store
    proc, url = _serve(uri, "digits@1", "--workers", "2", "--no-log")
    try:
        streak, deadline = 0, time.monotonic() + 90
        while streak < 10:  # both workers ready: ten fresh connections in a row say so
            assert time.monotonic() < deadline
            streak = streak + 1 if httpx.get(url + "/v2/health/ready").status_code == 200 else 0
        x = np.zeros((1, 1, 8, 8), np.float32)
        name = httpx.get(url + "/v2/models/digits").json()["inputs"][0]["name"]
        body = {
            "inputs": [
                {
                    "name": name,
                    "shape": [1, 1, 8, 8],
                    "datatype": "FP32",
                    "data": x.ravel().tolist(),
                }
            ]
        }
        for _ in range(20):  # new connections land on either worker
            # A worker still warming its model up answers 503 + Retry-After (a loaded machine
            # can keep one busy after the other already passed the readiness streak).
            while True:
                with httpx.Client() as c:
                    answer = c.post(url + "/v2/models/digits/infer", json=body)
                if answer.status_code != 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert answer.status_code == 200, answer.text
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        assert len(children.stdout.split()) == 2
    finally:
        _stop(proc)
    assert proc.returncode == 0


def test_model_threads_reach_the_onnx_session(registry_store: tuple) -> None:
    from stackml.serving import registry_loader

    store, _, _ = registry_store
    for threads in (1, 2):
        loader, _ = registry_loader(store, threads=threads)
        predictor = loader("digits@1")
        options = predictor.session.get_session_options()
        assert options.intra_op_num_threads == threads
        # cores shared out between calls: idle runtime threads sleep instead of spinning
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    loader, _ = registry_loader(store)  # one call at a time on every core: the runtime's way
    options = loader("digits@1").session.get_session_options()
    assert options.intra_op_num_threads == 0
    with pytest.raises(RuntimeError, match="does not have configuration"):
        options.get_session_config_entry("session.intra_op.allow_spinning")
