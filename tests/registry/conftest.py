"""Fixtures of the registry tests: an embedded store, a tiny test format, runs with models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from stackml.registry import Signature, TensorSpec, log_model
from stackml.registry.formats._base import FORMATS
from stackml.store import Store
from tests.registry import npy_format

SIGNATURE = Signature(
    inputs=(TensorSpec("x", "float32", (-1, 4)),),
    outputs=(TensorSpec("y", "float32", (-1, 3)),),
    task="classification",
    classes=("a", "b", "c"),
)


@pytest.fixture(autouse=True)
def npy_linear_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the test format known to the format table."""
    monkeypatch.setitem(FORMATS, npy_format.NAME, npy_format.TARGET)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """The tracking SDK's store for a fresh folder (runs started on it share the object)."""
    import stackml.tracking as tracking

    opened = tracking.get_store(str(tmp_path / "store"))
    yield opened
    tracking.reset()


def weights(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(4, 3)).astype(np.float32)


def logged_run(
    store: Store,
    *,
    seed: int = 0,
    metrics: dict[str, float] | None = None,
    path: str = "model",
    project: str = "demo",
) -> str:
    """A finished run holding a linear model under ``path``; returns the run id."""
    import stackml

    uri = str(store.location.root.parent)  # type: ignore[union-attr]
    with stackml.start_run(project=project, tracking_uri=uri, capture_environment=False) as run:
        run.log_metrics(metrics or {"accuracy": 0.9})
        log_model(run, weights(seed), path, format=npy_format.NAME, signature=SIGNATURE)
    return run.id
