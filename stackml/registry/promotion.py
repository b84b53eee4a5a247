"""Aliases, promotion through gates, rollback, and the audit trail behind them.

Every alias move is recorded with who made it, when, why and (for promotions) each gate's
answer; :func:`alias_history` reads that trail back. :func:`promote` runs the gates the
registered model configures for the alias (:func:`set_gates`) and refuses with
:class:`~stackml.registry.gates.GateFailed` when one fails, unless ``force=True`` with a reason,
which is recorded too. :func:`rollback` moves an alias back to where it pointed before its
last move.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stackml.errors import Conflict, InvalidInput
from stackml.registry.gates import GateFailed, GateResult, run_gates
from stackml.registry.refs import parse_ref, resolve
from stackml.registry.versions import get_store
from stackml.store.registry_base import ModelAliasEvent, RegisteredModel

if TYPE_CHECKING:
    from stackml.store import Store

__all__ = [
    "alias_history",
    "gate_results",
    "promote",
    "remove_alias",
    "rollback",
    "set_alias",
    "set_gates",
]

PRODUCTION = "production"


def _who(author: str | None) -> str:
    if author:
        return author
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in containers without a passwd entry
        return "unknown"


def set_gates(
    name: str, gates: Sequence[str], *, alias: str = PRODUCTION, store: Store | None = None
) -> RegisteredModel:
    """Configure the gates (specs, see :mod:`stackml.registry.gates`) guarding ``alias``."""
    store = get_store(store)
    model = store.metadata.get_registered_model(name)
    configured = {k: list(v) for k, v in model.gates.items()}
    configured[alias] = list(gates)
    if not gates:
        configured.pop(alias)
    return store.metadata.update_registered_model(name, gates=configured)


def promote(
    ref: str,
    *,
    alias: str = PRODUCTION,
    reason: str = "",
    author: str | None = None,
    force: bool = False,
    store: Store | None = None,
) -> ModelAliasEvent:
    """Move ``alias`` to the version ``ref`` names (``NAME@N``, ``NAME@other-alias``, ``NAME``)
    after the gates configured for ``alias`` pass.

    Raises:
        GateFailed: A gate did not pass (nothing moved); ``force=True`` overrides it, and
            then needs a ``reason``.
        NotFound: No such model or version.
    """
    store = get_store(store)
    name, number = resolve(parse_ref(ref), store.metadata)
    version = store.metadata.get_model_version(name, number)
    specs = store.metadata.get_registered_model(name).gates.get(alias, [])
    results = run_gates(store, version, specs)
    failed = {spec: r for spec, r in results.items() if not r.passed}
    if failed and not force:
        lines = [f"{spec}: {'; '.join(r.reasons) or 'failed'}" for spec, r in failed.items()]
        raise GateFailed(f"{version.ref} may not become {alias!r}: " + " | ".join(lines), results)
    if failed and not reason:
        raise InvalidInput("forcing a promotion past failed gates needs a reason")
    record: dict[str, Any] = {spec: r.to_dict() for spec, r in results.items()}
    if failed:
        record["forced"] = True
    return store.metadata.set_model_alias(
        name,
        alias,
        number,
        action="promote",
        author=_who(author),
        reason=reason,
        gates=record,
    )


def rollback(
    name: str,
    *,
    alias: str = PRODUCTION,
    to: int | None = None,
    reason: str = "",
    author: str | None = None,
    store: Store | None = None,
) -> ModelAliasEvent:
    """Move ``alias`` back to the version it pointed at before its last move (or to ``to``).

    Gates do not run: the target already served under the alias (or is named on purpose).

    Raises:
        Conflict: The alias has no earlier version to go back to.
    """
    store = get_store(store)
    history = store.metadata.model_alias_history(name, alias)
    if to is None:
        target = history[-1].previous if history else None
        if target is None:
            raise Conflict(f"{name}@{alias} has no earlier version to roll back to")
    else:
        target = store.metadata.get_model_version(name, to).version
    return store.metadata.set_model_alias(
        name, alias, target, action="rollback", author=_who(author), reason=reason
    )


def set_alias(
    ref: str,
    alias: str,
    *,
    reason: str = "",
    author: str | None = None,
    store: Store | None = None,
) -> ModelAliasEvent:
    """Move ``alias`` to the version ``ref`` names without gates (``staging``, ``champion``...).

    Aliases that have gates configured must be moved with :func:`promote`.
    """
    store = get_store(store)
    name, number = resolve(parse_ref(ref), store.metadata)
    if store.metadata.get_registered_model(name).gates.get(alias):
        raise Conflict(f"{name}@{alias} is guarded by gates: use promote()")
    return store.metadata.set_model_alias(
        name, alias, number, action="set", author=_who(author), reason=reason
    )


def remove_alias(
    name: str,
    alias: str,
    *,
    reason: str = "",
    author: str | None = None,
    store: Store | None = None,
) -> ModelAliasEvent:
    """Remove ``alias`` from model ``name`` (recorded in the history)."""
    store = get_store(store)
    return store.metadata.set_model_alias(
        name, alias, None, action="remove", author=_who(author), reason=reason
    )


def alias_history(
    name: str, alias: str | None = None, *, store: Store | None = None
) -> list[ModelAliasEvent]:
    """Every move of the model's aliases (or one alias), oldest first: the audit trail."""
    return get_store(store).metadata.model_alias_history(name, alias)


def gate_results(event: ModelAliasEvent) -> Mapping[str, GateResult]:
    """The gate answers recorded with a promotion."""
    return {
        spec: GateResult(
            bool(r.get("passed")), list(r.get("reasons", [])), dict(r.get("details", {}))
        )
        for spec, r in event.gates.items()
        if isinstance(r, Mapping)
    }
