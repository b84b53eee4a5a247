"""Serving throughput: stackml's adaptive batching against a plain FastAPI endpoint.

In one run, on loopback, with the load generated from a separate process:

* (a) ``stackml serve`` (adaptive batching, OIP v2 JSON route, prediction logging off);
* (b) a plain FastAPI endpoint calling the same ONNX model once per request (uvicorn, one
  process, the endpoint in FastAPI's thread pool);
* (c) the raw model's batched throughput in this process (onnxruntime, batch 64): the limit,
  timed right before and right after (a) at concurrency 64 and averaged;

at concurrency 1, 16 and 64 for two deep MLPs: the benchmark model, 2048 wide and 24 deep
(``--mlp-width``/``--mlp-depth``; a single sample costs several milliseconds and, at batch 1,
its forward is bound by reading its weights, so batching pays and a batched row costs several
times a request's HTTP work), and a lighter one, 1024 wide (``--light-width``), where the
server's per-request work and the load generator take a larger share of the two cores; and at
concurrency 64 for a wide CNN (compute-bound: on a CPU its rows per second change little with
the batch size, so batching can help little) and the tiny quickstart-sized CNN (where HTTP
parsing dominates). It reports throughput and p50/p99, the load generator's share of the CPU
it and the server used, and a ``tritonclient`` round trip to the v2 route. The last line holds
the ratios.

    .venv/bin/python benchmarks/bench_serving.py [--seconds 5] [--slo-ms 250]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
PLAIN_APP = """
import json, os
import numpy as np, onnxruntime as ort
from fastapi import FastAPI, Request
from fastapi.responses import Response
options = ort.SessionOptions()
options.intra_op_num_threads = int(os.environ.get("THREADS", "2"))
session = ort.InferenceSession(os.environ["MODEL"], options, providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
app = FastAPI()

@app.post("/predict")
def predict(body: dict) -> dict:
    x = np.asarray(body["inputs"][0]["data"], dtype=np.float32).reshape(body["inputs"][0]["shape"])
    out = session.run(None, {name: x})[0]
    return {"outputs": [{"name": "y", "shape": list(out.shape), "data": out.ravel().tolist()}]}
"""


def build_mlp(size: int, width: int, depth: int) -> Any:
    """A wide MLP: at batch 1 it is bound by reading its weights, so batching pays."""
    import torch
    from torch import nn

    layers: list[Any] = [nn.Flatten(), nn.Linear(size * size, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    layers += [nn.Linear(width, 10), nn.Softmax(1)]
    torch.manual_seed(0)
    return nn.Sequential(*layers).eval()


def build_model(width: int, size: int, depth: int) -> Any:
    import torch
    from torch import nn

    layers: list[Any] = [nn.Conv2d(1, width, 3, padding=1), nn.ReLU()]
    for _ in range(depth):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(width * 16, 10), nn.Softmax(1)]
    torch.manual_seed(0)
    return nn.Sequential(*layers).eval()


def register(store_dir: Path, name: str, model: Any, size: int) -> None:
    import stackml
    from stackml.registry import log_model

    x = np.random.default_rng(0).random((4, 1, size, size)).astype(np.float32)
    with stackml.start_run(
        project="bench", tracking_uri=str(store_dir), capture_environment=False
    ) as run:
        log_model(
            run,
            model,
            "model",
            format="onnx",
            example=x,
            classes=[str(i) for i in range(10)],
            register_as=name,
        )


def onnx_file(store_dir: Path, name: str, dest: Path) -> Path:
    from stackml.registry import download_version, get_version
    from stackml.tracking.api import get_store

    store = get_store(str(store_dir))
    version = get_version(f"{name}@1", store=store)
    folder = download_version(store, version, dest)
    return next(folder.rglob("*.onnx"))


def raw_throughput(path: Path, size: int, seconds: float) -> dict[str, float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    single = np.random.default_rng(0).random((1, 1, size, size)).astype(np.float32)
    batch = np.repeat(single, 64, axis=0)
    for _ in range(5):
        session.run(None, {name: batch})
    singles = []
    for _ in range(50):
        t = time.perf_counter()
        session.run(None, {name: single})
        singles.append(time.perf_counter() - t)
    times = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        session.run(None, {name: batch})
        times.append(time.perf_counter() - t)
    per_batch = np.array(times)
    return {
        "rps": 64 * len(times) / per_batch.sum(),
        "p50": float(np.percentile(per_batch, 50)) * 1000,
        "p99": float(np.percentile(per_batch, 99)) * 1000,
        "single_ms": float(np.median(singles)) * 1000,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(url: str, path: str) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + path, timeout=5).status_code in (200, 404, 405):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never became ready")


def start_stackml(store_dir: Path, name: str, port: int, slo_ms: float) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-c",
        "from stackml.cli.main import main; main()",
        "--tracking-uri",
        str(store_dir),
        "serve",
        f"{name}@1",
        "--port",
        str(port),
        "--no-log",
        "--max-batch",
        "64",
        "--max-wait-ms",
        "4",
        "--slo-ms",
        str(slo_ms),
        "--max-queue",
        "100000",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}", "/v2/health/ready")
    return proc


def start_plain(app_file: Path, model: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, MODEL=str(model))
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "plain_app:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--app-dir",
        str(app_file.parent),
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}", "/predict")
    return proc


# -- the load generator (runs in its own process) ------------------------------------------
async def _client(
    port: int, path: str, body: bytes, deadline: float, out: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        writer.write(head + body)
        status = int((await reader.readline()).split()[1])
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        if status == 200:
            out.append(time.perf_counter() - started)
        else:
            errors.append(status)
    writer.close()


def loadgen(port: int, path: str, size: int, concurrency: int, seconds: float) -> None:
    x = np.random.default_rng(1).random((1, 1, size, size)).astype(np.float32)
    name = sys.argv[sys.argv.index("--input") + 1]
    body = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": list(x.shape),
                    "datatype": "FP32",
                    "data": x.ravel().tolist(),
                }
            ]
        }
    ).encode()
    latencies: list[float] = []
    errors: list[int] = []

    async def main() -> float:
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(
            *(_client(port, path, body, deadline, latencies, errors) for _ in range(concurrency))
        )
        return time.perf_counter() - start

    wall = asyncio.run(main())
    cpu = time.process_time()
    lat = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    print(
        json.dumps(
            {
                "rps": len(latencies) / wall,
                "p50": float(np.percentile(lat, 50)),
                "p99": float(np.percentile(lat, 99)),
                "errors": len(errors),
                "cpu": cpu,
                "wall": wall,
            }
        )
    )


def measure(
    port: int,
    path: str,
    size: int,
    input_name: str,
    concurrency: int,
    seconds: float,
    server_pid: int,
) -> dict[str, float]:
    before = cpu_seconds(server_pid)
    command = [
        sys.executable,
        __file__,
        "--loadgen",
        str(port),
        path,
        str(size),
        str(concurrency),
        str(seconds),
        "--input",
        input_name,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    server_cpu = cpu_seconds(server_pid) - before
    figures["loadgen_share"] = figures["cpu"] / max(figures["cpu"] + server_cpu, 1e-9)
    return figures


def triton_round_trip(port: int, name: str, size: int, input_name: str) -> float:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(f"127.0.0.1:{port}")
    x = np.random.default_rng(2).random((1, 1, size, size)).astype(np.float32)
    tensor = triton.InferInput(input_name, list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    times = []
    for _ in range(60):
        t = time.perf_counter()
        client.infer(name, [tensor])
        times.append(time.perf_counter() - t)
    client.close()
    return float(np.median(times[10:])) * 1000


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_model(
    label: str,
    store: Path,
    work: Path,
    name: str,
    size: int,
    levels: list[int],
    seconds: float,
    slo_ms: float,
) -> dict[str, Any]:
    path = onnx_file(store, name, work / f"{name}-files")
    raw = raw_throughput(path, size, seconds)
    print(
        f"[{label}] single-sample forward {raw['single_ms']:.2f} ms; raw batched (c) "
        f"{raw['rps']:.0f} rows/s (batch 64: p50 {raw['p50']:.1f} ms, p99 {raw['p99']:.1f} ms)"
    )
    app_file = work / "plain_app.py"
    app_file.write_text(textwrap.dedent(PLAIN_APP))
    import onnxruntime as ort

    input_name = (
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    )
    results: dict[str, Any] = {"raw": raw}
    # Both servers run at once and each level measures them back to back, so the load the
    # rest of the machine puts on the CPUs drifts as little as possible between them.
    ports = {"stackml": free_port(), "plain": free_port()}
    procs = {
        "stackml": start_stackml(store, name, ports["stackml"], slo_ms),
        "plain": start_plain(app_file, path, ports["plain"]),
    }
    routes = {"stackml": f"/v2/models/{name}/infer", "plain": "/predict"}
    tags = {"stackml": "(a) stackml", "plain": "(b) plain FastAPI"}
    try:
        for c in levels:
            for kind in ("stackml", "plain"):
                top = kind == "stackml" and c == max(levels)
                # (c) is timed right before and right after (a) at the top level and averaged:
                # this host's speed drifts by tens of percent within a minute, and (a)/(c)
                # should compare the two under the same conditions.
                before = raw_throughput(path, size, seconds)["rps"] if top else 0.0
                figures = measure(
                    ports[kind], routes[kind], size, input_name, c, seconds, procs[kind].pid
                )
                if top:
                    after = raw_throughput(path, size, seconds)["rps"]
                    results["raw_near"] = (before + after) / 2
                    print(
                        f"[{label}] raw batched (c) around (a) at c={c}: {before:.0f} before, "
                        f"{after:.0f} after: {results['raw_near']:.0f} rows/s"
                    )
                results[(kind, c)] = figures
                print(
                    f"[{label}] {tags[kind]:18s} c={c:<3d} {figures['rps']:8.0f} req/s  "
                    f"p50 {figures['p50']:7.1f} ms  p99 {figures['p99']:7.1f} ms  "
                    f"errors {figures['errors']}  load generator {figures['loadgen_share']:.0%} "
                    "of the CPU used"
                )
        results["triton_ms"] = triton_round_trip(ports["stackml"], name, size, input_name)
        print(
            f"[{label}] tritonclient (binary tensors) round trip to the v2 route: "
            f"{results['triton_ms']:.2f} ms median at concurrency 1"
        )
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(30)
    return results


def main() -> None:
    if "--loadgen" in sys.argv:
        i = sys.argv.index("--loadgen")
        port, path, size, c, seconds = sys.argv[i + 1 : i + 6]
        loadgen(int(port), path, int(size), int(c), float(seconds))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="load per measurement")
    parser.add_argument("--slo-ms", type=float, default=250.0)
    # The benchmark model: 2048 x 24 costs about 10 ms per sample on a 2-core x86 box, so a
    # batched row costs several times a request's HTTP work (the issue asks for at least
    # about 2 ms, so that the comparison measures batching rather than HTTP parsing).
    parser.add_argument("--mlp-width", type=int, default=2048)
    parser.add_argument("--mlp-depth", type=int, default=24)
    # Also at every level: a lighter MLP (1024 x 24, about 2.5-4 ms per sample), where the
    # server's per-request work and the load generator take a larger share of the two cores.
    parser.add_argument("--light-width", type=int, default=1024)
    args = parser.parse_args()
    import stackml.tracking as tracking

    levels = [1, 16, 64]
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        store = work / "store"
        tracking.get_store(str(store))
        register(store, "mlp", build_mlp(16, args.mlp_width, args.mlp_depth), 16)
        register(store, "light", build_mlp(16, args.light_width, args.mlp_depth), 16)
        register(store, "cnn", build_model(width=64, size=16, depth=4), 16)
        register(store, "tiny", build_model(width=8, size=8, depth=1), 8)
        label = f"MLP {args.mlp_width}x{args.mlp_depth}"
        light_label = f"MLP {args.light_width}x{args.mlp_depth}"
        main_model = run_model(label, store, work, "mlp", 16, levels, args.seconds, args.slo_ms)
        light = run_model(light_label, store, work, "light", 16, levels, args.seconds, args.slo_ms)
        cnn = run_model("wide CNN", store, work, "cnn", 16, [64], args.seconds, args.slo_ms)
        tiny = run_model("tiny CNN 8x8", store, work, "tiny", 8, [64], args.seconds, args.slo_ms)

    def ratios(model: dict[str, Any]) -> tuple[float, float]:
        a = model[("stackml", 64)]["rps"]
        return a / model[("plain", 64)]["rps"], a / model["raw_near"]

    speedup, share = ratios(main_model)
    light_speedup, light_share = ratios(light)
    cnn_speedup, _ = ratios(cnn)
    tiny_speedup, _ = ratios(tiny)
    print(
        f"serving at c=64, {label} ({main_model['raw']['single_ms']:.1f} ms per sample): stackml "
        f"{main_model[('stackml', 64)]['rps']:.0f} req/s = {speedup:.2f}x plain FastAPI "
        f"(target 5x) and {share:.0%} of the raw batched {main_model['raw_near']:.0f} rows/s "
        f"(target 70%); p99 {main_model[('stackml', 64)]['p99']:.0f} ms vs SLO "
        f"{args.slo_ms:.0f} ms. {light_label} ({light['raw']['single_ms']:.1f} ms per sample): "
        f"{light_speedup:.2f}x and {light_share:.0%}; wide CNN {cnn_speedup:.2f}x; tiny CNN "
        f"{tiny_speedup:.2f}x; tritonclient {main_model['triton_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()
