"""The ``stackml`` entry point: help, version, start-up weight, usage errors and ``init``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stackml import __version__
from tests.cli.support import STACKML_BIN, Invoke, assert_clean_failure, subprocess_env

HEAVY = ("torch", "sklearn", "fastapi", "uvicorn", "sqlalchemy", "numpy")


def test_console_script_prints_help_and_version() -> None:
    help_run = subprocess.run(
        [str(STACKML_BIN), "--help"], capture_output=True, text=True, env=subprocess_env()
    )
    assert help_run.returncode == 0, help_run.stderr
    for command in ("runs", "token", "gc", "fsck", "server", "init", "quickstart"):
        assert command in help_run.stdout

    version_run = subprocess.run(
        [str(STACKML_BIN), "--version"], capture_output=True, text=True, env=subprocess_env()
    )
    assert version_run.returncode == 0
    assert version_run.stdout.strip() == f"stackml {__version__}"


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = (
        f"import sys, stackml.cli.main\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env()
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_every_command_has_help(cli: Invoke) -> None:
    commands = [
        ["runs", "ls"],
        ["runs", "show"],
        ["runs", "compare"],
        ["token", "create"],
        ["token", "ls"],
        ["token", "revoke"],
        ["gc"],
        ["fsck"],
        ["server"],
        ["init"],
        ["quickstart"],
    ]
    for command in commands:
        result = cli(*command, "--help")
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.stdout
        assert "--help" in result.stdout


def test_unknown_command_is_a_usage_error(cli: Invoke) -> None:
    assert_clean_failure(cli("no-such-command"), code=2)
    assert_clean_failure(cli("runs", "ls", "--limit", "0"), code=2)


def test_init_creates_a_store_in_the_working_directory(cli: Invoke) -> None:
    result = cli("init")
    assert result.exit_code == 0, result.output
    store_dir = Path.cwd() / ".stackml"
    assert store_dir.is_dir() and (store_dir / "stackml.db").is_file()
    assert str(store_dir) in result.stdout.replace("\n", "")
    again = cli("init")
    assert again.exit_code == 0
    assert "already" in again.stdout


def test_init_ignores_a_store_further_up(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("init").exit_code == 0
    child = Path.cwd() / "child"
    child.mkdir()
    monkeypatch.chdir(child)
    assert cli("init").exit_code == 0
    assert (child / ".stackml" / "stackml.db").is_file()
