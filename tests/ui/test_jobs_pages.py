"""The compute pages of the web UI: jobs (queue, running, history, live log) and workers."""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stackml.compute import make_spec
from stackml.compute.worker import JobWorker, WorkerSettings
from stackml.server import create_app
from stackml.store import Store, open_store
from stackml.store.jobs_base import Capacity
from tests.server.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
FAST = WorkerSettings(lease_s=5.0, heartbeat_s=0.2, poll_s=0.05, log_flush_s=0.2)
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(str(tmp_path / "ui-jobs"))
    yield opened
    opened.close()


@pytest.fixture
def server(store: Store) -> Iterator[LiveServer]:
    live = LiveServer(create_app(store)).start()
    yield live
    live.stop()


def test_pages_show_queue_running_history_and_workers(store: Store, server: LiveServer) -> None:
    meta = store.metadata
    queued = meta.submit_job(
        make_spec(["echo", XSS], name="waiting", priority=3, cpus=4), user="alice"
    )
    running = meta.submit_job(make_spec(["sleep", "1"], name="busy", gpus=1, cpus=2))
    worker = meta.register_worker(
        name="gpu-box", host="box", cpus=8, gpus=["0", "1"], memory_mb=0, lease_s=30
    )
    meta.claim_jobs(worker.id, Capacity(cpus=2, gpus=["1"]))
    meta.append_job_log(running.id, f"epoch 1 {XSS}\n")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        page = client.get("/jobs")
        assert page.status_code == 200
        html = page.text
        assert 'href="/jobs"' in html and 'href="/workers"' in html  # in the navigation
        queue_part = html.split('id="queued-jobs"')[1].split("</table>")[0]
        assert queued.id in queue_part and running.id not in queue_part
        running_part = html.split('id="running-jobs"')[1].split("</table>")[0]
        assert running.id in running_part and "2 cpu · 1 gpu" in running_part
        assert worker.id[:8] in running_part
        fragment = client.get("/jobs", headers={"HX-Request": "true"}).text
        assert fragment.startswith('<div id="jobs-region"') or 'id="jobs-region"' in fragment
        detail = client.get(f"/jobs/{queued.id}").text
        assert XSS not in detail and "&lt;img src=x onerror=alert(1)&gt;" in detail
        log = client.get(f"/jobs/{running.id}").text
        assert "epoch 1 &lt;img" in log and 'id="log-poller"' in log
        seq = store.metadata.read_job_log(running.id).next_seq
        meta.append_job_log(running.id, "epoch 2\n")
        more = client.get(f"/jobs/{running.id}/log", params={"after": seq}).text
        assert more.startswith('<span class="log-chunk">epoch 2\n</span>')
        assert f"after={seq + 8}" in more  # the poller continues from the new end
        workers = client.get("/workers").text
        assert "gpu-box" in workers and "1/2" in workers and "2/8" in workers
        assert client.get("/jobs/missing").status_code == 404
        assert client.get(f"/jobs/{running.id}/log", params={"after": -1}).status_code == 400


def test_people_see_only_their_own_jobs(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "auth"))
    meta = store.metadata
    meta.create_user("alice")
    meta.create_user("root", is_admin=True)
    alice = meta.create_token("alice", "t")[0]
    root = meta.create_token("root", "t")[0]
    mine = meta.submit_job(make_spec(["true"], name="alices"), user="alice")
    theirs = meta.submit_job(make_spec(["true"], name="bobs"), user="bob")
    live = LiveServer(create_app(store, auth=True)).start()
    try:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            assert client.get("/jobs").status_code in (401, 303, 307)
            as_alice = {"Authorization": f"Bearer {alice}"}
            html = client.get("/jobs", headers=as_alice).text
            assert mine.id in html and theirs.id not in html
            assert client.get(f"/jobs/{theirs.id}", headers=as_alice).status_code == 403
            assert client.get(f"/jobs/{theirs.id}/log", headers=as_alice).status_code == 403
            everything = client.get("/jobs", headers={"Authorization": f"Bearer {root}"}).text
            assert mine.id in everything and theirs.id in everything
    finally:
        live.stop()
        store.close()


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="Chromium is not installed (apt-get install chromium)",
)
def test_live_log_and_queue_update_in_the_browser(store: Store, server: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    code = "import time\nfor i in range(4):\n    print(f'step {i}', flush=True); time.sleep(0.6)\n"
    job = store.metadata.submit_job(make_spec([sys.executable, "-c", code], name="live"))
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            tab: Any = browser.new_page()
            tab.on("pageerror", lambda e: problems.append(str(e)))
            tab.goto(f"{server.url}/jobs")
            expect(tab.locator(f"#queued-jobs tr[data-job-id='{job.id}']")).to_be_visible()
            worker = JobWorker(store, cpus=1, settings=FAST)
            thread = threading.Thread(target=worker.run, kwargs={"until_idle": True})
            thread.start()
            try:
                tab.goto(f"{server.url}/jobs/{job.id}")
                log = tab.locator("#job-log")
                expect(log).to_contain_text("step 1", timeout=15_000)
                expect(log).to_contain_text("step 3", timeout=15_000)
                tab.goto(f"{server.url}/jobs")
                finished = tab.locator(f"#finished-jobs tr[data-job-id='{job.id}']")
                expect(finished).to_contain_text("succeeded", timeout=15_000)
                tab.goto(f"{server.url}/workers")
                expect(tab.locator("#workers-table")).to_be_visible()
            finally:
                thread.join(timeout=30)
        finally:
            browser.close()
    assert not problems, problems
    text = store.metadata.read_job_log(job.id).text
    assert text == "step 0\nstep 1\nstep 2\nstep 3\n"
