"""What a doctor check found: one :class:`Finding` per check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Finding"]


@dataclass(frozen=True)
class Finding:
    """The outcome of one check.

    Attributes:
        check: Short name of the check (``"broadcasting"``, ``"overfit_one_batch"``...).
        ok: ``True`` when nothing is wrong.
        message: What was seen.
        advice: What to try next (empty when ``ok``).
        details: JSON-ready numbers behind the verdict.
    """

    check: str
    ok: bool
    message: str
    advice: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "check": self.check,
            "ok": self.ok,
            "message": self.message,
            "advice": self.advice,
            "details": self.details,
        }
