"""Parsing what people type for resources: ``16G`` of memory, ``"0,1"`` for GPUs."""

from __future__ import annotations

import os
import re

from stackml.errors import InvalidInput

_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
_FACTORS = {"": 1 / (1024 * 1024), "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


def parse_memory(text: str | int | None) -> int:
    """Memory in MiB from ``"16G"``, ``"512M"``, ``"2048"`` (MiB) or an int; ``None`` is 0."""
    if text is None:
        return 0
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise InvalidInput("memory must not be negative")
        return text
    match = _MEMORY_RE.fullmatch(str(text))
    if match is None:
        raise InvalidInput(f"invalid memory {text!r}: use a size such as 512M, 16G or 1T")
    number, unit = float(match.group(1)), match.group(2).upper()
    if unit == "" and "." not in match.group(1):
        return int(number)  # a bare number is MiB
    return int(number * _FACTORS[unit])


def parse_gpus(text: str | None) -> list[str]:
    """GPU device numbers from ``"0,1"`` (empty or ``None``: no GPUs)."""
    if not text:
        return []
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not all(part.isdigit() for part in ids) or len(set(ids)) != len(ids):
        raise InvalidInput(f"invalid GPU list {text!r}: use device numbers such as 0,1")
    return ids


def default_cpus() -> float:
    """The CPUs this process may use."""
    try:
        return float(len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return float(os.cpu_count() or 1)
