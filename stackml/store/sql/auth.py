"""Users and API tokens. Secrets are shown once and stored only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from sqlalchemy import Connection, select, update

from stackml._internal.timeutil import now_ms
from stackml.errors import AlreadyExists, NotFound
from stackml.store.entities import ApiToken, User
from stackml.store.sql import snapshots
from stackml.store.sql.engine import dialect_insert
from stackml.store.sql.snapshots import TOKENS, USERS

TOKEN_PREFIX = "sml_"
MAX_SECRET_LENGTH = 256
LAST_USED_RESOLUTION_MS = 60_000


def digest(secret: str) -> str:
    """Hex SHA-256 of a token secret, the only form in which it is stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_user(conn: Connection, name: str, is_admin: bool) -> User:
    stmt = (
        dialect_insert(conn, USERS)
        .values(name=name, created_at=now_ms(), is_admin=is_admin)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(USERS.c.name)
    )
    if conn.execute(stmt).first() is None:
        raise AlreadyExists(f"user {name!r} already exists")
    return get_user(conn, name)


def get_user(conn: Connection, name: str) -> User:
    row = conn.execute(select(USERS).where(USERS.c.name == name)).first()
    if row is None:
        raise NotFound(f"user {name!r} does not exist")
    return snapshots.user(row)


def create_token(conn: Connection, user: str, name: str) -> tuple[str, ApiToken]:
    get_user(conn, user)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = uuid.uuid4().hex
    conn.execute(
        TOKENS.insert().values(
            id=token_id,
            user=user,
            name=name,
            prefix=secret[:8],
            token_sha256=digest(secret),
            created_at=now_ms(),
            last_used_at=None,
            revoked=False,
        )
    )
    row = conn.execute(select(TOKENS).where(TOKENS.c.id == token_id)).one()
    return secret, snapshots.token(row)


def list_tokens(conn: Connection, user: str | None) -> list[ApiToken]:
    query = select(TOKENS).order_by(TOKENS.c.created_at, TOKENS.c.id)
    if user is not None:
        query = query.where(TOKENS.c.user == user)
    return [snapshots.token(row) for row in conn.execute(query)]


def revoke_token(conn: Connection, token_id: str) -> None:
    result = conn.execute(
        update(TOKENS).where(TOKENS.c.id == token_id).values(revoked=True).returning(TOKENS.c.id)
    )
    if result.first() is None:
        raise NotFound(f"token {token_id!r} does not exist")


def authenticate(conn: Connection, secret: str) -> User | None:
    presented = digest(secret)
    row = conn.execute(select(TOKENS).where(TOKENS.c.token_sha256 == presented)).first()
    # The lookup is by digest, never by secret; compare in constant time all the same.
    if row is None or not hmac.compare_digest(row.token_sha256, presented) or row.revoked:
        return None
    now = now_ms()
    # Coarse last-use times spare a write on every request of a busy client.
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION_MS:
        conn.execute(update(TOKENS).where(TOKENS.c.id == row.id).values(last_used_at=now))
    return get_user(conn, row.user)
