"""``stackml token``: create, list and revoke API tokens for the server's authentication."""

from __future__ import annotations

import typer

from stackml.cli._console import format_time, print_warning, stdout_console
from stackml.cli._store import opened_store

tokens_app = typer.Typer(
    help="Create, list and revoke API tokens (used with `stackml server --auth`).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``token`` group to the root application."""
    app.add_typer(tokens_app, name="token")


@tokens_app.command("create")
def create_token(
    ctx: typer.Context,
    user: str = typer.Option(
        ..., "--user", "-u", help="Owner of the token; the user is created if missing."
    ),
    name: str | None = typer.Option(
        None, "--name", help="A label for the token, e.g. 'ci'. Default: cli-<timestamp>."
    ),
    admin: bool = typer.Option(
        False, "--admin", help="Create the user as an administrator (new users only)."
    ),
) -> None:
    """Create an API token and print its secret once."""
    from rich.text import Text

    from stackml._internal.timeutil import now_ms
    from stackml.errors import AlreadyExists, NotFound

    token_name = name or f"cli-{now_ms()}"
    with opened_store(ctx) as store:
        try:
            owner = store.metadata.get_user(user)
        except NotFound:
            try:
                owner = store.metadata.create_user(user, is_admin=admin)
            except AlreadyExists:  # created concurrently: use it
                owner = store.metadata.get_user(user)
            role = " (admin)" if owner.is_admin else ""
            stdout_console().print(Text(f"Created user {owner.name}{role}"))
        else:
            if admin and not owner.is_admin:
                print_warning(f"user {owner.name} already exists and is not an administrator")
        secret, record = store.metadata.create_token(owner.name, token_name)
    console = stdout_console()
    console.print(Text(f"Token {record.id} ({record.name}) for user {record.user}:"))
    # The secret goes out unstyled and unwrapped so that it can be copied as-is.
    console.print(Text(secret), soft_wrap=True)
    print_warning(
        "store this secret now; it cannot be shown again. "
        "Clients send it as STACKML_TOKEN or 'Authorization: Bearer <secret>'."
    )


@tokens_app.command("ls")
def list_tokens(
    ctx: typer.Context,
    user: str | None = typer.Option(None, "--user", "-u", help="Only this user's tokens."),
) -> None:
    """List tokens (never their secrets)."""
    from rich.table import Table
    from rich.text import Text

    with opened_store(ctx) as store:
        records = store.metadata.list_tokens(user)
    console = stdout_console()
    if not records:
        console.print("No tokens.")
        return
    table = Table(header_style="bold")
    for column in ("id", "user", "name", "prefix", "created", "last used", "state"):
        table.add_column(column, no_wrap=column in ("id", "prefix"))
    for record in records:
        table.add_row(
            Text(record.id),
            Text(record.user),
            Text(record.name),
            Text(f"{record.prefix}…"),
            format_time(record.created_at),
            format_time(record.last_used_at),
            Text("revoked", style="red") if record.revoked else Text("active", style="green"),
        )
    console.print(table)


@tokens_app.command("revoke")
def revoke_token(
    ctx: typer.Context,
    token_id: str = typer.Argument(..., help="Id of the token (see `stackml token ls`)."),
) -> None:
    """Revoke a token; requests using it are refused from now on."""
    from rich.text import Text

    with opened_store(ctx) as store:
        store.metadata.revoke_token(token_id)
    stdout_console().print(Text(f"Revoked token {token_id}."))
