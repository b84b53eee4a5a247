"""The training doctor: the debugging playbook, automated.

::

    from stackml.training import doctor

    report = doctor.examine(model, (x, y), loss_fn, stats=schema)   # every check
    report.ok, report.findings                                     # what was found
    doctor.lr_range_test(model, loader, loss_fn).suggested_lr
    doctor.bias_variance_report(train=0.02, val=0.05, test=0.06, baseline=0.01)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stackml.training.doctor.bias_variance import BiasVarianceReport, bias_variance_report
from stackml.training.doctor.detectors import (
    check_broadcasting,
    check_eval_mode,
    check_input_scale,
    check_loss_input,
    find_nonfinite,
)
from stackml.training.doctor.findings import Finding
from stackml.training.doctor.lr_range import LRRangeResult, lr_range_test
from stackml.training.doctor.overfit import ADVICE, classify_curve, overfit_one_batch

if TYPE_CHECKING:
    import torch

    from stackml.tracking import ActiveRun

__all__ = [
    "ADVICE",
    "BiasVarianceReport",
    "DoctorReport",
    "Finding",
    "LRRangeResult",
    "bias_variance_report",
    "check_broadcasting",
    "check_eval_mode",
    "check_input_scale",
    "check_loss_input",
    "classify_curve",
    "examine",
    "find_nonfinite",
    "lr_range_test",
    "overfit_one_batch",
]

#: Artifact path of a doctor report on a run (shown on the run page).
REPORT_ARTIFACT = "doctor/report.json"


@dataclass
class DoctorReport:
    """Findings of :func:`examine`, in the order the checks ran."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(f.ok for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        """The failed checks."""
        return [f for f in self.findings if not f.ok]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"ok": self.ok, "findings": [f.to_dict() for f in self.findings]}

    def log_to(self, run: ActiveRun) -> None:
        """Store the report as the run's ``doctor/report.json`` artifact."""
        run.log_dict(self.to_dict(), REPORT_ARTIFACT)
        run.set_tags({"stackml.doctor": "ok" if self.ok else "problems"})


def examine(
    model: torch.nn.Module,
    batch: tuple[Any, Any],
    loss_fn: Callable[[Any, Any], torch.Tensor],
    *,
    stats: Any = None,
    overfit: bool = True,
    overfit_steps: int = 200,
    overfit_lr: float = 1e-2,
) -> DoctorReport:
    """Run the bug detectors on one batch, then overfit it.

    Args:
        model: The model (left as it was: overfitting trains a copy).
        batch: ``(inputs, targets)``.
        loss_fn: The training loss.
        stats: Dataset statistics for the input-scale check (see :func:`check_input_scale`).
        overfit: Also run :func:`overfit_one_batch`.
        overfit_steps: Its steps.
        overfit_lr: Its learning rate (Adam).
    """
    import torch

    x, y = batch
    report = DoctorReport()
    nonfinite = find_nonfinite(model, x)
    report.findings.append(nonfinite)
    report.findings.append(check_input_scale(x, stats))
    was_training = model.training
    model.train()
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        model.train(was_training)
    if isinstance(out, torch.Tensor):
        report.findings.append(check_broadcasting(out, y))
        report.findings.append(check_loss_input(out, loss_fn, model))
    report.findings.append(check_eval_mode(model, x))
    if overfit and nonfinite.ok:
        report.findings.append(
            overfit_one_batch(model, batch, loss_fn, steps=overfit_steps, lr=overfit_lr)
        )
    return report
