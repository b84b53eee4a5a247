"""Bearer-token auth on a live server, and the rule that every route declares its access."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from stackml.errors import Forbidden, Unauthorized
from stackml.server import create_app
from stackml.server.auth import ACCESS_RULES, admin, public
from stackml.store import open_store
from stackml.store.rest import RestMetadataStore
from tests.server.conftest import Served


@pytest.fixture
def tokens(served_auth: Served) -> dict[str, str]:
    meta = served_auth.store.metadata
    meta.create_user("root", is_admin=True)
    meta.create_user("alice")
    admin_secret, _ = meta.create_token("root", "ci")
    user_secret, _ = meta.create_token("alice", "laptop")
    revoked_secret, revoked = meta.create_token("alice", "old")
    meta.revoke_token(revoked.id)
    return {"admin": admin_secret, "user": user_secret, "revoked": revoked_secret}


@pytest.fixture
def anon(served_auth: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served_auth.url, timeout=30) as c:
        yield c


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_no_token_is_401(anon: httpx.Client, tokens: dict[str, str]) -> None:
    for path in ("/api/v1/projects", "/metrics", "/openapi.json", "/api/v1/tokens"):
        response = anon.get(path)
        assert response.status_code == 401, path
        assert response.json()["error"]["type"] == "Unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


def test_bad_malformed_and_revoked_tokens_are_401(
    anon: httpx.Client, tokens: dict[str, str]
) -> None:
    for headers in (
        _bearer("stackml_not_a_real_token"),
        {"Authorization": f"Basic {tokens['user']}"},
        {"Authorization": "Bearer"},
        _bearer(tokens["revoked"]),
    ):
        assert anon.get("/api/v1/projects", headers=headers).status_code == 401, headers


def test_good_token_is_200_and_owns_its_runs(anon: httpx.Client, tokens: dict[str, str]) -> None:
    headers = _bearer(tokens["user"])
    assert anon.get("/api/v1/projects", headers=headers).status_code == 200
    run = anon.post("/api/v1/runs", json={"project": "p"}, headers=headers).json()
    assert run["user"] == "alice"
    assert anon.get("/api/v1/whoami", headers=headers).json()["user"]["name"] == "alice"


def test_health_is_open(anon: httpx.Client, tokens: dict[str, str]) -> None:
    response = anon.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_non_admin_is_403_on_admin_routes(anon: httpx.Client, tokens: dict[str, str]) -> None:
    headers = _bearer(tokens["user"])
    calls = [
        ("POST", "/api/v1/users", {"name": "mallory"}),
        ("POST", "/api/v1/users/alice/tokens", {"name": "more"}),
        ("GET", "/api/v1/tokens", None),
        ("DELETE", "/api/v1/tokens/whatever", None),
        ("POST", "/api/v1/tokens/check", {"secret": tokens["admin"]}),
        ("GET", "/api/v1/blobs", None),
        ("GET", "/api/v1/users/root", None),
    ]
    for method, path, body in calls:
        response = anon.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["type"] == "Forbidden"
    assert anon.get("/api/v1/users/alice", headers=headers).status_code == 200


def test_admin_manages_users_and_revocation_is_immediate(
    served_auth: Served, tokens: dict[str, str]
) -> None:
    root = RestMetadataStore(served_auth.url, token=tokens["admin"])
    try:
        root.create_user("bob")
        secret, record = root.create_token("bob", "ci")
        assert record.user == "bob" and secret
        assert all(not hasattr(t, "secret") for t in root.list_tokens("bob"))
        bob = RestMetadataStore(served_auth.url, token=secret)
        assert bob.list_projects() == []
        assert root.authenticate(secret) is not None
        root.revoke_token(record.id)
        with pytest.raises(Unauthorized):
            bob.list_projects()
        assert root.authenticate(secret) is None
        alice = RestMetadataStore(served_auth.url, token=tokens["user"])
        with pytest.raises(Forbidden):
            alice.create_user("eve")
        bob.close()
        alice.close()
    finally:
        root.close()


def _rules(route: RouteContext) -> list[object]:
    # The dependencies the route really runs (router-level ones included).
    return [d.call for d in route.dependant.dependencies if d.call in ACCESS_RULES]


def test_every_route_declares_exactly_one_access_rule(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "s"))
    try:
        app = create_app(store, auth=True)
        paths = set()
        for route in iter_route_contexts(app.routes):
            assert isinstance(route.original_route, APIRoute), f"{route.path} has no rule"
            rules = _rules(route)
            assert len(rules) == 1, f"{route.path} {route.methods} has access rules {rules}"
            assert route.path is not None
            paths.add(route.path)
            if rules[0] is public:
                # Besides health, only the UI's login form, logout and packaged static files.
                assert route.path in {"/health", "/login", "/logout", "/static/{path:path}"}, (
                    f"{route.path} must not be public"
                )
            if route.path.startswith(("/api/v1/users", "/api/v1/tokens")) and route.path != (
                "/api/v1/users/{name}"
            ):
                assert rules[0] is admin, route.path
        assert {"/health", "/metrics", "/openapi.json", "/api/v1/runs"} <= paths
    finally:
        store.close()
