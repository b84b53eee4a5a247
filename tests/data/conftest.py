"""Fixtures for the datasets layer: a fresh embedded store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackml.store import Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An embedded store (SQLite + local blobs) under the test's temp folder."""
    s = open_store(str(tmp_path / "store"))
    yield s
    s.close()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small folder of files, one of them nested."""
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    for i in range(5):
        (root / f"f{i}.txt").write_text(f"file {i}\n")
    (root / "sub" / "nested.bin").write_bytes(bytes(range(256)) * 4)
    return root
