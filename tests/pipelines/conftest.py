"""Fixtures of the pipeline tests: an embedded store and a folder for step marks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackml.store import Store, open_store
from tests.pipelines.steps_demo import MARKS


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(str(tmp_path / "store"))
    yield opened
    opened.close()


@pytest.fixture
def marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "marks"
    folder.mkdir()
    monkeypatch.setenv(MARKS, str(folder))
    return folder


def count(marks: Path, name: str) -> int:
    """How many times a step body ran."""
    path = marks / name
    return len(path.read_text().splitlines()) if path.exists() else 0
