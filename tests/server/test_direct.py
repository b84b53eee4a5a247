"""Pages answered without FastAPI's router answer exactly as their FastAPI routes would."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from stackml.server.auth import admin, authenticated
from stackml.server.direct import direct_pages
from stackml.server.routers import ui_pages
from tests.server.conftest import Served


def test_runs_page_answers_through_the_direct_path(served: Served, client: httpx.Client) -> None:
    served.store.metadata.create_run("p", name="direct-run")
    page = client.get("/runs", params={"project": "p"})
    assert page.status_code == 200 and "direct-run" in page.text
    assert page.headers["x-frame-options"] == "DENY"  # the server's own middleware still runs
    assert "content-security-policy" in page.headers
    bad = client.get("/runs", params={"filter": "metrics.acc >"})
    assert bad.status_code == 200 and "Filter error" in bad.text
    # Counted under its route template, like every routed request.
    metrics = client.get("/metrics").text
    assert 'route="/runs",status="200"' in metrics
    # Other methods still go through FastAPI.
    assert client.post("/runs").status_code == 405


def test_runs_page_keeps_its_access_rule(served_auth: Served) -> None:
    meta = served_auth.store.metadata
    meta.create_user("alice")
    secret, _ = meta.create_token("alice", "laptop")
    with httpx.Client(base_url=served_auth.url, timeout=30) as anon:
        assert anon.get("/runs").status_code == 401
        assert anon.get("/runs").json()["error"]["type"] == "Unauthorized"
        html = anon.get("/runs", headers={"Accept": "text/html"})
        assert html.status_code == 303 and html.headers["location"] == "/login"
        wrong = anon.get("/runs", headers={"Authorization": "Bearer stackml_nope"})
        assert wrong.status_code == 401
        ok = anon.get("/runs", headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200 and "<table" in ok.text


def test_only_simple_pages_can_be_answered_directly() -> None:
    router = APIRouter(dependencies=[Depends(authenticated)])

    @router.get("/sync", response_class=HTMLResponse)
    def sync_page(request: Request) -> HTMLResponse:
        return HTMLResponse("")

    @router.get("/params/{name}", response_class=HTMLResponse)
    async def with_params(name: str, request: Request) -> HTMLResponse:
        return HTMLResponse(name)

    admins = APIRouter(dependencies=[Depends(admin)])

    @admins.get("/admin", response_class=HTMLResponse)
    async def admin_page(request: Request) -> HTMLResponse:
        return HTMLResponse("")

    for where, path in ((router, "/sync"), (router, "/params/{name}"), (admins, "/admin")):
        with pytest.raises(ValueError, match="cannot be answered directly"):
            direct_pages(where, [path])
    with pytest.raises(ValueError, match="no GET route"):
        direct_pages(ui_pages.router, ["/nowhere"])
    assert set(direct_pages(ui_pages.router, ["/runs"])) == {"/runs"}
