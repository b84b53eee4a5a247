"""Small importable models the format tests save by class reference."""

from __future__ import annotations

from torch import nn

from stackml.registry.formats.torch_formats import model_factory


class DigitsMLP(nn.Module):
    """An MLP with the ``embed``/``head`` convention."""

    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.out = nn.Linear(hidden, 10)

    def embed(self, x):  # type: ignore[no-untyped-def]
        return self.body(x)

    def head(self, e):  # type: ignore[no-untyped-def]
        return self.out(e)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.head(self.embed(x))


@model_factory
def tiny_cnn(channels: int = 4) -> nn.Sequential:
    """A small CNN (an ``nn.Sequential``, rebuilt by this factory)."""
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(channels * 16, 10),
    )


def unmarked_factory(channels: int = 4) -> nn.Sequential:
    """Like :func:`tiny_cnn` but not marked: loading a model that names it needs trust."""
    return tiny_cnn(channels)


class PickleBomb:
    """Unpickling this writes a marker file: proof that unpickling ran code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_write_marker, (self.marker,))


def _write_marker(path: str) -> str:
    with open(path, "w") as fh:
        fh.write("executed")
    return path
