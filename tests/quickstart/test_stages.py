"""The stage machinery: order, shared context, results and failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from stackml.errors import InvalidInput, StackmlError
from stackml.quickstart import (
    QuickstartContext,
    Stage,
    StageResult,
    default_stages,
    run_quickstart,
    summary_table,
)


class Counting(Stage):
    """A stage that records the order it ran in and reads the previous stage's result."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.title = f"stage {name}"
        self.log = log

    def run(self, ctx: QuickstartContext) -> StageResult:
        ctx.note("working")
        previous = list(ctx.results)
        self.log.append(self.name)
        return StageResult(
            headline=f"{self.name} after {previous}",
            metrics={"seen": float(len(previous))},
            run_ids=[f"run-{self.name}"],
        )


class Failing(Stage):
    name = "boom"
    title = "a stage that fails"

    def run(self, ctx: QuickstartContext) -> StageResult:
        raise StackmlError("the stage could not go on")


def _quiet() -> Console:
    return Console(file=open("/dev/null", "w"), width=120)


def test_stages_run_in_order_sharing_results(tmp_path: Path) -> None:
    log: list[str] = []
    report = run_quickstart(
        tmp_path / "qs", stages=[Counting("a", log), Counting("b", log)], console=_quiet()
    )
    assert log == ["a", "b"]
    assert list(report.results) == ["a", "b"]
    assert report.results["b"].metrics == {"seen": 1.0}
    assert report.results["b"].run_id == "run-b"
    assert report.store_dir == (tmp_path / "qs" / ".stackml").resolve()
    assert set(report.seconds) == {"a", "b"}

    console = Console(record=True, width=200)
    console.print(summary_table(report))
    text = console.export_text()
    assert "stage a" in text and "b after ['a']" in text and "run-b" in text


def test_a_failing_stage_stops_the_quickstart(tmp_path: Path) -> None:
    log: list[str] = []
    with pytest.raises(StackmlError, match="could not go on"):
        run_quickstart(
            tmp_path, stages=[Counting("a", log), Failing(), Counting("c", log)], console=_quiet()
        )
    assert log == ["a"]


def test_stage_names_must_be_unique(tmp_path: Path) -> None:
    log: list[str] = []
    with pytest.raises(InvalidInput):
        run_quickstart(tmp_path, stages=[Counting("a", log), Counting("a", log)], console=_quiet())
    assert log == []


def test_default_stages_start_with_the_data_then_the_baseline() -> None:
    stages = default_stages()
    assert [stage.name for stage in stages][:2] == ["datasets", "baseline"]
    assert all(stage.title for stage in stages)


def test_digits_split_is_stratified_and_reproducible(tmp_path: Path) -> None:
    first = QuickstartContext(workdir=tmp_path).digits()
    second = QuickstartContext(workdir=tmp_path).digits()
    sizes = first.sizes()
    assert sum(sizes.values()) == 1797
    assert sizes["val"] == sizes["test"] == 360
    assert (first.x_test == second.x_test).all()
    import numpy as np

    for y in (first.y_train, first.y_val, first.y_test):
        shares = np.bincount(y, minlength=10) / len(y)
        assert shares.min() > 0.08 and shares.max() < 0.12
