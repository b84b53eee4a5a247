"""Alert rules over window statistics: thresholds, duration and cooldown.

:func:`due_alerts` is pure: given a monitor's rules, the flat statistics of its recent windows
(oldest first, the newest last) and when each rule last fired, it says which rules fire now.
A rule's ``statistic`` may be a glob (``drift.*.ks``); it then breaches when any matching
statistic does, and reports the worst one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stackml.monitoring.spec import AlertRule

__all__ = ["Alert", "due_alerts", "rule_value"]


@dataclass(frozen=True)
class Alert:
    """An alert about to be sent and recorded."""

    monitor: str
    rule: str
    statistic: str
    value: float
    threshold: float
    severity: str
    message: str
    fired_at: int


def rule_value(rule: AlertRule, stats: Mapping[str, float]) -> tuple[str, float] | None:
    """The statistic a rule looks at in one window (the worst match for globs), if present."""
    if any(ch in rule.statistic for ch in "*?["):
        found = [(k, v) for k, v in stats.items() if fnmatch.fnmatchcase(k, rule.statistic)]
        if not found:
            return None
        pick = max if rule.op in (">", ">=") else min
        return pick(found, key=lambda kv: kv[1])
    if rule.statistic not in stats:
        return None
    return rule.statistic, float(stats[rule.statistic])


def due_alerts(
    monitor: str,
    rules: Sequence[AlertRule],
    history: Sequence[Mapping[str, float]],
    last_fired: Mapping[str, int],
    now_ms: int,
) -> list[Alert]:
    """Rules whose condition held for their last ``duration`` windows and are out of cooldown."""
    fired: list[Alert] = []
    if not history:
        return fired
    for rule in rules:
        recent = history[-rule.duration :]
        if len(recent) < rule.duration:
            continue
        values = [rule_value(rule, stats) for stats in recent]
        if any(v is None or not rule.breached(v[1]) for v in values):
            continue
        last = last_fired.get(rule.name)
        if last is not None and now_ms - last < rule.cooldown_s * 1000:
            continue
        key, value = values[-1]  # type: ignore[misc]
        held = f" for {rule.duration} windows" if rule.duration > 1 else ""
        message = (
            f"{monitor}: {key} = {value:.4g} {rule.op} {rule.threshold:g}{held} (rule {rule.name})"
        )
        fired.append(
            Alert(monitor, rule.name, key, value, rule.threshold, rule.severity, message, now_ms)
        )
    return fired
