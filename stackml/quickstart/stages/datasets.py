"""Stage ``datasets``: version the digits (PNG files + a label table with splits) and a
tabular set, then validate both.

The digits version's ``split`` column is exactly the train/validation/test split every
training stage uses (the same stratified, seeded split as :mod:`stackml.quickstart.digits`),
so a run that calls :func:`record_dataset_inputs` records which dataset version, by id, it
trained on. The tabular set is scikit-learn's breast-cancer data with a stratified
train/val/test split, validated against expectations suggested from its own schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.quickstart.digits import TEST_FRACTION, VAL_FRACTION
from stackml.quickstart.stage import Stage, StageResult

if TYPE_CHECKING:
    from stackml.quickstart.context import QuickstartContext
    from stackml.tracking.run import ActiveRun

DIGITS = "digits"
TABULAR = "breast-cancer"
_DIGITS_EXPECTATIONS = """
row_count: {min: 1000}
columns:
  path: {not_null: true, unique: true, regex: '^images/[0-9]+[.]png$'}
  label: {not_null: true, allowed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}
  split: {allowed: [train, val, test]}
"""


def digits_split_column(labels: np.ndarray, seed: int) -> list[str]:
    """The split of every digits image, identical to :func:`load_digits_splits`'s."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    rest, test, y_rest, _ = train_test_split(
        index, labels, test_size=TEST_FRACTION, stratify=labels, random_state=seed
    )
    train, val = train_test_split(
        rest, test_size=VAL_FRACTION / (1 - TEST_FRACTION), stratify=y_rest, random_state=seed
    )
    split = np.empty(len(labels), dtype=object)
    split[train], split[val], split[test] = "train", "val", "test"
    return [str(s) for s in split]


def write_digit_pngs(images: np.ndarray, folder: Path) -> list[str]:
    """Write 8x8 digits (0..16) as 8-bit grayscale PNGs; return their relative paths."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        pixels = np.round(np.asarray(image).reshape(8, 8) * (255 / 16)).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png", optimize=False)
        paths.append(f"images/{i}.png")
    return paths


def record_dataset_inputs(ctx: QuickstartContext, run: ActiveRun) -> None:
    """Record the digits version as an input of ``run`` when this stage ran before it."""
    result = ctx.results.get(DatasetsStage.name)
    if result is not None and "digits" in result.details:
        run.use_dataset(DIGITS, version=result.details["digits"].partition("@")[2])


class DatasetsStage(Stage):
    """Version and validate the quickstart's data."""

    name = "datasets"
    title = "Version and validate the data"

    def run(self, ctx: QuickstartContext) -> StageResult:
        import pandas as pd
        from sklearn.datasets import load_breast_cancer, load_digits

        import stackml.data as sd

        store = ctx.store
        ctx.note("writing the digits as PNG files")
        digits = load_digits()
        labels = np.asarray(digits.target, dtype=np.int64)
        root = ctx.output_dir("datasets", "digits")
        paths = write_digit_pngs(digits.images, root / "images")
        table = pd.DataFrame(
            {"path": paths, "label": labels, "split": digits_split_column(labels, ctx.seed)}
        )
        splits: dict[str, Any] = {
            "spec": {
                "train": 1 - VAL_FRACTION - TEST_FRACTION,
                "val": VAL_FRACTION,
                "test": TEST_FRACTION,
            },
            "seed": ctx.seed,
            "stratify": "label",
            "column": "split",
        }
        ctx.note("versioning the digits")
        digits_version = sd.add(
            DIGITS,
            root,
            table=table,
            path_column="path",
            label="label",
            key="path",
            message="8x8 digits as PNG files with labels and the training split",
            expectations=_DIGITS_EXPECTATIONS,
            inherit_splits=splits,
            store=store,
        )
        ctx.note("versioning the breast-cancer table")
        frame = load_breast_cancer(as_frame=True).frame
        frame.insert(0, "id", range(len(frame)))
        tab_version = sd.add(
            TABULAR,
            frame,
            key="id",
            label="target",
            seed=ctx.seed,
            split={"train": 0.6, "val": 0.2, "test": 0.2},
            message="scikit-learn breast-cancer data",
            store=store,
        )
        ctx.note("validating both versions")
        suggested = sd.suggest(sd.get(TABULAR, tab_version.id, store=store).schema)
        reports = [
            sd.validate(digits_version.ref, store=store),
            sd.validate(tab_version.ref, expectations=suggested, store=store),
        ]
        failed = [r.target for r in reports if not r.ok]
        if failed:
            from stackml.errors import StackmlError

            raise StackmlError(f"validation failed for {', '.join(failed)}")
        checks = sum(len(r.checks) for r in reports)
        return StageResult(
            headline=(
                f"{digits_version.label} ({digits_version.num_files} PNGs + labels), "
                f"{tab_version.label} ({tab_version.num_rows} rows); {checks} checks passed"
            ),
            metrics={
                "digits_files": float(digits_version.num_files),
                "tabular_rows": float(tab_version.num_rows or 0),
                "validation_checks": float(checks),
            },
            details={"digits": digits_version.ref, "tabular": tab_version.ref},
        )
