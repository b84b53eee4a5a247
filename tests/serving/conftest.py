"""Fixtures of the serving tests: the server fixtures of ``tests/server``."""

from tests.server.conftest import _open_server, client, served, served_postgres  # noqa: F401
