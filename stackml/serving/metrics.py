"""Prometheus metrics of a serving process, and the live snapshot its heartbeat reports."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ServingMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def _none() -> int:
    return 0


class ServingMetrics:
    """Counters and histograms on a private registry (one per app, so tests do not collide)."""

    def __init__(self, window_seconds: float = 60.0) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "stackml_serving_requests",
            "Requests answered, by model, route and HTTP status code",
            ["model", "route", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "stackml_serving_request_latency_seconds",
            "Time from a request's arrival to its answer",
            ["model", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "stackml_serving_batch_size_rows",
            "Rows per model call",
            ["model", "variant"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "stackml_serving_queue_depth_rows",
            "Rows waiting in a model's queue",
            ["model", "variant"],
            registry=self.registry,
        )
        self.batch_target = Gauge(
            "stackml_serving_batch_target_rows",
            "Current adaptive batch size target",
            ["model", "variant"],
            registry=self.registry,
        )
        self.load_seconds = Gauge(
            "stackml_serving_model_load_seconds",
            "Seconds the last load (and warm-up) of a model version took",
            ["model", "variant", "version"],
            registry=self.registry,
        )
        self.logged = Counter(
            "stackml_serving_predictions_logged",
            "Predictions handed to the prediction log",
            ["model"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "stackml_serving_in_flight_requests", "Requests being answered", registry=self.registry
        )
        self.in_flight.set_function(lambda: self.active)  # read at scrape time
        self._window = window_seconds
        self._recent: deque[tuple[float, float, int]] = deque(maxlen=20_000)
        self._lock = threading.Lock()
        self.total = 0
        self.errors = 0
        #: Requests accepted and not answered yet (the gauge's value, read without its lock).
        self.active = 0
        #: Open client connections, where the server that owns the sockets tells (else 0).
        self.connections: Callable[[], int] = _none
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    def observe(self, model: str, route: str, code: int, seconds: float) -> None:
        """Record one answered request."""
        counter = self._counters.get((model, route, code))
        if counter is None:  # label lookups cost more than the increment: keep the children
            counter = self._counters[(model, route, code)] = self.requests.labels(
                model, route, str(code)
            )
        counter.inc()
        if model:
            histogram = self._histograms.get((model, route))
            if histogram is None:
                histogram = self._histograms[(model, route)] = self.latency.labels(model, route)
            histogram.observe(seconds)
        with self._lock:
            self.total += 1
            self.errors += code >= 500
            self._recent.append((time.monotonic(), seconds, code))

    def snapshot(self) -> dict[str, float]:
        """Live figures over the last minute: rate, error rate and latency percentiles."""
        now = time.monotonic()
        with self._lock:
            recent = [(t, s, c) for t, s, c in self._recent if now - t <= self._window]
            total, errors = self.total, self.errors
        out: dict[str, float] = {"requests_total": total, "errors_total": errors}
        if recent:
            span = max(1.0, min(self._window, now - recent[0][0]))
            latencies = np.array([s for _, s, _ in recent]) * 1000.0
            out["requests_per_s"] = round(len(recent) / span, 2)
            out["error_rate"] = round(sum(c >= 500 for _, _, c in recent) / len(recent), 4)
            out["p50_ms"] = round(float(np.percentile(latencies, 50)), 2)
            out["p99_ms"] = round(float(np.percentile(latencies, 99)), 2)
        return out
