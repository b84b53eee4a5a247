"""Predictors and a live serving server for the serving tests."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import numpy as np

from stackml.data.schema import Column, Schema
from stackml.errors import InvalidInput
from stackml.registry.runtime import Predictor
from stackml.registry.signature import Signature, TensorSpec
from stackml.serving import EndpointSpec, ServingOptions, ServingServer

CLASSES = tuple(str(i) for i in range(10))


def image_signature() -> Signature:
    return Signature(
        inputs=(TensorSpec("image", "float32", (-1, 1, 8, 8)),),
        outputs=(TensorSpec("probabilities", "float32", (-1, 10)),),
        task="classification",
        classes=CLASSES,
        probabilities="probabilities",
        extra={"image": {"scale": 16.0}},
    )


class MlpPredictor(Predictor):
    """A deterministic numpy MLP: 64 pixels -> 32 -> 10 classes (softmax)."""

    runtime = "onnxruntime"

    def __init__(
        self, seed: int = 0, *, name: str = "digits", version: int = 1, delay: float = 0.0
    ):
        super().__init__(image_signature(), name=name, version=version)
        rng = np.random.default_rng(seed)
        self.w1 = rng.normal(size=(64, 32)).astype(np.float32) / 8
        self.w2 = rng.normal(size=(32, 10)).astype(np.float32) / 4
        self.delay = delay
        self.calls: list[int] = []

    def predict(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs["image"] if isinstance(inputs, Mapping) else inputs
        self.calls.append(int(x.shape[0]))
        if self.delay:
            import time

            time.sleep(self.delay)
        return {"probabilities": reference(self, np.asarray(x, np.float32))}


def reference(model: MlpPredictor, x: np.ndarray) -> np.ndarray:
    h = np.maximum(x.reshape(len(x), -1) @ model.w1, 0)
    z = h @ model.w2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


class WinePredictor(Predictor):
    """Records in, a linear score out: takes three named features (one categorical)."""

    runtime = "onnxruntime"

    def __init__(self, version: int = 1) -> None:
        schema = Schema(
            (
                Column("alcohol", "float", nullable=False),
                Column("acidity", "float", nullable=True),
                Column("hue", "float", nullable=False),
            )
        )
        signature = Signature(
            inputs=(TensorSpec("features", "float32", (-1, 3)),),
            outputs=(TensorSpec("score", "float32", (-1, 1)),),
            task="regression",
            input_schema=schema,
        )
        super().__init__(signature, name="wine", version=version)

    def predict(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs["features"] if isinstance(inputs, Mapping) else inputs
        x = np.nan_to_num(np.asarray(x, np.float32))
        return {"score": (x @ np.array([[1.0], [2.0], [3.0]], np.float32)).astype(np.float32)}


class BrokenPredictorError(InvalidInput):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    models: Mapping[str, Predictor],
    specs: list[EndpointSpec] | None = None,
    *,
    options: ServingOptions | None = None,
    store: Any = None,
    resolver: Any = None,
) -> ServingServer:
    """A serving server in a thread over ``models`` (ref -> predictor)."""

    def loader(ref: str) -> Predictor:
        if ref not in models:
            raise FileNotFoundError(f"no model file for {ref}")
        return models[ref]

    specs = specs or [EndpointSpec(next(iter(models)))]
    server = ServingServer(
        specs,
        loader,
        options=options or ServingOptions(heartbeat_seconds=0.5),
        resolver=resolver,
        store=store,
        port=free_port(),
    )
    server.start_in_thread()
    return server


def wait_ready(server: ServingServer, timeout: float = 20.0) -> None:
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(server.url + "/v2/health/ready").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("server never became ready")


class RawHttp:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: cheap enough that the load
    generator does not starve the server it shares the CPUs with."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: Any = None
        self.writer: Any = None

    async def connect(self) -> None:
        import asyncio

        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            await self.connect()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"{extra}Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("connection closed")
        status = int(status_line.split()[1])
        answer: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            answer[key.strip().lower()] = value.strip()
        data = await self.reader.readexactly(int(answer.get("content-length", "0")))
        if answer.get("connection", "").lower() == "close":
            self.close()
        return status, answer, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.writer = self.reader = None
