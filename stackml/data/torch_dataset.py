"""The ``torch`` view of a dataset version (torch is imported only here, lazily)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from stackml.data.splits import SPLIT_COLUMN
from stackml.errors import InvalidInput


def _torch() -> Any:
    try:
        import torch
    except ImportError as error:  # pragma: no cover - torch is an optional extra
        raise InvalidInput("to_torch needs PyTorch: pip install 'stackml[torch]'") from error
    return torch


def build_torch_dataset(
    table: pa.Table,
    *,
    features: Sequence[str] | None,
    label: str | None,
    path_column: str | None,
    root: Path | None,
) -> Any:
    """A map-style torch dataset over a table's rows."""
    torch = _torch()
    y = None
    if label is not None:
        if label not in table.column_names:
            raise InvalidInput(f"label column {label!r} is not in the table")
        values = table.column(label).to_numpy(zero_copy_only=False)
        y = torch.as_tensor(values.astype(np.int64) if values.dtype.kind in "iub" else values)
    if root is not None and path_column is not None and not features:
        paths = [root / p for p in table.column(path_column).to_pylist()]
        return _ImageDataset(torch, paths, y)
    skip = {label, SPLIT_COLUMN, path_column}
    names = (
        list(features)
        if features
        else [
            n
            for n in table.column_names
            if n not in skip
            and (
                pa.types.is_integer(table.schema.field(n).type)
                or pa.types.is_floating(table.schema.field(n).type)
            )
        ]
    )
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise InvalidInput(f"feature columns {missing} are not in the table")
    x = np.column_stack([table.column(n).to_numpy(zero_copy_only=False) for n in names])
    tensors = [torch.as_tensor(x.astype(np.float32))] + ([y] if y is not None else [])
    return torch.utils.data.TensorDataset(*tensors)


class _ImageDataset:
    """Images decoded on access (Pillow), with their labels."""

    def __init__(self, torch: Any, paths: list[Path], labels: Any) -> None:
        self._torch, self.paths, self.labels = torch, paths, labels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Any:
        from PIL import Image

        with Image.open(self.paths[index]) as img:
            arr = np.asarray(img, dtype=np.float32) / 255.0
        x = self._torch.as_tensor(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
        return x if self.labels is None else (x, self.labels[index])
