"""The monitoring part of the metadata-store contract, run against every backend."""

from __future__ import annotations

import math

import pytest

from stackml.errors import AlreadyExists, InvalidInput, NotFound
from stackml.store.base import MetadataStore

SPEC = {"deployment": "wine", "window": {"kind": "count", "size": 100}}


class MonitoringStoreContract:
    """Subclasses provide a ``store`` fixture (a fresh, empty :class:`MetadataStore`)."""

    def test_create_get_list_update_delete(self, store: MetadataStore) -> None:
        made = store.create_monitor("wine-drift", "wine", SPEC, reference_hash="ab" * 32)
        assert (made.name, made.deployment, made.reference_hash) == (
            "wine-drift",
            "wine",
            "ab" * 32,
        )
        assert made.spec == SPEC and made.last_window_end is None
        store.create_monitor("other", "digits", {"deployment": "digits"})
        assert [m.name for m in store.list_monitors()] == ["other", "wine-drift"]
        assert [m.name for m in store.list_monitors("digits")] == ["other"]
        with pytest.raises(AlreadyExists):
            store.create_monitor("wine-drift", "wine", SPEC)
        moved = store.update_monitor("wine-drift", last_run_at=5, last_window_end=4)
        assert (moved.last_run_at, moved.last_window_end, moved.spec) == (5, 4, SPEC)
        assert store.get_monitor("wine-drift") == moved
        store.delete_monitor("wine-drift")
        with pytest.raises(NotFound):
            store.get_monitor("wine-drift")
        with pytest.raises(NotFound):
            store.delete_monitor("wine-drift")

    def test_results_are_kept_in_order_and_limited_to_the_newest(
        self, store: MetadataStore
    ) -> None:
        store.create_monitor("m", "wine", SPEC)
        for i in range(5):
            store.add_monitor_result(
                "m", "window", i * 10, i * 10 + 9, {"stats": {"drift_share": i / 10}}
            )
        store.add_monitor_result("m", "flywheel", 0, 50, {"routed": 3})
        windows = store.list_monitor_results("m", kind="window")
        assert [r.start_ms for r in windows] == [0, 10, 20, 30, 40]
        assert windows[2].payload == {"stats": {"drift_share": 0.2}}
        assert [r.start_ms for r in store.list_monitor_results("m", kind="window", limit=2)] == [
            30,
            40,
        ]
        assert [r.kind for r in store.list_monitor_results("m")][-1] == "flywheel"
        assert [r.end_ms for r in store.list_monitor_results("m", kind="window", since_ms=25)] == [
            29,
            39,
            49,
        ]
        with pytest.raises(InvalidInput):
            store.add_monitor_result("m", "weekly", 0, 1, {})
        with pytest.raises(InvalidInput):
            store.add_monitor_result("m", "window", 5, 1, {})
        with pytest.raises(InvalidInput):
            store.add_monitor_result("m", "window", 0, 1, {"x": math.nan})
        with pytest.raises(NotFound):
            store.add_monitor_result("nope", "window", 0, 1, {})

    def test_alert_history(self, store: MetadataStore) -> None:
        store.create_monitor("m", "wine", SPEC)
        first = store.add_alert_event(
            "m",
            rule="drift",
            statistic="drift_share",
            value=0.5,
            threshold=0.3,
            severity="warning",
            message="drift!",
            notified=["ops-log"],
        )
        store.add_alert_event(
            "m",
            rule="latency",
            statistic="operational.latency_p95",
            value=300.0,
            threshold=200.0,
            severity="critical",
            message="slow",
        )
        assert first.notified == ("ops-log",) and first.fired_at > 0
        assert [a.rule for a in store.list_alert_events("m")] == ["latency", "drift"]
        assert [a.rule for a in store.list_alert_events("m", rule="drift")] == ["drift"]
        assert len(store.list_alert_events(limit=1)) == 1
        with pytest.raises(InvalidInput):
            store.add_alert_event(
                "m",
                rule="x",
                statistic="s",
                value=math.inf,
                threshold=1,
                severity="warning",
                message="",
            )
        with pytest.raises(InvalidInput):
            store.add_alert_event(
                "m",
                rule="x",
                statistic="s",
                value=1,
                threshold=1,
                severity="apocalyptic",
                message="",
            )

    def test_routed_items_are_deduplicated(self, store: MetadataStore) -> None:
        store.create_monitor("m", "wine", SPEC)
        items = [
            {"request_id": f"r{i}", "reason": "low_confidence", "priority": i / 10}
            for i in range(4)
        ]
        assert store.record_routed("m", items[:3]) == ["r0", "r1", "r2"]
        assert store.record_routed("m", [*items, items[3]]) == ["r3"]
        assert {r.request_id for r in store.list_routed("m")} == {"r0", "r1", "r2", "r3"}
        with pytest.raises(InvalidInput):
            store.record_routed("m", [{"request_id": "", "reason": "x", "priority": 0}])
        with pytest.raises(NotFound):
            store.record_routed("nope", items)

    def test_names_are_validated(self, store: MetadataStore) -> None:
        with pytest.raises(InvalidInput):
            store.create_monitor("../evil", "wine", SPEC)
        with pytest.raises(InvalidInput):
            store.create_monitor("ok", "wine", {"x": math.nan})
