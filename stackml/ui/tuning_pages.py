"""View models of the sweep pages: ``/sweeps`` (every sweep) and ``/sweeps/{id}`` (history,
intermediate values with pruned trials marked, parallel coordinates, importances, slice plots
and the trials table linking to each trial's run)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from stackml.errors import InvalidInput, NotFound, StackmlError
from stackml.store import Store
from stackml.store.base import MetadataStore
from stackml.store.tuning_base import Sweep
from stackml.ui.lineage import register_entity_link
from stackml.ui.rendering import Area, register_area
from stackml.ui.search import SearchHit, SearchProvider, register_search_provider
from stackml.ui.tuning_charts import history_svg, intermediate_svg, parallel_svg, slice_svg

__all__ = ["SweepPage", "build_sweep_page", "build_sweeps_view", "find_sweeps"]

register_area(Area("sweeps", "Sweeps", "/sweeps"), after="runs")
register_entity_link("sweep", lambda sweep_id: f"/sweeps/{quote(sweep_id, safe='')}", "Sweep")


def find_sweeps(store: MetadataStore, text: str, limit: int) -> list[SearchHit]:
    """Sweeps whose id is the text or whose name contains it."""
    needle = text.casefold()
    hits = []
    for sweep in store.list_sweeps():
        if sweep.id == text or needle in sweep.name.casefold():
            hits.append(
                SearchHit(
                    sweep.name,
                    f"/sweeps/{quote(sweep.id, safe='')}",
                    f"{sweep.project} · {sweep.method} · {sweep.claimed}/{sweep.budget} trials",
                    sweep.state,
                )
            )
        if len(hits) >= limit:
            break
    return hits


register_search_provider(SearchProvider("sweeps", "Sweeps", find_sweeps), after="runs")


@dataclass(frozen=True)
class SweepsView:
    """The sweeps list."""

    sweeps: list[Sweep]


def build_sweeps_view(meta: MetadataStore, project: str | None = None) -> SweepsView:
    """Every sweep, newest first."""
    return SweepsView(meta.list_sweeps(project))


@dataclass
class SweepPage:
    """One sweep with its charts and trials."""

    sweep: Sweep
    spec: dict[str, Any]
    trials: list[Any]
    counts: dict[str, int]
    directions: list[str]
    metric: str
    best: list[Any]
    importances: list[tuple[str, float]]
    rounds: list[dict[str, Any]]
    history: Markup | None = None
    intermediate: Markup | None = None
    parallel: Markup | None = None
    slices: list[tuple[str, Markup]] = field(default_factory=list)
    note: str = ""

    @property
    def best_numbers(self) -> set[int]:
        return {t.number for t in self.best}


def _mirror_page(store: Store, sweep: Sweep, note: str) -> SweepPage:
    """The page from the store's trial mirror when the study cannot be opened."""
    trials = store.metadata.list_sweep_trials(sweep.id)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    objective = sweep.spec.get("objective", {})
    metric = ", ".join(objective.get("metrics", [])) or "score"
    rows = [_Row(t.number, t.state, t.values, t.params, t.run_id, {}, None, None) for t in trials]
    return SweepPage(
        sweep,
        sweep.spec,
        rows,
        counts,
        list(objective.get("directions", [])),
        metric,
        [],
        [],
        [],
        note=note,
    )


@dataclass
class _Row:
    number: int
    state: str
    values: list[float] | None
    params: dict[str, Any]
    run_id: str | None
    intermediate: dict[int, float]
    duration_s: float | None
    round: int | None


def build_sweep_page(store: Store, sweep_ref: str) -> SweepPage:
    """The sweep page: analysis through Optuna, charts drawn as SVG."""
    from stackml.tuning.analysis import sweep_report

    sweep = store.metadata.get_sweep(sweep_ref)
    try:
        report = sweep_report(sweep.id, store=store)
    except (InvalidInput, NotFound, StackmlError) as exc:
        return _mirror_page(store, sweep, f"analysis unavailable: {exc}")
    spec = report["spec"]
    objective = spec.objective
    metric = ", ".join(objective.metrics) if objective.metrics else "score"
    first = objective.metrics[0] if objective.metrics else "score"
    maximize = report["directions"][0] == "maximize"
    trials = report["trials"]
    page = SweepPage(
        sweep=sweep,
        spec=sweep.spec,
        trials=trials,
        counts=report["counts"],
        directions=report["directions"],
        metric=metric,
        best=report["best"],
        importances=sorted(report["importances"].items(), key=lambda kv: -kv[1]),
        rounds=report["rounds"],
    )
    if trials:
        page.history = history_svg(trials, maximize, first)
        if any(t.intermediate for t in trials):
            page.intermediate = intermediate_svg(trials, first)
        page.parallel = parallel_svg(trials, spec.space, maximize, first)
        with contextlib.suppress(KeyError, ValueError, TypeError):
            page.slices = [(n, slice_svg(trials, n, s, first)) for n, s in spec.space.items()]
    return page
