"""Bodies of the serving API, declared so the OpenAPI spec is accurate."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "FeedbackBody",
    "FeedbackOut",
    "ModelMetadata",
    "PredictBody",
    "PredictOut",
    "TensorMetadata",
]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    """``GET /v2/models/{name}``."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    """``GET /v2``."""

    name: str
    version: str
    extensions: list[str]


class Live(BaseModel):
    live: bool


class Ready(BaseModel):
    ready: bool
    reason: str = ""


class ErrorBody(BaseModel):
    """Every error answer of the serving API."""

    error: str


class PredictBody(BaseModel):
    """``POST /predict`` as JSON: records (by feature name) or tensors (by input name)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, description="model name (when several are served)")
    records: list[dict[str, Any]] | None = None
    inputs: dict[str, Any] | None = None


class Prediction(BaseModel):
    label: str
    confidence: float
    probabilities: dict[str, float]


class PredictOut(BaseModel):
    request_id: str
    model: str
    version: int
    variant: str
    predictions: list[Prediction] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str
    label: str | None = None
    flag: str | None = None


class FeedbackOut(BaseModel):
    id: int
    request_id: str
    label: str | None
    flag: str | None


#: JSON schema of a v2 infer request (inlined: FastAPI cannot resolve nested $defs here).
_TENSOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {
            "type": "string",
            "enum": [
                "BOOL",
                "UINT8",
                "INT32",
                "INT64",
                "FP16",
                "FP32",
                "FP64",
                "BYTES",
                "UINT16",
                "UINT32",
                "UINT64",
                "INT8",
                "INT16",
            ],
        },
        "parameters": {"type": "object"},
        "data": {"type": "array", "items": {}},
    },
}
INFER_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": {"type": "object"},
        "inputs": {"type": "array", "items": _TENSOR_SCHEMA},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}},
            },
        },
    },
}
INFER_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": INFER_REQUEST_SCHEMA},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": "binary tensor data extension: a JSON header of "
                "Inference-Header-Content-Length bytes, then the raw tensors",
            },
        },
    }
}
INFER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Outputs (JSON, or a JSON header plus binary tensors)",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "model_name": {"type": "string"},
                        "model_version": {"type": "string"},
                        "id": {"type": "string"},
                        "outputs": {"type": "array", "items": _TENSOR_SCHEMA},
                    },
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    },
}
PREDICT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": PredictBody.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "model": {"type": "string"},
                    },
                }
            },
        },
    }
}
#: Error answers every serving route may give.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Input does not fit the model's signature"},
    401: {"model": ErrorBody, "description": "Missing or wrong token"},
    404: {"model": ErrorBody, "description": "No such model or version"},
    413: {"model": ErrorBody, "description": "Request body too large"},
    415: {"model": ErrorBody, "description": "Unsupported content type"},
    503: {"model": ErrorBody, "description": "Not ready, draining, or queue full (Retry-After)"},
    504: {"model": ErrorBody, "description": "The model did not answer in time"},
}
