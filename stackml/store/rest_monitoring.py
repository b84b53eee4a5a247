"""``RestMonitoringStore``: the monitoring part of the metadata store over HTTP.

Mixed into :class:`~stackml.store.rest.RestMetadataStore`; each method is one request under
``/api/v1/monitors``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from stackml._internal.names import InvalidName, validate_name
from stackml.errors import InvalidInput
from stackml.store._http import API, HttpTransport
from stackml.store.monitoring_base import (
    AlertEvent,
    Monitor,
    MonitoringStore,
    MonitorResult,
    RoutedItem,
)

__all__ = ["RestMonitoringStore"]


def _seg(value: object, what: str = "monitor name") -> str:
    """A validated name as a URL path segment (a '/' would change the route)."""
    try:
        return quote(validate_name(value, what=what), safe="")
    except InvalidName as error:
        raise InvalidInput(str(error)) from error


def _plain(value: Any, what: str) -> Any:
    """``value`` if it is plain JSON without NaN or infinity (what the server accepts)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be plain JSON without NaN: {exc}") from exc
    return value


def _monitor(d: Mapping[str, Any]) -> Monitor:
    return Monitor(
        d["name"],
        d["deployment"],
        dict(d["spec"]),
        d.get("reference_hash"),
        d["created_at"],
        d["updated_at"],
        d.get("last_run_at"),
        d.get("last_window_end"),
    )


def _result(d: Mapping[str, Any]) -> MonitorResult:
    return MonitorResult(
        d["id"],
        d["monitor"],
        d["kind"],
        d["start_ms"],
        d["end_ms"],
        d["created_at"],
        dict(d["payload"]),
    )


def _alert(d: Mapping[str, Any]) -> AlertEvent:
    return AlertEvent(
        d["id"],
        d["monitor"],
        d["rule"],
        d["statistic"],
        d["value"],
        d["threshold"],
        d["severity"],
        d["message"],
        d["fired_at"],
        tuple(d["notified"]),
    )


class RestMonitoringStore(MonitoringStore):
    """Monitoring rows through ``stackml server`` (over ``self.http``)."""

    http: HttpTransport

    def create_monitor(
        self,
        name: str,
        deployment: str,
        spec: Mapping[str, Any],
        *,
        reference_hash: str | None = None,
    ) -> Monitor:
        body = {
            "name": name,
            "deployment": deployment,
            "spec": _plain(dict(spec) if isinstance(spec, Mapping) else spec, "monitor definition"),
            "reference_hash": reference_hash,
        }
        return _monitor(self.http.call("POST", "/monitors", json=body))

    def update_monitor(
        self,
        name: str,
        *,
        spec: Mapping[str, Any] | None = None,
        reference_hash: str | None = None,
        last_run_at: int | None = None,
        last_window_end: int | None = None,
    ) -> Monitor:
        body = {
            "spec": None if spec is None else _plain(dict(spec), "monitor definition"),
            "reference_hash": reference_hash,
            "last_run_at": last_run_at,
            "last_window_end": last_window_end,
        }
        return _monitor(self.http.call("PATCH", f"/monitors/{_seg(name)}", json=body))

    def get_monitor(self, name: str) -> Monitor:
        return _monitor(self.http.call("GET", f"/monitors/{_seg(name)}"))

    def list_monitors(self, deployment: str | None = None) -> list[Monitor]:
        params = {} if deployment is None else {"deployment": deployment}
        return [_monitor(d) for d in self.http.call("GET", "/monitors", params=params)]

    def delete_monitor(self, name: str) -> None:
        self.http.request("DELETE", f"{API}/monitors/{_seg(name)}")

    def add_monitor_result(
        self, monitor: str, kind: str, start_ms: int, end_ms: int, payload: Mapping[str, Any]
    ) -> MonitorResult:
        body = {
            "kind": kind,
            "start_ms": start_ms,
            "end_ms": end_ms,
            "payload": _plain(payload, "monitor result"),
        }
        return _result(self.http.call("POST", f"/monitors/{_seg(monitor)}/results", json=body))

    def list_monitor_results(
        self,
        monitor: str,
        *,
        kind: str | None = None,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> list[MonitorResult]:
        params = {"kind": kind, "since_ms": since_ms, "limit": limit}
        answer = self.http.call("GET", f"/monitors/{_seg(monitor)}/results", params=params)
        return [_result(d) for d in answer]

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
        body = {
            "rule": rule,
            "statistic": statistic,
            "value": value,
            "threshold": threshold,
            "severity": severity,
            "message": message,
            "notified": list(notified),
        }
        _plain(body, "alert event")
        return _alert(self.http.call("POST", f"/monitors/{_seg(monitor)}/alerts", json=body))

    def list_alert_events(
        self, monitor: str | None = None, *, rule: str | None = None, limit: int = 100
    ) -> list[AlertEvent]:
        params = {"monitor": monitor, "rule": rule, "limit": limit}
        return [_alert(d) for d in self.http.call("GET", "/monitor-alerts", params=params)]

    def record_routed(self, monitor: str, items: Sequence[Mapping[str, Any]]) -> list[str]:
        body = {"items": [dict(i) if isinstance(i, Mapping) else i for i in items]}
        return list(self.http.call("POST", f"/monitors/{_seg(monitor)}/routed", json=body))

    def list_routed(self, monitor: str, *, limit: int = 1000) -> list[RoutedItem]:
        answer = self.http.call("GET", f"/monitors/{_seg(monitor)}/routed", params={"limit": limit})
        return [
            RoutedItem(d["monitor"], d["request_id"], d["reason"], d["priority"], d["routed_at"])
            for d in answer
        ]
