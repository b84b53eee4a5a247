"""``Notifier``: the extension point that delivers a fired alert somewhere.

A notifier has a ``name`` (recorded with the alert event when delivery succeeds) and one
method, :meth:`Notifier.send`, which raises :class:`NotifyError` when delivery fails. The
monitor keeps going when a notifier fails; the alert event lists only the notifiers that
delivered it. Notifiers are built from plain configuration by
:func:`stackml.monitoring.notifiers.make_notifier`.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from stackml.errors import StackmlError

if TYPE_CHECKING:
    from stackml.monitoring.alerts import Alert

__all__ = ["Notifier", "NotifyError"]


class NotifyError(StackmlError):
    """An alert could not be delivered."""


class Notifier(abc.ABC):
    """Deliver alerts; thread-safe."""

    kind: str = ""

    def __init__(self, name: str = "") -> None:
        self.name = name or self.kind

    @abc.abstractmethod
    def send(self, alert: Alert) -> None:
        """Deliver one alert. Raises :class:`NotifyError`."""
