"""Timestamps: stackml stores integer milliseconds since the Unix epoch, UTC."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def now_ms() -> int:
    """Current time in integer milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def ms_to_datetime(ms: int) -> datetime:
    """Convert epoch milliseconds to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def format_duration(ms: int | None) -> str:
    """Human duration such as ``1h 02m`` or ``4.2s``."""
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
