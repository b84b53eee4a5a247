"""`stackml check` (formats, exit codes), the promotion gate and `stackml init DIR`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import stackml.tracking
from stackml.cli.main import app
from stackml.errors import NotFound
from stackml.registry import GateFailed, promote, set_gates
from tests.checks.conftest import PROJECT, Trained


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_check_prints_every_format_and_gates_on_min_score(trained: Trained, tmp_path: Path) -> None:
    stackml.tracking.reset()
    code, out = _cli("check", f"{PROJECT}@1", "--format", "json")
    assert code == 0, out
    report = json.loads(out)
    assert report["model"] == PROJECT and len(report["tests"]) == 28
    assert report["score"] == min(report["sections"].values())

    code, out = _cli("check", PROJECT, "--format", "markdown")
    assert code == 0 and "| data-1 |" in out and "### ML Test Score" in out

    code, out = _cli("check", PROJECT)
    assert code == 0 and "ML Test Score" in out and "monitor-7" in out

    page = tmp_path / "score.html"
    code, out = _cli("check", PROJECT, "--format", "html", "--out", str(page))
    assert code == 0 and 'data-test="infra-4"' in page.read_text()

    code, out = _cli("check", PROJECT, "--min-score", "1")
    assert code == 1 and "below the minimum 1" in out

    code, out = _cli("check", PROJECT, "--format", "yaml")
    assert code == 1 and "--format must be one of" in out and "Traceback" not in out


def _attest_two_per_section(folder: Path) -> None:
    entries = []
    for prefix in (
        "data-3",
        "data-7",
        "model-2",
        "model-3",
        "infra-2",
        "infra-5",
        "monitor-2",
        "monitor-5",
    ):
        entries.append(f"- test: {prefix}\n  owner: ana@example.com\n  evidence: done by hand\n")
    (folder / "attestations.yaml").write_text("".join(entries))
    (folder / "stackml-checks.yaml").write_text("attestations: attestations.yaml\n")


def test_gate_blocks_below_threshold_and_allows_above(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = trained.store
    set_gates(PROJECT, ["ml-test-score:1"], store=store)
    with pytest.raises(GateFailed, match=r"ML Test Score 0 .* is below 1") as caught:
        promote(f"{PROJECT}@1", store=store, reason="try")
    assert caught.value.results["ml-test-score:1"].details["score"] == 0
    with pytest.raises(NotFound):
        store.metadata.get_model_alias(PROJECT, "production")

    monkeypatch.chdir(tmp_path)
    _attest_two_per_section(tmp_path)
    event = promote(f"{PROJECT}@1", store=store, reason="attested")
    assert event.version == 1
    assert event.gates["ml-test-score:1"]["passed"] is True
    assert store.metadata.get_model_alias(PROJECT, "production") == 1


@pytest.mark.slow
def test_init_scaffolds_a_project_whose_tests_pass(tmp_path: Path) -> None:
    target = tmp_path / "Churn-Model"
    code, out = _cli("init", str(target))
    assert code == 0, out
    for rel in (
        "src/churn_model/predictor.py",
        "src/churn_model/train.py",
        "src/churn_model/data.py",
        "tests/test_validation.py",
        "Makefile",
        ".github/workflows/ml.yml",
        "stackml-checks.yaml",
        "README.md",
    ):
        assert (target / rel).is_file(), rel
    assert "stackml check churn_model" in (target / ".github/workflows/ml.yml").read_text()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=target,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_init_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "proj"
    target.mkdir()
    (target / "README.md").write_text("mine")
    code, out = _cli("init", str(target))
    assert code == 1 and "already holds README.md" in out
    assert (target / "README.md").read_text() == "mine"
    assert not (target / "src").exists()
