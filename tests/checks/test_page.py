"""The ML Test Score page of a model version, over HTTP and in Chromium.

With ``UPDATE_DOC_SCREENSHOTS=1`` the screenshot goes to ``docs/img/`` for the guide.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stackml.server import create_app
from tests.checks.conftest import PROJECT, Trained
from tests.server.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture
def server(trained: Trained) -> Iterator[LiveServer]:
    live = LiveServer(create_app(trained.store)).start()
    yield live
    live.stop()


def test_page_lists_every_test_with_its_evidence(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        page = http.get(f"/models/{PROJECT}/versions/1/check")
        assert page.status_code == 200
        assert page.text.count('data-test="') == 28
        assert "research project" in page.text
        assert 'data-test="data-1" data-score="1.0"' in page.text
        version_page = http.get(f"/models/{PROJECT}/versions/1")
        assert f'href="/models/{PROJECT}/versions/1/check"' in version_page.text
        missing = http.get(f"/models/{PROJECT}/versions/9/check")
        assert missing.status_code == 404 and "Traceback" not in missing.text
        bad = http.get("/models/no%20such/versions/1/check")
        assert 400 <= bad.status_code < 500


@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="Chromium is not installed (apt-get install chromium)",
)
def test_page_renders_in_chromium(server: LiveServer, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    folder = DOCS_IMG if os.environ.get("UPDATE_DOC_SCREENSHOTS") else tmp_path
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            tab: Any = browser.new_page(viewport={"width": 1300, "height": 1000})
            tab.on("pageerror", lambda e: problems.append(str(e)))
            tab.goto(f"{server.url}/models/{PROJECT}/versions/1/check")
            tab.wait_for_selector(".mts-summary")
            assert tab.locator("tr[data-test]").count() == 28
            sections = tab.locator(".mts-section").all_inner_texts()
            assert [s.split("\n")[0].lower() for s in sections] == [
                "data",
                "model",
                "infrastructure",
                "monitoring",
            ]
            tab.screenshot(path=str(folder / "checks-scorecard.png"), full_page=False)
        finally:
            browser.close()
    assert not problems, problems
    assert (folder / "checks-scorecard.png").stat().st_size > 10_000
