"""View models of the monitoring pages: the monitor list and one monitor's dashboard."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stackml.ui.rendering import Area, register_area

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.monitoring_base import AlertEvent, Monitor

__all__ = ["MonitorPage", "build_monitor_page", "list_monitor_rows"]

register_area(Area("monitoring", "Monitoring", "/monitoring"), after="runs")

#: Windows shown on the dashboard (the newest ones).
MAX_WINDOWS = 200
HEATMAP_WINDOWS = 24
#: Statistics the drift chart plots, first one computed wins: all lie in [0, 1] or close.
CHART_TESTS = ("ks", "jensen_shannon", "wasserstein", "psi")


@dataclass
class MonitorPage:
    """Everything the dashboard shows."""

    monitor: Monitor
    windows: int
    latest: dict[str, Any] | None
    features: list[dict[str, Any]]
    heat_columns: list[str]
    chart: dict[str, Any]
    alerts: list[AlertEvent]
    flywheel: list[dict[str, Any]]
    routed_by_reason: dict[str, int]
    slices: dict[str, Any] = field(default_factory=dict)
    quality: list[tuple[str, float]] = field(default_factory=list)


def list_monitor_rows(store: Store) -> list[dict[str, Any]]:
    """One row per monitor: its deployment, latest drift share and open alerts."""
    rows = []
    for m in store.metadata.list_monitors():
        latest = store.metadata.list_monitor_results(m.name, kind="window", limit=1)
        stats = latest[-1].payload.get("stats", {}) if latest else {}
        drifted = latest[-1].payload.get("drifted_features", []) if latest else []
        alerts = store.metadata.list_alert_events(m.name, limit=1)
        rows.append(
            {
                "monitor": m,
                "drift_share": stats.get("drift_share"),
                "drifted": drifted,
                "accuracy": stats.get("performance.accuracy"),
                "last_alert": alerts[0] if alerts else None,
            }
        )
    return rows


def _bars(hist: dict[str, Any]) -> list[dict[str, Any]]:
    labels = hist.get("labels", [])
    ref, cur = hist.get("reference", []), hist.get("current", [])
    top = max([*ref, *cur, 1e-9])
    n = max(len(labels), 1)
    width = 100.0 / n
    return [
        {
            "label": label,
            "x": i * width,
            "w": width,
            "ref": r / top * 100,
            "cur": c / top * 100,
            "ref_p": r,
            "cur_p": c,
        }
        for i, (label, r, c) in enumerate(zip(labels, ref, cur, strict=False))
    ]


def build_monitor_page(store: Store, name: str) -> MonitorPage:
    """The dashboard of monitor ``name``. Raises ``NotFound``."""
    monitor = store.metadata.get_monitor(name)
    results = store.metadata.list_monitor_results(name, kind="window", limit=MAX_WINDOWS)
    latest = dict(results[-1].payload) if results else None
    names: list[str] = list(latest.get("histograms", {})) if latest else []
    # Chart series: per feature, its primary statistic over windows; plus performance.
    xs = [r.end_ms / 1000 for r in results]
    drift_series: dict[str, list[float | None]] = {n: [] for n in names}
    primary: dict[str, str] = {}
    computed: dict[str, set[str]] = {}
    for check in latest.get("checks", []) if latest else []:
        primary.setdefault(check["feature"], check["test"])
        computed.setdefault(check["feature"], set()).add(check["test"])
    # Charts use a bounded statistic so features share one axis (chi-squared is not).
    scored = {
        n: next((t for t in CHART_TESTS if t in computed.get(n, ())), primary.get(n, "ks"))
        for n in names
    }
    perf: dict[str, list[float | None]] = {"accuracy": [], "f1": [], "ece": []}
    ops: dict[str, list[float | None]] = {"latency_p95": [], "error_rate": []}
    for r in results:
        stats = r.payload.get("stats", {})
        for n in names:
            drift_series[n].append(stats.get(f"drift.{n}.{scored[n]}"))
        for key in perf:
            perf[key].append(stats.get(f"performance.{key}"))
        for key in ops:
            ops[key].append(stats.get(f"operational.{key}"))
    heat_results = results[-HEATMAP_WINDOWS:]
    features = []
    for n in names:
        cells = []
        for r in heat_results:
            check = next(
                (
                    c
                    for c in r.payload.get("checks", [])
                    if c["feature"] == n and c["test"] == primary.get(n)
                ),
                None,
            )
            cells.append(
                None
                if check is None
                else {
                    "statistic": check["statistic"],
                    "drifted": check["drifted"],
                    "p": check.get("details", {}).get("adjusted_p", check.get("p_value")),
                }
            )
        current = (
            next(
                (c for c in latest["checks"] if c["feature"] == n and c["test"] == primary.get(n)),
                None,
            )
            if latest
            else None
        )
        features.append(
            {
                "name": n,
                "test": primary.get(n, ""),
                "cells": cells,
                "current": current,
                "bars": _bars(latest["histograms"][n]) if latest else [],
                "drifted": bool(latest and n in latest.get("drifted_features", [])),
            }
        )
    model_checks = (
        [
            c
            for c in latest.get("checks", [])
            if c["feature"] in ("prediction", "image", "embedding")
        ]
        if latest
        else []
    )
    flywheel = [
        {"start_ms": r.start_ms, "end_ms": r.end_ms, **r.payload}
        for r in store.metadata.list_monitor_results(name, kind="flywheel")
    ]
    by_reason: dict[str, int] = {}
    for item in store.metadata.list_routed(name, limit=10_000):
        by_reason[item.reason] = by_reason.get(item.reason, 0) + 1
    quality = sorted(
        (
            (k, v)
            for k, v in (latest or {}).get("stats", {}).items()
            if k.startswith("quality.") and v
        ),
        key=lambda kv: -kv[1],
    )[:12]
    chart = {
        "x": xs,
        "drift": drift_series,
        "performance": perf,
        "operational": ops,
        "model_checks": model_checks,
    }
    return MonitorPage(
        monitor=monitor,
        windows=len(results),
        latest=latest,
        features=features,
        heat_columns=[str(i) for i in range(len(heat_results))],
        chart=chart,
        alerts=store.metadata.list_alert_events(name, limit=50),
        flywheel=flywheel,
        routed_by_reason=by_reason,
        slices=(latest or {}).get("slices", {}),
        quality=quality,
    )
