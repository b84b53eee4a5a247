"""``stackml label``: create label projects, import and export labels, follow progress,
assign work, measure agreement, rank the queue with a model and auto-label."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from stackml.cli._console import stdout_console
from stackml.cli._store import opened_store
from stackml.errors import InvalidInput

label_app = typer.Typer(
    help="Label data: projects, queues, review, quality, active learning and formats.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``label`` group to the root application."""
    app.add_typer(label_app, name="label")


def _classes(text: str | None, file: Path | None) -> list[object]:
    if file is not None:
        doc = json.loads(file.read_text())
        if not isinstance(doc, list):
            raise InvalidInput(f"{file} must hold a JSON list of classes")
        return doc
    if not text:
        raise InvalidInput("give the classes: --classes cat,dog or --classes-file classes.json")
    return [c.strip() for c in text.split(",") if c.strip()]


@label_app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Label project name."),
    task_type: str = typer.Option(
        ...,
        "--type",
        help="image_classification, image_multilabel, bboxes, polygons, keypoints, masks, "
        "text_classification or text_spans.",
    ),
    classes: str | None = typer.Option(None, "--classes", help="Comma-separated class names."),
    classes_file: Path | None = typer.Option(
        None, "--classes-file", help='JSON list of names or {"name", "color", "hotkey"}.'
    ),
    instructions: str = typer.Option("", "--instructions", help="What annotators read first."),
    instructions_file: Path | None = typer.Option(None, "--instructions-file"),
    overlap: int = typer.Option(1, "--overlap", help="Annotators per task."),
    lease: float = typer.Option(600.0, "--lease", help="Seconds a task stays leased."),
    keypoints: str = typer.Option("", "--keypoints", help="Keypoint names, comma-separated."),
    source: str | None = typer.Option(
        None, "--from", help="Make tasks of a dataset version NAME@REF (its images or texts)."
    ),
    description: str = typer.Option("", "--description"),
) -> None:
    """Create a label project (and its tasks from a dataset version with --from)."""
    import stackml.labeling as sl

    text = instructions_file.read_text() if instructions_file else instructions
    with opened_store(ctx) as store:
        ref = None
        if source:
            import stackml.data as sd

            ref = sd.resolve(*sd.parse_ref(source), store=store).ref
        project = sl.create_project(
            name,
            task_type,
            _classes(classes, classes_file),  # type: ignore[arg-type]
            instructions=text,
            overlap=overlap,
            lease_s=lease,
            keypoints=[k.strip() for k in keypoints.split(",") if k.strip()],
            description=description,
            source=ref,
            store=store,
        )
        count = len(sl.tasks_from_dataset(name, ref, store=store)) if ref else 0
        keys = ", ".join(f"{c.name} [{c.hotkey}]" for c in project.config.classes)
        stdout_console().print(
            f"created label project [bold]{project.name}[/] ({project.config.task_type}; {keys})"
            + (f" with {count} tasks from {source}" if source else "")
        )


@label_app.command("import")
def import_(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Label project."),
    path: Path = typer.Argument(..., help="Label file (a folder for YOLO)."),
    fmt: str = typer.Option(..., "--format", help="coco, labelstudio, yolo or csv."),
    images: Path | None = typer.Option(None, "--images", help="Folder the file's images are in."),
    mode: str = typer.Option(
        "prelabel", "--mode", help="Labels in the file become: prelabel, annotations, gold, tasks."
    ),
    user: str = typer.Option("import", "--user", help="Annotator of imported annotations."),
) -> None:
    """Import items (and their labels) from a label file."""
    import stackml.labeling as sl

    with opened_store(ctx) as store:
        report = sl.import_file(
            name, path, fmt, images_dir=images, mode=mode, user=user, store=store
        )
    stdout_console().print(f"imported {report.tasks} tasks and {report.annotations} annotations")


