"""Request and response encodings: Open Inference Protocol v2 tensors (JSON and the binary
tensor data extension), records keyed by feature name, and image uploads.

Every decoder raises :class:`~stackml.errors.InvalidInput` with a message naming the problem;
the serving app answers it with a 400.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from stackml.errors import InvalidInput
from stackml.registry.signature import Signature, TensorSpec

__all__ = [
    "decode_image",
    "decode_infer_request",
    "encode_infer_response",
    "records_to_array",
    "to_v2_datatype",
]

#: Open Inference Protocol datatypes and their NumPy dtypes.
V2_TO_NUMPY: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
HEADER_LENGTH = "Inference-Header-Content-Length"


def to_v2_datatype(dtype: str | np.dtype[Any]) -> str:
    """The v2 datatype name of a NumPy dtype (strings are ``BYTES``)."""
    kind = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
    known = _V2_OF_DTYPE.get(kind)
    if known is not None:
        return known
    if kind.kind in "OUS":
        return "BYTES"
    for v2, name in V2_TO_NUMPY.items():
        if name == kind.name:
            _V2_OF_DTYPE[kind] = v2  # a handful of dtypes ever reach here
            return v2
    raise InvalidInput(f"dtype {kind} has no Open Inference Protocol datatype")


#: NumPy dtype -> v2 datatype, looked up once per answer (``dtype.name`` is slow to build).
_V2_OF_DTYPE: dict[np.dtype[Any], str] = {}


def _bytes_elements(raw: bytes, count: int, name: str) -> np.ndarray:
    """Decode length-prefixed BYTES elements (4-byte little-endian length, then the bytes)."""
    items: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidInput(f"input {name!r}: truncated BYTES element")
        size = int.from_bytes(raw[offset : offset + 4], "little")
        offset += 4
        items.append(raw[offset : offset + size])
        offset += size
    if len(items) != count:
        raise InvalidInput(f"input {name!r}: {len(items)} BYTES elements, shape needs {count}")
    return np.array(items, dtype=object)


def _encode_bytes(array: np.ndarray) -> bytes:
    parts = []
    for item in array.reshape(-1):
        data = item if isinstance(item, bytes) else str(item).encode()
        parts.append(len(data).to_bytes(4, "little") + data)
    return b"".join(parts)


def _shape(raw: Any, name: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or not all(isinstance(d, int) and d >= 0 for d in raw):
        raise InvalidInput(f"input {name!r}: shape must be a list of non-negative integers")
    return tuple(raw)


def _tensor(item: Any, binary: memoryview | None, offset: int) -> tuple[str, np.ndarray, int]:
    if not isinstance(item, Mapping):
        raise InvalidInput("each input must be an object with name, shape, datatype and data")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput("an input has no name")
    datatype = item.get("datatype")
    if datatype not in V2_TO_NUMPY:
        raise InvalidInput(f"input {name!r}: unknown datatype {datatype!r}")
    shape = _shape(item.get("shape"), name)
    count = math.prod(shape)
    params = item.get("parameters") or {}
    size = params.get("binary_data_size") if isinstance(params, Mapping) else None
    if size is not None:
        if binary is None or not isinstance(size, int) or size < 0:
            raise InvalidInput(f"input {name!r}: binary_data_size without a binary body")
        raw = bytes(binary[offset : offset + size])
        if len(raw) != size:
            raise InvalidInput(f"input {name!r}: body ends before {size} binary bytes")
        offset += size
        if datatype == "BYTES":
            array = _bytes_elements(raw, count, name)
        else:
            dtype = np.dtype(V2_TO_NUMPY[datatype])
            if size != count * dtype.itemsize:
                raise InvalidInput(
                    f"input {name!r}: {size} bytes do not hold shape {list(shape)} of {datatype}"
                )
            array = np.frombuffer(raw, dtype=dtype)
        return name, array.reshape(shape), offset
    data = item.get("data")
    if data is None:
        raise InvalidInput(f"input {name!r} has no data")
    try:
        if datatype == "BYTES":
            array = np.array(data, dtype=object).reshape(-1)
        else:
            array = np.asarray(data, dtype=V2_TO_NUMPY[datatype]).reshape(-1)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(f"input {name!r}: data is not {datatype}: {exc}") from exc
    if array.size != count:
        raise InvalidInput(
            f"input {name!r}: {array.size} values do not fill shape {list(shape)} ({count})"
        )
    return name, array.reshape(shape), offset


def parse_json(text: bytes) -> Any:
    """Parse a JSON document with orjson (several times faster on long number lists), falling
    back to the standard library for what orjson refuses and Python clients send (``NaN``,
    ``Infinity``, integers beyond 64 bits), whose error messages are also the clearer."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"malformed JSON: {exc}") from exc


