"""The monitoring pages: list and dashboard, over HTTP and in Chromium (light and dark)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest

from stackml.monitoring import Reference, add_labels, create_monitor, record_turn, run_monitor
from stackml.server import create_app
from stackml.store import Store, open_store
from tests.monitoring.conftest import log_table, write_logs
from tests.server.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
XSS = "<img src=x onerror=alert(1)>"


def _features(rng: np.random.Generator, n: int, shift: float) -> dict[str, Any]:
    return {
        "alcohol": rng.normal(13 + shift, 0.8, n),
        "malic_acid": rng.normal(2.3 + shift * 0.6, 1.0, n),
        "ash": rng.normal(2.4, 0.3, n),
        "color_intensity": rng.normal(5.0, 2.0, n),
        "region": rng.choice(
            ["north", "south", "east"], n, p=[0.5 - shift / 4, 0.3, 0.2 + shift / 4]
        ),
    }


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("ui-monitoring")
    store = open_store(str(root / "store"))
    rng = np.random.default_rng(11)
    ref = Reference.from_table(
        pa.table(_features(rng, 3000, 0.0)), predictions=["1", "2", "3"] * 1000
    )
    spec = {
        "window": {"kind": "count", "size": 250},
        "slices": ["f.region"],
        "rules": [
            {"name": "feature-drift", "statistic": "drift_share", "op": ">=", "threshold": 0.4},
            {"name": "slow", "statistic": "operational.latency_p95", "op": ">", "threshold": 1e9},
        ],
        "routing": {"project": "", "confidence_below": 0.5, "budget": 40},
    }
    create_monitor("wine-prod", "wine", reference=ref, spec=spec, store=store)
    truth = {}
    for turn in range(12):
        shift = 0.0 if turn < 6 else 0.15 * (turn - 5)
        n = 250
        ids = [f"t{turn}-{i}" for i in range(n)]
        preds = rng.choice(["1", "2", "3"], n).tolist()
        conf = rng.uniform(0.4, 1.0, n).tolist()
        write_logs(
            store,
            log_table(
                _features(rng, n, shift),
                request_ids=ids,
                predictions=preds,
                confidence=conf,
                start_ms=1_700_000_000_000 + turn * 3_600_000,
                step_ms=1000,
                latency=rng.gamma(4, 3, n).tolist(),
            ),
        )
        acc = 0.95 - max(0.0, shift) * 0.4
        truth.update(
            {r: (p if rng.random() < acc else "x") for r, p in zip(ids, preds, strict=True)}
        )
    add_labels(store, "wine", dict(list(truth.items())[::3]))
    run_monitor("wine-prod", store=store)
    record_turn(
        store,
        "wine-prod",
        routed=40,
        labeled=38,
        dataset_version=None,
        old_accuracy=0.71,
        new_accuracy=0.86,
        start_ms=1,
        end_ms=2,
    )
    create_monitor("empty", "digits", reference=ref, spec={"reference": XSS}, store=store)
    yield store
    store.close()


@pytest.fixture(scope="module")
def server(seeded: Store) -> Iterator[LiveServer]:
    live = LiveServer(create_app(seeded)).start()
    yield live
    live.stop()


def test_pages_render_drift_alerts_performance_and_flywheel(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        listing = client.get("/monitoring").text
        assert 'href="/monitoring"' in listing  # in the navigation
        assert 'href="/monitoring/wine-prod"' in listing and "alcohol" in listing
        page = client.get("/monitoring/wine-prod").text
        for anchor in (
            "drift-chart",
            "drift-table",
            "performance",
            "operational",
            "slices",
            "alerts",
            "flywheel",
            "monitor-data",
        ):
            assert f'id="{anchor}"' in page
        assert "feature-drift" in page and "0.860" in page and "low_confidence" in page
        assert XSS not in listing and "&lt;img src=x" in listing
        assert "north" in page  # slice table
        empty = client.get("/monitoring/empty").text
        assert "No window evaluated yet" in empty and XSS not in empty
        assert client.get("/monitoring/missing").status_code == 404
        metrics = client.get("/api/v1/monitoring/metrics").text
        assert 'stackml_monitor_drift_share{monitor="wine-prod"}' in metrics
        # The server's own /metrics carries the same gauges beside its request metrics.
        scraped = client.get("/metrics").text
        assert 'stackml_monitor_drift_share{monitor="wine-prod"}' in scraped
        assert "stackml_http_requests_total" in scraped


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="Chromium is not installed (apt-get install chromium)",
)
def test_dashboard_in_chromium(server: LiveServer, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

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
                tab.goto(f"{server.url}/monitoring")
                tab.click("#monitors-table >> text=wine-prod")
                tab.wait_for_selector("#drift-chart canvas")
                assert tab.get_attribute("#drift-chart", "data-series") == "5"
                assert int(tab.get_attribute("#perf-chart", "data-series")) >= 2
                assert tab.locator("#drift-table .mon-cell.bad").count() > 0
                assert tab.locator("#drift-table .mon-cell.ok").count() > 0
                assert tab.locator("svg.mon-hist rect.cur").count() > 0
                tab.screenshot(
                    path=str(shots / f"monitoring-dashboard-{theme}.png"), full_page=True
                )
                context.close()
        finally:
            browser.close()
    assert problems == []
