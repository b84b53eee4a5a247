"""Digits data and small trained models, built once per test session (seconds on 2 cores)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CLASSES = [str(i) for i in range(10)]


@dataclass
class Digits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@pytest.fixture(scope="session")
def digits() -> Digits:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return Digits(x[:1300], y[:1300], x[1300:], y[1300:])


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Any:
    """Tiny models on a shared 2-core machine: one thread avoids oversubscription."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train(model: Any, digits: Digits, epochs: int = 5, lr: float = 3e-3) -> Any:
    import torch

    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.from_numpy(digits.x_train), torch.from_numpy(digits.y_train)
    model.train()
    for _ in range(epochs):
        for i in range(0, len(x), 64):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[i : i + 64]), y[i : i + 64]).backward()
            optimizer.step()
    return model.eval()


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.inference_mode():
        return float((model(torch.from_numpy(x)).argmax(-1).numpy() == y).mean())


@pytest.fixture(scope="session")
def mlp(digits: Digits) -> Any:
    """A trained DigitsMLP (about 26k parameters)."""
    import torch

    from tests.registry_formats.nets import DigitsMLP

    torch.manual_seed(0)
    return train(DigitsMLP(hidden=128), digits)


@pytest.fixture(scope="session")
def onnx_dir(
    mlp: Any, digits: Digits, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Any]:
    """The MLP exported once to ONNX: (folder, ModelFiles)."""
    from stackml.registry.formats import save_model

    folder = tmp_path_factory.mktemp("onnx")
    files = save_model(
        mlp,
        folder,
        format="onnx",
        example=digits.x_test[:8],
        classes=CLASSES,
        parity_data=digits.x_test,
    )
    return folder, files
