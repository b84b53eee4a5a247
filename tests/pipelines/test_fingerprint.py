"""Cache keys: code with its package-local helpers, inputs, params and declared deps."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import stackml
from stackml.errors import InvalidInput
from stackml.pipelines import fingerprint as fp
from stackml.store import Store


def _module(tmp_path: Path, helper_body: str, name: str) -> object:
    """A package ``name`` with a step that calls a helper in a sibling module."""
    import importlib
    import sys

    package = tmp_path / name
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text(f"def helper(x):\n    return {helper_body}\n")
    (package / "steps.py").write_text(
        textwrap.dedent("""
        import numpy as np
        import stackml
        from . import helpers
        from .helpers import helper

        @stackml.step
        def direct(x: int) -> int:
            return helper(x) + int(np.sum([1]))

        @stackml.step
        def via_module(x: int) -> int:
            return helpers.helper(x)
    """)
    )
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(f"{name}.steps")
    finally:
        sys.path.remove(str(tmp_path))


def test_helper_source_is_part_of_the_fingerprint(tmp_path: Path) -> None:
    a = _module(tmp_path / "a", "x + 1", "pkg_fp_a")
    b = _module(tmp_path / "b", "x + 2", "pkg_fp_b")
    same = _module(tmp_path / "c", "x + 1", "pkg_fp_c")
    for step in ("direct", "via_module"):
        fa = fp.code_fingerprint(getattr(a, step))
        assert fa != fp.code_fingerprint(getattr(b, step))
        # Same source in another package: the same fingerprint (content, not names).
        assert fp.code_fingerprint(getattr(same, step)) == fa


def test_value_and_dependency_fingerprints(tmp_path: Path) -> None:
    import numpy as np

    assert fp.value_fingerprint({"a": 1, "b": 2}) == fp.value_fingerprint({"b": 2, "a": 1})
    assert fp.value_fingerprint(np.arange(3)) != fp.value_fingerprint(np.arange(4))
    with pytest.raises(InvalidInput):
        fp.value_fingerprint(object())
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    before = fp.dependency_fingerprint(data)
    data.write_text("a\n2\n")
    assert fp.dependency_fingerprint(data) != before
    assert fp.dependency_fingerprint("v1") != fp.dependency_fingerprint("v2")
    with pytest.raises(InvalidInput):
        fp.dependency_fingerprint(tmp_path / "missing")


def test_declared_dependency_change_invalidates_the_cache(store: Store, tmp_path: Path) -> None:
    data = tmp_path / "lookup.txt"
    data.write_text("1")

    @stackml.step(deps=(data,))
    def read_lookup() -> int:
        return int(data.read_text())

    @stackml.pipeline(name="uses_file")
    def uses_file():
        read_lookup()

    assert uses_file.run(store=store).output("read_lookup") == 1
    assert uses_file.run(store=store).cache_hits == ["read_lookup"]
    data.write_text("2")
    changed = uses_file.run(store=store)
    assert changed.executed == ["read_lookup"] and changed.output("read_lookup") == 2
