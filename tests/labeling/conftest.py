"""Fixtures of the labeling tests: the shared live server of the server tests."""

from __future__ import annotations

from tests.server.conftest import (  # noqa: F401
    _auth_server,
    _open_server,
    client,
    served,
    served_auth,
    served_postgres,
)
