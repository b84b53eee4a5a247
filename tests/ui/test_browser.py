"""The UI in headless Chromium against a live server: the flows a person clicks through.

Screenshots of each page (light and dark) are taken on every run; with
``UPDATE_DOC_SCREENSHOTS=1`` they are written to ``docs/img/`` for the user guide, otherwise
to the test's temporary folder, so a test run never changes the checkout.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import LiveServer
from tests.ui.conftest import XSS_IMG, XSS_SCRIPT, Seeded

CHROMIUM = "/usr/bin/chromium"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
_SHOTS: list[Path] = []


@pytest.fixture(autouse=True)
def _screenshot_folder(tmp_path: Path) -> Iterator[None]:
    _SHOTS[:] = [DOCS_IMG if os.environ.get("UPDATE_DOC_SCREENSHOTS") else tmp_path / "img"]
    yield


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
        reason="Chromium is not installed (apt-get install chromium)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # bypass_csp: test polling needs eval, and it makes the XSS checks stricter: escaping alone
    # must keep payloads inert, without the Content-Security-Policy as a safety net.
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, color_scheme="light", bypass_csp=True
    )
    tab = context.new_page()
    problems: list[str] = []
    tab.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    yield tab
    context.close()
    assert not problems, problems  # no script ran from a payload, no JS errors


def _shoot(page: Any, name: str, *, full: bool = False) -> None:
    folder = _SHOTS[0]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one


def test_runs_table_filter_sort_select_and_compare(
    page: Any, ui_server: LiveServer, seeded: Seeded
) -> None:
    page.goto(f"{ui_server.url}/runs?project=vision")
    rows = page.locator("#runs-table tbody tr")
    assert rows.count() == 2
    assert page.locator(".run-name a").first.inner_text() in {XSS_IMG, "cnn-baseline"}

    page.fill("#filter-input", "params.optimizer = 'sgd'")
    page.press("#filter-input", "Enter")
    page.wait_for_function("document.querySelectorAll('#runs-table tbody tr').length === 1")
    assert page.locator(".run-name a").inner_text() == "cnn-baseline"
    assert "filter=params.optimizer" in page.url  # the filter is in the address bar

    page.fill("#filter-input", "metrics.loss >")
    page.press("#filter-input", "Enter")
    page.wait_for_selector("#filter-error")
    assert "Filter error" in page.locator("#filter-error").inner_text()

    page.fill("#filter-input", "")
    page.press("#filter-input", "Enter")
    page.wait_for_function("document.querySelectorAll('#runs-table tbody tr').length === 2")
    page.click("th[data-column='attribute:name'] a")
    page.wait_for_selector("th[data-column='attribute:name'].asc")
    names = page.locator(".run-name a").all_inner_texts()
    assert names == sorted(names)

    assert page.locator("#compare-button").is_disabled()
    page.check(".run-select >> nth=0")
    page.check(".run-select >> nth=1")
    assert page.locator("#compare-count").inner_text() == "2"
    page.click("#compare-button")
    page.wait_for_url("**/compare?**")
    page.wait_for_function("document.querySelectorAll('.chart-card[data-series]').length >= 2")
    changed = page.locator("#param-diff tr.changed th").all_inner_texts()
    assert set(changed) == {"lr", "optimizer", "note"}
    assert int(page.locator("#parallel").get_attribute("data-axes")) >= 3
    assert page.locator("#scatter").get_attribute("data-points") == "2"
    assert XSS_SCRIPT in page.locator("#param-diff").inner_text()  # shown as text


def test_run_page_chart_zoom_and_artifacts(
    page: Any, ui_server: LiveServer, seeded: Seeded
) -> None:
    page.goto(f"{ui_server.url}/runs/{seeded.long_run}")
    assert page.locator("h1.run-title").inner_text().startswith(XSS_IMG)
    page.wait_for_function(
        "[...document.querySelectorAll('.chart-card')].filter(c => c.dataset.series).length === 2"
    )
    loss = page.locator(".chart-card:has(.chart-title:text-is('loss'))")
    assert loss.get_attribute("data-series") == "1"
    assert int(loss.get_attribute("data-total")) == seeded.points
    assert int(loss.get_attribute("data-points")) < seeded.points  # downsampled
    # The chart drew: its canvas holds non-background pixels.
    drawn = loss.locator("canvas").evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    )
    assert drawn > 500

    before = page.evaluate("window.stackmlChartRequests.length")
    box = loss.locator(".u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.42, y, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "[...document.querySelectorAll('.chart-card')].some(c => c.dataset.range)"
    )
    requests = page.evaluate("window.stackmlChartRequests")
    assert len(requests) > before and "start_step=" in requests[-1]
    start, end = map(int, loss.get_attribute("data-range").split(","))
    assert 0 < start < end < seeded.points
    # The zoomed range is fetched at full resolution: every point in it is there.
    assert int(loss.get_attribute("data-points")) == end - start + 1

    page.fill("#smoothing", "0.9")
    page.dispatch_event("#smoothing", "input")
    page.check("#log-scale")
    assert page.locator("#smoothing-value").inner_text() == "0.90"

    page.click(".tab[data-tab='overview']")
    assert page.locator("#tab-overview").is_visible()
    assert XSS_SCRIPT in page.locator("#tab-overview").inner_text()
    page.click(".tab[data-tab='lineage']")
    assert "digits@v1" in page.locator("#tab-lineage").inner_text()

    page.click(".tab[data-tab='artifacts']")
    page.click(".tree-link:has-text('onerror=alert(1).csv')")
    page.wait_for_selector("#artifact-preview table")
    cells = page.locator("#artifact-preview td").all_inner_texts()
    assert XSS_IMG in cells  # the CSV cell is text, not an image
    page.click(".tree-link:has-text('curve.png')")
    page.wait_for_selector("#artifact-preview img")
    assert page.locator("#artifact-preview img").evaluate("i => i.naturalWidth") == 4


def test_global_search_groups_results_and_links_to_them(
    page: Any, ui_server: LiveServer, seeded: Seeded
) -> None:
    page.goto(f"{ui_server.url}/runs")
    page.fill("form.global-search input[name=q]", "img")
    page.press("form.global-search input[name=q]", "Enter")
    page.wait_for_url("**/search?q=img")
    titles = page.locator(".search-section h2").all_inner_texts()
    assert titles[0] == "Runs" and {"Datasets", "Jobs", "Models"} <= set(titles)
    link = page.locator(f'#search-runs a[href="/runs/{seeded.xss_run}"]')
    assert XSS_IMG in link.inner_text()  # shown as text, never run
    link.click()
    page.wait_for_url(f"**/runs/{seeded.xss_run}")


def test_dark_theme_toggle(page: Any, ui_server: LiveServer, seeded: Seeded) -> None:
    page.goto(f"{ui_server.url}/runs/{seeded.long_run}")
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.wait_for_function(
        "[...document.querySelectorAll('.chart-card')].filter(c => c.dataset.series).length === 2"
    )
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"  # remembered
    page.goto(f"{ui_server.url}/compare?runs={seeded.xss_run}&runs={seeded.other_run}")
    page.wait_for_function("document.querySelectorAll('.chart-card[data-series]').length >= 2")


def test_guide_screenshots(browser: Any, ui_server: LiveServer, seeded: Seeded) -> None:
    """The pages of the user guide, light and dark, on a realistic project."""
    best, second, third = seeded.demo[0], seeded.demo[1], seeded.demo[2]
    charts_ready = (
        "[...document.querySelectorAll('.chart-card')].length > 0 && "
        "[...document.querySelectorAll('.chart-card')].every(c => c.dataset.series)"
    )
    for theme in ("light", "dark"):
        suffix = "" if theme == "light" else "-dark"
        context = browser.new_context(
            viewport={"width": 1400, "height": 860}, color_scheme=theme, bypass_csp=True
        )
        page = context.new_page()
        page.goto(f"{ui_server.url}/runs?project=digits")
        page.wait_for_selector("#runs-table tbody tr")
        page.check(f".run-select[value='{best}']")
        page.check(f".run-select[value='{second}']")
        page.evaluate("window.scrollTo(0, 0)")
        _shoot(page, f"runs-table{suffix}")
        page.goto(f"{ui_server.url}/runs/{best}")
        page.wait_for_function(charts_ready)
        _shoot(page, f"run-charts{suffix}")
        if theme == "light":
            page.click(".tab[data-tab='overview']")
            _shoot(page, "run-overview")
            page.click(".tab[data-tab='artifacts']")
            page.click(".tree-link:has-text('confusion_matrix.png')")
            page.wait_for_selector("#artifact-preview img")
            _shoot(page, "artifacts-image")
            page.click(".tree-link:has-text('predictions.csv')")
            page.wait_for_selector("#artifact-preview table")
            _shoot(page, "artifacts-csv")
            page.click(".tab[data-tab='lineage']")
            _shoot(page, "lineage")
            page.goto(f"{ui_server.url}/runs?project=digits&filter=metrics.acc+%3E")
            _shoot(page, "runs-filter-error")
        page.goto(f"{ui_server.url}/compare?runs={best}&runs={second}&runs={third}")
        page.wait_for_function(charts_ready)
        _shoot(page, f"compare{suffix}", full=True)
        context.close()


def test_running_run_updates_live(page: Any, ui_server: LiveServer, seeded: Seeded) -> None:
    from stackml.store.entities import MetricColumns

    meta = seeded.store.metadata
    run = meta.create_run("live", name="still-training")
    meta.log_metric_columns(run.id, {"loss": MetricColumns(list(range(10)), [1] * 10, [1.0] * 10)})
    page.goto(f"{ui_server.url}/runs/{run.id}")
    page.wait_for_selector(".chart-card[data-total='10']")
    assert page.locator("#live-pill").is_visible()
    meta.log_metric_columns(
        run.id,
        {
            "loss": MetricColumns(list(range(10, 25)), [2] * 15, [0.5] * 15),
            "acc": MetricColumns([0, 1], [2, 3], [0.1, 0.2]),
        },
    )
    meta.update_run(run.id, status="completed", end_time=run.start_time + 1000)
    page.wait_for_selector(".chart-card[data-total='25']", timeout=15_000)
    page.wait_for_function("document.querySelectorAll('.chart-card[data-series]').length === 2")
    page.wait_for_selector("#live-pill", state="detached", timeout=15_000)
    assert "completed" in page.locator("#run-status").inner_text().lower()
