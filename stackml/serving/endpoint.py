"""Endpoints and their variants: which model versions answer a model name, and how traffic
splits between them (primary, canary, shadow).

A :class:`Variant` loads its predictor from a registry ref, warms it up and may be reloaded
when the ref's alias moves (:meth:`Variant.maybe_reload`); its batcher swaps predictors
between batches, so a reload drops no request.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from stackml.errors import InvalidInput
from stackml.registry.runtime import Predictor
from stackml.serving.batching import AdaptiveBatcher, BatchPolicy
from stackml.serving.metrics import ServingMetrics

__all__ = ["Endpoint", "EndpointSpec", "Loader", "Resolver", "Variant", "parse_weighted"]

logger = logging.getLogger(__name__)

#: Loads a predictor for a registry ref (``NAME@ALIAS``, ``NAME@N`` or ``NAME``).
Loader = Callable[[str], Predictor]
#: Says which ``(name, version)`` a ref points at now (cheap; polled for hot reload).
Resolver = Callable[[str], tuple[str, int]]


@dataclass(frozen=True)
class EndpointSpec:
    """What one endpoint serves: a primary ref, optionally a canary share and a shadow."""

    ref: str
    canary: str | None = None
    canary_weight: float = 0.0
    shadow: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.canary_weight <= 1.0:
            raise InvalidInput(f"canary weight {self.canary_weight} must be between 0 and 1")
        if self.canary is None and self.canary_weight:
            raise InvalidInput("a canary weight needs a canary model")


def model_name(ref: str) -> str:
    """The registered model name of a ref."""
    return ref.split("@", 1)[0]


def parse_weighted(text: str, default: float = 0.1) -> tuple[str, float]:
    """``digits@candidate:0.1`` → ``("digits@candidate", 0.1)``."""
    ref, sep, weight = text.rpartition(":")
    if not sep:
        return text, default
    try:
        value = float(weight)
    except ValueError as exc:
        raise InvalidInput(f"{text!r}: the weight after ':' must be a number") from exc
    if not 0 < value <= 1:
        raise InvalidInput(f"{text!r}: the weight must be in (0, 1]")
    return ref, value


class Variant:
    """One model version behind an endpoint: its predictor, batcher and load state."""

    def __init__(
        self,
        ref: str,
        role: str,
        weight: float,
        loader: Loader,
        policy: BatchPolicy,
        metrics: ServingMetrics,
    ) -> None:
        self.ref = ref
        self.role = role
        self.weight = weight
        self.loader = loader
        self.policy = policy
        self.metrics = metrics
        self.batcher: AdaptiveBatcher | None = None
        self.error: str | None = None
        self.version = 0
        self.name = model_name(ref)
        #: The endpoint (model name in the URL) this variant answers for.
        self.endpoint = self.name
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """Loaded and warmed up."""
        return self.batcher is not None

    @property
    def predictor(self) -> Predictor:
        """The predictor answering now."""
        assert self.batcher is not None, "variant not loaded"
        return self.batcher.predictor

    def load(self) -> bool:
        """Load and warm up the ref; on failure keep the old predictor and the reason."""
        started = time.perf_counter()
        try:
            predictor = self.loader(self.ref)
            predictor.warm_up()
        except Exception as exc:
            self.error = f"{self.ref}: {type(exc).__name__}: {exc}"
            logger.error("could not load %s", self.error)
            return False
        seconds = time.perf_counter() - started
        with self._lock:
            if self.batcher is None:
                self.batcher = AdaptiveBatcher(
                    predictor,
                    self.policy,
                    on_batch=self._on_batch,
                    outstanding=self._outstanding,
                )
            else:
                self.batcher.swap(predictor)
            self.version = int(predictor.version)
            self.name = predictor.name or self.name
            self.error = None
        self.metrics.load_seconds.labels(self.name, self.role, str(self.version)).set(seconds)
        logger.info("loaded %s (version %s) in %.2fs", self.ref, self.version, seconds)
        return True

    def maybe_reload(self, resolver: Resolver) -> bool:
        """Reload when the ref now points at another version; ``True`` when it did."""
        try:
            _, version = resolver(self.ref)
        except Exception as exc:
            logger.warning("could not resolve %s: %s", self.ref, exc)
            return False
        if self.ready and version == self.version:
            return False
        return self.load()

    def _outstanding(self) -> int:
        """Requests that could join a batch: those the server holds, or one per open
        connection where the server tells (a keep-alive client's next request is on its way)."""
        return max(self.metrics.active, self.metrics.connections())

    def _on_batch(self, rows: int, oldest_ms: float) -> None:
        self.metrics.batch_size.labels(self.name, self.role).observe(rows)
        if self.batcher is not None:
            self.metrics.batch_target.labels(self.name, self.role).set(self.batcher.target)

    def describe(self) -> dict[str, object]:
        """A JSON-friendly summary (for the deployment record)."""
        return {
            "ref": self.ref,
            "name": self.name,
            "version": self.version,
            "variant": self.role,
            "weight": self.weight,
            "ready": self.ready,
            "error": self.error,
        }


class Endpoint:
    """A model name and the variants answering it."""

    def __init__(
        self, spec: EndpointSpec, loader: Loader, policy: BatchPolicy, metrics: ServingMetrics
    ) -> None:
        self.spec = spec
        self.name = model_name(spec.ref)
        primary_weight = 1.0 - (spec.canary_weight if spec.canary else 0.0)
        self.primary = Variant(spec.ref, "primary", primary_weight, loader, policy, metrics)
        self.canary = (
            Variant(spec.canary, "canary", spec.canary_weight, loader, policy, metrics)
            if spec.canary
            else None
        )
        self.shadow = (
            Variant(spec.shadow, "shadow", 0.0, loader, policy, metrics) if spec.shadow else None
        )
        for variant in self.variants:
            variant.endpoint = self.name
        self._random = random.Random()

    @property
    def variants(self) -> list[Variant]:
        """Every variant, primary first."""
        return [v for v in (self.primary, self.canary, self.shadow) if v is not None]

    @property
    def ready(self) -> bool:
        """Every variant loaded."""
        return all(v.ready for v in self.variants)

    def pick(self, version: int | None = None) -> Variant:
        """The variant answering a request: by version when asked, else by traffic split."""
        if version is not None:
            for variant in (self.primary, self.canary):
                if variant is not None and variant.ready and variant.version == version:
                    return variant
            raise LookupError(f"model {self.name!r} serves no version {version}")
        canary = self.canary
        if canary is not None and canary.ready and self._random.random() < canary.weight:
            return canary
        return self.primary
