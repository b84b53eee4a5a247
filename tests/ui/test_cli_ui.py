"""``stackml ui`` serves the nearest store's UI on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from stackml.store import open_store


def test_stackml_ui_serves_the_nearest_store(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    store.metadata.create_run("demo", name="from-the-cli")
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKML_")}
    exe = Path(sys.executable).with_name("stackml")
    proc = subprocess.Popen(
        [str(exe), "ui", "--no-browser"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        url = line.split("http://", 1)[1].split()[0]
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(f"http://{url}", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "stackml ui did not answer"
                time.sleep(0.2)
        assert page.status_code == 200 and "from-the-cli" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
