"""Decoding and encoding of v2 tensors, records and images, with their errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from stackml.errors import InvalidInput
from stackml.serving.codec import (
    check_inputs,
    decode_image,
    decode_infer_request,
    encode_infer_response,
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
