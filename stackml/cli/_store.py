"""Open the store a command works on, honouring the global ``--tracking-uri`` option."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from stackml.store import Store


@dataclass
class CliState:
    """Options given before the command name, kept on the root context."""

    tracking_uri: str | None = None
    artifact_uri: str | None = None


def cli_state(ctx: typer.Context) -> CliState:
    """The root :class:`CliState` (a default one when a command runs on its own)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


@contextmanager
def opened_store(ctx: typer.Context) -> Iterator[Store]:
    """The store named by ``--tracking-uri``, ``STACKML_TRACKING_URI`` or the nearest store."""
    from stackml.store import open_store

    state = cli_state(ctx)
    store = open_store(state.tracking_uri, state.artifact_uri)
    try:
        yield store
    finally:
        store.close()
