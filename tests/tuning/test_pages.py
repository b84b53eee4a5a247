"""The sweep pages of the web UI, over HTTP and in a real browser."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stackml.server import create_app
from stackml.store import Store
from stackml.tracking import get_store
from stackml.tuning import Trial, optimize
from tests.server.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
XSS = "<img src=x onerror=alert(1)>"
DOC_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def _train(trial: Trial) -> dict[str, float]:
    lr, width = trial.params["lr"], trial.params["width"]
    quality = 1.0 - abs(lr - 0.01) * 20 - abs(width - 64) / 400
    if trial.params["optimizer"] == "sgd":
        quality -= 0.05 * (1 - trial.params["momentum"])
    for epoch in range(6):
        trial.report({"val_accuracy": quality * (1 - 0.5 ** (epoch + 1))}, step=epoch)
    return {"val_accuracy": quality}


SPEC = {
    "name": "cnn-search",
    "project": "digits",
    "method": "tpe",
    "space": {
        "lr": {"type": "float", "low": 1e-4, "high": 0.05, "log": True},
        "width": {"type": "int", "low": 16, "high": 128, "step": 16},
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd", "adamw"]},
        "momentum": {"type": "float", "low": 0.5, "high": 0.99, "when": {"optimizer": ["sgd"]}},
    },
    "objective": {"metric": "val_accuracy", "direction": "maximize"},
    "pruner": {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 1},
    "budget": {"trials": 12},
    "seed": 3,
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, LiveServer, Any]]:
    uri = str(tmp_path_factory.mktemp("sweep-ui") / "store")
    sweep, _ = optimize(SPEC, _train, tracking_uri=uri)
    store = get_store(uri)
    live = LiveServer(create_app(store)).start()
    yield store, live, sweep
    live.stop()


def store_uri(store: Store) -> str:
    """The folder of an embedded store (its location), for the SDK calls of a test."""
    return str(Path(store.location.metadata_url.removeprefix("sqlite:///")).parent)


def test_sweep_pages_over_http(served: tuple[Store, LiveServer, Any]) -> None:
    store, live, sweep = served
    trials = store.metadata.list_sweep_trials(sweep.id)
    with httpx.Client(base_url=live.url, timeout=60) as client:
        listing = client.get("/sweeps")
        assert listing.status_code == 200 and 'href="/sweeps"' in listing.text
        assert f'data-sweep-id="{sweep.id}"' in listing.text
        page = client.get(f"/sweeps/{sweep.id}")
        assert page.status_code == 200
        html = page.text
        for section in ("history", "intermediate", "parallel", "importances", "slices"):
            assert f'id="{section}"' in html, section
        hostile = {
            "name": "hostile",
            "project": "digits",
            "method": "random",
            "space": {"choice": {"type": "categorical", "choices": [XSS, "plain"]}},
            "objective": {"metric": "v", "direction": "maximize"},
            "budget": {"trials": 3},
        }
        other, _ = optimize(hostile, lambda t: float(t.number), tracking_uri=store_uri(store))
        escaped = client.get(f"/sweeps/{other.id}").text
        assert XSS not in escaped and "&lt;img src=x onerror=alert(1)&gt;" in escaped
        for t in trials:  # every trial row links to its run
            assert f'href="/runs/{t.run_id}"' in html
        pruned = [t for t in trials if t.state == "pruned"]
        assert pruned, "the median pruner stopped no trial"
        assert html.count('class="prune-mark"') == len(pruned)
        assert html.count('data-state="pruned"') == len(pruned)
        assert client.get("/sweeps/missing").status_code == 404
        assert client.get("/sweeps", params={"project": "../x"}).status_code == 400
        found = client.get("/search", params={"q": "cnn-search"}).text
        assert f"/sweeps/{sweep.id}" in found


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="Chromium is not installed (apt-get install chromium)",
)
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_sweep_page_in_the_browser(
    served: tuple[Store, LiveServer, Any], tmp_path: Path, theme: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    _, live, sweep = served
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            tab: Any = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.on("pageerror", lambda e: problems.append(str(e)))
            tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            tab.add_init_script(f"localStorage.setItem('stackml-theme', '{theme}')")
            tab.goto(f"{live.url}/sweeps")
            tab.locator(f"tr[data-sweep-id='{sweep.id}'] a").first.click()
            expect(tab.locator("h1")).to_contain_text("cnn-search")
            for section in ("#history svg", "#intermediate svg", "#parallel svg", "#slices svg"):
                expect(tab.locator(section).first).to_be_visible()
            bars = tab.locator("#importances .importance-row")
            assert bars.count() >= 2
            assert tab.locator("#intermediate .prune-mark").count() >= 1
            box = tab.locator("#history svg").bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100
            shot = Path(os.environ.get("SWEEP_SHOT_DIR", tmp_path)) / f"sweep-{theme}.png"
            tab.screenshot(path=str(shot), full_page=True)
            if os.environ.get("UPDATE_DOC_SCREENSHOTS") == "1":
                DOC_IMG.mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, DOC_IMG / f"sweep-{theme}.png")
            first = tab.locator("#trials-table a.trial-run").first
            href = first.get_attribute("href")
            first.click()
            expect(tab).to_have_url(f"{live.url}{href}")
        finally:
            browser.close()
    assert not problems, problems
