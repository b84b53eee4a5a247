"""The quickstart's ``datasets`` stage: digits PNGs + labels, a tabular set, and lineage."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

import stackml.data as sd
from stackml.quickstart import run_quickstart
from stackml.quickstart.stages.baseline import BaselineStage
from stackml.quickstart.stages.datasets import DatasetsStage
from stackml.store import open_store


def test_datasets_stage_feeds_the_baseline_with_lineage(tmp_path: Path) -> None:
    with open("/dev/null", "w") as sink:
        quiet = Console(file=sink, width=120)
        stages = [DatasetsStage(), BaselineStage()]
        report = run_quickstart(tmp_path / "qs", stages=stages, console=quiet)
    result = report.results["datasets"]
    assert result.metrics["digits_files"] == 1797 and result.metrics["tabular_rows"] == 569
    store = open_store(str(tmp_path / "qs" / ".stackml"))
    try:
        digits = sd.get("digits", store=store)
        assert digits.version.ref == result.details["digits"]
        assert digits.version.splits["counts"] == {"train": 1077, "val": 360, "test": 360}
        assert digits.schema.images is not None and digits.schema.images.shapes == {"8x8": 1797}
        train = digits.to_pandas(split="train")
        sizes = report.results["baseline"]
        assert len(train) == 1077 and sizes.run_id is not None
        edges = store.metadata.list_lineage("run", sizes.run_id, direction="upstream")
        assert [(e.source_type, e.source_id) for e in edges] == [("dataset_version", digits.ref)]
        tab = sd.get("breast-cancer", store=store)
        assert (
            tab.version.splits["stratify"] == "target"
            and tab.schema.column("target").type == "category"
        )
    finally:
        store.close()
