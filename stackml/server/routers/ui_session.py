"""The UI's public corner: static assets and the token login form (with auth on).

These are the only public routes besides ``/health``: the login form must be reachable
without a session, and so must the stylesheet it uses. Static files come from the package
(``stackml/ui/static``) through a validated path, never from user data.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from stackml.errors import StackmlError
from stackml.server.auth import public
from stackml.server.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    cookie_flags,
    csrf_token,
    session_secret,
)
from stackml.ui import render, static_file

router = APIRouter(include_in_schema=False, dependencies=[Depends(public)])

_STATIC_CACHE = "public, max-age=86400"


def page_response(
    request: Request, template: str, status: int = 200, **context: object
) -> HTMLResponse:
    """Render a UI page with what every page needs (CSRF token, session state)."""
    token = csrf_token(request)
    context.setdefault("csrf", token)
    context.setdefault(
        "signed_in", bool(request.app.state.auth and session_secret(request) is not None)
    )
    response = HTMLResponse(render(template, **context), status_code=status)
    response.headers["Cache-Control"] = "no-store"
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, **cookie_flags(request))  # type: ignore[arg-type]
    return response


@router.get("/static/{path:path}", response_class=FileResponse)
def static(path: str) -> FileResponse:
    """A packaged stylesheet, script, icon or vendored library."""
    file, media = static_file(path)
    return FileResponse(file, media_type=media, headers={"Cache-Control": _STATIC_CACHE})


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    """The token form (with auth off there is nothing to sign in to: go to the runs)."""
    if not request.app.state.auth:
        return RedirectResponse("/runs", status_code=303)
    return page_response(request, "login.html", error=None, areas=[])


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request, token: str = Form(""), csrf_token_field: str = Form("", alias="csrf_token")
) -> Response:
    """Check a token and keep it in an http-only, same-site cookie."""
    check_csrf(request, csrf_token_field)
    if not request.app.state.auth:
        return RedirectResponse("/runs", status_code=303)
    user = request.app.state.store.metadata.authenticate(token.strip()) if token.strip() else None
    if user is None:
        return page_response(
            request, "login.html", status=401, error="That token is unknown or revoked.", areas=[]
        )
    response = RedirectResponse("/runs", status_code=303)
    response.set_cookie(SESSION_COOKIE, token.strip(), **cookie_flags(request))  # type: ignore[arg-type]
    return response


@router.post("/logout")
def logout(request: Request, csrf_token_field: str = Form("", alias="csrf_token")) -> Response:
    """Forget the session cookie (public: it only ever removes access)."""
    check_csrf(request, csrf_token_field)
    response = RedirectResponse("/login" if request.app.state.auth else "/runs", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def error_page(request: Request, exc: StackmlError, title: str) -> Response:
    """The error page for a stackml error: its 4xx status (a 5xx one shows as 400) and message."""
    status = exc.http_status if exc.http_status < 500 else 400
    return page_response(
        request, "error.html", status=status, status_code=status, title=title, message=str(exc)
    )
