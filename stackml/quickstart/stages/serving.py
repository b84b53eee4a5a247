"""Stage ``serving``: serve the promoted model and send it production traffic that drifts.

The model behind ``digits@production`` (promoted by the ``check`` stage; the registry stage's
candidate when nothing was promoted) is served by a real serving app on a loopback port, with
adaptive batching and every prediction logged. Clients then send the clean validation digits,
followed by the shifted "production" digits (rotated up to ±20° and blurred, the pool half of
the shifted test set) as concurrent ``POST /predict`` calls. The stage prints the live
metrics, writes each request id's true label for the monitoring stage, and leaves the
logged predictions in the store (deployment ``digits-prod``) for it to read.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.quickstart.stage import Stage, StageResult

if TYPE_CHECKING:
    from stackml.quickstart.context import QuickstartContext
    from stackml.store import Store

__all__ = ["DEPLOYMENT", "ServingStage"]

DEPLOYMENT = "digits-prod"
CONCURRENCY = 16


def promoted_ref(ctx: QuickstartContext, store: Store) -> str:
    """``digits@production`` when an earlier stage promoted a version, else the candidate."""
    from stackml.errors import NotFound
    from stackml.registry import resolve

    registry = ctx.results.get("registry")
    model = registry.details.get("model", "digits") if registry else "digits"
    try:
        resolve(f"{model}@production", store)
        return f"{model}@production"
    except NotFound:
        if registry is not None and registry.details.get("candidate"):
            return registry.details["candidate"]
        return model


class ServingStage(Stage):
    """Serve the promoted model and send it clean, then drifted, traffic over HTTP."""

    name = "serving"
    title = "Serve the promoted model and send it drifting traffic"

    def run(self, ctx: QuickstartContext) -> StageResult:
        from stackml.quickstart.stages.monitoring import production_split
        from stackml.serving import (
            BatchPolicy,
            EndpointSpec,
            ServingOptions,
            ServingServer,
            registry_loader,
        )

        store = ctx.store
        ref = promoted_ref(ctx, store)
        digits = ctx.digits()
        shifted, pool, _ = production_split(ctx)
        traffic = [
            (digits.x_val[i], int(digits.y_val[i]), "clean") for i in range(len(digits.y_val))
        ]
        traffic += [(shifted[i], int(digits.y_test[i]), "shifted") for i in pool]
        loader, resolver = registry_loader(store)
        options = ServingOptions(
            policy=BatchPolicy(max_batch_rows=32, max_wait_ms=2.0, slo_ms=50.0),
            deployment=DEPLOYMENT,
            heartbeat_seconds=1.0,
            log_flush_seconds=0.5,
        )
        ctx.note(f"starting the serving app for {ref}")
        server = ServingServer(
            [EndpointSpec(ref)],
            loader,
            options=options,
            resolver=resolver,
            store=store,
            port=_free_port(),
        )
        server.start_in_thread()
        try:
            _wait_ready(server.url)
            model = server.runtime.endpoints[ref.split("@")[0]].primary
            spec = model.predictor.signature.input()
            shape = (1, *spec.shape[1:])
            ctx.note(f"sending {len(traffic)} requests ({len(pool)} shifted) to {server.url}")
            started = time.perf_counter()
            answers = asyncio.run(_send(server.url, spec.name, shape, traffic))
            seconds = time.perf_counter() - started
            live = server.runtime.live_metrics()
        finally:
            server.stop()  # drains, flushes the prediction log, records "stopped"
        truth = {rid: str(label) for rid, label, _, _ in answers}
        accuracy = {
            kind: float(np.mean([pred == str(label) for _, label, pred, k in answers if k == kind]))
            for kind in ("clean", "shifted")
        }
        path = ctx.output_dir("serving") / "truth.json"
        path.write_text(json.dumps(truth))
        logged = sum(c.num_rows for c in store.metadata.list_prediction_chunks(DEPLOYMENT))
        batch = {k: v for k, v in live.items() if k.startswith("mean_batch.")}
        mean_batch = next(iter(batch.values()), 1.0)
        ctx.note(
            f"live metrics: {live.get('requests_total', 0)} requests, "
            f"{len(answers) / seconds:.0f} req/s, p50 {live.get('p50_ms', 0):.1f} ms, "
            f"p99 {live.get('p99_ms', 0):.1f} ms, mean batch {mean_batch} rows, {logged} logged"
        )
        page = f"/deployments/{DEPLOYMENT}"
        return StageResult(
            headline=(
                f"served {ref} ({len(answers)} requests, p99 {live.get('p99_ms', 0):.1f} ms, "
                f"mean batch {mean_batch}); accuracy clean {accuracy['clean']:.3f} vs shifted "
                f"{accuracy['shifted']:.3f}; see {page} in the web UI"
            ),
            metrics={
                "requests": float(len(answers)),
                "p50_ms": float(live.get("p50_ms", 0.0)),
                "p99_ms": float(live.get("p99_ms", 0.0)),
                "mean_batch_rows": float(mean_batch),
                "clean_accuracy": accuracy["clean"],
                "shifted_accuracy": accuracy["shifted"],
                "logged": float(logged),
            },
            details={
                "deployment": DEPLOYMENT,
                "model_ref": ref,
                "truth": str(path),
                "page": page,
            },
        )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, timeout: float = 60.0) -> None:
    import httpx

    from stackml.errors import StackmlError

    deadline = time.monotonic() + timeout
    reason = ""
    while time.monotonic() < deadline:
        answer = httpx.get(url + "/v2/health/ready", timeout=10)
        if answer.status_code == 200:
            return
        reason = answer.json().get("reason", "")
        time.sleep(0.05)
    raise StackmlError(f"the served model never became ready: {reason}")


async def _send(
    url: str, input_name: str, shape: tuple[int, ...], traffic: list[tuple[np.ndarray, int, str]]
) -> list[tuple[str, int, str, str]]:
    """Send every request with ``CONCURRENCY`` clients, clean traffic before shifted."""
    import httpx

    answers: list[tuple[str, int, str, str]] = []
    queue = list(enumerate(traffic))
    queue.reverse()

    async def client(c: httpx.AsyncClient) -> None:
        while queue:
            _, (x, label, kind) = queue.pop()
            body = {"inputs": {input_name: x.reshape(shape).astype(np.float32).tolist()}}
            answer = await c.post("/predict", json=body)
            answer.raise_for_status()
            data: dict[str, Any] = answer.json()
            predicted = data["predictions"][0]["label"] if data["predictions"] else ""
            answers.append((data["request_id"], label, predicted, kind))

    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c:
        await asyncio.gather(*(client(c) for _ in range(CONCURRENCY)))
    return answers
