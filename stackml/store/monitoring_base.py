"""Monitoring: the part of the :class:`~stackml.store.base.MetadataStore` interface that keeps
monitors, check results, alert events and the items routed to labeling.

* A **monitor** watches one deployment: its definition (a JSON mapping, typed in
  :mod:`stackml.monitoring.spec`), the blob holding its reference sketches, and how far its
  evaluation has got.
* A **result** is one evaluated window (``kind="window"``) or one turn of the data flywheel
  (``kind="flywheel"``), as JSON.
* An **alert event** is one firing of an alert rule, kept as history.
* A **routed item** remembers that a request was sent to labeling, so it is never sent twice.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RESULT_KINDS",
    "AlertEvent",
    "Monitor",
    "MonitorResult",
    "MonitoringStore",
    "RoutedItem",
]

#: Kinds of monitor result.
RESULT_KINDS: tuple[str, ...] = ("window", "flywheel")


@dataclass(frozen=True)
class Monitor:
    """A monitor of one deployment."""

    name: str
    deployment: str
    spec: Mapping[str, Any]
    reference_hash: str | None
    created_at: int
    updated_at: int
    last_run_at: int | None = None
    last_window_end: int | None = None


@dataclass(frozen=True)
class MonitorResult:
    """One evaluated window or flywheel turn."""

    id: int
    monitor: str
    kind: str
    start_ms: int
    end_ms: int
    created_at: int
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertEvent:
    """One firing of an alert rule."""

    id: int
    monitor: str
    rule: str
    statistic: str
    value: float
    threshold: float
    severity: str
    message: str
    fired_at: int
    notified: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoutedItem:
    """A request sent to a labeling queue."""

    monitor: str
    request_id: str
    reason: str
    priority: float
    routed_at: int


class MonitoringStore(abc.ABC):
    """Monitoring rows. Same thread-safety and error contract as the store."""

    @abc.abstractmethod
    def create_monitor(
        self,
        name: str,
        deployment: str,
        spec: Mapping[str, Any],
        *,
        reference_hash: str | None = None,
    ) -> Monitor:
        """Create a monitor. Raises ``AlreadyExists`` or ``InvalidInput``."""

    @abc.abstractmethod
    def update_monitor(
        self,
        name: str,
        *,
        spec: Mapping[str, Any] | None = None,
        reference_hash: str | None = None,
        last_run_at: int | None = None,
        last_window_end: int | None = None,
    ) -> Monitor:
        """Change the given fields (``None`` keeps a field). Raises ``NotFound``."""

    @abc.abstractmethod
    def get_monitor(self, name: str) -> Monitor:
        """One monitor. Raises ``NotFound``."""

    @abc.abstractmethod
    def list_monitors(self, deployment: str | None = None) -> list[Monitor]:
        """Monitors ordered by name, optionally only those of one deployment."""

    @abc.abstractmethod
    def delete_monitor(self, name: str) -> None:
        """Delete a monitor with its results, alert events and routed items. Raises ``NotFound``."""

    @abc.abstractmethod
    def add_monitor_result(
        self, monitor: str, kind: str, start_ms: int, end_ms: int, payload: Mapping[str, Any]
    ) -> MonitorResult:
        """Keep one result (``kind`` in :data:`RESULT_KINDS`). Raises ``NotFound``."""

    @abc.abstractmethod
    def list_monitor_results(
        self,
        monitor: str,
        *,
        kind: str | None = None,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> list[MonitorResult]:
        """Results oldest first; with ``limit``, the newest ``limit``. Raises ``NotFound``."""

    @abc.abstractmethod
    def add_alert_event(
        self,
        monitor: str,
        *,
        rule: str,
        statistic: str,
        value: float,
        threshold: float,
        severity: str,
        message: str,
        notified: Sequence[str] = (),
    ) -> AlertEvent:
        """Record an alert that fired now. Raises ``NotFound`` or ``InvalidInput``."""

    @abc.abstractmethod
    def list_alert_events(
        self, monitor: str | None = None, *, rule: str | None = None, limit: int = 100
    ) -> list[AlertEvent]:
        """Alert history, newest first."""

    @abc.abstractmethod
    def record_routed(self, monitor: str, items: Sequence[Mapping[str, Any]]) -> list[str]:
        """Remember routed requests (``request_id``, ``reason``, ``priority``).

        Returns the request ids that were new; ones routed before are skipped.
        """

    @abc.abstractmethod
    def list_routed(self, monitor: str, *, limit: int = 1000) -> list[RoutedItem]:
        """Routed items, newest first."""
