"""``serve()``, as ``stackml server`` calls it, in a real subprocess."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_binds_loopback_and_serves_the_store(tmp_path: Path) -> None:
    port = _free_port()
    code = (
        "from stackml.server import serve; "
        f"serve(port={port}, backend_store={str(tmp_path / 'store')!r}, log_level='warning')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        assert response.json()["status"] == "ok"
        created = httpx.post(f"http://127.0.0.1:{port}/api/v1/projects", json={"name": "p"})
        assert created.status_code == 201
        assert (tmp_path / "store" / ".stackml" / "stackml.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
