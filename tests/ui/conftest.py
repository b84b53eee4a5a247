"""A live uvicorn serving the UI over a seeded store, shared by the UI tests of a module."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from stackml.server import create_app
from stackml.store import Store, open_store
from stackml.store.entities import Artifact, LineageEdge, MetricColumns
from tests.server.conftest import LiveServer

XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = '"><script>alert(1)</script>'
T0 = 1_700_000_000_000


def png_bytes(width: int = 4, height: int = 4, rgb: np.ndarray | None = None) -> bytes:
    """A valid PNG: a grey square, or the given ``(height, width, 3)`` uint8 image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    if rgb is None:
        rgb = np.full((height, width, 3), 128, dtype=np.uint8)
    height, width = rgb.shape[:2]
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    out = io.BytesIO()
    out.write(b"\x89PNG\r\n\x1a\n")
    out.write(chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return out.getvalue()


def _heatmap(matrix: np.ndarray, cell: int = 28) -> np.ndarray:
    """A blue confusion-matrix image, one ``cell``-pixel square per entry."""
    share = matrix / matrix.max()
    base = np.array([244, 246, 252], dtype=float)
    dark = np.array([49, 78, 220], dtype=float)
    colours = base + (dark - base) * share[..., None]
    image = np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1).astype(np.uint8)
    image[::cell, :, :] = 255
    image[:, ::cell, :] = 255
    return image


def seed_demo(store: Store) -> list[str]:
    """A realistic project (``digits``): the runs the guide's screenshots show."""
    meta = store.metadata
    rng = np.random.default_rng(7)
    ids = []
    configs = [
        ("cnn-adam-lr3e-4", "adam", 3e-4, 64, 0.1, "completed", 0.981),
        ("cnn-adam-lr1e-3", "adam", 1e-3, 64, 0.2, "completed", 0.974),
        ("cnn-sgd-lr1e-2", "sgd", 1e-2, 128, 0.2, "completed", 0.952),
        ("cnn-sgd-lr3e-2", "sgd", 3e-2, 128, 0.3, "failed", 0.901),
        ("mlp-adam-lr1e-3", "adam", 1e-3, 32, 0.0, "completed", 0.943),
        ("logreg-baseline", "lbfgs", 1.0, 1797, 0.0, "completed", 0.962),
        ("cnn-adamw-lr5e-4", "adamw", 5e-4, 64, 0.1, "running", 0.978),
    ]
    for i, (name, opt, lr, batch, dropout, status, final) in enumerate(configs):
        start = T0 + 86_400_000 + i * 600_000
        run = meta.create_run(
            "digits",
            name=name,
            params={
                "optimizer": opt,
                "lr": str(lr),
                "batch_size": str(batch),
                "dropout": str(dropout),
                "epochs": "20",
            },
            tags={
                "model.family": name.split("-")[0],
                "stackml.python": "3.11.9",
                "stackml.host": "train-01",
                "stackml.git_commit": "4f1c2ab",
                "stackml.os": "Linux-6.1-x86_64",
            },
            start_time=start,
        )
        steps = np.arange(2000)
        decay = 2.3 * np.exp(-steps / (300 + 40 * i)) + (1 - final) * 0.8
        noise = rng.normal(0, 0.04, 2000) * np.exp(-steps / 1500)
        epochs = np.arange(20)
        acc = final - (final - 0.6) * np.exp(-epochs / 3.5) + rng.normal(0, 0.003, 20)
        meta.log_metric_columns(
            run.id,
            {
                "train/loss": MetricColumns(
                    steps.tolist(), (start + steps * 900).tolist(), (decay + noise).tolist()
                ),
                "val/accuracy": MetricColumns(
                    epochs.tolist(), (start + epochs * 90_000).tolist(), acc.tolist()
                ),
                "val/loss": MetricColumns(
                    epochs.tolist(),
                    (start + epochs * 90_000).tolist(),
                    (1.9 * np.exp(-epochs / 4) + (1 - final)).tolist(),
                ),
            },
        )
        if status != "running":
            meta.update_run(run.id, status=status, end_time=start + 1_830_000 + i * 7000)
        ids.append(run.id)
    best = ids[0]
    matrix = np.eye(10) * 170 + rng.integers(0, 6, (10, 10))
    _artifact(
        store, best, "plots/confusion_matrix.png", png_bytes(rgb=_heatmap(matrix)), "image/png"
    )
    rows = "\n".join(
        f"{i},{i % 10},{(i * 7) % 10 if i % 13 == 0 else i % 10},{0.62 + (i % 37) / 100:.2f}"
        for i in range(40)
    )
    _artifact(
        store,
        best,
        "predictions.csv",
        f"index,label,predicted,confidence\n{rows}\n".encode(),
        "text/csv",
    )
    _artifact(
        store,
        best,
        "metrics.json",
        b'{"accuracy": 0.981, "macro_f1": 0.979, "per_class": {"0": 1.0, "8": 0.94}}',
        "application/json",
    )
    _artifact(
        store,
        best,
        "model/config.yaml",
        b"layers: [conv32, conv64, dense128]\ndropout: 0.1\n",
        "text/yaml",
    )
    _artifact(
        store,
        best,
        "environment/requirements.txt",
        b"numpy==2.3.1\nscikit-learn==1.7.0\ntorch==2.13.0\nstackml==0.1.0\n",
        "text/plain",
    )
    _artifact(store, best, "model/weights.safetensors", b"\0" * 2048, "application/octet-stream")
    meta.add_lineage(LineageEdge("dataset_version", "digits@v2", "run", best, "input"))
    meta.add_lineage(LineageEdge("run", best, "model_version", "digits-cnn/3", "output"))
    return ids


