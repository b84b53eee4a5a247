"""The deployment pages and the playground, over HTTP and in Chromium (light and dark), with a
real serving process recording its deployment in the store the UI reads."""

from __future__ import annotations

import io
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from stackml.data.schema import Column, Schema
from stackml.registry.signature import Signature, TensorSpec
from stackml.server import create_app
from stackml.serving import EndpointSpec, ServingOptions, ServingServer, registry_loader
from stackml.store import Store
from tests.server.conftest import LiveServer
from tests.serving.helpers import free_port

CHROMIUM = "/usr/bin/chromium"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Store, ServingServer, LiveServer]]:
    """digits (sklearn on 8x8 pixels) and wine (records) served, with traffic and feedback."""
    from sklearn.datasets import load_digits, load_wine
    from sklearn.linear_model import LogisticRegression

    import stackml
    import stackml.tracking as tracking
    from stackml.registry import log_model, set_alias

    root = tmp_path_factory.mktemp("ui-serving")
    store = tracking.get_store(str(root / "store"))
    uri = str(store.location.root.parent)  # type: ignore[union-attr]
    digits = load_digits()
    wine = load_wine()
    names = ["alcohol", "malic_acid", "hue"]
    wine_x = wine.data[:, [0, 1, 10]].astype(np.float32)
    schema = Schema(tuple(Column(n, "float", nullable=False) for n in names))
    with stackml.start_run(project="digits", tracking_uri=uri, capture_environment=False) as run:
        clf = LogisticRegression(max_iter=300).fit(digits.data, digits.target)
        log_model(
            run,
            clf,
            "model",
            format="sklearn-onnx",
            example=digits.data[:4].astype(np.float32),
            classes=[str(c) for c in range(10)],
            register_as="digits",
        )
        wine_clf = LogisticRegression(max_iter=2000).fit(wine_x, wine.target)
        sig = Signature(
            inputs=(TensorSpec("input", "float32", (-1, 3)),),
            outputs=(
                TensorSpec("label", "int64", (-1,)),
                TensorSpec("probabilities", "float32", (-1, 3)),
            ),
            task="classification",
            classes=("barolo", "grignolino", "barbera"),
            probabilities="probabilities",
            input_schema=schema,
        )
        log_model(run, wine_clf, "wine", format="sklearn-onnx", signature=sig, register_as="wine")
    set_alias("digits@1", "production", store=store)
    loader, resolver = registry_loader(store)
    serving = ServingServer(
        [EndpointSpec("digits@production"), EndpointSpec("wine@1")],
        loader,
        options=ServingOptions(
            deployment="digits-prod", heartbeat_seconds=0.3, log_flush_seconds=0.2
        ),
        resolver=resolver,
        store=store,
        port=free_port(),
    ).start_in_thread()
    deadline = time.monotonic() + 60
    while httpx.get(serving.url + "/v2/health/ready").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with httpx.Client(base_url=serving.url, timeout=60) as c:
        for i in range(30):
            r = c.post(
                "/predict", json={"model": "digits", "inputs": {"input": [digits.data[i].tolist()]}}
            )
            assert r.status_code == 200
        c.post("/feedback", json={"request_id": r.json()["request_id"], "label": "9"})
    ui = LiveServer(create_app(store)).start()
    # the UI reads what the heartbeat and the log writer stored
    deadline = time.monotonic() + 30
    while store.metadata.get_deployment("digits-prod").metrics.get("requests_total", 0) < 30:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    yield store, serving, ui
    ui.stop()
    serving.stop()
    tracking.reset()


def _png(value: int) -> bytes:
    image = np.zeros((8, 8), np.uint8)
    image[1:7, 3:5] = value  # a vertical stroke, like a one
    buffer = io.BytesIO()
    Image.fromarray(image).resize((64, 64)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_pages_over_http(stack: tuple[Store, ServingServer, LiveServer]) -> None:
    _, serving, ui = stack
    with httpx.Client(base_url=ui.url, timeout=60) as c:
        listing = c.get("/deployments")
        assert listing.status_code == 200 and "digits-prod" in listing.text
        assert serving.url in listing.text
        page = c.get("/deployments/digits-prod")
        assert page.status_code == 200
        for text in (
            "Traffic split",
            "Live metrics",
            "Recent predictions",
            "p99 latency",
            "1 with feedback",
        ):
            assert text in page.text, text
        live = c.get("/deployments/digits-prod", headers={"hx-request": "true"})
        assert live.text.lstrip().startswith('<div id="deploy-live"')
        assert c.get("/deployments/nope").status_code == 404
        play = c.get("/deployments/digits-prod/playground")
        assert play.status_code == 200 and 'type="file"' in play.text
        refused = c.post("/deployments/digits-prod/playground", data={"csrf_token": "x"})
        assert refused.status_code == 403
    api = httpx.get(ui.url + "/api/v1/deployments/digits-prod", timeout=60).json()
    assert api["status"] == "ready" and {m["name"] for m in api["models"]} == {"digits", "wine"}


@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="Chromium is not installed (apt-get install chromium)",
)
def test_deployment_page_and_playground_in_chromium(
    stack: tuple[Store, ServingServer, LiveServer], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    store, serving, ui = stack
    upload = tmp_path / "digit.png"
    upload.write_bytes(_png(16 * 15))
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
                tab.on("pageerror", lambda e: problems.append(str(e)))
                tab.goto(f"{ui.url}/deployments")
                tab.click("#deployments-table >> text=digits-prod")
                tab.wait_for_selector("#live-metrics .stat")
                assert "primary" in tab.inner_text("#split")
                tab.wait_for_selector("#logged table")
                tab.screenshot(path=str(shots / f"serving-deployment-{theme}.png"), full_page=True)
                tab.click("text=Open playground")
                tab.set_input_files("#file", str(upload))
                tab.click("button:has-text('Predict')")
                tab.wait_for_selector("#predicted-label")
                label = tab.inner_text("#predicted-label")
                assert label in [str(i) for i in range(10)]
                confidence = float(tab.inner_text("#predicted-confidence").rstrip("%"))
                assert 0 < confidence <= 100
                tab.screenshot(path=str(shots / f"serving-playground-{theme}.png"), full_page=True)
                context.close()
            # the records form of the wine model, generated from its signature's schema
            store.metadata.record_deployment(
                "wine-prod",
                url=serving.url,
                status="ready",
                models=[
                    {
                        "ref": "wine@1",
                        "name": "wine",
                        "version": 1,
                        "variant": "primary",
                        "weight": 1.0,
                    }
                ],
            )
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            tab = context.new_page()
            tab.goto(f"{ui.url}/deployments/wine-prod/playground")
            for name, value in (("alcohol", "13.2"), ("malic_acid", "1.8"), ("hue", "1.05")):
                tab.fill(f"input[name='{name}']", value)
            tab.click("button:has-text('Predict')")
            tab.wait_for_selector("#predicted-label")
            assert tab.inner_text("#predicted-label") in ("barolo", "grignolino", "barbera")
            tab.fill("input[name='hue']", "lots")
            tab.click("button:has-text('Predict')")
            tab.wait_for_selector("#playground-error")
            assert "not a number" in tab.inner_text("#playground-error")
            context.close()
        finally:
            browser.close()
    assert problems == []
