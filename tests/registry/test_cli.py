"""``stackml models``: register, ls, show, gates, promote, history and rollback."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from stackml.cli.main import app
from stackml.store import Store
from tests.registry.conftest import logged_run


def _cli(store: Store, *args: str) -> Result:
    uri = str(store.location.root.parent)  # type: ignore[union-attr]
    return CliRunner().invoke(app, ["--tracking-uri", uri, "models", *args], env={"COLUMNS": "200"})


def test_register_list_show_promote_rollback(store: Store) -> None:
    good = logged_run(store, metrics={"accuracy": 0.95})
    weak = logged_run(store, metrics={"accuracy": 0.5})
    first = _cli(store, "register", "iris", f"runs:/{good}/model", "-d", "linear", "-t", "team=ml")
    assert first.exit_code == 0, first.output
    assert "registered iris@1" in first.stdout
    assert _cli(store, "register", "iris", f"runs:/{weak}/model").exit_code == 0
    listed = _cli(store, "ls")
    assert "iris" in listed.stdout and "2" in listed.stdout
    versions = _cli(store, "ls", "iris", "--json")
    assert [v["version"] for v in json.loads(versions.stdout)] == [2, 1]
    assert _cli(store, "gates", "iris", "metric:accuracy>=0.9").exit_code == 0
    refused = _cli(store, "promote", "iris@2", "-r", "try the new one")
    assert refused.exit_code == 1 and "accuracy = 0.5" in refused.output
    promoted = _cli(store, "promote", "iris@1", "-r", "good enough", "--author", "ada")
    assert promoted.exit_code == 0 and "iris@production → version 1" in promoted.stdout
    forced = _cli(
        store, "promote", "iris@2", "--force", "-r", "on-call override", "--author", "bob"
    )
    assert forced.exit_code == 0 and "forced" in forced.stdout
    back = _cli(store, "rollback", "iris", "-r", "override reverted", "--author", "ada")
    assert back.exit_code == 0 and "rolled back to version 1" in back.stdout
    history = _cli(store, "history", "iris")
    for text in ("good enough", "on-call override", "override reverted", "rollback", "bob"):
        assert text in history.stdout
    shown = _cli(store, "show", "iris@production")
    assert shown.exit_code == 0
    assert "iris@1" in shown.stdout and "team=ml" in shown.stdout and "accuracy" in shown.stdout
    as_json = json.loads(_cli(store, "show", "iris@1", "--json").stdout)
    assert as_json["aliases"] == ["production"] and as_json["format"] == "npy-linear"


def test_refused_sources_exit_1_with_a_message(store: Store, tmp_path: Path) -> None:
    run_id = logged_run(store)
    for source in (
        "file:///etc",
        "/etc/passwd",
        f"runs:/{run_id}/../x",
        "model",
        f"runs:/{run_id}/%2e%2e/x",
    ):
        result = _cli(store, "register", "iris", source, "--format", "npy-linear")
        assert result.exit_code == 1, (source, result.output)
        assert "refused model source" in result.output or "not an artifact" in result.output
    assert _cli(store, "show", "missing").exit_code == 1


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["models", "--help"], env={"COLUMNS": "200"})
    for command in ("register", "ls", "show", "promote", "rollback", "history", "gates"):
        assert command in result.stdout