@dataclass
class Seeded:
    """The seeded store and the ids of its interesting runs."""

    store: Store
    xss_run: str
    other_run: str
    long_run: str
    points: int
    demo: list[str]


def _artifact(store: Store, run_id: str, path: str, data: bytes, media: str) -> None:
    digest = store.blobs.put_bytes(data)
    store.metadata.log_artifact(Artifact(run_id, path, digest, len(data), media, T0))


def seed(root: Path, *, points: int = 20_000, extra_runs: int = 0) -> Seeded:
    """A store with an XSS-named run, a plain run, a long metric and a few artifacts."""
    store = open_store(str(root))
    meta = store.metadata
    xss = meta.create_run(
        "vision",
        name=XSS_IMG,
        params={"lr": "0.001", "optimizer": "adam", "note": XSS_SCRIPT},
        tags={"stage": XSS_IMG, "team": "core"},
        start_time=T0,
    )
    other = meta.create_run(
        "vision",
        name="cnn-baseline",
        params={"lr": "0.01", "optimizer": "sgd", "note": "plain"},
        tags={"stage": "dev"},
        start_time=T0 + 1000,
    )
    steps = np.arange(points, dtype=np.int64)
    loss = np.exp(-steps / (points / 5)) + 0.02 * np.sin(steps / 7.0)
    loss[points // 2] = 5.0  # a spike downsampling must keep
    for run, scale in ((xss, 1.0), (other, 1.3)):
        meta.log_metric_columns(
            run.id,
            {
                "loss": MetricColumns(
                    steps.tolist(), (T0 + steps * 10).tolist(), (loss * scale).tolist()
                ),
                "acc": MetricColumns(
                    [0, 1, 2, 3], [T0, T0 + 1, T0 + 2, T0 + 3], [0.5, 0.7, 0.8, 0.9 / scale]
                ),
            },
        )
    meta.update_run(other.id, status="completed", end_time=T0 + 65_000)
    _artifact(
        store,
        xss.id,
        "tables/img src=x onerror=alert(1).csv",
        f"a,b\n1,{XSS_IMG}\n".encode(),
        "text/csv",
    )
    _artifact(
        store,
        xss.id,
        "config.json",
        b'{"note": "' + XSS_SCRIPT.replace('"', '\\"').encode() + b'"}',
        "application/json",
    )
    _artifact(store, xss.id, "plots/curve.png", png_bytes(), "image/png")
    _artifact(store, xss.id, "plots/evil.svg", b"<svg onload=alert(1)></svg>", "image/svg+xml")
    _artifact(store, xss.id, "notes.html", f"<p>{XSS_IMG}</p>".encode(), "text/html")
    meta.add_lineage(LineageEdge("dataset_version", "digits@v1", "run", xss.id, "input"))
    meta.add_lineage(LineageEdge("run", xss.id, "model_version", "digits-cnn/1", "output"))
    for i in range(extra_runs):
        meta.create_run("bulk", name=f"bulk-{i:03d}", params={"i": str(i)}, start_time=T0 + i)
    return Seeded(store, xss.id, other.id, xss.id, points, seed_demo(store))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    data = seed(tmp_path_factory.mktemp("ui-store"), extra_runs=60)
    yield data
    data.store.close()


@pytest.fixture(scope="module")
def ui_server(seeded: Seeded) -> Iterator[LiveServer]:
    server = LiveServer(create_app(seeded.store)).start()
    yield server
    server.stop()
