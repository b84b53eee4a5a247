"""The registry's web pages: models list, model page and version page, over HTTP and in Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import stackml.data as sd
from stackml.registry import promote, register, rollback, set_alias, set_gates
from stackml.server import create_app
from stackml.store import Store, open_store
from stackml.store.entities import Artifact
from tests.registry.conftest import SIGNATURE
from tests.server.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
DOC_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
XSS = "<img src=x onerror=alert(1)>"


def _model_run(store: Store, name: str, accuracy: float, size: int, dataset: str | None) -> str:
    meta = store.metadata
    run = meta.create_run("digits", name=name, tags={"stackml.git.commit": "3f9c2a1" + "0" * 33})
    if dataset:
        version = store.metadata.get_dataset_version(dataset, "latest")
        from stackml.store.entities import LineageEdge

        meta.add_lineage(LineageEdge("dataset_version", version.ref, "run", run.id, "input", 0, {}))
    from stackml.store.entities import MetricPoint

    meta.log_metrics(
        run.id,
        [
            MetricPoint("test_accuracy", accuracy, 0, 1),
            MetricPoint("latency_ms", 2.0 * size / 1e5, 0, 1),
        ],
    )
    data = np.random.default_rng(size).bytes(size)
    digest = store.blobs.put_bytes(data)
    meta.log_artifact(
        Artifact(run.id, "model/model.onnx", digest, size, "application/octet-stream", 0)
    )
    return run.id


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store(str(tmp_path_factory.mktemp("ui-models") / "store"))
    frame = pd.DataFrame(
        {
            "alcohol": np.linspace(11, 14, 90),
            "ash": np.linspace(1, 3, 90),
            "label": np.arange(90) % 3,
        }
    )
    sd.add("wine", frame, label="label", store=store)
    fp32 = _model_run(store, "cnn-fp32", 0.972, 480_000, "wine")
    register(
        "digits",
        run_id=fp32,
        artifact_path="model",
        format="onnx",
        signature=SIGNATURE,
        description=XSS,
        tags={"owner": "vision"},
        store=store,
    )
    better = _model_run(store, "cnn-wide", 0.981, 520_000, "wine")
    register(
        "digits",
        run_id=better,
        artifact_path="model",
        format="onnx",
        signature=SIGNATURE,
        description="wider CNN",
        store=store,
    )
    int8 = _model_run(store, "cnn-int8", 0.979, 130_000, None)
    register(
        "digits",
        run_id=int8,
        artifact_path="model",
        format="onnx",
        signature=SIGNATURE,
        source_version="digits@2",
        tags={"compression": "int8 dynamic"},
        description="int8 of v2",
        store=store,
    )
    set_gates("digits", ["metric:test_accuracy>=0.97"], store=store)
    store.metadata.update_registered_model("digits", description="8x8 handwritten digits")
    promote("digits@1", reason="first model above the baseline", author="ada", store=store)
    promote("digits@2", reason="wider CNN wins on the shifted test set", author="ada", store=store)
    rollback("digits", reason="p99 latency regression", author="bob", store=store)
    promote("digits@3", reason="int8: 3.7x smaller, same accuracy", author="bob", store=store)
    set_alias("digits@2", "staging", reason="shadow traffic", author="ada", store=store)
    lone = _model_run(store, "tabular", 0.9, 2_000, "wine")
    register(
        "wine-clf",
        run_id=lone,
        artifact_path="model",
        format="onnx",
        signature={
            "inputs": [{"name": "features", "dtype": "float32", "shape": [-1, 2]}],
            "outputs": [],
            "task": "other",
        },
        store=store,
    )
    yield store
    store.close()


@pytest.fixture(scope="module")
def server(seeded: Store) -> Iterator[LiveServer]:
    live = LiveServer(create_app(seeded)).start()
    yield live
    live.stop()


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_models_list(http: httpx.Client) -> None:
    page = http.get("/models")
    assert page.status_code == 200
    assert 'href="/models/digits"' in page.text and "wine-clf" in page.text
    assert "production · v3" in page.text and 'href="/models"' in page.text


def test_model_page_shows_versions_gates_and_audit_trail(http: httpx.Client) -> None:
    page = http.get("/models/digits")
    assert page.status_code == 200
    assert "metric:test_accuracy&gt;=0.97" in page.text
    assert "p99 latency regression" in page.text and "bob" in page.text
    first = http.get("/models/digits/versions/1").text
    assert XSS not in first and "&lt;img src=x" in first


def test_version_page(http: httpx.Client, seeded: Store) -> None:
    page = http.get("/models/digits/versions/2")
    assert page.status_code == 200
    text = page.text
    for section in (
        'id="lineage"',
        'id="signature"',
        'id="metrics"',
        'id="aliases"',
        'id="variants"',
        'id="downloads"',
    ):
        assert section in text
    assert 'href="/models/digits/versions/3"' in text and "int8 dynamic" in text  # variants table
    assert "0.25\u00d7" in text  # 130 kB vs 520 kB
    assert "wider CNN wins" in text and "rollback" in text
    assert "/datasets/wine/versions/" in text and "cnn-wide" in text
    run_id = seeded.metadata.get_model_version("digits", 2).run_id
    link = f"/runs/{run_id}/artifacts/raw?path=model%2Fmodel.onnx"
    assert link in text
    assert http.get(link).status_code == 200
    bundle = http.get("/models/digits/versions/2/download")
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
    import io
    import zipfile

    assert zipfile.ZipFile(io.BytesIO(bundle.content)).namelist() == ["model.onnx"]
    assert http.get("/models/digits/versions/9/download").status_code == 404
    by_alias = http.get("/models/digits/versions/production")
    assert by_alias.status_code == 200 and "int8 of v2" in by_alias.text
    lone = http.get("/models/wine-clf/versions/1").text
    assert "alcohol" in lone and 'id="features"' in lone  # record features from the dataset schema


def test_bad_refs_render_error_pages(http: httpx.Client) -> None:
    assert http.get("/models/missing").status_code == 404
    assert http.get("/models/digits/versions/9").status_code == 404
    assert http.get("/models/digits/versions/nope").status_code == 404
    assert http.get("/models/bad%20name").status_code == 400


def test_run_pages_link_to_the_versions_they_produced(http: httpx.Client, seeded: Store) -> None:
    run_id = seeded.metadata.get_model_version("digits", 1).run_id
    page = http.get(f"/runs/{run_id}")
    assert page.status_code == 200 and 'href="/models/digits/versions/1"' in page.text


def test_search_finds_models(http: httpx.Client) -> None:
    page = http.get("/search", params={"q": "digi"})
    assert page.status_code == 200 and 'href="/models/digits"' in page.text


def _shot(tab: Any, folder: Path, name: str) -> None:
    """Screenshot the page; copy it to the user guide with ``UPDATE_DOC_SCREENSHOTS=1``."""
    shot = folder / name
    tab.screenshot(path=str(shot), full_page=True)
    if os.environ.get("REGISTRY_SHOT_DIR"):
        shutil.copy(shot, Path(os.environ["REGISTRY_SHOT_DIR"]) / name)
    if os.environ.get("UPDATE_DOC_SCREENSHOTS") == "1" and name.startswith("model-version"):
        DOC_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, DOC_IMG / name)


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="Chromium is not installed (apt-get install chromium)",
)
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_browse_models_in_chromium(server: LiveServer, theme: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            tab: Any = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.on("dialog", lambda d: (problems.append(d.message), d.dismiss()))
            tab.on("pageerror", lambda e: problems.append(str(e)))
            tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            tab.add_init_script(f"localStorage.setItem('stackml-theme', '{theme}')")
            tab.goto(f"{server.url}/models")
            _shot(tab, tmp_path, f"models-{theme}.png")
            tab.click("#models-table >> text=digits")
            expect(tab.locator("h1")).to_contain_text("digits")
            expect(tab.locator("#alias-history")).to_contain_text("p99 latency regression")
            _shot(tab, tmp_path, f"model-{theme}.png")
            tab.click("#versions >> text=v2")
            expect(tab.locator("#lineage svg")).to_be_visible()
            box = tab.locator("#lineage svg").bounding_box()
            assert box is not None and box["width"] > 600 and box["height"] > 60
            assert tab.locator("#lineage .node").count() == 4
            expect(tab.locator("#variants")).to_contain_text("digits@3")
            _shot(tab, tmp_path, f"model-version-{theme}.png")
            tab.click("#lineage >> text=digits@3")
            expect(tab.locator("h1")).to_contain_text("v3")
        finally:
            browser.close()
    assert not problems, problems
