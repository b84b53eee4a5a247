"""Allow-list validation of names, keys, labels and artifact paths."""

from __future__ import annotations

import os
import posixpath
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackml._internal.names import (
    MAX_KEY,
    MAX_NAME,
    MAX_PATH,
    InvalidName,
    validate_key,
    validate_label,
    validate_name,
    validate_relative_path,
)

# -- artifact paths -------------------------------------------------------------------------

TRAVERSALS = [
    "..",
    "../x",
    "a/../../x",
    "a/..",
    "/etc/passwd",
    "//server/share",
    "%2e%2e/x",
    "%2E%2E/x",
    "%252e%252e/x",
    "..%2fx",
    "..%5cx",
    "a%00b",
    "a\\..\\x",
    "..\\x",
    "C:\\x",
    "C:/x",
    "c:x",
    "a\x00b",
    "a/b\x00.png",
    "..;/x",
    "a;b",
    "#x",
    "x#/../y",
    "a?b",
    "a//b",
    "/a",
    "./a",
    "a/./b",
    "a/.",
    ".",
    "a/",
    "model/",
    "a\tb",
    "a\nb",
    "a\rb",
    "a\n",
    "model/weights.safetensors\n",
    "a\x1bb",
    "a\x7fb",
    "a\u200bb",
    "\uff0e\uff0e/x",  # fullwidth dots, which NFKC folds to ".."
    "a/\u2024\u2024/x",
    " a",
    "a ",
    "a/ b",
    "~/x",
    "$HOME/x",
    "a*b",
    "a|b",
    "a<b>",
    'a"b',
    "a:b",
    "",
    "x" * (MAX_PATH + 1),
    "a/" * 600 + "b",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_dangerous_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidName):
        validate_relative_path(path)


@pytest.mark.parametrize("value", [None, 3, b"a/b", ["a"], Path("a")])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(InvalidName):
        validate_relative_path(value)


ACCEPTED = [
    "model/weights.safetensors",
    "plots/confusion matrix (v2).png",
    "a",
    "a.b.c",
    "data/train-00001-of-00010.parquet",
    "checkpoints/epoch=3,step=1200.ckpt",
    "reports/[draft] summary+notes@2024.md",
    "données/éval.json",
    "...hidden",
    "/".join(["x" * 200] * 6)[:MAX_PATH],  # the longest path: 1024 characters
]


@pytest.mark.parametrize("path", ACCEPTED)
def test_ordinary_paths_are_accepted_unchanged(path: str) -> None:
    assert validate_relative_path(path) == path


def test_invalid_name_is_a_value_error_naming_the_thing() -> None:
    with pytest.raises(ValueError, match="dataset file"):
        validate_relative_path("../x", what="dataset file")


def _stays_inside(root: Path, rel: str) -> None:
    joined = os.path.join(root, rel)
    resolved = Path(joined).resolve()
    assert resolved.is_relative_to(root), (rel, resolved)
    assert resolved != root
    normalised = posixpath.normpath(posixpath.join("/root", rel))
    assert normalised.startswith("/root/"), (rel, normalised)
    # Nothing in an accepted path means anything after URL decoding, once or twice.
    assert urllib.parse.unquote(urllib.parse.unquote(rel)) == rel


_TRICKY = st.sampled_from(
    [".", "..", "", "/", "\\", "%", "2e", "2f", "%2e", ";", "#", ":", "\x00", "~", " ", "\n"]
)
_PLAIN = st.text(alphabet="ab.-_ ()é", min_size=1, max_size=6)


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(st.one_of(_TRICKY, _PLAIN), min_size=1, max_size=8))
def test_any_accepted_path_stays_inside_the_root(parts: list[str], tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.getbasetemp().resolve() / "root"
    for candidate in ("".join(parts), "/".join(parts)):
        try:
            validate_relative_path(candidate)
        except InvalidName:
            continue
        _stays_inside(root, candidate)


@settings(max_examples=300, deadline=None)
@given(candidate=st.text(min_size=1, max_size=40))
def test_any_accepted_unicode_path_stays_inside_the_root(candidate: str, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.getbasetemp().resolve() / "root"
    try:
        validate_relative_path(candidate)
    except InvalidName:
        return
    _stays_inside(root, candidate)


# -- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["digits", "my-project_v2.1", "A", "0day", "x" * MAX_NAME])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-x",
        ".x",
        "_x",
        "x.",
        "..",
        "a/b",
        "a b",
        "a;b",
        "a\x00",
        "digits\n",  # a regex "$" would accept this trailing newline
        "é",
        "x" * (MAX_NAME + 1),
    ],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidName):
        validate_name(name)


@pytest.mark.parametrize("value", [None, 1, b"abc"])
def test_names_must_be_strings(value: object) -> None:
    with pytest.raises(InvalidName, match="project"):
        validate_name(value, what="project")


# -- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["loss", "train/loss", "val acc", "lr:0", "layer.1-weight", "x" * MAX_KEY]
)
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        " loss",
        "loss ",
        "../x",
        "a/../b",
        "./x",
        "a/.",
        "a;b",
        "a#b",
        "a%2e",
        "a\nb",
        "loss\n",
        "a\x00b",
        "a\\b",
        "x" * (MAX_KEY + 1),
    ],
)
def test_invalid_keys(key: str) -> None:
    with pytest.raises(InvalidName):
        validate_key(key)


def test_keys_must_be_strings() -> None:
    with pytest.raises(InvalidName, match="metric"):
        validate_key(None, what="metric")


# -- labels ---------------------------------------------------------------------------------


@pytest.mark.parametrize("label", ["my run", "baseline (v2) ✓", "résumé: 3/4 done", "x" * 250])
def test_valid_labels(label: str) -> None:
    assert validate_label(label) == label


@pytest.mark.parametrize(
    "label", ["", "   ", "a\nb", "a\tb", "a\x00b", "a\x1b[31mred", "a\u200bb", "x" * 251, None]
)
def test_invalid_labels(label: object) -> None:
    with pytest.raises(InvalidName):
        validate_label(label)


def test_label_length_limit_is_adjustable() -> None:
    assert validate_label("x" * 10, max_len=10)
    with pytest.raises(InvalidName, match="10"):
        validate_label("x" * 11, max_len=10, what="title")


def test_overlong_segment_is_refused_before_it_reaches_a_file_system() -> None:
    import pytest

    from stackml._internal.names import InvalidName, validate_relative_path

    assert validate_relative_path("a/" + "x" * 255) == "a/" + "x" * 255
    with pytest.raises(InvalidName, match="255 bytes"):
        validate_relative_path("a/" + "x" * 256)
    with pytest.raises(InvalidName, match="255 bytes"):
        validate_relative_path("é" * 128)  # 256 bytes in UTF-8
