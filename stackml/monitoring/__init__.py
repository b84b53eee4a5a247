"""Monitoring: drift, data quality, delayed-label performance, alerts and the data flywheel.

::

    import stackml.monitoring as mon

    ref = mon.Reference.from_table(train_df, features=[...])          # sketched once
    mon.create_monitor("wine-drift", "wine", reference=ref, store=store,
                       spec={"window": {"kind": "count", "size": 500},
                             "rules": [{"name": "drift", "statistic": "drift_share",
                                        "op": ">=", "threshold": 0.2}],
                             "notifiers": [{"type": "log", "path": "alerts.jsonl"}]})
    summary = mon.run_monitor("wine-drift", store=store)               # new windows only

Checks are small :class:`DriftTest` classes (:mod:`stackml.monitoring.drift`); notifiers are
:class:`Notifier` classes (:mod:`stackml.monitoring.notifiers`).
"""

from __future__ import annotations

from stackml.monitoring.alerts import Alert, due_alerts
from stackml.monitoring.correction import adjust
from stackml.monitoring.drift import (
    CheckResult,
    ChiSquareTest,
    DriftTest,
    JensenShannonTest,
    KSTest,
    MMDTest,
    PixelStatsTest,
    PSITest,
    WassersteinTest,
    make_test,
    register_test,
)
from stackml.monitoring.evaluate import WindowReport, evaluate_window
from stackml.monitoring.flywheel import Candidate, LabelSink, record_turn, route, select_candidates
from stackml.monitoring.notifiers import (
    LogFileNotifier,
    Notifier,
    NotifyError,
    SmtpNotifier,
    WebhookNotifier,
    make_notifier,
)
from stackml.monitoring.reference import (
    CategoricalReference,
    EmbeddingReference,
    ImageReference,
    NumericReference,
    Reference,
)
from stackml.monitoring.retrain import (
    monitors_for_project,
    pending_retraining,
    retrain_on_export,
    trigger_retraining,
)
from stackml.monitoring.service import (
    RunSummary,
    add_labels,
    create_monitor,
    load_reference,
    performance_history,
    run_monitor,
)
from stackml.monitoring.spec import AlertRule, MonitorSpec, RetrainSpec, RoutingSpec, WindowSpec
from stackml.monitoring.windows import Window, split_windows

__all__ = [
    "Alert",
    "AlertRule",
    "Candidate",
    "CategoricalReference",
    "CheckResult",
    "ChiSquareTest",
    "DriftTest",
    "EmbeddingReference",
    "ImageReference",
    "JensenShannonTest",
    "KSTest",
    "LabelSink",
    "LogFileNotifier",
    "MMDTest",
    "MonitorSpec",
    "Notifier",
    "NotifyError",
    "NumericReference",
    "PSITest",
    "PixelStatsTest",
    "Reference",
    "RetrainSpec",
    "RoutingSpec",
    "RunSummary",
    "SmtpNotifier",
    "WassersteinTest",
    "WebhookNotifier",
    "Window",
    "WindowReport",
    "WindowSpec",
    "add_labels",
    "adjust",
    "create_monitor",
    "due_alerts",
    "evaluate_window",
    "load_reference",
    "make_notifier",
    "make_test",
    "monitors_for_project",
    "pending_retraining",
    "performance_history",
    "record_turn",
    "register_test",
    "retrain_on_export",
    "route",
    "run_monitor",
    "select_candidates",
    "split_windows",
    "trigger_retraining",
]
