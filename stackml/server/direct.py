"""The busiest UI pages answered without FastAPI's routing and dependency layers.

Every request would otherwise match the path against the routers in turn, solve the route's
dependencies and wrap the endpoint: about a tenth of the runs table's answer. The pages named
here keep their FastAPI routes (for the route walk that checks access rules, and for any
method other than GET); :class:`DirectPages` sits inside the server's own middleware (host
check, security headers, metrics, body limit, error catching), applies the route's access
rule itself and calls the same endpoint, so the answer is the one FastAPI would give.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, NamedTuple

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from stackml.errors import StackmlError
from stackml.server.auth import authenticated, public
from stackml.server.errors import stackml_error_response

Endpoint = Callable[[Request], Awaitable[Response]]

_RULES: Mapping[Any, Callable[[Request], Awaitable[Any]]] = {
    authenticated: authenticated,
    public: lambda _request: public(),
}


class DirectPage(NamedTuple):
    """A route answered directly and its access rule, called with the request."""

    route: APIRoute
    rule: Callable[[Request], Awaitable[Any]]


def direct_pages(router: APIRouter, paths: Iterable[str]) -> dict[str, DirectPage]:
    """The GET routes of ``router`` at ``paths``, checked to be answerable directly: an
    ``async`` endpoint taking only the request, behind ``authenticated`` or ``public``."""
    wanted = set(paths)
    found: dict[str, DirectPage] = {}
    for route in router.routes:
        if not isinstance(route, APIRoute) or route.path not in wanted:
            continue
        if "GET" not in (route.methods or ()):
            continue
        parameters = list(inspect.signature(route.endpoint).parameters)
        rules = [d.dependency for d in route.dependencies]
        if (
            not inspect.iscoroutinefunction(route.endpoint)
            or parameters != ["request"]
            or len(rules) != 1
            or rules[0] not in _RULES
        ):
            raise ValueError(f"{route.path} cannot be answered directly")
        found[route.path] = DirectPage(route, _RULES[rules[0]])
    missing = wanted - set(found)
    if missing:
        raise ValueError(f"no GET route for {sorted(missing)}")
    return found


class DirectPages:
    """Pure ASGI middleware answering GET requests for the given routes (see module doc)."""

    def __init__(self, app: ASGIApp, pages: Mapping[str, DirectPage]) -> None:
        self.app = app
        self.pages = dict(pages)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        page = self.pages.get(scope["path"]) if scope["type"] == "http" else None
        if page is None or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        scope["route"] = page.route  # the metrics label, as the router would set it
        request = Request(scope, receive)
        endpoint: Endpoint = page.route.endpoint
        try:
            await page.rule(request)
            response = await endpoint(request)
        except StackmlError as exc:
            response = stackml_error_response(request, exc)
        await response(scope, receive, send)
