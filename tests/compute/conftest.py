"""Fixtures for compute tests: a store in the test's folder and fast worker timings."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import stackml.tracking
from stackml.compute.worker import JobWorker, WorkerSettings
from stackml.store import Store, open_store

REPO = Path(__file__).resolve().parents[2]
#: Heartbeats every 0.1 s and leases of 1 s keep the fault tests short.
FAST = WorkerSettings(lease_s=1.0, heartbeat_s=0.1, poll_s=0.02, log_flush_s=0.1)
#: Lets a job's process import the test package (for callable targets).
TEST_ENV = {"PYTHONPATH": str(REPO)}


@pytest.fixture(autouse=True)
def _clean_tracking() -> Iterator[None]:
    stackml.tracking.reset()
    yield
    stackml.tracking.reset()


@pytest.fixture
def store(_isolated_env: Path) -> Iterator[Store]:
    opened = open_store(str(_isolated_env))
    yield opened
    opened.close()


@contextmanager
def worker_thread(store: Store, **options: object) -> Iterator[JobWorker]:
    """A worker running in a background thread until the block ends."""
    worker = JobWorker(store, settings=options.pop("settings", FAST), **options)  # type: ignore[arg-type]
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=30)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(predicate: object, timeout: float = 30.0) -> None:
    """Poll ``predicate()`` until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.05)


def read_pid(path: Path) -> int:
    wait_until(lambda: path.exists() and path.read_text().strip())
    return int(path.read_text().strip())


def environ_without_stackml() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("STACKML_")}
