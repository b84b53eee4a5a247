"""The training doctor: each planted bug is caught, healthy setups pass."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from stackml.errors import InvalidInput
from stackml.training import doctor


def _batch(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 10, generator=g), torch.randint(0, 4, (n,), generator=g)


def _mlp(*extra: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 4), *extra)


CE = nn.CrossEntropyLoss()


# -- overfit one batch: the four failure shapes -------------------------------------------
def test_healthy_model_overfits_one_batch() -> None:
    finding = doctor.overfit_one_batch(_mlp(), _batch(), CE)
    assert finding.ok and finding.details["curve"] == "converged"
    assert finding.advice == ""


def test_sign_flip_makes_the_error_go_up() -> None:
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, maximize=True)
    finding = doctor.overfit_one_batch(model, _batch(), CE, optimizer=opt)
    assert not finding.ok and finding.details["curve"] == "goes_up"
    assert "sign" in finding.advice


def test_huge_learning_rate_makes_the_error_explode() -> None:
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=1e4)
    finding = doctor.overfit_one_batch(model, _batch(), CE, optimizer=opt)
    assert finding.details["curve"] == "explodes"
    assert "learning rate" in finding.advice


def test_shuffled_labels_make_the_error_oscillate() -> None:
    x, _ = _batch()
    g = torch.Generator().manual_seed(1)
    finding = doctor.overfit_one_batch(
        _mlp(), lambda step: (x, torch.randint(0, 4, (32,), generator=g)), CE
    )
    assert finding.details["curve"] == "oscillates"
    assert "labels" in finding.advice


def test_tiny_learning_rate_plateaus() -> None:
    finding = doctor.overfit_one_batch(_mlp(), _batch(), CE, lr=1e-7)
    assert finding.details["curve"] == "plateaus"
    assert "raise the learning rate" in finding.advice


def test_overfit_trains_a_copy() -> None:
    model = _mlp()
    before = [p.clone() for p in model.parameters()]
    doctor.overfit_one_batch(model, _batch(), CE, steps=5)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


# -- planted bugs -------------------------------------------------------------------------
def test_broadcasting_n1_against_n_is_caught() -> None:
    pred, target = torch.randn(8), torch.randn(8, 1)
    finding = doctor.check_broadcasting(pred, target)
    assert not finding.ok and "(8, 8)" in finding.message
    assert doctor.check_broadcasting(torch.randn(8, 4), torch.randint(0, 4, (8,))).ok
    assert doctor.check_broadcasting(torch.randn(8, 1), torch.randn(8, 1)).ok


def test_unnormalised_inputs_are_caught_against_dataset_statistics() -> None:
    raw = torch.rand(64, 64) * 16  # digits-like pixel values 0..16
    stats = {"mean": 8.0, "std": 4.6}
    finding = doctor.check_input_scale(raw, stats)
    assert not finding.ok and "raw scale" in finding.message
    assert doctor.check_input_scale((raw - 8.0) / 4.6, stats).ok
    assert not doctor.check_input_scale(raw).ok  # no statistics: the scale alone tells
    assert doctor.check_input_scale(torch.randn(64, 8)).ok


def test_unnormalised_inputs_use_a_dataset_schema() -> None:
    from stackml.data.schema import Column, ColumnStats, Schema

    schema = Schema(columns=(Column("a", "float", stats=ColumnStats(100, 0, mean=50.0, std=10.0)),))
    raw = torch.randn(64, 1) * 10 + 50
    assert not doctor.check_input_scale(raw, schema).ok
    assert doctor.check_input_scale((raw - 50) / 10, schema).ok


def test_softmax_fed_to_cross_entropy_is_caught() -> None:
    x, _ = _batch()
    model = _mlp(nn.Softmax(dim=-1))
    finding = doctor.check_loss_input(model(x), CE, model)
    assert not finding.ok and "probabilities" in finding.message
    probs = torch.softmax(torch.randn(8, 4), dim=-1)
    assert not doctor.check_loss_input(probs, nn.functional.cross_entropy).ok
    assert doctor.check_loss_input(_mlp()(x), CE, _mlp()).ok
    assert doctor.check_loss_input(probs, nn.MSELoss()).ok


class _AlwaysDropout(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.dropout(x, 0.5, training=True)  # the planted bug


def test_dropout_left_on_in_eval_is_caught() -> None:
    model = nn.Sequential(nn.Linear(10, 16), _AlwaysDropout(), nn.Linear(16, 4))
    finding = doctor.check_eval_mode(model, _batch()[0])
    assert not finding.ok and "differ" in finding.message
    assert doctor.check_eval_mode(_mlp(nn.Dropout(0.5)), _batch()[0]).ok


def test_batchnorm_using_batch_statistics_in_eval_is_caught() -> None:
    model = nn.Sequential(nn.Linear(10, 16), nn.BatchNorm1d(16, track_running_stats=False))
    finding = doctor.check_eval_mode(model, _batch()[0])
    assert not finding.ok and "batch" in finding.message
    assert doctor.check_eval_mode(
        nn.Sequential(nn.Linear(10, 16), nn.BatchNorm1d(16)), _batch()[0]
    ).ok


class _Log(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x)  # NaN for negative inputs: the planted bug


def test_first_module_producing_nan_is_located() -> None:
    model = nn.Sequential(nn.Linear(10, 8), _Log(), nn.Linear(8, 4), nn.ReLU())
    finding = doctor.find_nonfinite(model, _batch()[0])
    assert not finding.ok and finding.details["module"] == "1"
    assert finding.details["kind"] == "NaN"
    assert doctor.find_nonfinite(_mlp(), _batch()[0]).ok
    bad = _batch()[0]
    bad[0, 0] = math.inf
    assert "inputs" in doctor.find_nonfinite(_mlp(), bad).message


def test_examine_runs_every_check_and_logs_to_a_run() -> None:
    import stackml
    from stackml.tracking import download_artifact

    report = doctor.examine(_mlp(nn.Softmax(dim=-1)), _batch(), CE, overfit_steps=20)
    checks = [f.check for f in report.findings]
    assert checks == [
        "nonfinite",
        "input_scale",
        "broadcasting",
        "loss_input",
        "eval_mode",
        "overfit_one_batch",
    ]
    assert not report.ok and next(f.check for f in report.problems) == "loss_input"
    with stackml.start_run(project="doc") as run:
        report.log_to(run)
    path = download_artifact(run.id, doctor.REPORT_ARTIFACT, Path("report.json"))
    assert '"loss_input"' in path.read_text()
    assert stackml.get_run(run.id).tags["stackml.doctor"] == "problems"


# -- learning-rate range test -------------------------------------------------------------
def test_lr_range_test_suggests_a_rate_and_leaves_the_model(tmp_path: Path) -> None:
    model = _mlp()
    before = [p.clone() for p in model.parameters()]
    result = doctor.lr_range_test(model, _batch(), CE, start_lr=1e-5, end_lr=10, steps=60)
    assert 1e-5 <= result.suggested_lr <= 1.0
    assert len(result.lrs) == len(result.losses) >= 3
    assert all(a < b for a, b in zip(result.lrs, result.lrs[1:], strict=False))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(InvalidInput, match="matplotlib"):
            result.plot(tmp_path / "lr.png")
    else:
        assert result.plot(tmp_path / "lr.png").stat().st_size > 0
    with pytest.raises(InvalidInput):
        doctor.lr_range_test(model, _batch(), CE, start_lr=1.0, end_lr=0.1)


# -- bias-variance ------------------------------------------------------------------------
def test_bias_variance_diagnoses_in_the_standard_order() -> None:
    under = doctor.bias_variance_report(train=0.20, val=0.22, test=0.23, baseline=0.01)
    assert under.diagnosis == "bias" and under.next_steps[0] == "make the model bigger"
    assert under.next_steps[1] == "reduce regularisation"
    assert under.avoidable_bias == pytest.approx(0.19)
    over = doctor.bias_variance_report(train=0.01, val=0.10, test=0.11, baseline=0.01)
    assert over.diagnosis == "variance" and over.next_steps[0] == "add more training data"
    shift = doctor.bias_variance_report(
        train=0.01, val=0.015, val_test=0.09, test=0.095, baseline=0.01
    )
    assert shift.diagnosis == "shift" and "error analysis" in shift.next_steps[0]
    assert shift.distribution_shift == pytest.approx(0.075)
    valover = doctor.bias_variance_report(train=0.01, val=0.01, test=0.08)
    assert valover.diagnosis == "val_overfitting"
    parts = sum(v for _, v in valover.parts())
    assert parts == pytest.approx(0.08)  # the parts add up to the test error
    assert doctor.bias_variance_report(train=0.01, val=0.012, test=0.013).diagnosis == "ok"
    with pytest.raises(InvalidInput):
        doctor.bias_variance_report(train=-0.1, val=0.1, test=0.1)
    with pytest.raises(InvalidInput):
        doctor.bias_variance_report(train=float("nan"), val=0.1, test=0.1)
