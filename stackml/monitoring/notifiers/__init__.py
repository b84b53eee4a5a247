"""Alert notifiers: webhook (SSRF-checked), log file and SMTP e-mail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stackml.errors import InvalidInput
from stackml.monitoring.notifiers.base import Notifier, NotifyError
from stackml.monitoring.notifiers.logfile import LogFileNotifier
from stackml.monitoring.notifiers.smtp import SmtpNotifier
from stackml.monitoring.notifiers.webhook import WebhookNotifier

__all__ = [
    "LogFileNotifier",
    "Notifier",
    "NotifyError",
    "SmtpNotifier",
    "WebhookNotifier",
    "make_notifier",
]

_KINDS: dict[str, type[Notifier]] = {
    "webhook": WebhookNotifier,
    "log": LogFileNotifier,
    "smtp": SmtpNotifier,
}


def make_notifier(config: Mapping[str, Any]) -> Notifier:
    """Build a notifier from ``{"type": "webhook" | "log" | "smtp", ...options}``."""
    options = dict(config)
    kind = options.pop("type", None)
    if kind not in _KINDS:
        raise InvalidInput(f"notifier type must be one of {sorted(_KINDS)}, not {kind!r}")
    try:
        return _KINDS[kind](**options)
    except TypeError as exc:
        raise InvalidInput(f"invalid {kind} notifier options: {exc}") from exc
