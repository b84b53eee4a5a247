"""``stackml quickstart``: the baseline stage end to end, through the command line."""

from __future__ import annotations

import importlib.util
import io
import re
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stackml.cli.main import app
from stackml.store import open_store
from tests.cli.support import STACKML_BIN, stop, subprocess_env, wait_for_health


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_quickstart_records_a_baseline_above_90_percent(tmp_path: Path) -> None:
    workdir = tmp_path / "qs"
    result = CliRunner().invoke(
        app, ["quickstart", "--no-serve", "--dir", str(workdir)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert str(workdir / ".stackml") in result.stdout

    store = open_store(str(workdir / ".stackml"))
    try:
        runs = {run.name: run for run in store.metadata.search_runs(project="digits").runs}
        assert {"logreg-baseline", "majority-baseline"} <= set(runs)
        logreg, majority = runs["logreg-baseline"], runs["majority-baseline"]
        assert logreg.id in result.stdout
        assert logreg.status.value == "completed"
        assert logreg.metric("test_accuracy") > 0.9
        assert majority.metric("test_accuracy") < 0.2
        assert {f"test_recall_{digit}" for digit in range(10)} <= set(logreg.metrics)
        assert logreg.params["model"] == "logistic_regression"
        assert logreg.tags["quickstart.stage"] == "baseline"
        assert f"{logreg.metric('test_accuracy'):.3f}" in result.stdout

        paths = {a.path: a for a in store.metadata.list_artifacts(logreg.id)}
        assert {"confusion_matrix.csv", "model.npz"} <= set(paths)
        if importlib.util.find_spec("matplotlib") is not None:  # the PNG is optional
            png = store.blobs.get_bytes(paths["confusion_matrix.png"].blob_hash)
            assert png.startswith(b"\x89PNG")
        matrix_csv = store.blobs.get_bytes(paths["confusion_matrix.csv"].blob_hash).decode()
        header, *rows = matrix_csv.strip().splitlines()
        assert header.split(",")[1:] == [str(d) for d in range(10)]
        matrix = np.array([[int(v) for v in row.split(",")[1:]] for row in rows])
        assert matrix.sum() == int(logreg.params["n_test"])
        assert np.trace(matrix) / matrix.sum() == pytest.approx(logreg.metric("test_accuracy"))

        # The weights are plain arrays: they load without pickle and rebuild the predictor.
        weights = np.load(
            io.BytesIO(store.blobs.get_bytes(paths["model.npz"].blob_hash)), allow_pickle=False
        )
        from sklearn.datasets import load_digits

        digits = load_digits()
        scaled = (digits.data - weights["scaler_mean"]) / weights["scaler_scale"]
        logits = scaled @ weights["coef"].T + weights["intercept"]
        predicted = weights["classes"][np.argmax(logits, axis=1)]
        assert (predicted == digits.target).mean() > 0.95

        # The whole loop ran: the retrained model is in production and, from the evidence
        # the run recorded, scores in the "reasonably tested" band or above.
        from stackml.checks import check

        production = store.metadata.get_model_alias("digits", "production")
        card = check(f"digits@{production}", store=store)
        assert card.score > 2, card.to_dict()["sections"]
        assert "in production scores" in result.stdout
    finally:
        store.close()


def test_quickstart_serves_its_store_on_a_free_port_when_the_default_is_taken(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        process = subprocess.Popen(
            [
                str(STACKML_BIN),
                "quickstart",
                "--dir",
                str(tmp_path / "qs"),
                "--port",
                str(busy),
                "--until",
                "baseline",
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=subprocess_env(COLUMNS="200"),
        )
        try:
            assert process.stdout is not None
            url = None
            lines = []
            for raw in process.stdout:
                line = raw.decode()
                lines.append(line)
                found = re.search(r"Open (http://127\.0\.0\.1:(\d+))", line)
                if found:
                    url = found.group(1)
                    assert int(found.group(2)) != busy
                    break
            assert url is not None, "".join(lines)
            assert any(f"Port {busy} is taken" in line for line in lines)
            wait_for_health(f"{url}/health", process)
        finally:
            stop(process)
