"""stackml-checks.yaml and attestation files: clear errors for malformed input."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackml.checks.config import load_attestations, load_config, parse_attestations
from stackml.errors import InvalidInput


def test_missing_owner_is_refused_with_the_entry_named() -> None:
    with pytest.raises(InvalidInput, match=r"entry 2 \(data-3\): an attestation needs an owner"):
        parse_attestations(
            [{"test": "data-1", "owner": "a", "evidence": "e"}, {"test": "data-3", "evidence": "e"}]
        )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"test": "data-1"}, "expected a list"),
        (["data-1"], "expected a mapping"),
        ([{"test": "data-9", "owner": "a", "evidence": "e"}], "unknown test 'data-9'"),
        ([{"test": "data-1", "owner": "a"}], "evidence"),
        ([{"test": "data-1", "owner": "a", "evidence": "e", "colour": "red"}], "colour"),
        ([{"test": "data-1", "owner": "a", "evidence": "e", "date": "someday"}], "date"),
        ([{"test": "data-1", "owner": "a", "evidence": "e"}] * 2, "attested twice"),
    ],
)
def test_malformed_attestations_are_refused(data: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_attestations(data)


def test_attestation_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "stackml-checks.yaml").write_text("min_score: 2\nattestations: att.yaml\n")
    (tmp_path / "att.yaml").write_text(
        "- test: infra-2\n  owner: ana@example.com\n  evidence: CI runs pytest\n"
        "  reviewed_by: bo@example.com\n  date: 2026-11-01\n"
    )
    config = load_config(tmp_path / "stackml-checks.yaml")
    assert config.min_score == 2
    found = load_attestations(config)
    assert (
        found["infra-2"].owner == "ana@example.com" and str(found["infra-2"].date) == "2026-11-01"
    )


def test_bad_yaml_and_unknown_settings_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("min_score: [1\n")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_config(bad)
    bad.write_text("min_scor: 2\n")
    with pytest.raises(InvalidInput, match="min_scor"):
        load_config(bad)
    bad.write_text("min_score: 9\n")
    with pytest.raises(InvalidInput, match="min_score"):
        load_config(bad)
    with pytest.raises(InvalidInput, match="no such file"):
        load_config(tmp_path / "absent.yaml")


def test_no_config_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config().min_score == 0 and load_attestations(load_config()) == {}
