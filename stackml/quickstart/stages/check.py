"""Stage ``check``: the ML Test Score gate guards the promotion of the registry's candidate.

It writes the quickstart project's ``stackml-checks.yaml`` (next to its ``.stackml``), records
two pieces of real evidence the rubric reads — an occlusion ablation of the image regions
(data-2) and per-digit slice accuracy of the candidate (model-6) — adds the
``ml-test-score`` gate to the ``production`` gates the registry stage configured, prints the
scorecard and promotes the candidate through every gate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.quickstart.stage import Stage, StageResult
from stackml.quickstart.stages.baseline import PROJECT, STAGE_TAG

if TYPE_CHECKING:
    from stackml.quickstart.context import QuickstartContext

__all__ = ["CHECKS_YAML", "GATE_MIN_SCORE", "CheckStage"]

#: The first promotion needs a "first pass at production"; the final model must do better.
GATE_MIN_SCORE = 1.0

CHECKS_YAML = """\
# ML Test Score settings of the quickstart project.
min_score: 1
disallowed_features: [writer_id, collection_site]   # must never reach the model
pii_columns: [annotator_email]                      # personal data, kept out of inputs
slice_thresholds: {accuracy: 0.8}                   # every digit at least 80 % right
max_model_age_days: 30
"""

_REGIONS = {"top-left": (0, 0), "top-right": (0, 4), "bottom-left": (4, 0), "bottom-right": (4, 4)}


def _labels(predictor: Any, x: np.ndarray) -> np.ndarray:
    from stackml.registry.compare import predicted_labels

    return np.asarray(predicted_labels(predictor, x))


class CheckStage(Stage):
    """Record slice and ablation evidence, print the ML Test Score, promote through the gate."""

    name = "check"
    title = "ML Test Score: evidence, scorecard and the production gate"

    def run(self, ctx: QuickstartContext) -> StageResult:
        from rich.console import Console

        import stackml
        from stackml.checks import check
        from stackml.checks.report import to_rich
        from stackml.errors import Conflict
        from stackml.registry import load, promote, set_gates

        registry = ctx.results.get("registry")
        if registry is None:
            raise Conflict("the check stage needs the registry stage to run first")
        store = ctx.store
        model, candidate = registry.details["model"], registry.details["candidate"]
        (ctx.workdir / "stackml-checks.yaml").write_text(CHECKS_YAML, encoding="utf-8")

        digits = ctx.digits()
        x = digits.x_test.reshape(-1, 1, 8, 8).astype(np.float32)
        y = np.asarray(digits.y_test).astype(str)
        predictor = load(candidate, store=store)
        version = store.metadata.get_model_version(predictor.name, predictor.version)

        ctx.note("measuring accuracy per digit (slices) on the test split")
        labels = _labels(predictor, x)
        slices = {
            f"slice/digit:{d}/accuracy": float(np.mean(labels[y == d] == d))
            for d in sorted(set(y.tolist()))
        }
        run = stackml.get_run(version.run_id, tracking_uri=ctx.tracking_uri)
        store.metadata.log_metrics(run.id, _points(slices))

        ctx.note("ablation: occluding each image quadrant")
        base = float(np.mean(labels == y))
        with stackml.start_run(
            project=PROJECT,
            name=f"occlusion ablation of {candidate}",
            tags={"stackml.purpose": "ablation", STAGE_TAG: self.name},
            params={"model": candidate, "method": "occlude 4x4 quadrant with 0"},
            tracking_uri=ctx.tracking_uri,
            capture_environment=False,
        ) as ablation:
            drops = {}
            for region, (r, c) in _REGIONS.items():
                occluded = x.copy()
                occluded[:, :, r : r + 4, c : c + 4] = 0.0
                drops[f"ablation/{region}/accuracy_drop"] = base - float(
                    np.mean(_labels(predictor, occluded) == y)
                )
            ablation.log_metrics(drops)

        gates = list(store.metadata.get_registered_model(model).gates.get("production", []))
        gate = f"ml-test-score:{GATE_MIN_SCORE:g}"
        set_gates(
            model, [*[g for g in gates if not g.startswith("ml-test-score")], gate], store=store
        )
        card = check(candidate, store=store)
        Console().print(to_rich(card))
        event = promote(
            candidate,
            reason="quickstart: passed the production gates",
            author="quickstart",
            store=store,
        )
        worst = min(drops, key=lambda k: -drops[k]).split("/")[1]
        return StageResult(
            headline=(
                f"{candidate} scores {card.score:g} ({card.band}); promoted to production "
                f"through {len(gates) + 1} gates; most important region: {worst}"
            ),
            metrics={
                "ml_test_score": card.score,
                **{f"section_{k}": v for k, v in card.sections.items()},
            },
            run_ids=[ablation.id],
            details={
                "model": model,
                "production": f"{model}@{event.version}",
                "gates": ", ".join([*gates, gate]),
                "band": card.band,
            },
        )


def _points(values: dict[str, float]) -> list[Any]:
    from stackml._internal.timeutil import now_ms
    from stackml.store.entities import MetricPoint

    stamp = now_ms()
    return [MetricPoint(k, v, 0, stamp) for k, v in values.items()]


class ReadinessStage(Stage):
    """Canary the retrained model beside the one it replaces, then score production.

    The model the flywheel promoted serves 30% of a short burst of traffic (clean and shifted
    digits) as a canary beside the version production pointed at before, every prediction
    logged under the deployment ``digits-canary``; its per-digit accuracy on the test split is
    recorded as slice metrics. Then the ML Test Score of the production model is printed.
    """

    name = "readiness"
    title = "Canary of the retrained model, then the ML Test Score of production"
    canary_share = 0.3

    def run(self, ctx: QuickstartContext) -> StageResult:
        from rich.console import Console

        from stackml.checks import check
        from stackml.checks.report import to_rich
        from stackml.errors import Conflict
        from stackml.registry import load

        gated = ctx.results.get("check")
        if gated is None:
            raise Conflict("the readiness stage needs the check stage to run first")
        store = ctx.store
        model = gated.details["model"]
        production = store.metadata.get_model_alias(model, "production")
        ref = f"{model}@{production}"
        before = gated.details["production"]
        canary = {}
        if before != ref:
            ctx.note(f"canary: {ref} takes {self.canary_share:.0%} of traffic beside {before}")
            canary = self._canary(ctx, before, ref)
        digits = ctx.digits()
        x = digits.x_test.reshape(-1, 1, 8, 8).astype(np.float32)
        y = np.asarray(digits.y_test).astype(str)
        predictor = load(ref, store=store)
        labels = _labels(predictor, x)
        slices = {
            f"slice/digit:{d}/accuracy": float(np.mean(labels[y == d] == d))
            for d in sorted(set(y.tolist()))
        }
        version = store.metadata.get_model_version(model, production)
        store.metadata.log_metrics(version.run_id, _points(slices))
        card = check(ref, store=store)
        Console().print(to_rich(card))
        missing = [r.test.id for r in card.results if r.score == 0]
        return StageResult(
            headline=f"{ref} in production scores {card.score:g} ({card.band})"
            + (f"; canary served {canary['canary']} of {canary['total']}" if canary else ""),
            metrics={
                "ml_test_score": card.score,
                **{f"section_{k}": v for k, v in card.sections.items()},
            },
            details={"model": ref, "band": card.band, "without_evidence": ", ".join(missing)},
        )

    def _canary(self, ctx: QuickstartContext, primary: str, candidate: str) -> dict[str, Any]:
        import asyncio

        from stackml.quickstart.stages.monitoring import production_split
        from stackml.quickstart.stages.serving import _free_port, _send, _wait_ready
        from stackml.serving import (
            BatchPolicy,
            EndpointSpec,
            ServingOptions,
            ServingServer,
            registry_loader,
        )

        digits = ctx.digits()
        shifted, pool, _ = production_split(ctx)
        traffic = [(digits.x_val[i], int(digits.y_val[i]), "clean") for i in range(100)]
        traffic += [(shifted[i], int(digits.y_test[i]), "shifted") for i in pool[:100]]
        loader, resolver = registry_loader(ctx.store)
        options = ServingOptions(
            policy=BatchPolicy(max_batch_rows=32, max_wait_ms=2.0, slo_ms=50.0),
            deployment="digits-canary",
            heartbeat_seconds=1.0,
            log_flush_seconds=0.5,
        )
        server = ServingServer(
            [EndpointSpec(primary, canary=candidate, canary_weight=self.canary_share)],
            loader,
            options=options,
            resolver=resolver,
            store=ctx.store,
            port=_free_port(),
        )
        server.start_in_thread()
        try:
            _wait_ready(server.url)
            endpoint = server.runtime.endpoints[primary.split("@")[0]].primary
            spec = endpoint.predictor.signature.input()
            answers = asyncio.run(_send(server.url, spec.name, (1, *spec.shape[1:]), traffic))
        finally:
            server.stop()
        logged = ctx.store.metadata.list_prediction_chunks("digits-canary")
        return {
            "total": len(answers),
            "canary": f"~{self.canary_share:.0%}",
            "logged": sum(c.num_rows for c in logged),
        }
