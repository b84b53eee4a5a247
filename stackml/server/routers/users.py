"""``/api/v1/users`` and ``/api/v1/tokens``: accounts and API tokens (administrators only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from stackml.errors import Forbidden
from stackml.server.auth import admin, authenticated, current_user
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.server.schemas import (
    CreatedToken,
    Done,
    Identity,
    SecretIn,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
)
from stackml.store.base import MetadataStore

router = APIRouter(prefix=API_PREFIX, tags=["users"], responses=ERROR_RESPONSES)


@router.get("/whoami", response_model=Identity, dependencies=[Depends(authenticated)])
def whoami(request: Request) -> Identity:
    """The user owning the request's token (``null`` when the server runs without auth)."""
    user = current_user(request)
    return Identity(user=None if user is None else UserOut.of(user))


@router.post("/users", response_model=UserOut, status_code=201, dependencies=[Depends(admin)])
def create_user(body: UserIn, store: MetadataStore = Depends(get_metadata)) -> UserOut:
    """Create a user."""
    return UserOut.of(store.create_user(body.name, is_admin=body.is_admin))


@router.get("/users/{name}", response_model=UserOut, dependencies=[Depends(authenticated)])
def get_user(name: str, request: Request, store: MetadataStore = Depends(get_metadata)) -> UserOut:
    """A user; people may read their own record, administrators anyone's."""
    caller = current_user(request)
    if caller is not None and not caller.is_admin and caller.name != name:
        raise Forbidden("only administrators may read other users")
    return UserOut.of(store.get_user(name))


@router.post(
    "/users/{name}/tokens",
    response_model=CreatedToken,
    status_code=201,
    dependencies=[Depends(admin)],
)
def create_token(
    name: str, body: TokenIn, store: MetadataStore = Depends(get_metadata)
) -> CreatedToken:
    """Create a token for a user; the secret is in this answer only."""
    secret, record = store.create_token(name, body.name)
    return CreatedToken(secret=secret, token=TokenOut.of(record))


@router.get("/tokens", response_model=list[TokenOut], dependencies=[Depends(admin)])
def list_tokens(
    user: str | None = None, store: MetadataStore = Depends(get_metadata)
) -> list[TokenOut]:
    """Token records (never secrets), optionally of one user."""
    return [TokenOut.of(t) for t in store.list_tokens(user)]


@router.delete("/tokens/{token_id}", response_model=Done, dependencies=[Depends(admin)])
def revoke_token(token_id: str, store: MetadataStore = Depends(get_metadata)) -> Done:
    """Revoke a token; it stops working at once."""
    store.revoke_token(token_id)
    return Done()


@router.post("/tokens/check", response_model=Identity, dependencies=[Depends(admin)])
def check_token(body: SecretIn, store: MetadataStore = Depends(get_metadata)) -> Identity:
    """The user owning a valid, unrevoked token secret, or ``null``."""
    user = store.authenticate(body.secret)
    return Identity(user=None if user is None else UserOut.of(user))
