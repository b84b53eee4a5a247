"""A real serving process: 10,000 requests at concurrency 64 with every answer checked, and
SIGTERM under load losing no accepted request."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.serving.helpers import MlpPredictor, RawHttp, free_port, reference

ROOT = Path(__file__).resolve().parents[2]


def _launch(delay: float = 0.0) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.serving.serve_process", str(port), str(delay)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v2/health/ready").status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read() if proc.stderr else "server died")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("server never became ready")


@pytest.fixture
def process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc, url = _launch()
    yield proc, url
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _body(x: np.ndarray) -> dict:
    return {
        "inputs": [
            {
                "name": "image",
                "shape": list(x.shape),
                "datatype": "FP32",
                "data": x.ravel().tolist(),
            }
        ]
    }


def test_ten_thousand_requests_at_concurrency_64(
    process: tuple[subprocess.Popen[str], str],
) -> None:
    _, url = process
    port = int(url.rsplit(":", 1)[1])
    model = MlpPredictor(seed=5)
    rng = np.random.default_rng(0)
    inputs = [rng.random((1 + i % 3, 1, 8, 8)).astype(np.float32) for i in range(64)]
    expected = [reference(model, x) for x in inputs]
    bodies = [json.dumps(_body(x)).encode() for x in inputs]
    errors: list[str] = []
    wrong = 0
    done = 0

    async def client(worker: int, count: int) -> None:
        nonlocal wrong, done
        http = RawHttp("127.0.0.1", port)
        for k in range(count):
            i = (worker * 7 + k) % 64
            status, _, data = await http.post("/v2/models/digits/infer", bodies[i])
            if status != 200:
                errors.append(f"{status} {data[:100]!r}")
                continue
            out = json.loads(data)["outputs"][0]
            got = np.array(out["data"], np.float32).reshape(out["shape"])
            if got.shape != expected[i].shape or not np.allclose(got, expected[i], rtol=1e-4):
                wrong += 1
            done += 1
        http.close()

    async def main() -> None:
        await asyncio.gather(*(client(w, 10_000 // 64 + (w < 10_000 % 64)) for w in range(64)))

    asyncio.run(main())
    assert errors == [] and wrong == 0 and done == 10_000
    metrics = httpx.get(url + "/metrics").text
    batches = re.search(r"stackml_serving_batch_size_rows_count\{[^}]*\} ([0-9.e+]+)", metrics)
    rows = re.search(r"stackml_serving_batch_size_rows_sum\{[^}]*\} ([0-9.e+]+)", metrics)
    assert batches and rows and float(rows.group(1)) / float(batches.group(1)) > 1.0  # batched


def test_sigterm_under_load_loses_no_accepted_request() -> None:
    proc, url = _launch(delay=0.02)
    model = MlpPredictor(seed=5)
    x = np.random.default_rng(1).random((1, 1, 8, 8)).astype(np.float32)
    expected = reference(model, x)
    outcomes: dict[str, int] = {"ok": 0, "wrong": 0, "refused": 0, "503": 0, "lost": 0, "other": 0}

    async def client(c: httpx.AsyncClient) -> None:
        for _ in range(400):
            try:
                r = await c.post("/v2/models/digits/infer", json=_body(x))
            except httpx.ConnectError:
                outcomes["refused"] += 1  # never accepted
                return
            except httpx.TransportError:
                outcomes["lost"] += 1
                return
            if r.status_code == 200:
                got = np.array(r.json()["outputs"][0]["data"], np.float32).reshape(1, 10)
                outcomes["ok" if np.allclose(got, expected, rtol=1e-4) else "wrong"] += 1
            elif r.status_code == 503:
                outcomes["503"] += 1
            else:
                outcomes["other"] += 1

    async def main() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            tasks = [asyncio.create_task(client(c)) for _ in range(16)]
            await asyncio.sleep(1.0)
            proc.send_signal(signal.SIGTERM)
            await asyncio.gather(*tasks)

    try:
        asyncio.run(main())
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read() if proc.stderr else ""
    found = re.search(r"(\d+) requests accepted, (\d+) completed, (\d+) refused", stderr)
    assert found, stderr
    accepted, completed, refused = (int(g) for g in found.groups())
    assert outcomes["wrong"] == 0 and outcomes["other"] == 0, outcomes
    assert outcomes["ok"] > 0 and outcomes["503"] + outcomes["refused"] > 0, outcomes
    # Every request the server accepted was answered, and the client received every answer:
    # a request the client could not deliver (a connection closed before the server read it)
    # is one the server never accepted.
    assert accepted == completed == outcomes["ok"]
    assert refused == outcomes["503"]
