"""The application factory of ``stackml server``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request

from stackml._version import __version__
from stackml.config import get_settings
from stackml.server.auth import authenticated
from stackml.server.direct import DirectPages, direct_pages
from stackml.server.errors import InternalErrorMiddleware, register_error_handlers
from stackml.server.limits import BodySizeLimit
from stackml.server.observability import RequestMetrics, ServerMetrics
from stackml.server.observability import router as metrics_router
from stackml.server.routers import ROUTERS, ui_pages
from stackml.server.routers.pipelines import scheduler_lifespan
from stackml.server.security import BrowserSecurity, allowed_host_names
from stackml.store import Store

_spec_router = APIRouter(dependencies=[Depends(authenticated)])
#: Pages answered without FastAPI's routing (see :mod:`stackml.server.direct`).
DIRECT_PAGES = ("/runs",)


@_spec_router.get("/openapi.json", response_model=dict[str, Any], include_in_schema=False)
def openapi_spec(request: Request) -> dict[str, Any]:
    """The OpenAPI document of this server (behind the same access rule as the API)."""
    spec: dict[str, Any] = request.app.openapi()
    return spec


def create_app(
    store: Store,
    *,
    auth: bool = False,
    max_request_bytes: int | None = None,
    allowed_hosts: frozenset[str] | None = None,
) -> FastAPI:
    """Build the ASGI application serving ``store``.

    Args:
        store: the metadata and blob store to serve; the caller keeps ownership (and closes it).
        auth: require ``Authorization: Bearer <token>`` on every route except ``/health``.
        max_request_bytes: largest JSON body accepted (default ``Settings.max_request_bytes``);
            streamed uploads of blobs and artifact files are exempt.
        allowed_hosts: ``Host`` names to answer (see :mod:`stackml.server.security`); default
            loopback names plus ``STACKML_ALLOWED_HOSTS``.

    Returns:
        The FastAPI application; the store is reachable as ``app.state.store``.
    """
    limit = max_request_bytes if max_request_bytes is not None else get_settings().max_request_bytes
    app = FastAPI(
        title="stackml",
        version=__version__,
        description="REST API of a stackml server: tracking metadata, artifacts and blobs.",
        # The spec is served by a route of our own, so that it carries an access rule too.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # A trailing slash is a 404, not a redirect that clients would have to follow.
        redirect_slashes=False,
        # Background work tied to the server's life: the pipeline scheduler.
        lifespan=scheduler_lifespan,
    )
    app.state.store = store
    app.state.auth = auth
    app.state.metrics = ServerMetrics()
    register_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(metrics_router)
    app.include_router(_spec_router)
    # Added innermost first: metrics see every answer, including 413s and 500s.
    app.add_middleware(DirectPages, pages=direct_pages(ui_pages.router, DIRECT_PAGES))
    app.add_middleware(InternalErrorMiddleware)
    app.add_middleware(BodySizeLimit, max_bytes=limit)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    hosts = allowed_hosts or allowed_host_names(extra=get_settings().allowed_hosts)
    app.add_middleware(BrowserSecurity, allowed_hosts=hosts)
    return app
