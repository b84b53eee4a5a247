"""The run filter language: tokenizer, parser and its errors."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackml.errors import InvalidInput
from stackml.store.filter import BoolOp, Comparison, OrderKey, parse_filter, parse_order_by


def test_simple_comparison() -> None:
    assert parse_filter("metrics.acc > 0.9") == Comparison("metric", "acc", ">", 0.9)


def test_precedence_and_parentheses() -> None:
    a = Comparison("metric", "a", "=", 1)
    b = Comparison("param", "b", "=", "x")
    c = Comparison("tag", "c", "!=", "y")
    assert parse_filter("metrics.a = 1 or params.b = 'x' and tags.c != 'y'") == BoolOp(
        "or", (a, BoolOp("and", (b, c)))
    )
    assert parse_filter("(metrics.a == 1 OR params.b = 'x') AND tags.c <> 'y'") == BoolOp(
        "and", (BoolOp("or", (a, b)), c)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.`train/loss` < .5", Comparison("metric", "train/loss", "<", 0.5)),
        ('params."learning rate" >= -1e-3', Comparison("param", "learning rate", ">=", -0.001)),
        ("metrics.val.acc <= 3", Comparison("metric", "val.acc", "<=", 3)),
        ("status = 'running'", Comparison("attribute", "status", "=", "running")),
        ("attr.start_time > 5", Comparison("attribute", "start_time", ">", 5)),
        ("attributes.run_id = 'x'", Comparison("attribute", "id", "=", "x")),
        ('name LIKE "a%"', Comparison("attribute", "name", "LIKE", "a%")),
        ("tags.t ilike 'A%'", Comparison("tag", "t", "ILIKE", "A%")),
        ("tags.t in ('a', 'b')", Comparison("tag", "t", "IN", ("a", "b"))),
        ("params.n NOT IN (1, 2.5)", Comparison("param", "n", "NOT IN", (1, 2.5))),
        ("tags.q = 'it''s'", Comparison("tag", "q", "=", "it's")),
        (
            "metric.x = 1 AnD param.y = 'z'",
            BoolOp("and", (Comparison("metric", "x", "=", 1), Comparison("param", "y", "=", "z"))),
        ),
    ],
)
def test_forms(text: str, expected: object) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize("text", [None, "", "   "])
def test_empty_filter_matches_everything(text: str | None) -> None:
    assert parse_filter(text) is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metrics.acc >", "character 14"),
        ("metrics >", "'.' and a key"),
        ("bogus = 1", "unknown attribute"),
        ("metrics.acc = 'x'", "numeric"),
        ("tags.x = 1", "quotes"),
        ("params.x LIKE 1", "pattern"),
        ("start_time = 'x'", "numeric"),
        ("tags.x IN ('a', 1)", "only numbers or only strings"),
        ("tags.x IN 'a'", "'('"),
        ("tags.x NOT 'a'", "'in' after 'not'"),
        ("metrics.a > 1 metrics.b > 2", "'and', 'or'"),
        ("(metrics.a > 1", "')'"),
        ("metrics.a ~ 1", "unexpected character"),
        ("tags.`` = 'x'", "empty"),
        ("tags.`open = 'x'", "unterminated"),
        ("(" * 100 + "metrics.a > 1" + ")" * 100, "nest"),
        ("metrics.a > 1; DROP TABLE runs", "unexpected character"),
    ],
)
def test_errors_say_where_and_what(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_filter(text)
    assert fragment in str(info.value)
    assert "character" in str(info.value)


def test_filter_length_is_bounded() -> None:
    with pytest.raises(InvalidInput):
        parse_filter("metrics.a > 1 and " * 1000 + "metrics.a > 1")


def test_non_text_filter() -> None:
    with pytest.raises(InvalidInput):
        parse_filter(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc DESC", OrderKey("metric", "acc", True)),
        ("params.lr", OrderKey("param", "lr", False)),
        ("attributes.start_time ASC", OrderKey("attribute", "start_time", False)),
        ("name", OrderKey("attribute", "name", False)),
        ("tags.`a b` desc", OrderKey("tag", "a b", True)),
    ],
)
def test_order_keys(text: str, expected: OrderKey) -> None:
    assert parse_order_by(text) == expected


@pytest.mark.parametrize("text", ["", "metrics.acc up", "metrics.acc DESC ASC", "nope", "1"])
def test_bad_order_keys(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_order_by(text)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_fuzz_random_text_parses_or_is_invalid_input(text: str) -> None:
    with contextlib.suppress(InvalidInput):
        parse_filter(text)


_pieces = st.sampled_from(
    [
        "metrics.a",
        "params.`b c`",
        "tags.t",
        "name",
        "status",
        "attr.start_time",
        "(",
        ")",
        "and",
        "OR",
        "not",
        "in",
        "like",
        "=",
        "!=",
        "<=",
        ">",
        "'x'",
        '"y"',
        "1",
        "-2.5e3",
        ",",
        ".",
        "`",
        "'",
        "metrics",
        "ILIKE",
        "IN ('a', 'b')",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_pieces, max_size=12))
def test_fuzz_token_soup_parses_or_is_invalid_input(pieces: list[str]) -> None:
    text = " ".join(pieces)
    for parse in (parse_filter, parse_order_by):
        with contextlib.suppress(InvalidInput):
            parse(text)