def _dump_json(document: Mapping[str, Any], finite: bool) -> bytes:
    """Serialize a response header; non-finite numbers are written ``NaN``/``Infinity`` as the
    standard library does (orjson would write them as ``null``)."""
    if finite:
        try:
            return orjson.dumps(document)
        except TypeError:  # e.g. an integer beyond 64 bits
            pass
    return json.dumps(document, allow_nan=True).encode()


def decode_infer_request(
    body: bytes, header_length: int | None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Parse a v2 infer request: the JSON header and the input arrays by name."""
    if header_length is not None:
        if header_length < 0 or header_length > len(body):
            raise InvalidInput(f"{HEADER_LENGTH} {header_length} exceeds the body")
        head, binary = body[:header_length], memoryview(body)[header_length:]
    else:
        head, binary = body, None
    request = parse_json(head)
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise InvalidInput("an infer request is an object with an 'inputs' list")
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for item in request["inputs"]:
        name, array, offset = _tensor(item, binary, offset)
        if name in arrays:
            raise InvalidInput(f"input {name!r} is given twice")
        arrays[name] = array
    return request, arrays


def _wants_binary(request: Mapping[str, Any], name: str) -> bool:
    params = request.get("parameters") or {}
    default = (
        bool(params.get("binary_data_output", False)) if isinstance(params, Mapping) else False
    )
    for out in request.get("outputs") or []:
        if isinstance(out, Mapping) and out.get("name") == name:
            p = out.get("parameters") or {}
            return bool(p.get("binary_data", default)) if isinstance(p, Mapping) else default
    return default


def encode_infer_response(
    request: Mapping[str, Any],
    outputs: Mapping[str, np.ndarray],
    *,
    model_name: str,
    model_version: int,
    extra: Mapping[str, Any] | None = None,
) -> tuple[bytes, int | None]:
    """The response body and, when binary outputs follow, the JSON header's length."""
    wanted = [str(o.get("name")) for o in request.get("outputs") or [] if isinstance(o, Mapping)]
    unknown = [w for w in wanted if w not in outputs]
    if unknown:
        raise InvalidInput(f"unknown outputs requested: {unknown}; the model has {list(outputs)}")
    names = wanted or list(outputs)
    header: dict[str, Any] = {
        "model_name": model_name,
        "model_version": str(model_version),
        "outputs": [],
    }
    if request.get("id") is not None:
        header["id"] = str(request["id"])
    if extra:
        header["parameters"] = dict(extra)
    chunks: list[bytes] = []
    finite = True
    for name in names:
        array = np.asarray(outputs[name])
        entry: dict[str, Any] = {
            "name": name,
            "datatype": to_v2_datatype(array.dtype),
            "shape": list(array.shape),
        }
        if _wants_binary(request, name):
            raw = (
                _encode_bytes(array)
                if entry["datatype"] == "BYTES"
                else np.ascontiguousarray(array).tobytes()
            )
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        elif entry["datatype"] == "BYTES":
            entry["data"] = [
                x.decode() if isinstance(x, bytes) else str(x) for x in array.reshape(-1)
            ]
        else:
            if array.dtype.kind in "fc" and not np.isfinite(array).all():
                finite = False
            entry["data"] = array.reshape(-1).tolist()
        header["outputs"].append(entry)
    head = _dump_json(header, finite)
    if not chunks:
        return head, None
    return head + b"".join(chunks), len(head)


def check_inputs(signature: Signature, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Check names, shapes, dtypes and NaN of the inputs; cast to the signature's dtypes."""
    expected = {spec.name: spec for spec in signature.inputs}
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise InvalidInput(
            f"inputs do not match the model: missing {missing}, unexpected {extra}; "
            f"the model takes {sorted(expected)}"
        )
    rows = {a.shape[0] if a.ndim else 0 for a in arrays.values()}
    if len(rows) != 1 or 0 in rows:
        raise InvalidInput(f"every input needs the same number of rows (>= 1), got {sorted(rows)}")
    out: dict[str, np.ndarray] = {}
    for name, array in arrays.items():
        spec = expected[name]
        array = _coerce(spec, array)
        spec.check(array)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            _check_missing(signature, spec, array)
        out[name] = array
    return out


def _check_missing(signature: Signature, spec: TensorSpec, array: np.ndarray) -> None:
    """NaN is allowed only in record columns the schema marks nullable; inf never."""
    if np.isinf(array).any():
        raise InvalidInput(f"input {spec.name!r} contains infinite values")
    schema = signature.input_schema
    if schema is None or len(signature.inputs) != 1 or array.ndim != 2:
        raise InvalidInput(f"input {spec.name!r} contains NaN values")
    for index, column in enumerate(schema.columns[: array.shape[1]]):
        if not column.nullable and np.isnan(array[:, index]).any():
            raise InvalidInput(f"input {spec.name!r}: column {column.name!r} may not be NaN")


def _coerce(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    want = spec.numpy_dtype
    if array.dtype == want:
        return array
    # Integers into a float model are fine (JSON has one number type); the reverse is not.
    if want.kind == "f" and array.dtype.kind in "iuf":
        return array.astype(want)
    if want.kind in "iu" and array.dtype.kind in "iu":
        return array.astype(want)
    raise InvalidInput(f"input {spec.name!r}: expected {spec.dtype}, got {array.dtype}")


def records_to_array(
    signature: Signature, records: Sequence[Any]
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Stack records (objects keyed by feature name) into the model's one input tensor.

    Validates every record against ``signature.input_schema``: missing and unknown fields,
    non-numeric values, NaN in a non-nullable column, categories outside the domain.
    """
    names = signature.feature_names
    if not names:
        raise InvalidInput("this model takes tensors, not records: send 'inputs' or an image")
    if not isinstance(records, list) or not records:
        raise InvalidInput("'records' must be a non-empty list of objects")
    schema = signature.input_schema
    assert schema is not None
    spec = signature.input()
    rows: list[list[float]] = []
    clean: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInput(f"record {i} is not an object")
        missing = [n for n in names if n not in record]
        extra = sorted(set(record) - set(names))
        if missing or extra:
            raise InvalidInput(f"record {i}: missing fields {missing}, unexpected fields {extra}")
        row: list[float] = []
        for name in names:
            column = schema.column(name)
            value = record[name]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                if not column.nullable:
                    raise InvalidInput(f"record {i}: field {name!r} may not be null or NaN")
                row.append(math.nan)
                continue
            if column.type == "category" and column.domain:
                if str(value) not in column.domain:
                    raise InvalidInput(
                        f"record {i}: field {name!r} value {value!r} is not one of "
                        f"{list(column.domain)[:10]}"
                    )
                row.append(float(column.domain.index(str(value))))
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInput(f"record {i}: field {name!r} must be a number, got {value!r}")
            if math.isinf(value):
                raise InvalidInput(f"record {i}: field {name!r} is infinite")
            row.append(float(value))
        rows.append(row)
        clean.append({n: record[n] for n in names})
    return np.asarray(rows, dtype=spec.dtype), clean


def decode_image(data: bytes, signature: Signature) -> np.ndarray:
    """Decode an uploaded image into one row of the model's image input.

    The input must be ``(N, C, H, W)``, ``(N, H, W)`` or ``(N, H*W*C)`` with fixed sizes.
    ``signature.extra["image"]`` may say how pixels were scaled in training: ``scale``
    (the value of white, default 1.0), ``invert`` (dark strokes on light paper become
    bright strokes), ``mode`` (``L`` or ``RGB``), ``height``/``width`` for flat inputs.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidInput(f"the upload is not an image Pillow can read: {exc}") from exc
    spec = signature.input()
    options = dict(signature.extra.get("image", {}))
    shape = spec.shape
    if len(shape) == 4:
        channels, height, width = shape[1], shape[2], shape[3]
    elif len(shape) == 3:
        channels, height, width = 1, shape[1], shape[2]
    elif len(shape) == 2 and "height" in options:
        height, width = int(options["height"]), int(options["width"])
        channels = shape[1] // (height * width) if shape[1] > 0 else 1
    elif len(shape) == 2 and shape[1] > 0 and math.isqrt(shape[1]) ** 2 == shape[1]:
        channels, height = 1, math.isqrt(shape[1])
        width = height
    else:
        raise InvalidInput(f"input {spec.name!r} with shape {list(shape)} does not take images")
    if min(channels, height, width) < 1:
        raise InvalidInput(f"input {spec.name!r} has free image dimensions {list(shape)}")
    mode = str(options.get("mode", "RGB" if channels == 3 else "L"))
    pixels = np.asarray(image.convert(mode).resize((width, height)), dtype=np.float32) / 255.0
    if options.get("invert"):
        pixels = 1.0 - pixels
    pixels = pixels * float(options.get("scale", 1.0))
    if pixels.ndim == 3:
        pixels = pixels.transpose(2, 0, 1)
    row = pixels.reshape(shape[1:]) if len(shape) > 2 else pixels.reshape(-1)
    return row.astype(spec.dtype)[None]
