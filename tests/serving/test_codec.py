"""Decoding and encoding of v2 tensors, records and images, with their errors."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from stackml.errors import InvalidInput
from stackml.serving.codec import (
    check_inputs,
    decode_image,
    decode_infer_request,
    encode_infer_response,
    parse_json,
    records_to_array,
)
from tests.serving.helpers import WinePredictor, image_signature


def test_json_and_binary_tensors_decode_alike() -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    as_json = {"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP32", "data": x.tolist()}]}
    _, arrays = decode_infer_request(json.dumps(as_json).encode(), None)
    np.testing.assert_array_equal(arrays["x"], x)
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [3, 4],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": x.nbytes},
                },
                {
                    "name": "s",
                    "shape": [2],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": 4 + 2 + 4 + 3},
                },
            ]
        }
    ).encode()
    strings = b"\x02\x00\x00\x00hi\x03\x00\x00\x00you"
    _, arrays = decode_infer_request(head + x.tobytes() + strings, len(head))
    np.testing.assert_array_equal(arrays["x"], x)
    assert list(arrays["s"]) == [b"hi", b"you"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "malformed JSON"),
        (b'{"inputs": 3}', "'inputs' list"),
        (b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP99", "data": [1, 2]}]}', "FP99"),
        (b'{"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2]}]}', "fill"),
        (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "INT32", "data": ["a"]}]}', "INT32"),
        (b'{"inputs": [{"name": "x", "shape": [-2], "datatype": "FP32", "data": []}]}', "shape"),
    ],
)
def test_malformed_requests_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        decode_infer_request(body, None)


def test_json_that_orjson_refuses_still_parses_as_the_standard_library_does() -> None:
    # NaN literals (Python's json.dumps writes them), integers beyond 64 bits, bad UTF-8.
    assert math.isnan(parse_json(b'{"a": NaN}')["a"])
    assert parse_json(b'{"a": -Infinity}')["a"] == -math.inf
    huge = b'{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1%s]}]}'
    with pytest.raises(InvalidInput, match="INT64"):  # out of range: a 400, never a 500
        decode_infer_request(huge % (b"0" * 30), None)
    assert parse_json('{"a": [0.1, 1e-7, "\u00e9"]}'.encode()) == {"a": [0.1, 1e-7, "\u00e9"]}
    with pytest.raises(InvalidInput, match="malformed JSON"):
        parse_json(b'{"a": "\xff"}')
    body = {"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [float("nan"), 1]}]}
    _, arrays = decode_infer_request(json.dumps(body).encode(), None)
    assert np.isnan(arrays["x"][0]) and arrays["x"][1] == 1


def test_non_finite_outputs_are_written_as_the_standard_library_writes_them() -> None:
    out = {"y": np.array([[np.nan, np.inf, 0.25]])}
    body, length = encode_infer_response({}, out, model_name="m", model_version=1)
    assert length is None
    assert b"NaN" in body and b"Infinity" in body  # not null: a client sees what the model said
    data = json.loads(body)["outputs"][0]["data"]
    assert math.isnan(data[0]) and data[1:] == [math.inf, 0.25]
    finite, _ = encode_infer_response({}, {"y": np.array([0.5])}, model_name="m", model_version=1)
    assert json.loads(finite)["outputs"][0]["data"] == [0.5]


def test_binary_size_must_match_the_shape() -> None:
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [4],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 8},
                }
            ]
        }
    ).encode()
    with pytest.raises(InvalidInput, match="do not hold"):
        decode_infer_request(head + b"\x00" * 8, len(head))
    with pytest.raises(InvalidInput, match="ends before"):
        decode_infer_request(head + b"\x00" * 3, len(head))


def test_binary_outputs_follow_the_json_header() -> None:
    out = {"y": np.array([[1.5, 2.5]], np.float32), "label": np.array([b"7"], dtype=object)}
    request = {
        "id": "r1",
        "outputs": [{"name": "y", "parameters": {"binary_data": True}}, {"name": "label"}],
    }
    body, length = encode_infer_response(request, out, model_name="m", model_version=2)
    assert length is not None
    header = json.loads(body[:length])
    assert header["id"] == "r1" and header["model_version"] == "2"
    assert header["outputs"][1]["data"] == ["7"]
    np.testing.assert_array_equal(np.frombuffer(body[length:], np.float32), [1.5, 2.5])
    with pytest.raises(InvalidInput, match="unknown outputs"):
        encode_infer_response({"outputs": [{"name": "nope"}]}, out, model_name="m", model_version=1)


def test_check_inputs_shape_dtype_names_and_nan() -> None:
    sig = image_signature()
    good = np.zeros((2, 1, 8, 8), np.float64)
    assert check_inputs(sig, {"image": good})["image"].dtype == np.float32
    with pytest.raises(InvalidInput, match="dimension 2 must be 8"):
        check_inputs(sig, {"image": np.zeros((2, 1, 7, 8), np.float32)})
    with pytest.raises(InvalidInput, match="expected float32"):
        check_inputs(sig, {"image": np.zeros((2, 1, 8, 8), bool)})
    with pytest.raises(InvalidInput, match="missing \\['image'\\], unexpected \\['pixels'\\]"):
        check_inputs(sig, {"pixels": good})
    bad = good.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(InvalidInput, match="NaN"):
        check_inputs(sig, {"image": bad})


def test_records_are_validated_against_the_schema() -> None:
    sig = WinePredictor().signature
    array, clean = records_to_array(sig, [{"alcohol": 13, "acidity": None, "hue": 1.0}])
    assert array.shape == (1, 3) and np.isnan(array[0, 1]) and clean[0]["alcohol"] == 13
    for record, message in [
        ({"alcohol": 1, "hue": 1}, "missing fields \\['acidity'\\]"),
        ({"alcohol": 1, "acidity": 1, "hue": 1, "color": 2}, "unexpected fields \\['color'\\]"),
        ({"alcohol": None, "acidity": 1, "hue": 1}, "'alcohol' may not be null"),
        ({"alcohol": "x", "acidity": 1, "hue": 1}, "must be a number"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            records_to_array(sig, [record])
    with pytest.raises(InvalidInput, match="takes tensors"):
        records_to_array(image_signature(), [{}])


def test_images_are_decoded_to_the_input_shape() -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(buffer, format="PNG")
    row = decode_image(buffer.getvalue(), image_signature())
    assert row.shape == (1, 1, 8, 8) and row.dtype == np.float32
    assert np.allclose(row, 16.0)  # white scaled like the digits (0..16)
    with pytest.raises(InvalidInput, match="not an image"):
        decode_image(b"%PDF-1.4 definitely not a picture", image_signature())
