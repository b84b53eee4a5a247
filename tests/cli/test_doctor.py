"""``stackml doctor``, ``stackml bias-variance``, ``stackml baselines`` and ``runs reproduce``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.support import Invoke, assert_clean_failure

ENTRY = """
import torch
from torch import nn

def {name}():
    torch.manual_seed(0)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    layers = [nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)]
    if {softmax}:
        layers.append(nn.Softmax(dim=-1))
    return {{"model": nn.Sequential(*layers), "batch": (x, y), "loss_fn": nn.CrossEntropyLoss()}}
"""


def test_doctor_passes_a_healthy_model(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text(ENTRY.format(name="entry", softmax=False))
    result = cli("doctor", f"{tmp_path / 'ok.py'}:entry", "--steps", "150", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["ok"] and len(found["findings"]) == 6


def test_doctor_fails_on_a_planted_bug(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(ENTRY.format(name="entry", softmax=True))
    result = cli("doctor", f"{tmp_path / 'bad.py'}:entry", "--no-overfit")
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "probabilities" in result.stdout


def test_doctor_refuses_bad_targets(cli: Invoke, tmp_path: Path) -> None:
    assert "expected" in assert_clean_failure(cli("doctor", "nothing"))
    assert "no such script" in assert_clean_failure(cli("doctor", "missing.py:entry"))
    (tmp_path / "x.py").write_text("def entry():\n    return 3\n")
    assert "dict" in assert_clean_failure(cli("doctor", f"{tmp_path / 'x.py'}:entry"))
    assert "no function" in assert_clean_failure(cli("doctor", f"{tmp_path / 'x.py'}:other"))


def test_bias_variance_is_rendered(cli: Invoke) -> None:
    result = cli(
        "bias-variance", "--train", "0.01", "--val", "0.1", "--test", "0.11", "--baseline", "0.005"
    )
    assert result.exit_code == 0, result.output
    assert "overfitting" in result.stdout and "1. add more training data" in result.stdout
    assert_clean_failure(cli("bias-variance", "--train", "-1", "--val", "0", "--test", "0"))


def test_baselines_and_metric_definition(cli: Invoke) -> None:
    result = cli("baselines", "set", "digits", "human", "-m", "acc=0.98", "--source", "lab")
    assert result.exit_code == 0, result.output
    result = cli("baselines", "ls", "digits")
    assert "human" in result.stdout and "acc=0.98" in result.stdout
    result = cli(
        "baselines", "metric", "digits", "--objective", "acc", "--constraint", "p99_ms<=20"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["spec"]["constraints"][0]["op"] == "<="
    shown = json.loads(cli("baselines", "metric", "digits").stdout)
    assert shown["kind"] == "constrained"
    assert_clean_failure(cli("baselines", "metric", "digits", "--expression", "open('x')"))
    assert_clean_failure(cli("baselines", "set", "digits", "h", "-m", "acc"))
    assert cli("baselines", "rm", "digits", "human").exit_code == 0
    assert_clean_failure(cli("baselines", "rm", "digits", "human"))


def test_reproduce_without_entry_point_fails_cleanly(cli: Invoke) -> None:
    import stackml

    with stackml.start_run(project="p", capture_environment=False) as run:
        run.log_metrics({"acc": 1.0})
    stackml.tracking.reset()
    assert "entry point" in assert_clean_failure(cli("runs", "reproduce", run.id))
