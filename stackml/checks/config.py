"""What a project tells the ML Test Score: ``stackml-checks.yaml`` and reviewed attestations.

The file is found through ``$STACKML_CHECKS_CONFIG``, else in the current folder, else in the
project folder that holds the embedded store (next to ``.stackml``).

``stackml-checks.yaml`` (next to the code, reviewed like code) holds the thresholds and
declarations that automated checks need::

    min_score: 2                      # `stackml check` exits non-zero below this
    disallowed_features: [ssn, zip_code]
    pii_columns: [email]
    protected_attributes: [sex]       # slice metrics slice/sex:<value>/<metric> are compared
    max_parity_gap: 0.05
    slice_thresholds: {accuracy: 0.85}
    max_model_age_days: 30
    max_feature_lead_days: 14         # data change -> trained version
    regression_tolerance: 0.10        # 10 % worse than the previous version fails
    junit: reports/junit.xml          # the project's test report
    attestations: attestations.yaml

An **attestation** says a test is done by hand. It earns 0.5 and must name an owner and the
evidence, in a reviewed YAML file::

    - test: data-7
      owner: alice@example.com
      evidence: "feature code reviewed in PR #42; unit tests in tests/features/"
      reviewed_by: bob@example.com
      date: 2026-11-01

A malformed file, an unknown test id, or an entry without owner or evidence is refused with a
message naming the entry and the field.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stackml.checks.rubric import TESTS
from stackml.errors import InvalidInput

__all__ = ["Attestation", "ChecksConfig", "load_attestations", "load_config", "parse_attestations"]

CONFIG_FILE = "stackml-checks.yaml"
_IDS = {t.id for t in TESTS}


class ChecksConfig(BaseModel):
    """Thresholds and declarations of ``stackml-checks.yaml``; every field is optional."""

    model_config = ConfigDict(extra="forbid")

    min_score: float = Field(default=0.0, ge=0.0, le=7.0)
    disallowed_features: list[str] | None = None
    pii_columns: list[str] | None = None
    protected_attributes: list[str] | None = None
    max_parity_gap: float = Field(default=0.05, ge=0.0)
    slice_thresholds: dict[str, float] = Field(default_factory=dict)
    max_model_age_days: float = Field(default=30.0, gt=0.0)
    max_feature_lead_days: float = Field(default=14.0, gt=0.0)
    regression_tolerance: float = Field(default=0.10, ge=0.0)
    max_online_gap: float = Field(default=0.05, ge=0.0)
    junit: str | None = None
    attestations: str | None = None
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    def path(self, relative: str) -> Path:
        """A path named in the file, relative to the file's folder."""
        return (self.base_dir / relative).resolve()


class Attestation(BaseModel):
    """A test done by hand: who owns it, what shows it, who reviewed it and when."""

    model_config = ConfigDict(extra="forbid")

    test: str
    owner: str = Field(min_length=1)
    evidence: str = Field(min_length=1)
    reviewed_by: str | None = None
    date: dt.date | None = None

    @field_validator("test")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in _IDS:
            raise ValueError(
                f"unknown test {value!r}; ids are data-1..7, model-1..7, "
                "infra-1..7 and monitor-1..7"
            )
        return value


def _describe(error: ValidationError, where: str) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(file)"
        parts.append(f"{field}: {item['msg']}")
    return f"{where}: " + "; ".join(parts)


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInput(f"{path}: no such file") from exc
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML ({exc})") from exc


def find_config(store_root: Path | None = None) -> Path | None:
    """Where ``stackml-checks.yaml`` is: ``$STACKML_CHECKS_CONFIG``, else the current folder,
    else the project folder holding the embedded store (``store_root`` is its ``.stackml``)."""
    named = os.environ.get("STACKML_CHECKS_CONFIG")
    if named:
        return Path(named)
    candidates = [Path.cwd() / CONFIG_FILE]
    if store_root is not None:
        candidates.append(Path(store_root).parent / CONFIG_FILE)
    return next((c for c in candidates if c.is_file()), None)


def load_config(path: str | Path | None = None, *, store_root: Path | None = None) -> ChecksConfig:
    """Read ``stackml-checks.yaml`` from ``path``, else from :func:`find_config`'s answer;
    defaults when there is none."""
    if path is None:
        path = find_config(store_root)
        if path is None:
            return ChecksConfig()
    path = Path(path)
    data = _load_yaml(path) or {}
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    try:
        return ChecksConfig(**data, base_dir=path.resolve().parent)
    except ValidationError as exc:
        raise InvalidInput(_describe(exc, str(path))) from exc


def parse_attestations(data: Any, where: str = "attestations") -> dict[str, Attestation]:
    """Validate attestation entries (a list of mappings); returns them by test id."""
    if data is None:
        return {}
    if not isinstance(data, list):
        raise InvalidInput(f"{where}: expected a list of attestations, got {type(data).__name__}")
    found: dict[str, Attestation] = {}
    for i, entry in enumerate(data):
        label = f"{where}: entry {i + 1}"
        if not isinstance(entry, Mapping):
            raise InvalidInput(f"{label}: expected a mapping with test, owner and evidence")
        if not entry.get("owner"):
            raise InvalidInput(f"{label} ({entry.get('test', '?')}): an attestation needs an owner")
        try:
            att = Attestation(**entry)
        except ValidationError as exc:
            raise InvalidInput(_describe(exc, label)) from exc
        if att.test in found:
            raise InvalidInput(f"{label}: {att.test} is attested twice")
        found[att.test] = att
    return found


def load_attestations(config: ChecksConfig) -> dict[str, Attestation]:
    """The attestations the config points at (none when it names no file)."""
    if not config.attestations:
        return {}
    path = config.path(config.attestations)
    return parse_attestations(_load_yaml(path), str(path))
