"""The UI's pages over a live server: rendering, escaping, headers and artifact downloads."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.server.conftest import LiveServer
from tests.ui.conftest import XSS_IMG, Seeded


@pytest.fixture
def client(ui_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui_server.url, timeout=30) as c:
        yield c


def _no_raw_payload(html: str) -> None:
    # The payloads may only appear escaped: never as live tags.
    assert XSS_IMG not in html
    assert "<script>alert(1)" not in html
    assert "onerror=alert(1)>" not in html.replace("&gt;", "")  # no unescaped closing bracket


def test_home_redirects_to_runs_and_pages_render(client: httpx.Client, seeded: Seeded) -> None:
    assert client.get("/").headers["location"] == "/runs"
    for path in ("/runs", "/projects", f"/runs/{seeded.xss_run}", "/search?q=cnn"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith("text/html")
        _no_raw_payload(answer.text)


def test_xss_payloads_are_escaped_everywhere(client: httpx.Client, seeded: Seeded) -> None:
    pages = [
        "/runs?project=vision",
        f"/runs/{seeded.xss_run}",
        f"/compare?runs={seeded.xss_run}&runs={seeded.other_run}",
        "/search?q=img",
        f"/runs/{seeded.xss_run}/artifacts/preview?path=tables/img src%3Dx onerror%3Dalert(1).csv",
        f"/runs/{seeded.xss_run}/artifacts/preview?path=config.json",
        f"/runs/{seeded.xss_run}/artifacts/preview?path=notes.html",
    ]
    for path in pages:
        html = client.get(path).text
        _no_raw_payload(html)
        assert (
            "&lt;img src=x onerror=alert(1)&gt;" in html
            or "&#34;&gt;&lt;script&gt;" in html
            or ("\\u003cimg" in html)
        ), path


def test_security_headers_and_host_allow_list(client: httpx.Client, ui_server: LiveServer) -> None:
    page = client.get("/runs")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    api = client.get("/api/v1/projects")
    assert api.headers["x-frame-options"] == "DENY"
    for host in ("evil.example", "attacker.test:80", "127.0.0.1.nip.io"):
        refused = client.get("/runs", headers={"Host": host})
        assert refused.status_code == 400 and "Host" in refused.json()["error"]["message"]
    for host in (f"localhost:{ui_server.port}", f"[::1]:{ui_server.port}", "127.0.0.1"):
        assert client.get("/health", headers={"Host": host}).status_code == 200


def test_filter_errors_are_shown_inline(client: httpx.Client) -> None:
    answer = client.get("/runs", params={"filter": "metrics.acc >"})
    assert answer.status_code == 200
    assert 'id="filter-error"' in answer.text and "Filter error" in answer.text
    answer = client.get("/runs", params={"filter": "params.x = '<script>'"})
    assert "<script>'" not in answer.text


def test_sort_filter_columns_and_pages(client: httpx.Client) -> None:
    first = client.get(
        "/runs", params={"project": "bulk", "limit": 25, "sort": "name", "dir": "asc"}
    )
    names = re.findall(r">(bulk-\d{3})<", first.text)
    assert names == [f"bulk-{i:03d}" for i in range(25)]
    token = re.search(r'id="next-page" href="([^"]+)"', first.text)
    assert token is not None
    second = client.get(token.group(1).replace("&amp;", "&"))
    assert re.findall(r">(bulk-\d{3})<", second.text)[0] == "bulk-025"
    desc = client.get("/runs", params={"project": "bulk", "sort": "params.`i`", "dir": "desc"})
    assert "bulk-059" in desc.text
    filtered = client.get("/runs", params={"filter": "params.optimizer = 'sgd'"})
    assert "cnn-baseline" in filtered.text and "bulk-001" not in filtered.text
    chosen = client.get(
        "/runs", params={"project": "vision", "chosen": "1", "col": ["metric:loss", "bogus"]}
    )
    headers = re.findall(r'data-column="([^"]+)"', chosen.text)
    assert "metric:loss" in headers and "param:lr" not in headers
    fragment = client.get("/runs", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="runs-region"')


def test_run_page_shows_params_lineage_and_system(client: httpx.Client, seeded: Seeded) -> None:
    html = client.get(f"/runs/{seeded.xss_run}").text
    assert "optimizer" in html and "adam" in html
    assert "digits@v1" in html and "digits-cnn/1" in html  # lineage both ways
    assert 'id="run-data"' in html


def test_errors_render_as_pages(client: httpx.Client, seeded: Seeded) -> None:
    missing = client.get(f"/runs/{'0' * 32}")
    assert missing.status_code == 404 and "Not found" in missing.text
    one = client.get(f"/compare?runs={seeded.xss_run}")
    assert one.status_code == 400 and "at least two" in one.text
    unknown = client.get(f"/compare?runs={seeded.xss_run},{'0' * 32}")
    assert unknown.status_code == 404
    traversal = client.get(f"/runs/{seeded.xss_run}/artifacts/raw", params={"path": "../x"})
    assert traversal.status_code == 400
    assert client.get("/static/../../pyproject.toml").status_code in {400, 404}
    assert client.get("/static/%2e%2e/app.css").status_code in {400, 404}
    assert client.get("/static/app.css").status_code == 200


def test_artifacts_download_safely(client: httpx.Client, seeded: Seeded) -> None:
    raw = f"/runs/{seeded.xss_run}/artifacts/raw"
    csv = client.get(raw, params={"path": "tables/img src=x onerror=alert(1).csv"})
    assert csv.headers["content-disposition"].startswith("attachment;")
    assert csv.headers["x-content-type-options"] == "nosniff"
    for path in ("notes.html", "plots/evil.svg", "config.json"):
        answer = client.get(raw, params={"path": path})
        assert answer.headers["content-disposition"].startswith("attachment;"), path
    png = client.get(raw, params={"path": "plots/curve.png"})
    assert png.headers["content-disposition"].startswith("inline;")
    assert png.content.startswith(b"\x89PNG")
    preview = client.get(
        f"/runs/{seeded.xss_run}/artifacts/preview",
        params={"path": "plots/curve.png"},
        headers={"HX-Request": "true"},
    )
    assert "<img src=" in preview.text and "<html" not in preview.text
    svg = client.get(f"/runs/{seeded.xss_run}/artifacts/preview", params={"path": "plots/evil.svg"})
    assert "No preview for this file type" in svg.text


@pytest.mark.parametrize("text", ["\\", "'", "%_", "a\nb", "ünïcode", "x" * 500, "`"])
def test_search_never_fails(client: httpx.Client, text: str) -> None:
    answer = client.get("/search", params={"q": text})
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"project": "no-such-project"},
        {"sort": "bogus column"},
        {"sort": "metrics.`acc`", "dir": "sideways"},
        {"page_token": "not-a-token"},
        {"limit": "many"},
        {"chosen": "1", "col": "metric:" + "k" * 300},
    ],
)
def test_bad_table_queries_answer_cleanly(client: httpx.Client, params: dict[str, str]) -> None:
    answer = client.get("/runs", params=params)
    assert answer.status_code == 200, answer.text[:500]
