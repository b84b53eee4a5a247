"""The UI with auth on: login form, session cookie, CSRF, redirects and logout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stackml.server import create_app
from stackml.store import open_store
from tests.server.conftest import LiveServer


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    store = open_store(str(tmp_path_factory.mktemp("auth-ui")))
    store.metadata.create_user("ada")
    secret, _ = store.metadata.create_token("ada", "ui")
    store.metadata.create_run("p", name="secret-run")
    server = LiveServer(create_app(store, auth=True)).start()
    yield server, secret
    server.stop()
    store.close()


def _csrf(client: httpx.Client) -> str:
    form = client.get("/login")
    assert form.status_code == 200 and 'name="token"' in form.text
    token = client.cookies.get("stackml_csrf")
    assert token and f'value="{token}"' in form.text
    return token


def test_pages_redirect_to_login_and_api_stays_401(auth_server: tuple[LiveServer, str]) -> None:
    server, _ = auth_server
    with httpx.Client(base_url=server.url) as client:
        page = client.get("/runs", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert client.get("/api/v1/projects").status_code == 401
        assert client.get("/runs").status_code == 401  # not a browser: plain 401
        assert client.get("/static/app.css").status_code == 200


def test_login_sets_a_strict_http_only_cookie(auth_server: tuple[LiveServer, str]) -> None:
    server, secret = auth_server
    with httpx.Client(base_url=server.url) as client:
        csrf = _csrf(client)
        no_csrf = client.post("/login", data={"token": secret})
        assert no_csrf.status_code == 403
        wrong = client.post("/login", data={"token": "nope", "csrf_token": csrf})
        assert wrong.status_code == 401 and "unknown or revoked" in wrong.text
        good = client.post("/login", data={"token": secret, "csrf_token": csrf})
        assert good.status_code == 303 and good.headers["location"] == "/runs"
        cookie = next(
            h for h in good.headers.get_list("set-cookie") if h.startswith("stackml_session=")
        )
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        runs = client.get("/runs", headers={"Accept": "text/html"})
        assert runs.status_code == 200 and "secret-run" in runs.text and "Sign out" in runs.text
        assert client.get("/api/v1/projects").status_code == 200  # charts fetch with the cookie
        # A mutating API call carried by the cookie alone needs the CSRF header.
        assert client.post("/api/v1/projects", json={"name": "x"}).status_code == 403
        made = client.post("/api/v1/projects", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201
        out = client.post("/logout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert client.get("/api/v1/projects").status_code == 401


def test_login_form_is_not_needed_without_auth(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "s"))
    server = LiveServer(create_app(store)).start()
    try:
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/login").headers["location"] == "/runs"
            assert "Sign out" not in client.get("/runs").text
    finally:
        server.stop()
        store.close()
