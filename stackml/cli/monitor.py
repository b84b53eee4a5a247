"""``stackml monitor``: create monitors, run them (once or on a schedule), status and alerts."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import typer

from stackml.cli._console import format_time, format_value, stdout_console
from stackml.cli._store import opened_store

monitor_app = typer.Typer(
    help="Monitor deployments: drift, data quality, performance, alerts, flywheel routing.",
    no_args_is_help=True,
)

_RULE = re.compile(r"^([A-Za-z0-9_.\-]+):([A-Za-z0-9_.*?\[\]\-]+)(>=|<=|>|<)(-?[0-9.eE+\-]+)$")


def register(app: typer.Typer) -> None:
    """Add the ``monitor`` group to the root application."""
    app.add_typer(monitor_app, name="monitor")


def _window(text: str) -> dict[str, Any]:
    from stackml.errors import InvalidInput

    kind, _, size = text.partition(":")
    if kind not in ("count", "time") or not size:
        raise InvalidInput("--window is count:ROWS or time:SECONDS, e.g. count:1000 or time:3600")
    try:
        value = int(size) if kind == "count" else int(float(size) * 1000)
    except ValueError:
        raise InvalidInput(f"--window size {size!r} is not a number") from None
    return {"kind": kind, "size": value}


def _rule(text: str, duration: int, cooldown: int) -> dict[str, Any]:
    from stackml.errors import InvalidInput

    match = _RULE.match(text.replace(" ", ""))
    if not match:
        raise InvalidInput(
            f"--rule {text!r}: use NAME:STATISTIC>THRESHOLD, e.g. drift:drift_share>0.2"
        )
    name, stat, op, threshold = match.groups()
    return {
        "name": name,
        "statistic": stat,
        "op": op,
        "threshold": float(threshold),
        "duration": duration,
        "cooldown_s": cooldown,
    }


def _read_table(path: Path) -> Any:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from stackml.errors import InvalidInput

    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    return pq.read_table(path) if path.suffix == ".parquet" else pcsv.read_csv(path)


@monitor_app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Monitor name."),
    deployment: str = typer.Option(..., "--deployment", "-d", help="Deployment to watch."),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Reference: a dataset version NAME@REF (its stored statistics)."
    ),
    table: Path | None = typer.Option(
        None, "--reference-table", help="Reference: a CSV or Parquet file, sketched once."
    ),
    label: str | None = typer.Option(None, "--label", help="Label column (prediction reference)."),
    features: list[str] = typer.Option([], "--feature", "-f", help="Feature to watch (repeat)."),
    window: str = typer.Option("count:1000", "--window", help="count:ROWS or time:SECONDS."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of p-value tests."),
    correction: str = typer.Option("bh", "--correction", help="bh, bonferroni or none."),
    rules: list[str] = typer.Option(
        [], "--rule", help="Alert rule NAME:STATISTIC>THRESHOLD (globs allowed; repeat)."
    ),
    duration: int = typer.Option(1, "--duration", help="Windows a rule must hold before firing."),
    cooldown: int = typer.Option(3600, "--cooldown", help="Seconds between firings of a rule."),
    log_file: Path | None = typer.Option(None, "--notify-log", help="Append alerts to this file."),
    webhook: str | None = typer.Option(None, "--webhook", help="POST alerts to this URL."),
    schedule: int = typer.Option(0, "--every", help="Run every N seconds on the server (0: off)."),
    spec_file: Path | None = typer.Option(
        None, "--spec", help="JSON file with the full definition (options above override it)."
    ),
) -> None:
    """Create a monitor of a deployment against a reference."""
    import stackml.monitoring as mon

    spec: dict[str, Any] = json.loads(spec_file.read_text()) if spec_file else {}
    spec.update({"window": _window(window), "alpha": alpha, "correction": correction})
    if features:
        spec["features"] = list(features)
    if schedule:
        spec["schedule_s"] = schedule
    if rules:
        spec["rules"] = [_rule(r, duration, cooldown) for r in rules]
    notifiers = list(spec.get("notifiers", []))
    if log_file:
        notifiers.append({"type": "log", "path": str(log_file.resolve()), "name": "log"})
    if webhook:
        notifiers.append({"type": "webhook", "url": webhook, "name": "webhook"})
    spec["notifiers"] = notifiers
    reference = None
    if table is not None:
        reference = mon.Reference.from_table(
            _read_table(table), features=features or None, source=str(table)
        )
    with opened_store(ctx) as store:
        made = mon.create_monitor(
            name,
            deployment,
            store=store,
            reference=reference,
            dataset=dataset,
            label=label,
            spec=spec,
        )
    stdout_console().print(f"Created monitor [bold]{made.name}[/] of deployment {made.deployment}")


@monitor_app.command("run")
def run(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="Monitors to run (default: all)."),
    every: float = typer.Option(0, "--every", help="Repeat every N seconds until interrupted."),
    partial: bool = typer.Option(False, "--partial", help="Also evaluate the open window."),
) -> None:
    """Evaluate the windows of new prediction logs; fire alerts; route to labeling."""
    import stackml.monitoring as mon

    console = stdout_console()
    with opened_store(ctx) as store:
        while True:
            chosen = names or [m.name for m in store.metadata.list_monitors()]
            for name in chosen:
                summary = mon.run_monitor(name, store=store, include_partial=partial)
                drifted = sorted({f for w in summary.windows for f in w.drifted_features})
                console.print(
                    f"[bold]{name}[/]: {summary.rows_read} rows, {len(summary.windows)} windows, "
                    f"drifted: {', '.join(drifted) or 'none'}, alerts: {len(summary.alerts)}, "
                    f"routed: {len(summary.routed)}"
                )
                for alert in summary.alerts:
                    console.print(f"  [red]ALERT[/] {alert.message}")
            if every <= 0:
                return
            time.sleep(every)


@monitor_app.command("status")
def status(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Monitor name."),
    as_json: bool = typer.Option(False, "--json", help="Print the latest window as JSON."),
) -> None:
    """The latest window: drift per feature, quality, operational and performance figures."""
    from rich.table import Table

    console = stdout_console()
    with opened_store(ctx) as store:
        monitor = store.metadata.get_monitor(name)
        latest = store.metadata.list_monitor_results(name, kind="window", limit=1)
        alerts = store.metadata.list_alert_events(name, limit=5)
    if as_json:
        typer.echo(json.dumps(latest[-1].payload if latest else {}, indent=2))
        return
    console.print(
        f"[bold]{monitor.name}[/] watches [bold]{monitor.deployment}[/]; "
        f"last run {format_time(monitor.last_run_at)}"
    )
    if not latest:
        console.print("No window evaluated yet: run `stackml monitor run`.")
        return
    payload = latest[-1].payload
    table = Table(
        title=f"Window {format_time(payload['start_ms'])} - {format_time(payload['end_ms'])}"
    )
    for column in ("feature", "test", "statistic", "p-value", "drifted"):
        table.add_column(column)
    for check in payload["checks"]:
        p = check.get("details", {}).get("adjusted_p", check.get("p_value"))
        table.add_row(
            check["feature"],
            check["test"],
            format_value(check["statistic"]),
            "-" if p is None else format_value(p),
            "yes" if check["drifted"] else "",
        )
    console.print(table)
    stats = payload.get("stats", {})
    keys = [k for k in sorted(stats) if k.split(".")[0] in ("performance", "operational")]
    keys += ["drift_share", "quality.missing_rate", "quality.schema_violations"]
    console.print("  ".join(f"{k}={format_value(stats[k])}" for k in keys if k in stats))
    for alert in alerts:
        console.print(f"[red]{format_time(alert.fired_at)}[/] {alert.message}")


@monitor_app.command("alerts")
def alerts(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Monitor (default: all)."),
    limit: int = typer.Option(50, "--limit", "-n", help="Most recent alerts to show."),
) -> None:
    """Alert history, newest first."""
    from rich.table import Table

    with opened_store(ctx) as store:
        events = store.metadata.list_alert_events(name, limit=limit)
    table = Table()
    for column in ("fired", "monitor", "rule", "statistic", "value", "threshold", "notified"):
        table.add_column(column)
    for e in events:
        table.add_row(
            format_time(e.fired_at),
            e.monitor,
            e.rule,
            e.statistic,
            format_value(e.value),
            format_value(e.threshold),
            ", ".join(e.notified) or "-",
        )
    stdout_console().print(table)


@monitor_app.command("ls")
def ls(ctx: typer.Context) -> None:
    """Every monitor."""
    from rich.table import Table

    with opened_store(ctx) as store:
        monitors = store.metadata.list_monitors()
    table = Table()
    for column in ("name", "deployment", "reference", "window", "last run"):
        table.add_column(column)
    for m in monitors:
        w = m.spec.get("window", {})
        table.add_row(
            m.name,
            m.deployment,
            str(m.spec.get("reference") or "table"),
            f"{w.get('kind')}:{w.get('size')}",
            format_time(m.last_run_at),
        )
    stdout_console().print(table)
