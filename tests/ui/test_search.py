"""The global search: runs, datasets and jobs in sections, escaped, linking to their pages;
providers registered later show beside them."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pandas as pd
import pytest

import stackml.data as sd
from stackml.compute import make_spec
from stackml.errors import StoreUnavailable
from stackml.server import create_app
from stackml.store import Store, open_store
from stackml.store.base import MetadataStore
from stackml.ui import search as ui_search
from stackml.ui.search import SearchHit, SearchProvider, register_search_provider
from tests.server.conftest import LiveServer

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, dict[str, str]]]:
    store = open_store(str(tmp_path_factory.mktemp("ui-search") / "store"))
    meta = store.metadata
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    sd.add("mnist-clean", frame, store=store)
    sd.add("other-table", frame, store=store)
    ids = {
        "run": meta.create_run("vision", name=f"mnist-cnn {XSS}").id,
        "other_run": meta.create_run("vision", name="resnet").id,
        "job": meta.submit_job(make_spec(["echo", "hi"], name="mnist-train")).id,
        "other_job": meta.submit_job(make_spec(["echo", "hi"], name="etl")).id,
    }
    yield store, ids
    store.close()


@pytest.fixture(scope="module")
def client(seeded: tuple[Store, dict[str, str]]) -> Iterator[httpx.Client]:
    live = LiveServer(create_app(seeded[0])).start()
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c
    live.stop()


def _section(html: str, key: str) -> str:
    return html.split(f'id="search-{key}"')[1].split('class="card search-section"')[0]


def test_search_groups_runs_datasets_and_jobs(
    client: httpx.Client, seeded: tuple[Store, dict[str, str]]
) -> None:
    ids = seeded[1]
    html = client.get("/search", params={"q": "MNIST"}).text
    assert html.index('id="search-runs"') < html.index('id="search-datasets"')
    assert html.index('id="search-datasets"') < html.index('id="search-jobs"')
    runs = _section(html, "runs")
    assert f'href="/runs/{ids["run"]}"' in runs and ids["other_run"] not in runs
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in runs
    datasets = _section(html, "datasets")
    assert 'href="/datasets/mnist-clean"' in datasets and "other-table" not in datasets
    assert "1 version" in datasets
    jobs = _section(html, "jobs")
    assert f'href="/jobs/{ids["job"]}"' in jobs and ids["other_job"] not in jobs
    assert "queued" in jobs
    # Every link leads to a page that exists.
    for href in re.findall(r'<a href="(/(?:runs|datasets|jobs)/[^"]+)"', html):
        assert client.get(href, follow_redirects=True).status_code == 200, href


def test_search_by_id_finds_the_run_and_the_job(
    client: httpx.Client, seeded: tuple[Store, dict[str, str]]
) -> None:
    ids = seeded[1]
    html = client.get("/search", params={"q": ids["other_job"]}).text
    assert f'href="/jobs/{ids["other_job"]}"' in _section(html, "jobs")
    html = client.get("/search", params={"q": f"  {ids['other_run']} "}).text
    assert f'href="/runs/{ids["other_run"]}"' in _section(html, "runs")
    assert "No datasets match." in _section(html, "datasets")


def test_empty_text_finds_nothing(client: httpx.Client) -> None:
    html = client.get("/search", params={"q": "   "}).text
    assert html.count('class="empty"') == len(ui_search.search_providers())


def test_registered_provider_shows_and_a_failing_one_does_not_break_the_page(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui_search, "_PROVIDERS", list(ui_search.search_providers()))

    def find_widgets(store: MetadataStore, text: str, limit: int) -> list[SearchHit]:
        return [SearchHit(f"{text}-widget <b>", "/widgets/w1", "v3")] * (limit + 5)

    def broken(store: MetadataStore, text: str, limit: int) -> list[SearchHit]:
        raise StoreUnavailable("index offline")

    before = [p.key for p in ui_search.search_providers()]
    register_search_provider(SearchProvider("widgets", "Widgets", find_widgets), after="runs")
    register_search_provider(SearchProvider("widgets", "Duplicate", broken))  # ignored
    register_search_provider(SearchProvider("broken", "Broken", broken))
    keys = [p.key for p in ui_search.search_providers()]
    assert keys == [before[0], "widgets", *before[1:], "broken"]
    answer = client.get("/search", params={"q": "mnist"})
    assert answer.status_code == 200
    widgets = _section(answer.text, "widgets")
    assert widgets.count('href="/widgets/w1"') == ui_search.SECTION_LIMIT
    assert "mnist-widget &lt;b&gt;" in widgets
    assert "No broken match." in _section(answer.text, "broken")
