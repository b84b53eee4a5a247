"""Stage ``monitoring``: watch production traffic, detect drift, alert, route to labeling.

Two scenarios:

* **digits** - the deployment's traffic (the ``serving`` stage's logs when it logged any,
  otherwise logged here through :func:`stackml.serving.logs.write_chunk`, exactly as
  ``stackml serve`` logs) is clean validation digits, then the shifted "production" digits
  (rotated up to ±20° and blurred; the pool half of the shifted test set, the other half is
  the holdout never routed). The monitor compares pixel statistics, model embeddings and the
  prediction distribution with the training reference, fires an alert to a log file, and
  routes the least confident drifted predictions to the ``digits-flywheel`` label queue.
* **tabular** - breast-cancer records, with a covariate shift in two columns for the later
  part of the traffic; the reference is the dataset version's stored schema statistics.
  Per-feature drift (KS + Wasserstein, Benjamini-Hochberg corrected) flags exactly the
  shifted columns and an alert fires.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.quickstart.stage import Stage, StageResult

if TYPE_CHECKING:
    from stackml.quickstart.context import QuickstartContext
    from stackml.store import Store

__all__ = ["MonitoringStage", "digits_model", "production_split"]

DEPLOYMENT = "digits-prod"
MONITOR = "digits-prod"
PROJECT = "digits-flywheel"
TABULAR_DEPLOYMENT = "cancer-prod"
TABULAR_MONITOR = "cancer-drift"
SHIFTED_COLUMNS = ("mean radius", "worst texture")
BUDGET = 60
T0 = 1_750_000_000_000


def production_split(ctx: QuickstartContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shifted test digits and the (pool, holdout) indices the labeling stage uses too."""
    from stackml.quickstart.stages.labeling import shift_digits

    digits = ctx.digits()
    shifted = shift_digits(digits.x_test, ctx.seed)
    order = np.random.default_rng(ctx.seed).permutation(len(shifted))
    return shifted, order[: len(order) // 2], order[len(order) // 2 :]


class _Centroids:
    """A nearest-centroid classifier: the model when no registered CNN is at hand."""

    name = "nearest-centroid"

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.centroids = np.stack([x[y == c].mean(axis=0) for c in range(10)])

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        d = ((x.reshape(len(x), -1)[:, None, :] - self.centroids[None]) ** 2).sum(-1)
        s = -d / d.std()
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    embed = None


class _Registered:
    """The registered fp32 CNN: probabilities and penultimate-layer embeddings."""

    def __init__(self, predictor: Any, ref: str) -> None:
        self.predictor, self.name = predictor, ref

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        out = self.predictor.predict(x.reshape(-1, 1, 8, 8).astype(np.float32))
        scores = np.asarray(out[self.predictor.signature.probabilities or next(iter(out))])
        if np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3):
            return scores
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def embed(self, x: np.ndarray) -> np.ndarray:
        batch = x.reshape(-1, 1, 8, 8).astype(np.float32)
        try:
            return np.asarray(self.predictor.embed(batch))
        except NotImplementedError:
            module = self.predictor.module
            return _penultimate(getattr(module, "model", module), batch)


def _penultimate(module: Any, batch: np.ndarray) -> np.ndarray:
    """The input of the network's last linear layer (nested ``nn.Sequential`` flattened)."""
    import torch
    from torch import nn

    def leaves(m: Any) -> list[Any]:
        return [x for c in m for x in leaves(c)] if isinstance(m, nn.Sequential) else [m]

    layers = leaves(module)
    while layers and not isinstance(layers[-1], nn.Linear):
        layers.pop()
    body = nn.Sequential(*layers[:-1]).eval()
    with torch.no_grad():
        return body(torch.from_numpy(batch)).reshape(len(batch), -1).numpy()


def digits_model(ctx: QuickstartContext) -> Any:
    """The production model: the registry's fp32 CNN, else a nearest-centroid classifier."""
    registry = ctx.results.get("registry")
    if registry is not None and registry.details.get("fp32"):
        import stackml.registry as reg

        ref = registry.details["fp32"]
        return _Registered(reg.load(ref, store=ctx.store), ref)
    digits = ctx.digits()
    return _Centroids(digits.x_train, digits.y_train)


def _log_traffic(store: Store, deployment: str, rows: list[dict[str, Any]], model: str) -> None:
    from stackml.serving.logs import PredictionRecord, write_chunk

    records = [
        PredictionRecord(
            request_id=r["id"],
            ts_ms=r["ts"],
            deployment=deployment,
            model=model,
            version=1,
            variant="primary",
            latency_ms=r.get("latency", 3.0),
            prediction=r["prediction"],
            confidence=r.get("confidence"),
            probabilities=r.get("probabilities"),
            features=r.get("features"),
            tensor=r.get("tensor"),
        )
        for r in rows
    ]
    for start in range(0, len(records), 100):  # chunks, as the serving logger writes them
        write_chunk(store, deployment, records[start : start + 100])


