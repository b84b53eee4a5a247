"""Helpers for the command-line tests: result checks and server processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import Result

REPO = Path(__file__).resolve().parents[2]
STACKML_BIN = REPO / ".venv" / "bin" / "stackml"
if not STACKML_BIN.exists():
    STACKML_BIN = Path(sys.executable).with_name("stackml")

Invoke = Callable[..., Result]


def assert_clean_failure(result: Result, *, code: int = 1) -> str:
    """The command failed with ``code``, a one-line message and no traceback; returns stderr."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    return result.stderr


@dataclass(frozen=True)
class RecordedRuns:
    """Two finished runs in the working directory's store."""

    slow: str
    fast: str


def free_port() -> int:
    """A TCP port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_health(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Poll ``url`` until it answers 200, failing early if ``process`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"the server exited with {process.returncode}:\n{out}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {timeout}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server process started by a test and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout:
        process.stdout.close()


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test's environment (already free of STACKML_*), plus ``extra``."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
