"""Fixtures shared by the whole suite.

Every test runs in its own temporary working directory with ``STACKML_*`` variables cleared,
so nothing touches the user's real store. PostgreSQL tests get a fresh database on the real
server at 127.0.0.1:5432, created for the test session and dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "STACKML_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run each test in a fresh directory with no stackml configuration inherited."""
    for name in list(os.environ):
        if name.startswith("STACKML_"):
            monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # Rich wraps at the terminal's width; a fixed width keeps CLI output the same whether the
    # tests run in a terminal, in CI or in a pytest-xdist worker.
    monkeypatch.setenv("COLUMNS", "200")
    yield work


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=3
        ):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test session (skips if no server)."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is expected on 127.0.0.1:5432 in CI but is not reachable")
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    import psycopg

    name = f"stackml_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A brand-new, empty PostgreSQL database for one test."""
    import psycopg

    name = f"stackml_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """One real local Ray head (loopback only) shared by every test that needs Ray.

    Ray is started once per test process: a second ``ray.init`` in the same process looks for
    the token it generated under ``~/.ray``, and each test has its own ``HOME``.
    """
    ray = pytest.importorskip("ray")
    import shutil
    import tempfile

    # A short folder: Ray puts unix sockets under it, and their paths are length-limited.
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    repo = str(Path(__file__).resolve().parents[1])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=80 * 1024 * 1024,
        _temp_dir=temp,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
        # Ray's workers import the test package's functions by name.
        runtime_env={"env_vars": {"PYTHONPATH": repo}},
    )
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
