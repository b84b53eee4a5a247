"""Alert rules: threshold, duration, cooldown, globs."""

from __future__ import annotations

import pytest

from stackml.errors import InvalidInput
from stackml.monitoring import AlertRule, due_alerts


def test_threshold_duration_and_cooldown() -> None:
    rule = AlertRule("drift", "drift_share", ">=", 0.3, duration=2, cooldown_s=60)
    low, high = {"drift_share": 0.1}, {"drift_share": 0.5}
    assert due_alerts("m", [rule], [low, high], {}, 1_000) == []  # held one window of two
    fired = due_alerts("m", [rule], [low, high, high], {}, 1_000)
    assert [(a.rule, a.value, a.statistic) for a in fired] == [("drift", 0.5, "drift_share")]
    assert "for 2 windows" in fired[0].message
    assert due_alerts("m", [rule], [high, high], {"drift": 1_000}, 30_000) == []  # cooling down
    assert len(due_alerts("m", [rule], [high, high], {"drift": 1_000}, 61_000)) == 1


def test_glob_statistic_reports_the_worst_match() -> None:
    rule = AlertRule("ks", "drift.*.ks", ">", 0.2)
    stats = {"drift.a.ks": 0.1, "drift.b.ks": 0.4, "drift.c.ks": 0.3, "drift.b.psi": 9.0}
    (alert,) = due_alerts("m", [rule], [stats], {}, 0)
    assert (alert.statistic, alert.value) == ("drift.b.ks", 0.4)
    low = AlertRule("acc", "performance.*", "<", 0.8)
    (a2,) = due_alerts("m", [low], [{"performance.accuracy": 0.7, "performance.f1": 0.6}], {}, 0)
    assert a2.value == 0.6


def test_missing_statistic_never_fires_and_bad_rules_are_refused() -> None:
    rule = AlertRule("lat", "operational.latency_p95", ">", 100)
    assert due_alerts("m", [rule], [{"drift_share": 1.0}], {}, 0) == []
    with pytest.raises(InvalidInput):
        AlertRule("x", "s", "=>", 1)
    with pytest.raises(InvalidInput):
        AlertRule("x", "s", ">", 1, duration=0)
