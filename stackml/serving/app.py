"""The serving FastAPI app: Open Inference Protocol v2, ``POST /predict``, ``POST /feedback``,
health and Prometheus ``/metrics``.

Build it with :func:`create_serving_app` around a :class:`~stackml.serving.runtime.ServingRuntime`;
:func:`stackml.serving.serve` runs it under uvicorn with graceful draining.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stackml._version import __version__
from stackml.errors import InvalidInput, NotFound, StackmlError
from stackml.serving.batching import Overloaded
from stackml.serving.codec import (
    HEADER_LENGTH,
    decode_image,
    decode_infer_request,
    encode_infer_response,
    parse_json,
    records_to_array,
    to_v2_datatype,
)
from stackml.serving.guard import Guard, PayloadTooLarge
from stackml.serving.runtime import NotReady, RequestTimeout, ServingRuntime, classify
from stackml.serving.schemas import (
    ERRORS,
    INFER_OPENAPI,
    INFER_RESPONSES,
    PREDICT_OPENAPI,
    FeedbackBody,
    FeedbackOut,
    Live,
    ModelMetadata,
    PredictBody,
    Prediction,
    PredictOut,
    Ready,
    ServerMetadata,
    TensorMetadata,
)

__all__ = ["create_serving_app"]


class _Unsupported(StackmlError):
    def __init__(self, kind: str) -> None:
        super().__init__(
            f"unsupported content type {kind!r}: send application/json or a multipart image upload"
        )


_STATUS = {
    _Unsupported: 415,
    PayloadTooLarge: 413,
    NotFound: 404,
    InvalidInput: 400,
    Overloaded: 503,
    NotReady: 503,
    RequestTimeout: 504,
}


def _error(exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
    headers = {}
    if isinstance(exc, Overloaded):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    elif status == 503:
        headers["Retry-After"] = "1"
    return JSONResponse({"error": str(exc)}, status_code=status, headers=headers)


async def infer_reply(
    runtime: ServingRuntime,
    name: str,
    version: int | None,
    body: bytes,
    raw_header_length: str | None,
    started: float,
) -> tuple[bytes, str, dict[str, str]]:
    """Answer one v2 infer request: payload, media type and headers (typed errors raise)."""
    header_length = None
    if raw_header_length is not None:
        if not raw_header_length.isdigit():
            raise InvalidInput(f"{HEADER_LENGTH} must be a number of bytes")
        header_length = int(raw_header_length)
    variant = runtime.choose(name, version)
    parsed, arrays = decode_infer_request(body, header_length)
    request_id = str(parsed["id"]) if parsed.get("id") else None
    answer = await runtime.infer(variant, arrays, request_id=request_id, started=started)
    payload, json_length = encode_infer_response(
        parsed,
        answer.outputs,
        model_name=name,
        model_version=answer.version,
        extra={"request_id": answer.request_id, "variant": variant.role},
    )
    headers = {"X-Request-Id": answer.request_id, "X-Model-Version": str(answer.version)}
    if json_length is None:
        return payload, "application/json", headers
    headers[HEADER_LENGTH] = str(json_length)
    return payload, "application/octet-stream", headers


class DirectInfer:
    """``POST /v2/models/{name}[/versions/{version}]/infer`` as a bare ASGI handler.

    The hot route of a model server skips FastAPI's routing, dependency and response layers
    (about half of a small request's CPU); it answers exactly what the FastAPI route, which
    stays registered for the OpenAPI document, would. :class:`~stackml.serving.guard.Guard`
    has already checked the token, the size limit and draining, and records the metrics.
    """

    def __init__(self, runtime: ServingRuntime) -> None:
        self.runtime = runtime

    @staticmethod
    def target(path: str) -> tuple[str, int | None] | None:
        """``(model, version)`` of an infer path, or ``None`` for any other path."""
        parts = path.split("/")
        if len(parts) == 5 and parts[4] == "infer" and parts[3]:
            return parts[3], None
        if len(parts) == 7 and parts[6] == "infer" and parts[4] == "versions" and parts[3]:
            if not parts[5].isdigit():
                raise InvalidInput(f"version must be a whole number, not {parts[5]!r}")
            return parts[3], int(parts[5])
        return None

    async def __call__(
        self, scope: dict[str, Any], receive: Any, send: Any, target: tuple[str, int | None]
    ) -> None:
        started = time.perf_counter()
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        raw_length = None
        wanted = HEADER_LENGTH.lower().encode("latin-1")
        for key, value in scope["headers"]:
            if key.lower() == wanted:
                raw_length = value.decode("latin-1")
        try:
            payload, media, headers = await infer_reply(
                self.runtime, target[0], target[1], body, raw_length, started
            )
        except StackmlError as exc:
            await _error(exc)(scope, receive, send)
            return
        raw = [
            (b"content-type", media.encode()),
            (b"content-length", str(len(payload)).encode()),
            *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        await send({"type": "http.response.body", "body": payload})


def create_serving_app(runtime: ServingRuntime, *, load_in_background: bool = True) -> Any:
    """The ASGI app serving ``runtime``'s models (the FastAPI app wrapped in the guard).

    With ``load_in_background`` models load in a thread after start-up so liveness answers
    at once and readiness turns true when every model is warm.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loader = threading.Thread(target=_load_then_watch, daemon=True, name="model-loader")
        if load_in_background:
            loader.start()
        else:
            runtime.load_all()
            loader = threading.Thread(target=runtime.watch, daemon=True, name="model-watch")
            loader.start()
        try:
            yield
        finally:
            await runtime.close()
            await asyncio.to_thread(runtime.stop)

    def _load_then_watch() -> None:
        runtime.load_all()
        runtime.watch()

    app = FastAPI(
        title="stackml serving",
        version=__version__,
        description="Open Inference Protocol v2 and a simple /predict route over registry models.",
        lifespan=lifespan,
        responses=ERRORS,
    )
    app.state.runtime = runtime

    @app.exception_handler(StackmlError)
    async def _typed(_: Request, exc: StackmlError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return JSONResponse({"error": f"malformed request: {problems}"}, status_code=400)

    # -- health and metadata ------------------------------------------------------------
    @app.get("/v2/health/live", response_model=Live, tags=["health"])
    async def live() -> Live:
        """The process is up (liveness probe)."""
        return Live(live=True)

    @app.get("/v2/health/ready", response_model=Ready, tags=["health"])
    async def ready() -> Any:
        """Every model is loaded and the server is not draining (readiness probe)."""
        ok, reason = runtime.readiness()
        if not ok:
            return JSONResponse(Ready(ready=False, reason=reason).model_dump(), status_code=503)
        return Ready(ready=True)

    @app.get("/v2", response_model=ServerMetadata, tags=["v2"])
    async def server_metadata() -> ServerMetadata:
        """Server name, version and protocol extensions."""
        return ServerMetadata(
            name="stackml", version=__version__, extensions=["binary_tensor_data"]
        )

    def _metadata(name: str, version: int | None) -> ModelMetadata:
        endpoint = runtime.endpoint(name)
        variant = runtime.choose(name, version)
        signature = variant.predictor.signature
        versions = sorted(
            {str(v.version) for v in (endpoint.primary, endpoint.canary) if v and v.ready}
        )
        return ModelMetadata(
            name=name,
            versions=versions,
            platform="pytorch" if variant.predictor.runtime == "torch" else "onnxruntime",
            inputs=[
                TensorMetadata(name=t.name, datatype=to_v2_datatype(t.dtype), shape=list(t.shape))
                for t in signature.inputs
            ],
            outputs=[
                TensorMetadata(name=t.name, datatype=to_v2_datatype(t.dtype), shape=list(t.shape))
                for t in signature.outputs
            ],
        )

    @app.get("/v2/models/{name}", response_model=ModelMetadata, tags=["v2"])
    async def model_metadata(name: str) -> ModelMetadata:
        """Inputs and outputs of a served model."""
        return _metadata(name, None)

    @app.get("/v2/models/{name}/versions/{version}", response_model=ModelMetadata, tags=["v2"])
    async def model_version_metadata(name: str, version: int) -> ModelMetadata:
        """Inputs and outputs of one served version."""
        return _metadata(name, version)

    def _model_ready(name: str, version: int | None) -> Any:
        endpoint = runtime.endpoint(name)
        ok = endpoint.ready and not runtime.draining
        if version is not None:
            ok = ok and any(v.version == version for v in endpoint.variants if v.ready)
        return JSONResponse({"name": name, "ready": ok}, status_code=200 if ok else 503)

    @app.get("/v2/models/{name}/ready", tags=["v2"], responses={200: {"description": "ready"}})
    async def model_ready(name: str) -> Any:
        """Whether the model is ready (200) or not (503)."""
        return _model_ready(name, None)

    @app.get("/v2/models/{name}/versions/{version}/ready", tags=["v2"])
    async def model_version_ready(name: str, version: int) -> Any:
        """Whether one version is ready."""
        return _model_ready(name, version)

    # -- inference ----------------------------------------------------------------------
    async def _infer(name: str, version: int | None, request: Request) -> Response:
        started = time.perf_counter()
        body = await request.body()
        payload, media, headers = await infer_reply(
            runtime, name, version, body, request.headers.get(HEADER_LENGTH), started
        )
        return Response(payload, media_type=media, headers=headers)

    @app.post(
        "/v2/models/{name}/infer",
        tags=["v2"],
        openapi_extra=INFER_OPENAPI,
        responses=INFER_RESPONSES,
    )
    async def infer(name: str, request: Request) -> Response:
        """Open Inference Protocol inference (JSON tensors or binary tensor data)."""
        return await _infer(name, None, request)

    @app.post(
        "/v2/models/{name}/versions/{version}/infer",
        tags=["v2"],
        openapi_extra=INFER_OPENAPI,
        responses=INFER_RESPONSES,
    )
    async def infer_version(name: str, version: int, request: Request) -> Response:
        """Inference on one served version (primary or canary)."""
        return await _infer(name, version, request)

    @app.post(
        "/predict", response_model=PredictOut, tags=["predict"], openapi_extra=PREDICT_OPENAPI
    )
    async def predict(request: Request) -> PredictOut:
        """Records keyed by feature name, named tensors, or an uploaded image (multipart)."""
        started = time.perf_counter()
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        features = None
        if kind == "multipart/form-data":
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise InvalidInput("send the image as a multipart file field named 'file'")
            model = form.get("model")
            variant = runtime.choose(_only_model(model if isinstance(model, str) else None))
            data = await upload.read()
            image = await asyncio.to_thread(decode_image, data, variant.predictor.signature)
            arrays = {variant.predictor.signature.input().name: image}
        elif kind in ("application/json", ""):
            raw = parse_json(await request.body())
            try:
                body = PredictBody.model_validate(raw)
            except ValueError as exc:
                raise InvalidInput(f"malformed request: {exc}") from exc
            variant = runtime.choose(_only_model(body.model))
            signature = variant.predictor.signature
            if (body.records is None) == (body.inputs is None):
                raise InvalidInput("send either 'records' or 'inputs'")
            if body.records is not None:
                array, features = records_to_array(signature, body.records)
                arrays = {signature.input().name: array}
            else:
                arrays = {}
                for key, value in (body.inputs or {}).items():
                    try:
                        arrays[key] = np.asarray(value)
                    except ValueError as exc:
                        raise InvalidInput(f"input {key!r} is not a regular array: {exc}") from exc
                    if arrays[key].dtype.kind not in "biuf":
                        raise InvalidInput(f"input {key!r} must hold numbers")
        else:
            raise _Unsupported(kind)
        answer = await runtime.infer(variant, arrays, features=features, started=started)
        labels = classify(variant, answer.outputs)
        classes = list(variant.predictor.signature.classes)
        predictions = [
            Prediction(
                label=item["label"],
                confidence=item["confidence"],
                probabilities={
                    (classes[i] if i < len(classes) else str(i)): p
                    for i, p in enumerate(item["probabilities"])
                },
            )
            for item in labels
        ]
        return PredictOut(
            request_id=answer.request_id,
            model=variant.name,
            version=answer.version,
            variant=variant.role,
            predictions=predictions,
            outputs={} if labels else {k: v.tolist() for k, v in answer.outputs.items()},
        )

    def _only_model(name: str | None) -> str:
        if name:
            return name
        if len(runtime.endpoints) != 1:
            raise InvalidInput(
                f"several models are served: name one of {sorted(runtime.endpoints)}"
            )
        return next(iter(runtime.endpoints))

    @app.post("/feedback", response_model=FeedbackOut, tags=["predict"])
    async def feedback(body: FeedbackBody) -> FeedbackOut:
        """Attach a ground-truth label or a flag to an earlier request id."""
        if runtime.store is None:
            raise InvalidInput("this server keeps no store: feedback cannot be recorded")
        found = await asyncio.to_thread(
            runtime.store.metadata.add_feedback,
            runtime.deployment,
            body.request_id,
            body.label,
            body.flag,
        )
        return FeedbackOut(
            id=found.id, request_id=found.request_id, label=found.label, flag=found.flag
        )

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    )
    async def metrics() -> Response:
        """Prometheus text exposition."""
        runtime.live_metrics()  # refreshes the queue gauges
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/live", tags=["health"], response_model=dict[str, Any])
    async def live_snapshot() -> dict[str, Any]:
        """Live figures and recent predictions (what the deployment page shows)."""
        return {
            "deployment": runtime.deployment,
            "models": runtime.describe_models(),
            "metrics": runtime.live_metrics(),
        }

    guarded = Guard(app, runtime, infer=DirectInfer(runtime))
    guarded.fastapi = app  # type: ignore[attr-defined]
    return guarded
