"""Exact resume: a run killed with SIGKILL and resumed gives the uninterrupted run's losses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("resume_script.py")


def _run(ckpt: Path, losses: Path, sleep: float, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STACKML_TRACKING_URI": str(ckpt.parent / "store")}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(ckpt), str(losses), str(sleep), *extra], env=env
    )


def _read(path: Path) -> list[tuple[int, str]]:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(int(step), value) for step, value in rows]


@pytest.mark.slow
def test_resume_after_sigkill_replays_the_same_losses(tmp_path: Path) -> None:
    full = tmp_path / "full.txt"
    assert _run(tmp_path / "ck-full", full, 0.0).wait(timeout=120) == 0
    reference = dict(_read(full))
    assert len(reference) == 24  # 4 epochs x 6 batches

    part = tmp_path / "part.txt"
    proc = _run(tmp_path / "ck", part, 0.25)
    deadline = time.monotonic() + 120
    while (not part.exists() or len(_read(part)) < 10) and time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = len(_read(part))
    assert killed_at < 24

    assert _run(tmp_path / "ck", part, 0.0, "resume").wait(timeout=120) == 0
    rows = _read(part)
    resumed = rows[killed_at:]
    # The resumed run starts after the last complete checkpoint (every 4 steps) ...
    assert resumed[0][0] == (killed_at // 4) * 4 + 1 or resumed[0][0] <= killed_at
    assert resumed[-1][0] == 24
    # ... and every loss, bit for bit, is the uninterrupted run's.
    for step, value in rows:
        assert reference[step] == value, f"step {step} differs"
    # Retention kept the last two checkpoints only.
    kept = sorted(p.name for p in (tmp_path / "ck").glob("step-*"))
    assert kept == ["step-000000020", "step-000000024"]
