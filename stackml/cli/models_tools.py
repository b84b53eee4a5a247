"""Commands of ``stackml models`` contributed by export and compression (export, compress, compare).

Data for compression and comparison comes from a NumPy ``.npz`` file: arrays ``x`` and ``y``
(inputs and integer labels), optionally ``x_val``/``y_val`` for distillation. Flat rows are
reshaped to the model's input shape when the sizes match (64 pixels → ``(1, 8, 8)``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stackml.cli._console import format_size, stdout_console
from stackml.cli._store import opened_store

if TYPE_CHECKING:
    import numpy as np

FORMAT_HELP = "onnx, ort, torchscript, torch-export, safetensors, executorch, coreml."


def _load_npz(path: Path | None, *keys: str) -> dict[str, np.ndarray]:
    import numpy as np

    from stackml.errors import InvalidInput

    if path is None:
        return {}
    if not path.is_file():
        raise InvalidInput(f"no data file at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.asarray(data[k]) for k in keys if k in data.files}
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"{path} is not a NumPy .npz file of plain arrays: {exc}") from exc


def _shaped(x: np.ndarray, signature: dict[str, Any]) -> np.ndarray:
    """Reshape flat rows to the model's input shape when the element counts agree."""
    import numpy as np

    shape = tuple(signature["inputs"][0]["shape"])[1:]
    if -1 in shape or x.shape[1:] == shape:
        return x
    if int(np.prod(x.shape[1:])) == int(np.prod(shape)):
        return x.reshape(len(x), *shape)
    return x


def add_commands(models_app: typer.Typer) -> None:
    """Add this module's commands to the ``stackml models`` group."""

    @models_app.command("export")
    def export_cmd(
        ctx: typer.Context,
        ref: str = typer.Argument(..., help="NAME@N, NAME@ALIAS or NAME (PyTorch or ONNX)."),
        format: str = typer.Option("onnx", "--format", "-f", help=FORMAT_HELP),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Write the files into this folder instead of registering."
        ),
        trust: bool = typer.Option(False, "--trust", help="Allow a pickle source (runs its code)."),
    ) -> None:
        """Convert a version to another format and register it (edge exported_from)."""
        from stackml.registry.formats.convert import export, export_files

        console = stdout_console()
        with opened_store(ctx) as store:
            if out is not None:
                files = export_files(ref, format, out, store=store, trust=trust)
                size = files.size_bytes(out)
                console.print(f"wrote {', '.join(files.files)} ({format_size(size)}) into {out}")
                return
            version = export(ref, format, store=store, trust=trust)
        console.print(
            f"registered [bold]{version.ref}[/bold] ({version.format}, "
            f"{format_size(version.size_bytes)}), exported from {version.source_version}"
        )

    @models_app.command("compress")
    def compress_cmd(
        ctx: typer.Context,
        ref: str = typer.Argument(..., help="NAME@N, NAME@ALIAS or NAME to compress."),
        method: str = typer.Option(
            ..., "--method", "-m", help="int8-dynamic, int8-static, prune or distill."
        ),
        data: Path | None = typer.Option(
            None,
            "--data",
            help=".npz with x, y (and x_val, y_val): calibration, fine-tuning, distillation.",
        ),
        amount: float = typer.Option(0.5, "--amount", help="Share of weights to prune."),
        fine_tune_epochs: int = typer.Option(
            0, "--fine-tune-epochs", help="Epochs of fine-tuning after pruning (needs --data)."
        ),
        student: str | None = typer.Option(
            None, "--student", help="package.module:Factory building the student (distill)."
        ),
        student_kwargs: str = typer.Option("{}", "--student-kwargs", help="JSON kwargs."),
        epochs: int = typer.Option(20, "--epochs", help="Distillation epochs."),
        format: str = typer.Option("onnx", "--format", "-f", help="Result format."),
        trust: bool = typer.Option(False, "--trust", help="Allow a pickle source (runs its code)."),
    ) -> None:
        """Compress a version and register the result (edge compressed_from)."""
        from stackml.errors import InvalidInput
        from stackml.registry import get_version
        from stackml.registry.compression import compress

        arrays = _load_npz(data, "x", "y", "x_val", "y_val")
        with opened_store(ctx) as store:
            signature = get_version(ref, store=store).signature
            train = None
            if "x" in arrays and "y" in arrays:
                train = (_shaped(arrays["x"], signature), arrays["y"])
            val = None
            if "x_val" in arrays and "y_val" in arrays:
                val = (_shaped(arrays["x_val"], signature), arrays["y_val"])
            model = None
            if student is not None:
                from stackml.registry.formats._torch_wrap import resolve_reference

                try:
                    kwargs = json.loads(student_kwargs)
                except ValueError as exc:
                    raise InvalidInput(f"--student-kwargs is not JSON: {exc}") from exc
                model = resolve_reference(student)(**kwargs)
            version = compress(
                ref,
                method,
                store=store,
                data=train,
                val=val,
                amount=amount,
                fine_tune_epochs=fine_tune_epochs,
                student=model,
                epochs=epochs,
                format=format,
                trust=trust,
            )
        extra = ", ".join(f"{k}={v:.4g}" for k, v in sorted(version.metrics.items())[:4])
        stdout_console().print(
            f"registered [bold]{version.ref}[/bold] ({method}, {version.format}, "
            f"{format_size(version.size_bytes)}) compressed from {version.source_version}"
            + (f"; {extra}" if extra else "")
        )

    @models_app.command("compare")
    def compare_cmd(
        ctx: typer.Context,
        refs: list[str] = typer.Argument(..., help="Versions; the first is the original."),
        data: Path = typer.Option(..., "--data", help=".npz with test inputs x (and labels y)."),
        repeats: int = typer.Option(50, "--repeats", help="Timed calls per batch size."),
        trust: bool = typer.Option(False, "--trust", help="Allow pickle versions."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Size, latency p50/p99 at batch 1 and 32, accuracy and agreement, side by side."""
        from stackml.errors import InvalidInput
        from stackml.registry import get_version
        from stackml.registry.compare import compare, report_table

        arrays = _load_npz(data, "x", "y")
        if "x" not in arrays:
            raise InvalidInput(f"{data} has no array named x")
        with opened_store(ctx) as store:
            x = _shaped(arrays["x"], get_version(refs[0], store=store).signature)
            test: Any = (x, arrays["y"]) if "y" in arrays else x
            report = compare(refs, test, store=store, trust=trust, repeats=repeats)
        if as_json:
            typer.echo(json.dumps(report.to_dict()))
            return
        stdout_console().print(report_table(report))