def _ensure_project(store: Store) -> None:
    import stackml.labeling as sl
    from stackml.errors import NotFound

    try:
        store.metadata.get_label_project(PROJECT)
    except NotFound:
        sl.create_project(
            PROJECT,
            "image_classification",
            [{"name": str(c), "hotkey": str(c)} for c in range(10)],
            instructions="Type the digit you see (0-9), then n. Skip unreadable images with s.",
            description="Drifted, low-confidence production digits routed by monitoring",
            store=store,
        )


class MonitoringStage(Stage):
    """Drift on logged traffic, alerts to a log file, and routing to a label queue."""

    name = "monitoring"
    title = "Monitor production: drift, alerts, route to labeling"

    def run(self, ctx: QuickstartContext) -> StageResult:
        store = ctx.store
        folder = ctx.output_dir("monitoring")
        alerts_path = folder / "alerts.jsonl"
        digits = self._digits(ctx, store, str(alerts_path))
        tab = self._tabular(ctx, store, str(alerts_path))
        truth_path = folder / "routed-truth.json"
        truth_path.write_text(json.dumps(digits["truth"], sort_keys=True))
        alerts = store.metadata.list_alert_events(limit=100)
        shifted_windows = [w for w in digits["windows"] if w.start_ms >= digits["shift_start"]]
        detected = {c.feature for w in shifted_windows for c in w.checks if c.drifted}
        ctx.note(f"alerts written to {alerts_path}")
        return StageResult(
            headline=(
                f"digits drift on {', '.join(sorted(detected)) or 'nothing'}; "
                f"{len(digits['routed'])} routed to {PROJECT}; tabular drift on "
                f"{', '.join(tab['drifted']) or 'nothing'}; {len(alerts)} alerts"
            ),
            metrics={
                "routed": float(len(digits["routed"])),
                "alerts": float(len(alerts)),
                "clean_windows_drifted": float(digits["clean_drifted"]),
                "tabular_drifted_features": float(len(tab["drifted"])),
            },
            details={
                "label_project": PROJECT,
                "truth": str(truth_path),
                "monitor": MONITOR,
                "deployment": digits["deployment"],
                "tabular_monitor": TABULAR_MONITOR,
                "alerts_log": str(alerts_path),
                "model": digits["model"],
                "drifted": ",".join(sorted(detected)),
                "tabular_drifted": ",".join(tab["drifted"]),
            },
        )

    def _digits(self, ctx: QuickstartContext, store: Store, alerts: str) -> dict[str, Any]:
        import stackml.monitoring as mon

        digits = ctx.digits()
        shifted, pool, _ = production_split(ctx)
        model = digits_model(ctx)
        serving = ctx.results.get("serving")
        deployment = serving.details.get("deployment", DEPLOYMENT) if serving else DEPLOYMENT
        logged = store.metadata.list_prediction_chunks(deployment)
        truth_by_id: dict[str, str] = {}
        if serving is not None and serving.details.get("truth"):
            from pathlib import Path

            truth_by_id.update(json.loads(Path(serving.details["truth"]).read_text()))
        clean_x = digits.x_val
        shift_start = T0 + len(clean_x) * 1000
        if not logged:
            ctx.note(
                f"logging {len(clean_x)} clean and {len(pool)} shifted requests to {deployment}"
            )
            traffic = [
                (f"clean-{i}", clean_x[i], str(int(digits.y_val[i]))) for i in range(len(clean_x))
            ]
            traffic += [(f"prod-{i}", shifted[i], str(int(digits.y_test[i]))) for i in pool]
            xs = np.stack([t[1] for t in traffic])
            probs = model.probabilities(xs)
            rows = []
            for k, ((rid, x, label), p) in enumerate(zip(traffic, probs, strict=True)):
                truth_by_id[rid] = label
                rows.append(
                    {
                        "id": rid,
                        "ts": T0 + k * 1000,
                        "prediction": str(int(p.argmax())),
                        "confidence": float(p.max()),
                        "probabilities": p.astype(np.float32).tolist(),
                        "tensor": x.reshape(8, 8).astype(np.float32),
                    }
                )
            _log_traffic(store, deployment, rows, model.name)
        from stackml.serving.logs import read_predictions

        # Clean traffic came first: the shift starts at the first request after it.
        times = read_predictions(store, deployment).column("ts_ms").to_numpy()
        if len(times) > len(clean_x):
            shift_start = int(times[len(clean_x)])
        ctx.note("sketching the training reference: pixels, embeddings, predictions")
        train_images = digits.x_train.reshape(-1, 8, 8)
        # Model outputs on clean held-out digits (the clean test split, never served as is).
        held_out_probs = model.probabilities(digits.x_test)
        reference = mon.Reference(
            predictions=mon.CategoricalReference.from_values(
                "prediction", [str(int(v)) for v in held_out_probs.argmax(1)]
            ),
            images=mon.ImageReference.from_images(train_images),
            embeddings=(
                mon.EmbeddingReference.from_embeddings(model.embed(digits.x_train))
                if model.embed is not None
                else None
            ),
            source="digits training split",
            confidence=mon.NumericReference.from_values("confidence", held_out_probs.max(axis=1)),
        )
        spec = {
            "window": {"kind": "count", "size": 150},
            "categorical_tests": ["chi2", "jensen_shannon"],
            "rules": [
                {
                    "name": "pixel-drift",
                    "statistic": "image.drifted",
                    "op": ">=",
                    "threshold": 1,
                    "cooldown_s": 3600,
                    "severity": "critical",
                },
                {
                    "name": "prediction-drift",
                    "statistic": "prediction.drifted",
                    "op": ">=",
                    "threshold": 1,
                    "cooldown_s": 3600,
                },
            ],
            "notifiers": [{"type": "log", "path": alerts, "name": "alerts-log"}],
            "routing": {
                "image_range": [0, 16],
                "project": PROJECT,
                "confidence_below": 0.9,
                "budget": BUDGET,
                "drifted_slices": False,
            },
        }
        _ensure_project(store)
        self._recreate(store, MONITOR)
        mon.create_monitor(MONITOR, deployment, reference=reference, spec=spec, store=store)
        embedder = model.embed if model.embed is not None else None
        ctx.note("evaluating windows: pixel statistics, embeddings (MMD), predictions")
        summary = mon.run_monitor(MONITOR, store=store, embedder=embedder, include_partial=True)
        routed = [c.request_id for c, _ in summary.routed]
        clean_drifted = sum(
            1
            for w in summary.windows
            if w.end_ms <= shift_start and any(c.drifted for c in w.checks)
        )
        truth = {}
        for rid in routed:
            if rid in truth_by_id:
                truth[rid] = truth_by_id[rid]
            elif rid.startswith("prod-"):
                truth[rid] = str(int(digits.y_test[int(rid[5:])]))
        return {
            "windows": summary.windows,
            "routed": routed,
            "truth": truth,
            "shift_start": shift_start,
            "clean_drifted": clean_drifted,
            "deployment": deployment,
            "model": model.name,
        }

    def _recreate(self, store: Store, name: str) -> None:
        from stackml.errors import NotFound

        with contextlib.suppress(NotFound):
            store.metadata.delete_monitor(name)

    def _tabular(self, ctx: QuickstartContext, store: Store, alerts: str) -> dict[str, Any]:
        from sklearn.datasets import load_breast_cancer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        import stackml.data as sd
        import stackml.monitoring as mon

        data = load_breast_cancer(as_frame=True)
        frame = data.frame.sample(frac=1.0, random_state=ctx.seed).reset_index(drop=True)
        features = list(data.feature_names)
        ref, cur = frame.iloc[:300], frame.iloc[300:].copy()
        ctx.note("breast-cancer: versioning the reference, logging shifted records")
        version = sd.add("breast-cancer", ref, message="reference for the drift demo", store=store)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
        model.fit(ref[features], ref["target"])
        half = len(cur) // 3
        for column, scale in zip(SHIFTED_COLUMNS, (1.5, 1.2), strict=True):
            cur.loc[cur.index[half:], column] += scale * ref[column].std()
        probs = model.predict_proba(cur[features])
        rows = [
            {
                "id": f"cancer-{i}",
                "ts": T0 + i * 1000,
                "prediction": str(int(p.argmax())),
                "confidence": float(p.max()),
                "features": {f: float(cur[f].iloc[i]) for f in features},
            }
            for i, p in enumerate(probs)
        ]
        if not store.metadata.list_prediction_chunks(TABULAR_DEPLOYMENT):
            _log_traffic(store, TABULAR_DEPLOYMENT, rows, "cancer-logreg")
        spec = {
            "window": {"kind": "count", "size": half},
            "rules": [
                {
                    "name": "feature-drift",
                    "statistic": "drift_share",
                    "op": ">",
                    "threshold": 0.0,
                    "cooldown_s": 3600,
                }
            ],
            "notifiers": [{"type": "log", "path": alerts, "name": "alerts-log"}],
        }
        self._recreate(store, TABULAR_MONITOR)
        mon.create_monitor(
            TABULAR_MONITOR,
            TABULAR_DEPLOYMENT,
            dataset=f"breast-cancer@{version.id}",
            label="target",
            spec=spec,
            store=store,
        )
        summary = mon.run_monitor(TABULAR_MONITOR, store=store, include_partial=True)
        drifted = sorted({f for w in summary.windows for f in w.drifted_features})
        self._print(summary)
        return {"drifted": drifted, "windows": summary.windows}

    def _print(self, summary: Any) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="breast-cancer drift per window (KS, BH-corrected)")
        table.add_column("window")
        table.add_column("rows", justify="right")
        table.add_column("drifted features")
        table.add_column("drift share", justify="right")
        for i, w in enumerate(summary.windows):
            table.add_row(
                str(i + 1),
                str(w.rows),
                ", ".join(w.drifted_features) or "-",
                f"{w.stats['drift_share']:.2f}",
            )
        Console().print(table)