def _machine(value: str) -> str | float:
    if value in ("include", "exclude"):
        return value
    try:
        return float(value)
    except ValueError as error:
        raise InvalidInput("--machine is include, exclude or a weight in [0, 1]") from error


@label_app.command("export")
def export(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Label project."),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Dataset to add the new version to (default NAME-labels)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Write files to a folder instead."),
    fmt: str | None = typer.Option(
        None, "--format", help="With --out: coco, labelstudio, yolo, csv."
    ),
    machine: str = typer.Option("include", "--machine", help="include, exclude or a weight."),
    method: str = typer.Option("majority", "--consensus", help="majority or weighted."),
    reviewed_only: bool = typer.Option(False, "--reviewed-only", help="Accepted labels only."),
    message: str = typer.Option("", "--message", "-m"),
    retrain: bool = typer.Option(
        True,
        "--retrain/--no-retrain",
        help="Start the retraining pipeline of every monitor that routes into this project.",
    ),
) -> None:
    """Export labels as a NEW dataset version (default) or as files (--out).

    A new version triggers the retraining pipeline of each monitor whose routed items go to
    this project (see the monitor's ``retrain`` setting), unless --no-retrain.
    """
    import stackml.labeling as sl

    with opened_store(ctx) as store:
        if out is not None:
            files = sl.export_files(
                name,
                out,
                formats=(fmt,) if fmt else None,
                machine=_machine(machine),
                method=method,
                reviewed_only=reviewed_only,
                store=store,
            )
            stdout_console().print(f"wrote {len(files)} label files to {out}")
            return
        version = sl.export_dataset(
            name,
            dataset,
            machine=_machine(machine),
            method=method,
            reviewed_only=reviewed_only,
            message=message,
            store=store,
        )
        console = stdout_console()
        console.print(f"exported to dataset version [bold]{version.label}[/] ({version.ref})")
        if retrain:
            from stackml.monitoring.retrain import retrain_on_export

            for monitor, result in retrain_on_export(store, name, version).items():
                status = getattr(result, "status", "started")
                console.print(
                    f"monitor [bold]{monitor}[/]: retraining pipeline run "
                    f"{getattr(result, 'run_id', '?')} {status}"
                )


@label_app.command("status")
def status(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Label project (all if left out)."),
) -> None:
    """Progress of one project, or of every project."""
    console = stdout_console()
    with opened_store(ctx) as store:
        projects = (
            [store.metadata.get_label_project(name)]
            if name
            else store.metadata.list_label_projects()
        )
        table = Table(
            "project",
            "type",
            "tasks",
            "done",
            "in progress",
            "open",
            "skipped",
            "to review",
            "machine",
        )
        for p in projects:
            g = store.metadata.label_progress(p.name)
            table.add_row(
                p.name,
                p.config.task_type,
                str(g.total),
                f"{g.done} ({g.percent:.0f}%)",
                str(g.leased),
                str(g.open),
                str(g.skipped),
                str(g.submitted),
                str(g.machine),
            )
        console.print(table)
        if name:
            g = store.metadata.label_progress(name)
            for user, count in g.per_user.items():
                console.print(f"  {user}: {count} labels")


