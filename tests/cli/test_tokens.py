"""``stackml token create|ls|revoke``: the secret is shown once and works until revoked."""

from __future__ import annotations

import re

from stackml.store import open_store
from tests.cli.support import Invoke, assert_clean_failure


def _token_id(stdout: str) -> str:
    match = re.search(r"Token (\S+) \(", stdout)
    assert match, stdout
    return match.group(1)


def _secret(stdout: str) -> str:
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    index = next(i for i, line in enumerate(lines) if line.startswith("Token "))
    return lines[index + 1]


def _authenticated_user(secret: str) -> str | None:
    store = open_store()
    try:
        user = store.metadata.authenticate(secret)
        return None if user is None else user.name
    finally:
        store.close()


def test_create_ls_revoke_round_trip(cli: Invoke) -> None:
    created = cli("token", "create", "--user", "alice", "--name", "ci", "--admin")
    assert created.exit_code == 0, created.output
    assert "Created user alice (admin)" in created.stdout
    assert "cannot be shown again" in created.stderr
    token_id, secret = _token_id(created.stdout), _secret(created.stdout)
    assert _authenticated_user(secret) == "alice"

    listed = cli("token", "ls")
    assert listed.exit_code == 0, listed.output
    assert token_id in listed.stdout and "alice" in listed.stdout and "ci" in listed.stdout
    assert "active" in listed.stdout
    assert secret not in listed.output

    revoked = cli("token", "revoke", token_id)
    assert revoked.exit_code == 0, revoked.output
    assert token_id in revoked.stdout
    assert _authenticated_user(secret) is None
    assert "revoked" in cli("token", "ls").stdout


def test_second_token_reuses_the_user(cli: Invoke) -> None:
    assert cli("token", "create", "--user", "bob").exit_code == 0
    again = cli("token", "create", "--user", "bob", "--admin")
    assert again.exit_code == 0, again.output
    assert "Created user" not in again.stdout
    assert "not an administrator" in again.stderr
    listed = cli("token", "ls", "--user", "bob")
    assert listed.stdout.count("bob") == 2


def test_revoke_unknown_token_fails_cleanly(cli: Invoke) -> None:
    stderr = assert_clean_failure(cli("token", "revoke", "no-such-token"))
    assert stderr.startswith("Error: ")


def test_create_requires_a_user(cli: Invoke) -> None:
    assert_clean_failure(cli("token", "create"), code=2)


def test_invalid_user_name_fails_cleanly(cli: Invoke) -> None:
    stderr = assert_clean_failure(cli("token", "create", "--user", "../etc"))
    assert stderr.startswith("Error: ")
