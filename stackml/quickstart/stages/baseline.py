"""Stage 1, ``baseline``: scikit-learn baselines on the digits, tracked as stackml runs.

Two runs are recorded in project ``digits``: a majority-class predictor (the floor every model
must beat) and a logistic regression on standardised pixels (the baseline later stages try
to improve on). Each logs its params, accuracy and macro F1 on every split, per-class recall,
its confusion matrix (CSV, plus a PNG when matplotlib is installed) and tags. The logistic
regression's weights are logged as ``model.npz`` (plain arrays, no pickle).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.quickstart.stage import Stage, StageResult
from stackml.quickstart.stages.datasets import record_dataset_inputs

if TYPE_CHECKING:
    from stackml.quickstart.context import QuickstartContext
    from stackml.quickstart.digits import DigitsSplits

PROJECT = "digits"
STAGE_TAG = "quickstart.stage"


def evaluate(model: Any, digits: DigitsSplits) -> dict[str, float]:
    """Accuracy and macro F1 on every split, and per-class recall on the test split."""
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    metrics: dict[str, float] = {}
    for split in ("train", "val", "test"):
        x = getattr(digits, f"x_{split}")
        y = getattr(digits, f"y_{split}")
        predicted = model.predict(x)
        metrics[f"{split}_accuracy"] = float(accuracy_score(y, predicted))
        # zero_division=0: the majority baseline never predicts most classes, which is the
        # point of it, not something to warn about.
        metrics[f"{split}_macro_f1"] = float(
            f1_score(y, predicted, average="macro", zero_division=0)
        )
    test_pred = model.predict(digits.x_test)
    recalls = recall_score(
        digits.y_test, test_pred, labels=digits.classes, average=None, zero_division=0
    )
    for label, recall in zip(digits.classes, recalls, strict=True):
        metrics[f"test_recall_{int(label)}"] = float(recall)
    return metrics


def write_confusion_matrix(model: Any, digits: DigitsSplits, folder: Path) -> list[Path]:
    """The test-split confusion matrix as CSV, and as PNG when matplotlib is available."""
    from sklearn.metrics import confusion_matrix

    labels = digits.classes
    matrix = confusion_matrix(digits.y_test, model.predict(digits.x_test), labels=labels)
    csv_path = folder / "confusion_matrix.csv"
    header = "true\\predicted," + ",".join(str(int(label)) for label in labels)
    rows = np.column_stack([labels, matrix])
    np.savetxt(csv_path, rows, fmt="%d", delimiter=",", header=header, comments="")
    written = [csv_path]
    png_path = _plot_confusion_matrix(matrix, labels, folder / "confusion_matrix.png")
    if png_path is not None:
        written.append(png_path)
    return written


def _plot_confusion_matrix(matrix: np.ndarray, labels: np.ndarray, path: Path) -> Path | None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # matplotlib is optional; the CSV carries the same numbers
        return None
    # A bare Figure on the Agg canvas: no pyplot, so no GUI backend and no global state.
    figure = Figure(figsize=(5, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes)
    ticks = np.arange(len(labels))
    axes.set_xticks(ticks, [str(int(label)) for label in labels])
    axes.set_yticks(ticks, [str(int(label)) for label in labels])
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("Confusion matrix (test split)")
    threshold = matrix.max() / 2
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            color = "white" if count > threshold else "black"
            axes.text(col, row, str(count), ha="center", va="center", fontsize=7, color=color)
    figure.tight_layout()
    figure.savefig(path)
    return path


class BaselineStage(Stage):
    """Train and track a majority-class and a logistic-regression baseline on the digits."""

    name = "baseline"
    title = "Baseline: logistic regression on the digits"

    #: Inverse regularisation strength of the logistic regression.
    C = 1.0
    max_iter = 2000

    def run(self, ctx: QuickstartContext) -> StageResult:
        ctx.note("loading the digits")
        digits = ctx.digits()
        data_params: dict[str, Any] = {
            "dataset": "sklearn.digits",
            "seed": digits.seed,
            **{f"n_{split}": size for split, size in digits.sizes().items()},
        }
        ctx.note("majority-class baseline")
        majority_id, majority = self._track_majority(ctx, digits, data_params)
        ctx.note("logistic regression")
        logreg_id, metrics, model_path = self._track_logistic_regression(ctx, digits, data_params)
        return StageResult(
            headline=(
                f"test accuracy {metrics['test_accuracy']:.3f} "
                f"(majority class: {majority['test_accuracy']:.3f})"
            ),
            metrics={
                "train_accuracy": metrics["train_accuracy"],
                "val_accuracy": metrics["val_accuracy"],
                "test_accuracy": metrics["test_accuracy"],
                "test_macro_f1": metrics["test_macro_f1"],
                "majority_test_accuracy": majority["test_accuracy"],
            },
            run_ids=[logreg_id, majority_id],
            details={"model": str(model_path)},
        )

    def _track_majority(
        self, ctx: QuickstartContext, digits: DigitsSplits, data_params: dict[str, Any]
    ) -> tuple[str, dict[str, float]]:
        from sklearn.dummy import DummyClassifier

        from stackml.tracking import start_run

        model = DummyClassifier(strategy="most_frequent").fit(digits.x_train, digits.y_train)
        folder = ctx.output_dir("baseline", "majority")
        with start_run(
            project=PROJECT,
            name="majority-baseline",
            params={"model": "majority_class", **data_params},
            tags={STAGE_TAG: self.name, "model.family": "reference", "framework": "scikit-learn"},
            tracking_uri=ctx.tracking_uri,
        ) as run:
            record_dataset_inputs(ctx, run)
            metrics = evaluate(model, digits)
            run.log_metrics(metrics)
            for path in write_confusion_matrix(model, digits, folder):
                run.log_artifact(path)
        return run.id, metrics

    def _track_logistic_regression(
        self, ctx: QuickstartContext, digits: DigitsSplits, data_params: dict[str, Any]
    ) -> tuple[str, dict[str, float], Path]:
        import sklearn
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from stackml.tracking import start_run

        folder = ctx.output_dir("baseline", "logreg")
        params = {
            "model": "logistic_regression",
            "preprocessing": "standard_scaler",
            "C": self.C,
            "max_iter": self.max_iter,
            "solver": "lbfgs",
            **data_params,
        }
        with start_run(
            project=PROJECT,
            name="logreg-baseline",
            params=params,
            tags={
                STAGE_TAG: self.name,
                "model.family": "linear",
                "framework": "scikit-learn",
                "sklearn.version": sklearn.__version__,
            },
            tracking_uri=ctx.tracking_uri,
        ) as run:
            record_dataset_inputs(ctx, run)
            scaler = StandardScaler()
            classifier = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=ctx.seed)
            model = make_pipeline(scaler, classifier).fit(digits.x_train, digits.y_train)
            run.log_metrics({"n_iter": int(np.max(classifier.n_iter_))})
            metrics = evaluate(model, digits)
            run.log_metrics(metrics)
            for path in write_confusion_matrix(model, digits, folder):
                run.log_artifact(path)
            # Plain arrays are enough to rebuild the predictor and, unlike pickle, safe to load.
            model_path = folder / "model.npz"
            np.savez(
                model_path,
                coef=classifier.coef_,
                intercept=classifier.intercept_,
                classes=classifier.classes_,
                scaler_mean=scaler.mean_,
                scaler_scale=scaler.scale_,
            )
            run.log_artifact(model_path)
        return run.id, metrics, model_path
