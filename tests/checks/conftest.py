"""A store holding one registered model version, trained on a versioned wine table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression

import stackml
import stackml.data as sd
from stackml.registry import log_model
from stackml.store import Store, open_store
from stackml.store.registry_base import ModelVersion
from stackml.tracking.api import get_store

PROJECT = "wine"


@dataclass
class Trained:
    store: Store
    version: ModelVersion
    run_id: str
    workdir: Path


def train_and_register(
    store: Store, *, with_dataset: bool = True, commit: str | None = None, accuracy: float = 0.9
) -> tuple[ModelVersion, str]:
    """Train a logistic regression on wine, track it and register it as ``wine``."""
    frame = load_wine(as_frame=True).frame
    if with_dataset:
        sd.add("wine", frame, store=store, message="wine table", label="target")
    x = frame.drop(columns="target").to_numpy(np.float32)
    y = frame["target"].to_numpy()
    model = LogisticRegression(max_iter=2000).fit(x, y)
    with stackml.start_run(project=PROJECT, params={"C": 1.0}) as run:
        if with_dataset:
            run.use_dataset("wine")
        run.log_metrics({"accuracy": accuracy, "train_time_s": 1.0})
        if commit is not None:
            run.set_tags({"stackml.git.commit": commit, "stackml.git.dirty": "false"})
        logged = log_model(
            run, model, "model", format="sklearn-onnx", example=x[:4], register_as=PROJECT
        )
    assert logged.version is not None
    return logged.version, run.id


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    root = tmp_path / "store"
    monkeypatch.setenv("STACKML_TRACKING_URI", str(root))
    opened = get_store(str(root))
    yield opened


@pytest.fixture
def trained(store: Store, tmp_path: Path) -> Trained:
    version, run_id = train_and_register(store)
    return Trained(store, version, run_id, tmp_path)


__all__ = ["PROJECT", "Trained", "open_store", "pd", "train_and_register"]
