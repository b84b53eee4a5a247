"""Access rules: every route declares exactly one of :func:`public`, :func:`authenticated`
or :func:`admin` as a dependency (a test walks the routes to make sure).

With auth off (the default for a loopback server) every rule lets everyone in. With auth on,
a request needs ``Authorization: Bearer <token>``; the token is checked against the metadata
store on every request, so a revoked token stops working at once. Secrets are never logged.
"""

from __future__ import annotations

from fastapi import Depends, Request

from stackml.errors import Forbidden, Unauthorized
from stackml.server.blocking import run_blocking
from stackml.server.security import check_cookie_request, session_secret
from stackml.store.entities import User

_SCHEME = "bearer"


async def public() -> None:
    """Access rule: anyone, even with auth on (health only)."""


def _bearer_secret(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        cookie = session_secret(request)
        if cookie:  # the web UI's session; mutating calls must prove they come from our pages
            check_cookie_request(request)
            return cookie
        raise Unauthorized("this server requires a token: send 'Authorization: Bearer <token>'")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != _SCHEME or not secret.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return secret.strip()


async def authenticated(request: Request) -> User | None:
    """Access rule: any holder of a valid token; returns the user (``None`` with auth off).

    Asynchronous so that with auth off a request pays no thread hand-off for it; the token
    lookup itself is blocking work (:func:`~stackml.server.blocking.run_blocking`).
    """
    if not request.app.state.auth:
        return None
    secret = _bearer_secret(request)
    metadata = request.app.state.store.metadata
    user = await run_blocking(request, lambda: metadata.authenticate(secret))
    if user is None:
        raise Unauthorized("the token is unknown or revoked; create a new one")
    request.state.user = user
    return user


async def admin(user: User | None = Depends(authenticated)) -> User | None:
    """Access rule: administrators only (``None`` with auth off)."""
    if user is not None and not user.is_admin:
        raise Forbidden(f"user {user.name!r} is not an administrator")
    return user


def current_user(request: Request) -> User | None:
    """The user the access rule authenticated, if any."""
    return getattr(request.state, "user", None)


#: The access rules; each route must depend on exactly one of them.
ACCESS_RULES = (public, authenticated, admin)
