"""Fixtures for the quickstart tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import stackml.tracking


@pytest.fixture(autouse=True)
def _clean_tracking() -> Iterator[None]:
    """Each test starts with no active run and no cached store."""
    stackml.tracking.reset()
    yield
    stackml.tracking.reset()
