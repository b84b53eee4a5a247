"""``ServingRuntime``: endpoints, prediction logging and lifecycle state of one serving process.

The HTTP layer (:mod:`stackml.serving.app`) decodes requests and calls :meth:`infer`; this
module validates inputs against the signature, queues them on the chosen variant's batcher,
mirrors to a shadow, samples predictions into the log, and says whether the process is ready.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stackml.errors import InvalidInput, NotFound, StackmlError
from stackml.serving.batching import BatchPolicy
from stackml.serving.codec import check_inputs
from stackml.serving.endpoint import Endpoint, EndpointSpec, Loader, Resolver, Variant
from stackml.serving.logs import PredictionLogger, PredictionRecord
from stackml.serving.metrics import ServingMetrics

__all__ = ["NotReady", "RequestTimeout", "ServingOptions", "ServingRuntime"]

logger = logging.getLogger(__name__)


class NotReady(StackmlError):
    """The model is not loaded, or the server is draining (answered with 503)."""


class RequestTimeout(StackmlError):
    """The request did not finish within the per-request timeout (answered with 504)."""


@dataclass(frozen=True)
class ServingOptions:
    """Settings of a serving process (the CLI flags of ``stackml serve``)."""

    policy: BatchPolicy = field(default_factory=BatchPolicy)
    log_rate: float = 1.0
    request_timeout_s: float = 30.0
    max_body_bytes: int = 16 << 20
    token: str | None = None
    #: Also accept stackml API tokens (``stackml token create``) checked against the store.
    store_tokens: bool = False
    #: Record the deployment and its heartbeat in the store.
    record_deployment: bool = True
    drain_seconds: float = 20.0
    deployment: str | None = None
    reload_seconds: float = 5.0
    retry_load_seconds: float = 10.0
    heartbeat_seconds: float = 5.0
    log_chunk_rows: int = 2000
    log_flush_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.log_rate <= 1.0:
            raise InvalidInput("the log sampling rate must be between 0 and 1")
        if self.request_timeout_s <= 0 or self.max_body_bytes < 1 or self.drain_seconds < 0:
            raise InvalidInput("timeouts and size limits must be positive")


@dataclass
class Answer:
    """What :meth:`ServingRuntime.infer` hands back to the HTTP layer."""

    request_id: str
    variant: Variant
    outputs: dict[str, np.ndarray]
    version: int


def classify(variant: Variant, outputs: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """Per-row label, confidence and probabilities of a classifier (``[]`` otherwise)."""
    signature = variant.predictor.signature
    if signature.task != "classification" or not signature.probabilities:
        return []
    probs = np.asarray(outputs[signature.probabilities], dtype=np.float64)
    if probs.ndim != 2:
        return []
    if (probs < 0).any() or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        shifted = np.exp(probs - probs.max(axis=1, keepdims=True))  # logits -> probabilities
        probs = shifted / shifted.sum(axis=1, keepdims=True)
    classes = list(signature.classes) or [str(i) for i in range(probs.shape[1])]
    best = probs.argmax(axis=1)
    return [
        {
            "label": classes[int(b)] if int(b) < len(classes) else str(int(b)),
            "confidence": float(p[b]),
            "probabilities": [float(x) for x in p],
        }
        for b, p in zip(best, probs, strict=True)
    ]


class ServingRuntime:
    """Everything a serving app holds between requests; see the module docstring."""

    def __init__(
        self,
        specs: Sequence[EndpointSpec],
        loader: Loader,
        *,
        options: ServingOptions | None = None,
        resolver: Resolver | None = None,
        store: Any = None,
    ) -> None:
        if not specs:
            raise InvalidInput("serve at least one model")
        self.options = options or ServingOptions()
        self.metrics = ServingMetrics()
        self.endpoints: dict[str, Endpoint] = {}
        for spec in specs:
            endpoint = Endpoint(spec, loader, self.options.policy, self.metrics)
            if endpoint.name in self.endpoints:
                raise InvalidInput(f"model {endpoint.name!r} is served twice")
            self.endpoints[endpoint.name] = endpoint
        self.resolver = resolver
        self.store = store
        self.deployment = self.options.deployment or next(iter(self.endpoints))
        self.prediction_log = (
            PredictionLogger(
                store,
                self.deployment,
                chunk_rows=self.options.log_chunk_rows,
                flush_seconds=self.options.log_flush_seconds,
            )
            if store is not None and self.options.log_rate > 0
            else None
        )
        self.draining = False
        self.accepted = 0
        self.refused_draining = 0
        self.completed = 0
        # The last requests (variant, outputs, id, time, version, latency), for the live page.
        self.recent: deque[tuple[Variant, Mapping[str, np.ndarray], str, int, int, float]] = deque(
            maxlen=50
        )
        self._random = random.Random()
        self._stop = threading.Event()
        self._shadow_tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        """Requests accepted and not answered yet."""
        return self.metrics.active

    # -- readiness ----------------------------------------------------------------------
    @property
    def variants(self) -> list[Variant]:
        """Every variant of every endpoint."""
        return [v for e in self.endpoints.values() for v in e.variants]

    def readiness(self) -> tuple[bool, str]:
        """Ready to take traffic, and why not."""
        if self.draining:
            return False, "draining: the server is shutting down"
        problems = [v.error or f"{v.ref}: loading" for v in self.variants if not v.ready]
        return (not problems), "; ".join(problems)

    def load_all(self) -> None:
        """Load every variant once (failures are kept as readiness reasons)."""
        for variant in self.variants:
            if not variant.ready:
                variant.load()

    def watch(self) -> None:
        """Background loop: retry failed loads and hot-reload variants whose alias moved."""
        last_reload = last_retry = time.monotonic()
        tick = min(self.options.reload_seconds, self.options.retry_load_seconds, 1.0)
        while not self._stop.wait(tick):
            if time.monotonic() - last_retry >= self.options.retry_load_seconds:
                last_retry = time.monotonic()
                for variant in self.variants:
                    if not variant.ready and variant.error is not None:
                        variant.load()
            if self.resolver is not None and time.monotonic() - last_reload >= (
                self.options.reload_seconds
            ):
                last_reload = time.monotonic()
                for variant in self.variants:
                    if variant.ready:
                        variant.maybe_reload(self.resolver)

    def stop(self) -> None:
        """Stop background loops and flush the prediction log."""
        self._stop.set()
        if self.prediction_log is not None:
            self.prediction_log.close()

    async def close(self) -> None:
        """Wait for shadow calls, stop batchers."""
        if self._shadow_tasks:
            await asyncio.gather(*self._shadow_tasks, return_exceptions=True)
        for variant in self.variants:
            if variant.batcher is not None:
                await variant.batcher.close()

    # -- inference ----------------------------------------------------------------------
    def endpoint(self, name: str) -> Endpoint:
        """The endpoint serving ``name``. Raises ``NotFound``."""
        try:
            return self.endpoints[name]
        except KeyError:
            raise NotFound(
                f"no model {name!r} is served here; served: {sorted(self.endpoints)}"
            ) from None

    def choose(self, name: str, version: int | None = None) -> Variant:
        """The variant that will answer (so the caller can decode against its signature)."""
        endpoint = self.endpoint(name)
        try:
            variant = endpoint.pick(version)
        except LookupError as exc:
            raise NotFound(str(exc)) from None
        if not variant.ready:
            raise NotReady(f"model {name!r} is not ready: {variant.error or 'loading'}")
        return variant

    async def infer(
        self,
        variant: Variant,
        arrays: Mapping[str, np.ndarray],
        *,
        features: Sequence[Mapping[str, Any]] | None = None,
        request_id: str | None = None,
        started: float | None = None,
    ) -> Answer:
        """Validate, batch, answer; mirror to the shadow and log (never blocking)."""
        started = time.perf_counter() if started is None else started
        arrival_ms = int(time.time() * 1000)
        request_id = request_id or os.urandom(16).hex()  # as random as uuid4, cheaper
        inputs = check_inputs(variant.predictor.signature, arrays)
        assert variant.batcher is not None
        try:
            outputs, predictor = await variant.batcher.submit(
                inputs, timeout=self.options.request_timeout_s
            )
        except TimeoutError:
            raise RequestTimeout(
                f"the model did not answer within {self.options.request_timeout_s:g}s"
            ) from None
        latency_ms = (time.perf_counter() - started) * 1000.0
        answer = Answer(request_id, variant, outputs, int(predictor.version))
        endpoint = self.endpoints.get(variant.endpoint)
        shadow = endpoint.shadow if endpoint is not None else None
        sampled = self.prediction_log is not None and self._random.random() < self.options.log_rate
        if shadow is not None and shadow.ready:
            task = asyncio.get_running_loop().create_task(
                self._mirror(shadow, inputs, features, request_id, arrival_ms, sampled)
            )
            self._shadow_tasks.add(task)
            task.add_done_callback(self._shadow_tasks.discard)
        elif sampled:
            self._log(
                variant, inputs, outputs, features, request_id, arrival_ms, latency_ms, predictor
            )
        self._remember(variant, outputs, request_id, latency_ms, answer.version)
        return answer

    async def _mirror(
        self,
        shadow: Variant,
        inputs: Mapping[str, np.ndarray],
        features: Sequence[Mapping[str, Any]] | None,
        request_id: str,
        arrival_ms: int,
        sampled: bool,
    ) -> None:
        started = time.perf_counter()
        try:
            checked = check_inputs(shadow.predictor.signature, inputs)
            assert shadow.batcher is not None
            outputs, predictor = await shadow.batcher.submit(
                checked, timeout=self.options.request_timeout_s
            )
        except Exception as exc:
            logger.info("shadow %s failed: %s", shadow.ref, exc)
            return
        if sampled:
            latency = (time.perf_counter() - started) * 1000.0
            self._log(
                shadow, checked, outputs, features, request_id, arrival_ms, latency, predictor
            )

    def _log(
        self,
        variant: Variant,
        inputs: Mapping[str, np.ndarray],
        outputs: Mapping[str, np.ndarray],
        features: Sequence[Mapping[str, Any]] | None,
        request_id: str,
        arrival_ms: int,
        latency_ms: float,
        predictor: Any,
    ) -> None:
        assert self.prediction_log is not None
        labels = classify(variant, outputs)
        rows = int(next(iter(outputs.values())).shape[0])
        tensor = None if features else next(iter(inputs.values()))
        for i in range(rows):
            row_id = request_id if rows == 1 else f"{request_id}.{i}"
            if labels:
                prediction, confidence = labels[i]["label"], labels[i]["confidence"]
                probabilities = labels[i]["probabilities"]
            else:
                prediction = json.dumps({k: np.asarray(v[i]).tolist() for k, v in outputs.items()})
                confidence, probabilities = None, None
            self.prediction_log.log(
                PredictionRecord(
                    request_id=row_id,
                    ts_ms=arrival_ms,
                    deployment=self.deployment,
                    model=variant.name,
                    version=int(predictor.version),
                    variant=variant.role,
                    latency_ms=latency_ms,
                    prediction=prediction,
                    confidence=confidence,
                    probabilities=probabilities,
                    features=features[i] if features else None,
                    tensor=None if tensor is None or len(inputs) != 1 else np.array(tensor[i]),
                )
            )
        self.metrics.logged.labels(variant.name).inc(rows)

    def _remember(
        self,
        variant: Variant,
        outputs: Mapping[str, np.ndarray],
        request_id: str,
        ms: float,
        version: int,
    ) -> None:
        """Keep the request for the live page; its label is worked out only when read."""
        self.recent.appendleft(
            (variant, outputs, request_id, int(time.time() * 1000), version, round(ms, 2))
        )

    @staticmethod
    def _recent_entry(
        kept: tuple[Variant, Mapping[str, np.ndarray], str, int, int, float],
    ) -> dict[str, Any]:
        variant, outputs, request_id, ts_ms, version, ms = kept
        first_rows = {k: v[:1] for k, v in outputs.items()}
        labels = classify(variant, first_rows)
        first = labels[0] if labels else None
        return {
            "request_id": request_id,
            "ts_ms": ts_ms,
            "model": variant.name,
            "version": version,
            "variant": variant.role,
            "latency_ms": ms,
            "prediction": first["label"] if first else "",
            "confidence": round(first["confidence"], 4) if first else None,
        }

    # -- snapshots ----------------------------------------------------------------------
    def describe_models(self) -> list[dict[str, Any]]:
        """One entry per variant (for the deployment record)."""
        return [v.describe() for v in self.variants]

    def live_metrics(self) -> dict[str, Any]:
        """Request figures, queues and batch targets, and the most recent predictions."""
        snapshot: dict[str, Any] = dict(self.metrics.snapshot())
        for variant in self.variants:
            if variant.batcher is not None:
                key = f"{variant.name}.{variant.role}"
                self.metrics.queue_depth.labels(variant.name, variant.role).set(
                    variant.batcher.queued_rows
                )
                snapshot[f"queue_rows.{key}"] = variant.batcher.queued_rows
                snapshot[f"batch_target.{key}"] = round(variant.batcher.target, 1)
                stats = variant.batcher.stats
                if stats.batches:
                    snapshot[f"mean_batch.{key}"] = round(stats.rows / stats.batches, 2)
        if self.prediction_log is not None:
            snapshot["logged"] = self.prediction_log.stats.logged
            snapshot["log_dropped"] = self.prediction_log.stats.dropped
        snapshot["recent"] = [self._recent_entry(kept) for kept in list(self.recent)[:20]]
        return snapshot
