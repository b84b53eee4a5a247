"""``stackml doctor`` and ``stackml bias-variance``: the training doctor from the shell."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import typer

from stackml.cli._console import stdout_console
from stackml.errors import InvalidInput

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``doctor`` and ``bias-variance`` to the root application."""
    app.command("doctor")(doctor)
    app.command("bias-variance")(bias_variance)


def load_entry(target: str) -> Any:
    """Import ``path/to/script.py`` and call its ``entry`` function for ``script.py:entry``."""
    path, sep, name = target.rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        raise InvalidInput(f"expected path/to/script.py:function, not {target!r}")
    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"no such script: {file}")
    sys.path.insert(0, str(file.resolve().parent))
    spec = importlib.util.spec_from_file_location("__stackml_doctor_entry__", file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entry = getattr(module, name, None)
    if not callable(entry):
        raise InvalidInput(f"{file} has no function {name!r}")
    return entry()


def doctor(
    target: str = typer.Argument(
        ...,
        help="path/to/script.py:function; the function returns a dict with model, batch "
        "(inputs, targets), loss_fn and optionally stats (dataset mean/std or schema).",
    ),
    overfit: bool = typer.Option(True, help="Also try to overfit the batch."),
    steps: int = typer.Option(200, min=1, help="Steps of the overfit test."),
    lr: float = typer.Option(1e-2, help="Learning rate of the overfit test (Adam)."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Check a model for the common training bugs and try to overfit one batch.

    Exits with 1 when a check fails.
    """
    from stackml.training import doctor as doc
    from stackml.training.doctor.render import render_findings

    spec = load_entry(target)
    if not isinstance(spec, dict) or not {"model", "batch", "loss_fn"} <= set(spec):
        raise InvalidInput("the entry must return a dict with model, batch and loss_fn")
    report = doc.examine(
        spec["model"],
        spec["batch"],
        spec["loss_fn"],
        stats=spec.get("stats"),
        overfit=overfit,
        overfit_steps=steps,
        overfit_lr=lr,
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        stdout_console().print(render_findings(report))
    if not report.ok:
        raise typer.Exit(1)


def bias_variance(
    train: float = typer.Option(..., help="Training error (e.g. 1 - accuracy)."),
    val: float = typer.Option(..., help="Error on validation from the training distribution."),
    test: float = typer.Option(..., help="Test error."),
    val_test: float | None = typer.Option(
        None, help="Error on validation from the test distribution."
    ),
    baseline: float = typer.Option(0.0, help="Human or simple-model error."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Decompose the test error and recommend the next step."""
    from stackml.training.doctor import bias_variance_report
    from stackml.training.doctor.render import render_bias_variance

    report = bias_variance_report(
        train=train, val=val, test=test, val_test=val_test, baseline=baseline
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        stdout_console().print(render_bias_variance(report))
