"""``stackml server`` as a real process on a free loopback port, and its exposure warning."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from stackml.cli._net import free_port as pick_port
from stackml.cli._net import is_loopback, port_is_free, warn_if_exposed
from tests.cli.support import STACKML_BIN, free_port, stop, subprocess_env, wait_for_health


def test_server_serves_health_until_terminated(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(STACKML_BIN), "server", "--port", str(port), "--log-level", "warning"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=subprocess_env(),
    )
    try:
        wait_for_health(f"http://127.0.0.1:{port}/health", process)
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    finally:
        stop(process)
    output = process.stdout.read().decode() if process.stdout and not process.stdout.closed else ""
    assert "Warning" not in output
    assert (tmp_path / ".stackml").is_dir()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_exposed_server_without_auth_is_warned_about(capsys: pytest.CaptureFixture[str]) -> None:
    warn_if_exposed("0.0.0.0", auth=False)
    assert "WITHOUT --auth" in capsys.readouterr().err
    warn_if_exposed("0.0.0.0", auth=True)
    warn_if_exposed("127.0.0.1", auth=False)
    assert capsys.readouterr().err == ""


def test_port_fallback_when_taken() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        assert not port_is_free("127.0.0.1", busy)
        other = pick_port("127.0.0.1", busy)
        assert other != busy and port_is_free("127.0.0.1", other)
