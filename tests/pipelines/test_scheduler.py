"""Cron schedules (missed-run policies, restarts of a real server) and dataset triggers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from stackml.errors import InvalidInput, NotFound
from stackml.pipelines.scheduler import Scheduler, add_trigger, schedule, unschedule
from stackml.server import create_app
from stackml.store import Store, open_store
from tests.pipelines import steps_demo

HOUR = 3600.0
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, on the hour


class Clock:
    """A settable clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Launches:
    """Records the runs a scheduler starts instead of running them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], str]] = []

    def __call__(self, pipeline: str, params: Mapping[str, Any], trigger: str) -> None:
        self.calls.append((pipeline, dict(params), trigger))


@pytest.fixture
def registered(store: Store) -> Store:
    steps_demo.numbers.run({"n": 2}, store=store)
    return store


@pytest.mark.parametrize(("policy", "expected"), [("skip", 1), ("catch_up", 3)])
def test_missed_runs_follow_the_policy(registered: Store, policy: str, expected: int) -> None:
    clock = Clock(T0 + 60)
    saved = schedule(
        registered, "numbers", "0 * * * *", policy=policy, params={"n": 3}, clock=clock
    )
    assert saved.next_fire_at == int((T0 + HOUR) * 1000)
    launches = Launches()
    scheduler = Scheduler(registered, clock=clock, launch=launches)
    assert scheduler.tick() == []  # nothing due yet
    clock.now = T0 + 3 * HOUR + 1800  # three fire times passed while nothing ran
    fired = scheduler.tick()
    assert len(fired) == expected and len(launches.calls) == expected
    assert launches.calls[-1][:2] == ("numbers", {"n": 3})
    assert fired[-1] == "schedule:2027-01-15T11:00"
    assert scheduler.tick() == []  # the same time never fires twice
    after = registered.metadata.list_schedules()[0]
    assert after.next_fire_at == int((T0 + 4 * HOUR) * 1000)
    # A second scheduler on the same store does not fire it again either.
    assert Scheduler(registered, clock=clock, launch=Launches()).tick() == []


def test_schedule_validation(registered: Store) -> None:
    with pytest.raises(InvalidInput):
        schedule(registered, "numbers", "every day")
    with pytest.raises(InvalidInput):
        schedule(registered, "numbers", "0 3 * * *", policy="whenever")
    with pytest.raises(NotFound):
        schedule(registered, "unknown", "0 3 * * *")
    schedule(registered, "numbers", "0 3 * * *")
    unschedule(registered, "numbers")
    with pytest.raises(NotFound):
        unschedule(registered, "numbers")


def test_new_dataset_version_triggers_a_run(registered: Store, tmp_path: Path) -> None:
    from stackml.data import add as add_dataset

    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "a.txt").write_text("1")
    add_dataset("raw", folder, store=registered)
    trigger = add_trigger(registered, "numbers", "raw")
    assert trigger.last_version == 1  # only versions added from now on count
    scheduler = Scheduler(registered)
    assert scheduler.tick() == []
    (folder / "b.txt").write_text("2")
    add_dataset("raw", folder, store=registered)
    assert scheduler.tick() == ["dataset:raw@v2"]
    assert scheduler.tick() == []
    run_ids = scheduler.wait_idle()
    scheduler.stop()
    assert len(run_ids) == 1 and run_ids[0] is not None
    run = registered.metadata.get_pipeline_run(run_ids[0])
    assert run.trigger == "dataset:raw@v2" and run.status == "succeeded"


class _Server:
    """A real uvicorn server with the app's lifespan on (so its scheduler runs)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        app = create_app(store)
        app.state.scheduler_poll_s = 0.1
        app.state.scheduler_clock = clock
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.sock.close()


def test_schedule_survives_a_server_restart(tmp_path: Path) -> None:
    root = str(tmp_path / "served")
    clock = Clock(T0 + 10)
    store = open_store(root)
    steps_demo.numbers.run({"n": 2}, store=store)
    first = _Server(store, clock)
    try:
        client = open_store(first.url)  # the schedule goes in through the REST API
        schedule(client, "numbers", "* * * * *", params={"n": 5}, clock=clock)
        client.close()
        time.sleep(0.5)
        assert [r.trigger for r in store.metadata.list_pipeline_runs("numbers")] == ["manual"]
    finally:
        first.stop()
        store.close()

    clock.now = T0 + 90  # the minute passed while the server was down
    reopened = open_store(root)
    second = _Server(reopened, clock)
    try:
        deadline = time.monotonic() + 60
        while True:
            runs = [
                r
                for r in reopened.metadata.list_pipeline_runs("numbers")
                if r.trigger.startswith("schedule:") and r.status != "running"
            ]
            if runs or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert runs, "the schedule did not fire after the restart"
        assert runs[0].trigger == "schedule:2027-01-15T08:01"
        assert runs[0].status == "succeeded" and runs[0].params == {"n": 5}
    finally:
        second.stop()
        reopened.close()
