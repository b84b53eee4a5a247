"""Stage ``pipeline``: data preparation → training → evaluation as a cached pipeline.

The pipeline reads the breast-cancer table the ``datasets`` stage versioned, standardises it,
fits a logistic regression and evaluates it on the test split. Each step's outputs are
content-addressed blobs, so the stage runs the pipeline twice: a second regularisation
strength reruns training and evaluation while the preparation comes from the cache. A second
quickstart in the same folder finds every unchanged step in the cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.errors import StackmlError
from stackml.pipelines import current_store, dataset, pipeline, step
from stackml.quickstart.stage import Stage, StageResult
from stackml.quickstart.stages.datasets import TABULAR

if TYPE_CHECKING:
    from stackml.quickstart.context import QuickstartContext
    from stackml.store.datasets_base import DatasetVersion

PROJECT = "digits"
LABEL = "target"


@step(outputs=("x_train", "y_train", "x_test", "y_test"))
def prepare(version: DatasetVersion) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split the table by its stored splits and standardise with the training statistics."""
    from stackml.data.handle import DatasetHandle

    handle = DatasetHandle(current_store(), version)
    train, test = handle.to_pandas("train"), handle.to_pandas("test")
    features = [c for c in train.columns if c not in {LABEL, "id", "split"}]
    x_train = train[features].to_numpy(dtype=np.float64)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-9
    x_test = test[features].to_numpy(dtype=np.float64)
    print(f"prepared {len(train)} training and {len(test)} test rows, {len(features)} features")
    return (
        (x_train - mean) / std,
        train[LABEL].to_numpy(dtype=np.int64),
        (x_test - mean) / std,
        test[LABEL].to_numpy(dtype=np.int64),
    )


@step
def train(x_train: np.ndarray, y_train: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Fit a logistic regression; the weights (intercept last) are the output."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=500).fit(x_train, y_train)
    print(f"trained with C={c}: {model.n_iter_[0]} iterations")
    return np.concatenate([model.coef_[0], model.intercept_])


@step
def evaluate(weights: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """Test accuracy of the weights."""
    scores = x_test @ weights[:-1] + weights[-1]
    accuracy = float(np.mean((scores > 0).astype(np.int64) == y_test))
    return {"test_accuracy": accuracy}


@pipeline(name="quickstart-tabular", project=PROJECT)
def tabular_pipeline(c: float = 1.0) -> None:
    """Prepare the breast-cancer table, train a logistic regression, evaluate it."""
    x_train, y_train, x_test, y_test = prepare(dataset(TABULAR))
    evaluate(train(x_train, y_train, c=c), x_test, y_test)


class PipelineStage(Stage):
    """Run the tabular pipeline twice; the second run reuses the preparation."""

    name = "pipeline"
    title = "Prepare, train and evaluate as a cached pipeline"

    def run(self, ctx: QuickstartContext) -> StageResult:
        store = ctx.store
        first = tabular_pipeline.run({"c": 1.0}, store=store)
        ctx.note(f"pipeline run 1: {len(first.cache_hits)} of 3 steps from cache")
        second = tabular_pipeline.run({"c": 0.1}, store=store)
        ctx.note(f"pipeline run 2 (C=0.1): {len(second.cache_hits)} of 3 steps from cache")
        for result in (first, second):
            if not result.succeeded:
                errors = {n: s.error for n, s in result.steps.items() if s.error}
                raise StackmlError(f"the quickstart pipeline {result.status}: {errors}")
        metrics: dict[str, Any] = second.output("evaluate")
        hits = len(first.cache_hits) + len(second.cache_hits)
        return StageResult(
            headline=(
                f"pipeline: test accuracy {metrics['test_accuracy']:.3f}; "
                f"{hits} of 6 step runs were cache hits"
            ),
            metrics={
                "test_accuracy": float(metrics["test_accuracy"]),
                "cache_hits_first": float(len(first.cache_hits)),
                "cache_hits_second": float(len(second.cache_hits)),
            },
            run_ids=[second.run_id, first.run_id],
            details={
                "pipeline_run": f"/pipelines/runs/{second.run_id}",
                "cached_steps": ", ".join(second.cache_hits),
            },
        )
