"""The compare page's view model: selected runs, their param differences and plot data."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from stackml.errors import InvalidInput
from stackml.store.base import MetadataStore
from stackml.store.entities import Run

MAX_COMPARED = 20
#: Series colours, in order; they stay readable on light and dark backgrounds.
PALETTE = (
    "#4f7cff",
    "#f2994a",
    "#27ae60",
    "#eb5757",
    "#9b51e0",
    "#2d9cdb",
    "#f2c94c",
    "#6fcf97",
    "#bb6bd9",
    "#56ccf2",
)


@dataclass(frozen=True)
class DiffRow:
    """One param across the compared runs."""

    key: str
    values: list[str | None]

    @property
    def changed(self) -> bool:
        return len(set(self.values)) > 1


@dataclass
class Comparison:
    """Everything the compare page renders."""

    runs: list[Run]
    colors: list[str]
    params: list[DiffRow] = field(default_factory=list)
    metrics: list[tuple[str, list[float | None]]] = field(default_factory=list)

    @property
    def changed_count(self) -> int:
        return sum(row.changed for row in self.params)

    def plot_data(self) -> dict[str, Any]:
        """The JSON the charts, parallel coordinates and scatter plot read."""

        def number(value: str | float | None) -> float | None:
            try:
                result = float(value) if value is not None else None
            except ValueError:
                return None
            return result if result is not None and math.isfinite(result) else None

        return {
            "runs": [
                {
                    "id": run.id,
                    "name": run.name,
                    "startTime": run.start_time,
                    "color": color,
                    "params": dict(run.params),
                    "metrics": {k: number(s.latest) for k, s in run.metrics.items()},
                }
                for run, color in zip(self.runs, self.colors, strict=True)
            ],
            "metricKeys": [key for key, _ in self.metrics],
            "paramKeys": [row.key for row in self.params],
        }


def parse_run_ids(raw: list[str]) -> list[str]:
    """Run ids from ``?runs=a&runs=b`` or ``?runs=a,b``, deduplicated, order kept."""
    ids: list[str] = []
    for item in raw:
        for part in item.split(","):
            part = part.strip()
            if part and part not in ids:
                ids.append(part)
    if len(ids) > MAX_COMPARED:
        raise InvalidInput(f"compare at most {MAX_COMPARED} runs at once")
    return ids


def build_comparison(store: MetadataStore, run_ids: list[str]) -> Comparison:
    """Read the runs to compare. Raises ``NotFound`` for an unknown run id."""
    runs = [store.get_run(run_id) for run_id in run_ids]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(runs))]
    comparison = Comparison(runs, colors)
    param_keys = sorted({k for run in runs for k in run.params})
    rows = [DiffRow(k, [run.params.get(k) for run in runs]) for k in param_keys]
    # Changed params first: they are what a comparison is for.
    comparison.params = sorted(rows, key=lambda r: (not r.changed, r.key))
    metric_keys = sorted({k for run in runs for k in run.metrics})
    comparison.metrics = [(k, [run.metric(k) for run in runs]) for k in metric_keys]
    return comparison
