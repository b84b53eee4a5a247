"""Append alerts to a log file, one JSON object per line."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from stackml.monitoring.notifiers.base import Notifier, NotifyError

if TYPE_CHECKING:
    from stackml.monitoring.alerts import Alert

__all__ = ["LogFileNotifier"]


class LogFileNotifier(Notifier):
    """Append each alert as a JSON line to ``path`` (created with its folder)."""

    kind = "log"
    _lock = threading.Lock()

    def __init__(self, path: str | Path, *, name: str = "") -> None:
        super().__init__(name)
        self.path = Path(path)

    def send(self, alert: Alert) -> None:
        line = json.dumps(asdict(alert), sort_keys=True) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError as exc:
            raise NotifyError(f"cannot write alert log {self.path}: {exc}") from exc
