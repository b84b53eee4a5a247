"""``stackml monitor`` end to end on an embedded store in the working directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
from typer.testing import CliRunner

from stackml.cli.main import app
from stackml.store import open_store
from tests.monitoring.conftest import log_table, write_logs


def _cli(*args: str) -> object:
    return CliRunner().invoke(app, ["--tracking-uri", str(Path.cwd()), *args])


def test_create_run_status_alerts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ref = pa.table({"alcohol": rng.normal(13, 0.8, 2000), "ash": rng.normal(2.4, 0.3, 2000)})
    pcsv.write_csv(ref, "ref.csv")
    alerts = tmp_path / "alerts.jsonl"
    made = _cli(
        "monitor",
        "create",
        "wine-drift",
        "-d",
        "wine",
        "--reference-table",
        "ref.csv",
        "--window",
        "count:300",
        "--rule",
        "drift:drift_share>0",
        "--notify-log",
        str(alerts),
    )
    assert made.exit_code == 0, made.output
    store = open_store(str(Path.cwd()))
    try:
        shifted = {"alcohol": rng.normal(14.5, 0.8, 300), "ash": rng.normal(2.4, 0.3, 300)}
        write_logs(store, log_table(shifted))
    finally:
        store.close()
    ran = _cli("monitor", "run")
    assert ran.exit_code == 0, ran.output
    assert "drifted: alcohol" in ran.output and "ALERT" in ran.output
    status = _cli("monitor", "status", "wine-drift")
    assert status.exit_code == 0 and "alcohol" in status.output and "yes" in status.output
    payload = json.loads(_cli("monitor", "status", "wine-drift", "--json").output)
    assert payload["drifted_features"] == ["alcohol"]
    listed = _cli("monitor", "alerts")
    assert listed.exit_code == 0 and "drift_share" in listed.output
    assert len(alerts.read_text().splitlines()) == 1
    assert "wine-drift" in _cli("monitor", "ls").output


def test_bad_input_is_a_clean_error() -> None:
    result = _cli("monitor", "create", "m", "-d", "wine", "--window", "weekly")
    assert result.exit_code == 1 and "Traceback" not in result.output
    result = _cli("monitor", "status", "missing")
    assert result.exit_code == 1 and "no monitor named" in result.output
    result = _cli("monitor", "create", "m", "-d", "wine", "--reference-table", "nope.csv")
    assert result.exit_code == 1
