"""Schema inference, statistics, JSON round trip and validation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from stackml.data import expectations
from stackml.data.schema import Schema, image_stats, infer_schema
from stackml.errors import InvalidInput


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, 500),
            "score": np.where(np.arange(500) % 50 == 0, np.nan, rng.normal(0, 1, 500)),
            "city": rng.choice(["berlin", "paris", "rome"], 500),
            "email": [f"user{i}@example.org" for i in range(500)],
        }
    )


def test_infers_types_statistics_and_histograms() -> None:
    schema = infer_schema(_frame())
    assert schema.num_rows == 500
    age, score, city, email = schema.columns
    assert (age.type, score.type, city.type, email.type) == ("int", "float", "category", "string")
    assert not age.nullable and score.nullable
    assert score.stats is not None and score.stats.missing == 10
    assert age.stats is not None and 18 <= age.stats.min <= age.stats.max < 90
    hist = age.stats.histogram
    assert hist is not None and len(hist.edges) == len(hist.counts) + 1 and sum(hist.counts) == 500
    assert set(age.stats.quantiles) >= {"p1", "p50", "p99"}
    assert set(city.domain) == {"berlin", "paris", "rome"}
    assert sum(city.stats.frequencies.values()) == 500  # type: ignore[union-attr]


def test_schema_round_trips_through_strict_json() -> None:
    schema = infer_schema(_frame(), categorical=["age"])
    text = json.dumps(schema.to_dict(), allow_nan=False)
    again = Schema.from_dict(json.loads(text))
    assert again == Schema.from_dict(schema.to_dict())
    assert again.column("age").type == "category"
    assert Schema.from_dict({}) == Schema()


def test_validate_reports_missing_columns_types_nulls_and_domain() -> None:
    schema = infer_schema(_frame().dropna())
    good = _frame().dropna().head(10)
    assert schema.validate(good) == []
    bad = pd.DataFrame({"age": ["x"], "score": [None], "city": ["tokyo"]})
    problems = schema.validate(pa.Table.from_pandas(bad))
    text = " | ".join(problems)
    assert "age" in text and "type string" in text
    assert "score" in text and "missing values" in text
    assert "tokyo" in text
    assert "column 'email' is missing" in text
    with pytest.raises(TypeError):
        schema.validate([1, 2, 3])


def test_image_statistics_per_channel() -> None:
    gray = [np.full((8, 8), 10, np.uint8), np.full((8, 8), 30, np.uint8)]
    stats = image_stats(gray)
    assert stats is not None
    assert stats.shapes == {"8x8": 2} and stats.dtype == "uint8"
    assert stats.channel_mean == (20.0,) and stats.channel_std == (10.0,)
    rgb = image_stats([np.zeros((2, 2, 3), np.uint8)])
    assert rgb is not None and len(rgb.channel_mean) == 3


def test_expectations_yaml_checks_and_report() -> None:
    table = pa.table(
        {
            "id": [1, 2, 2],
            "v": [0.5, 2.0, None],
            "c": ["a", "b", "z"],
            "e": ["a@b.c", "nope", "x@y.z"],
        }
    )
    doc = """
row_count: {min: 5}
columns:
  id: {unique: true}
  v: {not_null: true, min: 0, max: 1}
  c: {allowed: [a, b]}
  e: {regex: '^[^@]+@[^@]+$'}
"""
    report = expectations.validate(table, target="t", expectations=doc)
    assert not report.ok
    failed = {c.name for c in report.failures}
    assert failed == {
        "row count >= 5",
        "id unique",
        "v not null",
        "v max 1",
        "c allowed values",
        "e matches ^[^@]+@[^@]+$",
    }
    assert "FAILED" in report.render() and "1 duplicates" in report.render()
    with pytest.raises(InvalidInput, match="unknown rules"):
        expectations.parse("columns: {id: {bogus: 1}}")
    with pytest.raises(InvalidInput, match="YAML"):
        expectations.parse("columns: [unclosed")
    suggested = expectations.suggest(infer_schema(table.drop_null()))
    assert expectations.validate(table.drop_null(), target="t", expectations=suggested).ok
