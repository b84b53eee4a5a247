"""The dataset pages of the web UI: list, version page and diff view, over HTTP and in
headless Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import stackml.data as sd
from stackml.server import create_app
from stackml.store import Store, open_store
from stackml.store.entities import LineageEdge
from tests.server.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, dict[str, str]]]:
    from PIL import Image

    root = tmp_path_factory.mktemp("ui-datasets")
    store = open_store(str(root / "store"))
    images = root / "images"
    images.mkdir()
    rows = []
    for i in range(16):
        pixels = np.zeros((8, 8), np.uint8)
        pixels[1:7, 2 + i % 4] = 255
        Image.fromarray(pixels).save(images / f"{i}.png")
        rows.append({"path": f"{i}.png", "label": i % 4, "note": XSS if i == 0 else f"n{i}"})
    v1 = sd.add(
        "digits",
        images,
        table=pd.DataFrame(rows),
        path_column="path",
        label="label",
        key="path",
        split={"train": 0.5, "test": 0.5},
        message=XSS,
        store=store,
    )
    (images / "extra.png").write_bytes((images / "0.png").read_bytes())
    rows.append({"path": "extra.png", "label": 1, "note": "new"})
    v2 = sd.add(
        "digits",
        images,
        table=pd.DataFrame(rows),
        path_column="path",
        label="label",
        key="path",
        message="one more",
        store=store,
    )
    sd.tag("digits", "prod", "v1", store=store)
    run = store.metadata.create_run("digits", name="trained-on-v1")
    store.metadata.add_lineage(
        LineageEdge("dataset_version", v1.ref, "run", run.id, "input", 0, {})
    )
    frame = pd.DataFrame({"x": np.linspace(0, 1, 50), "y": np.arange(50) % 2})
    sd.add("tabular", frame, store=store)
    yield store, {"v1": v1.id, "v2": v2.id, "run": run.id}
    store.close()


@pytest.fixture(scope="module")
def server(seeded: tuple[Store, dict[str, str]]) -> Iterator[LiveServer]:
    live = LiveServer(create_app(seeded[0])).start()
    yield live
    live.stop()


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_list_links_every_dataset(http: httpx.Client, seeded: tuple[Store, dict[str, str]]) -> None:
    page = http.get("/datasets")
    assert page.status_code == 200
    assert 'href="/datasets/digits"' in page.text and "tabular" in page.text
    assert seeded[1]["v2"] in page.text
    assert 'href="/datasets"' in http.get("/runs").text  # in the navigation
    latest = http.get("/datasets/digits", follow_redirects=False)
    assert latest.status_code == 307 and latest.headers["location"].endswith(seeded[1]["v2"])


def test_version_page_shows_schema_preview_thumbnails_lineage_and_aliases(
    http: httpx.Client, seeded: tuple[Store, dict[str, str]]
) -> None:
    ids = seeded[1]
    page = http.get(f"/datasets/digits/versions/{ids['v1']}")
    assert page.status_code == 200
    text = page.text
    assert 'id="schema"' in text and "category" in text and "train 8" in text
    assert text.count('src="data:image/png;base64,') == 12
    assert 'id="preview"' in text and "first 16 rows" in text
    assert f'href="/runs/{ids["run"]}"' in text
    assert "prod" in text and "removed" not in text.split('id="aliases"')[1][:50]
    assert XSS not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    tab = http.get("/datasets/tabular/versions/v1").text
    assert '<svg class="ds-hist"' in tab


def test_diff_view(http: httpx.Client, seeded: tuple[Store, dict[str, str]]) -> None:
    ids = seeded[1]
    page = http.get("/datasets/digits/diff", params={"a": ids["v1"], "b": "v2"})
    assert page.status_code == 200
    assert "extra.png" in page.text and "+1" in page.text
    assert "16 → 17" in page.text


def test_bad_refs_render_an_error_page(http: httpx.Client) -> None:
    assert http.get("/datasets/nope").status_code == 404
    assert http.get("/datasets/digits/versions/v99").status_code == 404
    assert http.get("/datasets/digits/diff", params={"a": "v1", "b": "zz"}).status_code == 404
    assert http.get("/datasets/digits/diff").status_code in (400, 422)


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="Chromium is not installed (apt-get install chromium)",
)
def test_browse_datasets_in_chromium(server: LiveServer) -> None:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            tab: Any = browser.new_page(viewport={"width": 1400, "height": 900})
            tab.on("dialog", lambda d: (problems.append(d.message), d.dismiss()))
            tab.on("pageerror", lambda e: problems.append(str(e)))
            tab.goto(f"{server.url}/datasets")
            tab.click("#datasets-table >> text=digits")
            tab.wait_for_selector("#schema")
            assert tab.locator("#thumbnails img").count() == 12
            width = tab.eval_on_selector("#thumbnails img", "img => img.naturalWidth")
            assert width == 8  # the thumbnail decoded as a real image
            tab.select_option("select[name=a]", index=0)
            tab.click("text=Diff")
            tab.wait_for_selector("#file-changes")
            assert "extra.png" in tab.inner_text("#file-changes")
        finally:
            browser.close()
    assert not problems, problems