@label_app.command("assign")
def assign(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Label project."),
    to: str | None = typer.Option(None, "--to", help="User or @group (leave out to free tasks)."),
    tasks: str | None = typer.Option(None, "--tasks", help="Task ids, comma-separated."),
    open_tasks: int | None = typer.Option(None, "--open", help="Or: the next N open tasks."),
    role: str | None = typer.Option(
        None, "--role", help="Instead: give --to (a user) a role: annotator, reviewer, manager."
    ),
    group: str | None = typer.Option(None, "--group", help="Instead: set a group's members."),
    members: str = typer.Option("", "--members", help="With --group: comma-separated users."),
) -> None:
    """Assign tasks to a user or group, give roles, or define groups."""
    console = stdout_console()
    with opened_store(ctx) as store:
        meta = store.metadata
        if group is not None:
            users = [u.strip() for u in members.split(",") if u.strip()]
            console.print(meta.set_label_group(name, group, users))
            return
        if role is not None:
            if not to:
                raise InvalidInput("--role needs --to USER")
            for m in meta.set_label_member(name, to, None if role == "none" else role):
                console.print(f"{m.user}: {m.role}")
            return
        if tasks:
            ids = [int(t) for t in tasks.split(",") if t.strip()]
        elif open_tasks:
            ids = [t.id for t in meta.list_label_tasks(name, state="open", limit=open_tasks)]
        else:
            raise InvalidInput("say which tasks: --tasks 1,2,3 or --open N")
        count = meta.assign_label_tasks(name, ids, to)
        console.print(f"assigned {count} tasks to {to or 'anyone'}")


@label_app.command("agreement")
def agreement(ctx: typer.Context, name: str = typer.Argument(..., help="Label project.")) -> None:
    """Inter-annotator agreement and per-annotator statistics."""
    import stackml.labeling as sl

    console = stdout_console()
    with opened_store(ctx) as store:
        agreed = sl.agreement(name, store=store)
        stats = sl.annotator_stats(name, store=store)
    if agreed.mean is None:
        console.print(f"no item has two annotators yet ({agreed.kind})")
    else:
        fleiss = f", Fleiss' kappa {agreed.fleiss:.3f}" if agreed.fleiss is not None else ""
        console.print(f"agreement {agreed.mean:.3f} over {agreed.items} items{fleiss}")
        for pair, score in agreed.pairwise.items():
            console.print(f"  {pair}: {score:.3f}")
    table = Table(
        "annotator", "labels", "median s", "agreement", "gold accuracy", "accepted", "rejected"
    )

    def fmt(v: float | None, spec: str = ".2f") -> str:
        return "—" if v is None else format(v, spec)

    for s in stats:
        table.add_row(
            s.user,
            str(s.annotations),
            fmt(s.median_seconds, ".1f"),
            fmt(s.agreement),
            fmt(s.gold_accuracy),
            str(s.accepted),
            str(s.rejected),
        )
    console.print(table)


@label_app.command("rank")
def rank(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Label project."),
    model: str = typer.Option(..., "--model", help="Registered model: NAME, NAME@N or NAME@ALIAS."),
    strategy: str = typer.Option(
        "entropy", "--strategy", help="entropy, margin, least_confidence, k_center."
    ),
    trust: bool = typer.Option(False, "--trust", help="Allow pickled model formats."),
) -> None:
    """Reorder the queue by a registered model's uncertainty (active learning)."""
    import stackml.labeling as sl
    from stackml.cli._label_model import registry_model

    with opened_store(ctx) as store:
        scores = sl.rank(
            name, registry_model(store, model, trust=trust), strategy=strategy, store=store
        )
    stdout_console().print(f"ranked {len(scores)} open tasks by {strategy} of {model}")


@label_app.command("autolabel")
def autolabel(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Label project."),
    model: str = typer.Option(..., "--model", help="Registered model: NAME, NAME@N or NAME@ALIAS."),
    threshold: float = typer.Option(0.95, "--threshold", help="Confidence needed."),
    audit: float = typer.Option(0.1, "--audit", help="Share of machine labels sent to review."),
    trust: bool = typer.Option(False, "--trust", help="Allow pickled model formats."),
) -> None:
    """Accept a registered model's confident predictions as machine labels."""
    import stackml.labeling as sl
    from stackml.cli._label_model import registry_model

    with opened_store(ctx) as store:
        report = sl.auto_label(
            name,
            registry_model(store, model, trust=trust),
            threshold=threshold,
            audit=audit,
            model_name=model,
            store=store,
        )
    stdout_console().print(
        f"{report.labeled} machine labels ({report.audited} sent to audit), "
        f"{report.below_threshold} below {threshold} left for people"
    )
