"""Drift scores as Prometheus gauges, read from each monitor's latest evaluated window."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge

if TYPE_CHECKING:
    from stackml.store.base import MetadataStore

__all__ = ["drift_registry"]


def drift_registry(store: MetadataStore) -> CollectorRegistry:
    """A registry holding the latest statistics of every monitor.

    ``stackml_monitor_drift_score{monitor, feature, test}`` is each feature test's statistic,
    ``stackml_monitor_drift_share{monitor}`` the share of drifted features and
    ``stackml_monitor_statistic{monitor, statistic}`` every other flat statistic
    (performance, quality, operational).
    """
    registry = CollectorRegistry(auto_describe=True)
    score = Gauge(
        "stackml_monitor_drift_score",
        "Latest drift statistic per feature and test",
        ["monitor", "feature", "test"],
        registry=registry,
    )
    drifted = Gauge(
        "stackml_monitor_feature_drifted",
        "1 when the feature drifted in the latest window",
        ["monitor", "feature"],
        registry=registry,
    )
    share = Gauge(
        "stackml_monitor_drift_share",
        "Share of drifted features in the latest window",
        ["monitor"],
        registry=registry,
    )
    other = Gauge(
        "stackml_monitor_statistic",
        "Latest value of a monitor's other statistics",
        ["monitor", "statistic"],
        registry=registry,
    )
    for monitor in store.list_monitors():
        latest = store.list_monitor_results(monitor.name, kind="window", limit=1)
        if not latest:
            continue
        payload = latest[-1].payload
        for check in payload.get("checks", ()):
            score.labels(monitor.name, check["feature"], check["test"]).set(check["statistic"])
        for feature in payload.get("histograms", {}):
            drifted.labels(monitor.name, feature).set(
                float(feature in payload.get("drifted_features", ()))
            )
        stats = payload.get("stats", {})
        share.labels(monitor.name).set(stats.get("drift_share", 0.0))
        for key, value in stats.items():
            if not key.startswith("drift."):
                other.labels(monitor.name, key).set(value)
    return registry
