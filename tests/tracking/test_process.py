"""Durability across process death: SIGKILL after flush, and the flush at interpreter exit."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import stackml
from stackml.store import RunStatus

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")

KILLED_CHILD = textwrap.dedent(
    """
    import stackml

    run = stackml.start_run(project="kill", capture_environment=False)
    print(run.id, flush=True)
    step = 0
    while True:
        for _ in range(500):
            run.log_metrics({"a": step, "b": 2.0 * step}, step=step)
            step += 1
        stackml.flush()
        print(step, flush=True)
    """
)

EXITING_CHILD = textwrap.dedent(
    """
    import stackml

    run = stackml.start_run(project="exit", capture_environment=False)
    print(run.id, flush=True)
    for step in range(30_000):
        run.log_metrics({"a": step, "b": -step}, step=step)
    # No flush and no finish: the exit hook must write every point and close the run.
    """
)


def _child(script: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKML_")}
    return subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_sigkill_keeps_every_flushed_point(tmp_path: Path) -> None:
    proc = _child(KILLED_CHILD, tmp_path)
    assert proc.stdout is not None
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read() if proc.stderr else ""
        flushed = 0
        for _ in range(6):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            flushed = int(line)
        proc.send_signal(signal.SIGKILL)  # mid-stream: more points are being logged now
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert flushed >= 3000
    db = tmp_path / ".stackml" / "stackml.db"
    assert _integrity(db) == "ok"
    stackml.tracking.set_tracking_uri(str(tmp_path))
    history = stackml.metric_history(run_id, "a")
    steps = [step for step, _, _ in history]
    assert steps[:flushed] == list(range(flushed))  # every flushed point, in order
    assert len(set(steps)) == len(steps)
    b = dict((s, v) for s, _, v in stackml.metric_history(run_id, "b"))
    assert all(b[s] == 2.0 * s for s in range(flushed))
    assert stackml.get_run(run_id).status is RunStatus.RUNNING


def test_exit_hook_writes_queued_points_and_finishes_the_run(tmp_path: Path) -> None:
    proc = _child(EXITING_CHILD, tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "could not be written" not in err
    run_id = out.strip()
    stackml.tracking.set_tracking_uri(str(tmp_path))
    assert len(stackml.metric_history(run_id, "a")) == 30_000
    assert stackml.metric_history(run_id, "b")[-1][0] == 29_999
    run = stackml.get_run(run_id)
    assert run.status is RunStatus.COMPLETED
    assert run.metrics["b"].latest == -29_999
    assert _integrity(tmp_path / ".stackml" / "stackml.db") == "ok"


CRASHING_CHILD = textwrap.dedent(
    """
    import stackml

    run = stackml.start_run(project="crash", capture_environment=False)
    print(run.id, flush=True)
    for step in range(10):
        run.log_metrics({"a": step}, step=step)
    raise RuntimeError("boom")
    """
)


def test_exit_hook_marks_a_crashed_script_failed(tmp_path: Path) -> None:
    proc = _child(CRASHING_CHILD, tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "RuntimeError: boom" in err
    stackml.tracking.set_tracking_uri(str(tmp_path))
    run = stackml.get_run(out.strip())
    assert run.status is RunStatus.FAILED
    assert len(stackml.metric_history(run.id, "a")) == 10


UNWRITABLE_CHILD = textwrap.dedent(
    """
    import stackml

    run = stackml.start_run(project="lost", capture_environment=False)
    run.finish()
    run.store.metadata.delete_run(run.id)
    for step in range(100):
        run.log_metrics({"a": step, "b": step}, step=step)  # the run is gone: writes fail
    """
)


def test_exit_hook_reports_points_it_could_not_write(tmp_path: Path) -> None:
    proc = _child(UNWRITABLE_CHILD, tmp_path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "stackml: 200 metric points could not be written before exit" in err
