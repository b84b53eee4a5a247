"""The pipeline pages: list, pipeline (DAG, schedule, runs) and run (DAG with statuses, logs)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stackml.pipelines.scheduler import add_trigger, schedule
from stackml.server import create_app
from stackml.store import Store, open_store
from tests.pipelines import steps_demo
from tests.server.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, dict[str, str]]]:
    store = open_store(str(tmp_path_factory.mktemp("ui-pipelines") / "store"))
    os.environ["STACKML_TEST_FAIL"] = "1"
    try:
        failed = steps_demo.resumable.run({"n": 5}, store=store)
    finally:
        del os.environ["STACKML_TEST_FAIL"]
    resumed = steps_demo.resumable.run({"n": 5}, store=store, resume=failed.run_id)
    first = steps_demo.numbers.run({"n": 8}, store=store)
    cached = steps_demo.numbers.run({"n": 8}, store=store)
    schedule(store, "numbers", "0 3 * * *")
    add_trigger(store, "numbers", "digits")
    ids = {
        "failed": failed.run_id,
        "resumed": resumed.run_id,
        "first": first.run_id,
        "cached": cached.run_id,
    }
    yield store, ids
    store.close()


@pytest.fixture(scope="module")
def server(seeded: tuple[Store, dict[str, str]]) -> Iterator[LiveServer]:
    live = LiveServer(create_app(seeded[0])).start()
    yield live
    live.stop()


def test_pages_render_the_dag_statuses_and_links(
    seeded: tuple[Store, dict[str, str]], server: LiveServer
) -> None:
    store, ids = seeded
    with httpx.Client(base_url=server.url, timeout=30) as client:
        listing = client.get("/pipelines").text
        assert 'href="/pipelines"' in listing  # in the navigation
        assert 'data-pipeline="numbers"' in listing and 'data-pipeline="resumable"' in listing
        assert "0 3 * * *" in listing and 'href="/datasets/digits"' in listing
        pipeline = client.get("/pipelines/numbers").text
        assert 'id="pipeline-dag"' in pipeline and 'data-step="split"' in pipeline
        assert 'data-source="make_numbers" data-target="split"' in pipeline
        assert ids["cached"] in pipeline and "3 / 3" in pipeline
        failed = client.get(f"/pipelines/runs/{ids['failed']}").text
        assert 'data-step="flaky" data-status="failed"' in failed
        assert 'data-step="other_branch" data-status="succeeded"' in failed
        assert "flaky step failed on purpose" in failed
        cached = client.get(f"/pipelines/runs/{ids['cached']}").text
        assert cached.count('data-cache-hit="true"') == 3 and "cache hit" in cached
        first = client.get(f"/pipelines/runs/{ids['first']}").text
        assert "making 8 numbers" in first  # the step's log
        assert "/artifacts/preview?path=outputs%2Foutput" in first
        make = store.metadata.list_step_runs(ids["first"])[0]
        assert f'href="/runs/{make.run_id}"' in first
        digest = make.outputs[0]["hash"]
        artifact = client.get(f"/pipelines/artifacts/{digest}").text
        assert make.run_id[:12] in artifact
        resumed = client.get(f"/pipelines/runs/{ids['resumed']}").text
        assert 'data-status="resumed"' in resumed and ids["failed"][:12] in resumed
        assert client.get("/pipelines/missing").status_code == 404
        assert client.get("/pipelines/runs/" + "0" * 32).status_code == 404
        assert client.get("/pipelines/artifacts/" + "0" * 64).status_code == 404
        search = client.get("/search", params={"q": "numb"}).text
        assert 'href="/pipelines/numbers"' in search


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="Chromium is not installed (apt-get install chromium)",
)
def test_browse_pipelines_in_chromium(
    seeded: tuple[Store, dict[str, str]], server: LiveServer, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    _, ids = seeded
    problems: list[str] = []
    shots = DOCS_IMG if os.environ.get("UPDATE_DOC_SCREENSHOTS") == "1" else tmp_path
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            for theme in ("light", "dark"):
                context = browser.new_context(
                    viewport={"width": 1400, "height": 900}, color_scheme=theme
                )
                tab: Any = context.new_page()
                tab.on("dialog", lambda d: (problems.append(d.message), d.dismiss()))
                tab.on("pageerror", lambda e: problems.append(str(e)))
                tab.goto(f"{server.url}/pipelines")
                tab.click("#pipelines-table >> text=resumable")
                tab.wait_for_selector("#pipeline-runs")
                tab.screenshot(path=str(shots / f"pipelines-pipeline-{theme}.png"))
                tab.click(f"#pipeline-runs a[href='/pipelines/runs/{ids['failed']}']")
                tab.wait_for_selector("#pipeline-dag")
                assert tab.locator("#pipeline-dag .node").count() == 4
                colour = tab.eval_on_selector(
                    "g.node[data-status='failed'] rect", "r => getComputedStyle(r).stroke"
                )
                ok = tab.eval_on_selector(
                    "g.node[data-status='succeeded'] rect", "r => getComputedStyle(r).stroke"
                )
                assert colour != ok  # status colours differ
                tab.screenshot(path=str(shots / f"pipelines-run-{theme}.png"), full_page=True)
                tab.click("g.node[data-step='flaky']")
                assert tab.evaluate("location.hash") == "#step-flaky"
                card = tab.locator("#step-flaky")
                card.locator("summary").click()
                assert "failed on purpose" in card.locator("pre.step-log").inner_text()
                tab.click("#tracked-run-link")
                tab.wait_for_url(f"**/runs/{ids['failed']}")
                context.close()
        finally:
            browser.close()
    assert not problems, problems
    assert (shots / "pipelines-run-dark.png").stat().st_size > 10_000
