"""Bias-variance report: split the test error into its parts and say what to do next.

With a baseline error (human or best simple model) standing in for the irreducible error,
and errors on train, on validation drawn from the training distribution, on validation drawn
from the test distribution and on test:

- avoidable bias = train - baseline
- variance = validation (train distribution) - train
- distribution shift = validation (test distribution) - validation (train distribution)
- validation overfitting = test - validation (test distribution)

so the test error is their sum. The largest positive part decides the advice, in the usual
order of remedies for each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stackml.errors import InvalidInput

__all__ = ["BiasVarianceReport", "bias_variance_report"]

NEXT_STEPS = {
    "bias": [
        "make the model bigger",
        "reduce regularisation",
        "do error analysis",
        "choose a more complex architecture",
        "tune hyperparameters",
        "add features",
    ],
    "variance": [
        "add more training data",
        "add normalisation (batch or layer norm)",
        "add data augmentation",
        "increase regularisation",
        "do error analysis",
        "choose a different architecture",
        "tune hyperparameters",
        "stop early",
        "remove features",
        "reduce the model size",
    ],
    "shift": [
        "do error analysis on the test-distribution validation errors and collect more "
        "training data like them",
        "synthesise training data like them",
        "apply domain adaptation",
    ],
    "val_overfitting": [
        "the validation set is overfitted: re-draw the validation/test split or collect "
        "fresh validation data",
    ],
}


@dataclass(frozen=True)
class BiasVarianceReport:
    """The decomposition and the advice.

    Attributes:
        errors: The inputs, by name.
        irreducible: The baseline error.
        avoidable_bias: Train error above the baseline.
        variance: Validation (train distribution) error above the train error.
        distribution_shift: Validation (test distribution) error above the other validation.
        val_overfitting: Test error above the test-distribution validation error.
        diagnosis: ``"bias"``, ``"variance"``, ``"shift"``, ``"val_overfitting"`` or ``"ok"``.
        next_steps: What to try, in order.
    """

    errors: dict[str, float]
    irreducible: float
    avoidable_bias: float
    variance: float
    distribution_shift: float
    val_overfitting: float
    diagnosis: str
    next_steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "errors": self.errors,
            "irreducible": self.irreducible,
            "avoidable_bias": self.avoidable_bias,
            "variance": self.variance,
            "distribution_shift": self.distribution_shift,
            "val_overfitting": self.val_overfitting,
            "diagnosis": self.diagnosis,
            "next_steps": self.next_steps,
        }

    def parts(self) -> list[tuple[str, float]]:
        """``(label, value)`` rows in the order they add up to the test error."""
        return [
            ("irreducible (baseline)", self.irreducible),
            ("avoidable bias", self.avoidable_bias),
            ("variance", self.variance),
            ("distribution shift", self.distribution_shift),
            ("validation overfitting", self.val_overfitting),
        ]


def bias_variance_report(
    *,
    train: float,
    val: float,
    test: float,
    baseline: float = 0.0,
    val_test: float | None = None,
    tolerance: float = 0.01,
) -> BiasVarianceReport:
    """Decompose errors (fractions, e.g. ``1 - accuracy``) and recommend the next step.

    Args:
        train: Error on the training set.
        val: Error on validation drawn from the training distribution.
        test: Error on the test set.
        baseline: Human or best simple-model error, the stand-in for irreducible error.
        val_test: Error on validation drawn from the test distribution; when train and test
            share a distribution leave it out (it is taken equal to ``val``).
        tolerance: Parts at or below this count as nothing to fix.

    Raises:
        InvalidInput: An error is negative or not a number.
    """
    vt = val if val_test is None else val_test
    errors = {"baseline": baseline, "train": train, "val": val, "val_test": vt, "test": test}
    for name, value in errors.items():
        if not isinstance(value, (int, float)) or value != value or value < 0:
            raise InvalidInput(f"error {name!r} must be a non-negative number, not {value!r}")
    parts = {
        "bias": train - baseline,
        "variance": val - train,
        "shift": vt - val,
        "val_overfitting": test - vt,
    }
    # Remedies go in order: fix underfitting first, then overfitting, then shift, then the
    # validation set; the first part above the tolerance is the one to work on.
    diagnosis = next(
        (k for k in ("bias", "variance", "shift", "val_overfitting") if parts[k] > tolerance), "ok"
    )
    steps = list(
        NEXT_STEPS.get(
            diagnosis,
            ["nothing stands out: tune hyperparameters or raise the bar with a better baseline"],
        )
    )
    return BiasVarianceReport(
        errors={k: float(v) for k, v in errors.items()},
        irreducible=float(baseline),
        avoidable_bias=float(parts["bias"]),
        variance=float(parts["variance"]),
        distribution_shift=float(parts["shift"]),
        val_overfitting=float(parts["val_overfitting"]),
        diagnosis=diagnosis,
        next_steps=steps,
    )
