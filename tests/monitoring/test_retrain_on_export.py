"""A label export becomes a dataset version, and that version retrains: right after
``stackml label export``, and from the server's monitor scheduler for exports made elsewhere."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from typer.testing import CliRunner

import stackml
import stackml.labeling as sl
from stackml.cli.main import app
from stackml.monitoring import (
    Reference,
    create_monitor,
    monitors_for_project,
    pending_retraining,
    retrain_on_export,
)
from stackml.monitoring.scheduler import MonitorScheduler
from stackml.store import Store, open_store


@stackml.step
def count_labels(dataset: str) -> str:
    return f"trained on {dataset}"


@stackml.pipeline(name="retrain-on-labels")
def retrain_on_labels(dataset: str = "", lr: float = 0.1):
    count_labels(dataset)


def _labeled_project(store: Store, name: str = "queue") -> None:
    sl.create_project(name, "text_classification", ["good", "bad"], store=store)
    sl.add_tasks(name, [{"text": "fine"}, {"text": "broken"}], store=store)
    for task, value in zip(
        sl.next_tasks(name, user="ann", limit=2, store=store), ("good", "bad"), strict=True
    ):
        sl.submit(task.id, {"class": value}, user="ann", store=store)


def _monitor(store: Store, name: str, project: str, *, pipeline: str = "retrain-on-labels") -> None:
    create_monitor(
        name,
        "dep",
        reference=Reference.from_table(pa.table({"a": [1.0, 2.0, 3.0]})),
        spec={
            "routing": {"project": project},
            "retrain": {"pipeline": pipeline, "params": {"lr": 0.5}},
        },
        store=store,
    )


def test_export_retrains_every_monitor_routing_into_the_project(store: Store) -> None:
    _monitor(store, "routes-here", "queue")
    _monitor(store, "routes-elsewhere", "other-queue")
    create_monitor("no-retrain", "dep", reference=Reference(), spec={}, store=store)
    _labeled_project(store)
    assert monitors_for_project(store, "queue") == ["routes-here"]

    version = sl.export_dataset("queue", store=store)
    results = retrain_on_export(store, "queue", version)

    assert list(results) == ["routes-here"]
    result = results["routes-here"].raise_for_status()
    assert result.output("count_labels") == f"trained on {version.label}"
    upstream = store.metadata.list_lineage("pipeline_run", result.run_id, direction="upstream")
    assert {(e.source_type, e.source_id, e.role) for e in upstream} >= {
        ("dataset_version", version.ref, "trigger"),
        ("monitor", "routes-here", "retrain"),
    }
    # The same version never retrains twice, whoever asks.
    assert retrain_on_export(store, "queue", version) == {}
    assert pending_retraining(store) == []


def test_scheduler_retrains_an_export_made_through_the_api(store: Store) -> None:
    _monitor(store, "watch", "queue")
    _labeled_project(store)
    assert pending_retraining(store) == []  # nothing exported yet
    version = sl.export_dataset("queue", store=store)
    assert [(m, v.ref) for m, v in pending_retraining(store)] == [("watch", version.ref)]

    scheduler = MonitorScheduler(store)
    try:
        scheduler.tick()
        scheduler.tick()  # claimed on the first tick: not started again
        assert [(m, label) for m, label, _ in scheduler.retrains] == [("watch", version.label)]
        result = scheduler.retrains[0][2].result(timeout=120)
        assert result.status == "succeeded"
        assert result.output("count_labels") == f"trained on {version.label}"
    finally:
        scheduler.stop()
    # A second export is a new version, and it retrains too.
    sl.add_tasks("queue", [{"text": "meh"}], store=store)
    (task,) = sl.next_tasks("queue", user="ann", store=store)
    sl.submit(task.id, {"class": "bad"}, user="ann", store=store)
    newer = sl.export_dataset("queue", store=store)
    assert [(m, v.ref) for m, v in pending_retraining(store)] == [("watch", newer.ref)]


def test_label_export_command_starts_retraining_unless_told_not_to(tmp_path: Path) -> None:
    root = str(tmp_path / ".stackml")
    store = open_store(root)
    _monitor(store, "watch", "queue")
    _labeled_project(store)
    store.close()
    runner = CliRunner()

    quiet = runner.invoke(app, ["--tracking-uri", root, "label", "export", "queue", "--no-retrain"])
    assert quiet.exit_code == 0, quiet.output
    assert "retraining" not in quiet.output

    loud = runner.invoke(app, ["--tracking-uri", root, "label", "export", "queue", "-m", "again"])
    assert loud.exit_code == 0, loud.output
    assert "monitor watch: retraining pipeline run" in loud.output
    assert "succeeded" in loud.output
