"""Rich consoles and small formatting functions shared by the commands."""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

# Piped output (``stackml runs ls | grep``) should not be cut at 80 columns.
_PIPE_WIDTH = 200


def stdout_console() -> Console:
    """A console on standard output, created per command so it sees the current stream."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = _PIPE_WIDTH
    return console


def stderr_console() -> Console:
    """A console on standard error, for warnings and errors."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_error(message: str) -> None:
    """Print ``message`` on one red line on standard error."""
    from rich.text import Text

    one_line = " ".join(str(message).split()) or "unexpected error"
    stderr_console().print(
        Text.assemble(("Error: ", "bold red"), (one_line, "red")), soft_wrap=True
    )


def print_warning(message: str) -> None:
    """Print a yellow warning on standard error."""
    from rich.text import Text

    stderr_console().print(
        Text.assemble(("Warning: ", "bold yellow"), (message, "yellow")), soft_wrap=True
    )


def format_time(ms: int | None) -> str:
    """Epoch milliseconds as local ``YYYY-MM-DD HH:MM:SS`` (``-`` when unset)."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def format_value(value: object) -> str:
    """A metric value or param for a table cell: floats with 6 significant digits."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def format_size(size: int) -> str:
    """Bytes as a short human size such as ``12.3 KiB``."""
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"  # pragma: no cover - unreachable
