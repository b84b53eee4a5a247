"""The quickstart's ``check`` stage: evidence, the scorecard and promotion through the gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackml.quickstart import QuickstartContext
from stackml.quickstart.stages import default_stages
from stackml.quickstart.stages.baseline import BaselineStage
from stackml.quickstart.stages.check import CheckStage
from stackml.quickstart.stages.cnn import CnnStage
from stackml.quickstart.stages.datasets import DatasetsStage
from stackml.quickstart.stages.registry import RegistryStage


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_check_stage_promotes_the_candidate_through_the_ml_test_score_gate(
    tmp_path: Path,
) -> None:
    ctx = QuickstartContext(workdir=tmp_path / "qs")
    for stage in (DatasetsStage(), BaselineStage(), CnnStage(), RegistryStage()):
        ctx.results[stage.name] = stage.run(ctx)
    result = CheckStage().run(ctx)
    store = ctx.store
    model = store.metadata.get_registered_model("digits")
    assert "ml-test-score:1" in model.gates["production"]
    assert result.details["production"] == ctx.results["registry"].details["candidate"]
    assert store.metadata.get_model_alias("digits", "production") == int(
        result.details["production"].split("@")[1]
    )
    assert result.metrics["ml_test_score"] >= 1
    # The evidence the stage recorded is what earned data-2 and model-6.
    from stackml.checks import check

    card = check(result.details["production"], store=store)
    scores = {r.test.id: r.score for r in card.results}
    assert scores["data-2"] == 1 and scores["model-6"] == 1 and scores["infra-4"] == 1
    assert (ctx.workdir / "stackml-checks.yaml").is_file()


def test_check_comes_right_after_the_registry() -> None:
    names = [stage.name for stage in default_stages()]
    assert names.index("check") == names.index("registry") + 1


def test_until_must_name_a_stage(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from stackml.cli.main import app

    result = CliRunner().invoke(
        app, ["quickstart", "--no-serve", "--dir", str(tmp_path / "qs"), "--until", "nope"]
    )
    assert result.exit_code == 1 and "--until must name a stage" in result.output
    assert not (tmp_path / "qs" / ".stackml").exists()
