"""Browser-facing defences: the ``Host`` allow-list, security headers, CSRF and the UI cookie.

* **Host allow-list.** A page on another site can point its own DNS name at 127.0.0.1 (DNS
  rebinding) and then talk to a localhost server as same-origin. Checking the ``Host`` header
  against the names this server is meant to be reached by defeats that: loopback names always,
  the bound interface, and ``STACKML_ALLOWED_HOSTS``. Anything else answers 400.
* **Headers.** Every answer carries ``X-Frame-Options: DENY`` (no click-jacking through
  frames), ``X-Content-Type-Options: nosniff``, a referrer policy and, on HTML pages, a
  Content-Security-Policy that allows scripts from this origin only.
* **Session cookie.** With auth on, the UI keeps the API token in an ``HttpOnly``,
  ``SameSite=Strict`` cookie (``Secure`` over https), which :func:`session_secret` reads.
* **CSRF.** Mutating forms carry a token that must equal the ``stackml_csrf`` cookie
  (double submit); a cross-site page can neither read that cookie nor set the form field.
  ``SameSite=Strict`` on the session cookie is a second, independent defence.
* **Login redirect.** An HTML page answered 401 becomes a redirect to ``/login``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stackml.errors import Forbidden
from stackml.server.errors import error_response

SESSION_COOKIE = "stackml_session"
CSRF_COOKIE = "stackml_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

#: Names a loopback server is always reachable by.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'; object-src 'none'"
)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Prefixes of paths that are not HTML pages (no login redirect there).
_NON_PAGE_PREFIXES = ("/api/", "/static/", "/health", "/metrics", "/openapi.json", "/login")


def allowed_host_names(
    bind_host: str | None = None, extra: str | Iterable[str] = ""
) -> frozenset[str]:
    """The ``Host`` names to accept: loopback, the bound interface and ``extra``.

    A server bound to loopback (the default) accepts loopback names only, which is what
    defeats DNS rebinding. A server bound to another interface is reachable by names this
    process cannot know (DNS, proxies), so it accepts any ``Host`` unless ``extra`` lists the
    names to enforce.

    Args:
        bind_host: the interface the server listens on (``None``: loopback).
        extra: comma-separated names (or an iterable); ``*`` accepts any host.
    """
    items = extra.split(",") if isinstance(extra, str) else list(extra)
    named = {item.strip().lower() for item in items if item.strip()}
    exposed = bind_host is not None and bind_host.lower() not in LOOPBACK_HOSTS
    if exposed and not named:
        return frozenset({"*"})
    names = set(LOOPBACK_HOSTS) | named
    if exposed and bind_host is not None and bind_host not in {"0.0.0.0", "::"}:
        names.add(bind_host.lower())
        if ":" in bind_host:
            names.add(f"[{bind_host.lower()}]")
    return frozenset(names)


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:5000
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class BrowserSecurity:
    """Pure ASGI middleware: Host allow-list, security headers and the UI's login redirect."""

    def __init__(self, app: ASGIApp, allowed_hosts: frozenset[str]) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if "*" not in self.allowed_hosts and _host_name(host) not in self.allowed_hosts:
            response = error_response(
                400,
                "InvalidInput",
                "this server does not answer to that Host name; add it to "
                "STACKML_ALLOWED_HOSTS if it is meant to",
            )
            await response(scope, receive, send)
            return
        path: str = scope["path"]
        is_page = scope["method"] == "GET" and not path.startswith(_NON_PAGE_PREFIXES)
        wants_html = "text/html" in headers.get("accept", "")

        redirected = False

        async def send_with_headers(message: Message) -> None:
            nonlocal redirected
            if redirected:  # swallow the 401's body; the redirect has no body of its own
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    await send({"type": "http.response.body", "body": b""})
                return
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                if message["status"] == 401 and is_page and wants_html:
                    # A person opening a page without a session is sent to the login form.
                    redirected = True
                    raw = [(b"location", b"/login"), (b"content-length", b"0")]
                    message = {"type": "http.response.start", "status": 303, "headers": raw}
                present = {name.lower() for name, _ in raw}
                raw.append((b"x-frame-options", b"DENY"))
                raw.append((b"referrer-policy", b"same-origin"))
                if b"x-content-type-options" not in present:
                    raw.append((b"x-content-type-options", b"nosniff"))
                content_type = dict(raw).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    raw.append((b"content-security-policy", _CSP.encode()))
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def session_secret(request: Request) -> str | None:
    """The API token kept in the UI's session cookie, if any."""
    value = request.cookies.get(SESSION_COOKIE)
    return value or None


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser (from its cookie, or a new one to set)."""
    token = request.cookies.get(CSRF_COOKIE)
    if token and 20 <= len(token) <= 100:
        return token
    token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(32)
    request.state.new_csrf = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    """Raise ``Forbidden`` unless ``submitted`` equals this browser's CSRF cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted or not hmac.compare_digest(cookie, submitted):
        raise Forbidden("the form's CSRF token is missing or stale; reload the page and retry")


def check_cookie_request(request: Request) -> None:
    """Refuse a mutating request authenticated by cookie alone without the CSRF header."""
    if request.method not in _SAFE_METHODS:
        check_csrf(request, request.headers.get(CSRF_HEADER))


def cookie_flags(request: Request) -> dict[str, object]:
    """Cookie attributes: ``HttpOnly``, ``SameSite=Strict``, ``Secure`` over https."""
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": "/",
    }
