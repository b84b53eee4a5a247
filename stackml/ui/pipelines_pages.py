"""View models of the pipeline pages: the list, one pipeline, and one run with its DAG.

The DAG is drawn on the server as SVG: steps are placed in columns by their depth (longest
path from a root), edges are curves from an output to an input, and every node carries its
status colour, a cache-hit mark and its duration, and links to the step's details below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from stackml.errors import NotFound
from stackml.store.entities import Run
from stackml.ui.lineage import register_entity_link
from stackml.ui.rendering import Area, register_area
from stackml.ui.search import SearchHit, SearchProvider, register_search_provider

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.base import MetadataStore
    from stackml.store.pipelines_base import (
        DatasetTrigger,
        PipelineInfo,
        PipelineRunInfo,
        Schedule,
        StepRunInfo,
    )

register_area(Area("pipelines", "Pipelines", "/pipelines"), after="datasets")
register_entity_link(
    "pipeline_artifact",
    lambda digest: f"/pipelines/artifacts/{quote(digest, safe='')}",
    "Pipeline artifact",
)

NODE_W = 176
NODE_H = 54
GAP_X = 56
GAP_Y = 22
PAD = 16
LOG_LIMIT = 64 * 1024


@dataclass(frozen=True)
class DagNode:
    """A step drawn in the DAG."""

    name: str
    x: int
    y: int
    status: str
    cache_hit: bool
    duration: str


@dataclass(frozen=True)
class DagEdge:
    """A curve from one step to another (SVG path data)."""

    source: str
    target: str
    path: str


@dataclass(frozen=True)
class Dag:
    """The laid-out DAG."""

    width: int
    height: int
    nodes: list[DagNode]
    edges: list[DagEdge]


def duration(start: int | None, end: int | None) -> str:
    """``1.23 s`` / ``2 m 05 s`` between two millisecond stamps, or ``""``."""
    if start is None or end is None:
        return ""
    seconds = max(0, end - start) / 1000
    if seconds < 60:
        return f"{seconds:.2f} s"
    return f"{int(seconds // 60)} m {int(seconds % 60):02d} s"


def layout(steps: list[dict[str, Any]], status: dict[str, StepRunInfo] | None = None) -> Dag:
    """Place ``steps`` (``{"name", "upstream"}``) in columns by depth and draw the edges."""
    status = status or {}
    names = [s["name"] for s in steps]
    upstream = {s["name"]: [u for u in s.get("upstream", []) if u in names] for s in steps}
    depth: dict[str, int] = {}

    def depth_of(name: str, trail: frozenset[str] = frozenset()) -> int:
        if name not in depth:
            parents = [u for u in upstream[name] if u not in trail]
            depth[name] = 1 + max((depth_of(u, trail | {name}) for u in parents), default=-1)
        return depth[name]

    columns: dict[int, list[str]] = {}
    for name in names:
        columns.setdefault(depth_of(name), []).append(name)
    rows = max((len(c) for c in columns.values()), default=1)
    height = PAD * 2 + rows * NODE_H + (rows - 1) * GAP_Y
    width = PAD * 2 + len(columns) * NODE_W + max(0, len(columns) - 1) * GAP_X
    place: dict[str, tuple[int, int]] = {}
    nodes = []
    for col, members in sorted(columns.items()):
        offset = (height - (len(members) * NODE_H + (len(members) - 1) * GAP_Y)) // 2
        for row, name in enumerate(members):
            x = PAD + col * (NODE_W + GAP_X)
            y = offset + row * (NODE_H + GAP_Y)
            place[name] = (x, y)
            record = status.get(name)
            nodes.append(
                DagNode(
                    name,
                    x,
                    y,
                    record.status if record else "defined",
                    bool(record and record.cache_hit),
                    duration(record.started_at, record.ended_at) if record else "",
                )
            )
    edges = []
    for name in names:
        tx, ty = place[name]
        for up in upstream[name]:
            sx, sy = place[up]
            x1, y1, x2, y2 = sx + NODE_W, sy + NODE_H // 2, tx, ty + NODE_H // 2
            bend = max(24, (x2 - x1) // 2)
            path = f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
            edges.append(DagEdge(up, name, path))
    return Dag(width, height, nodes, edges)


@dataclass(frozen=True)
class PipelineRow:
    """A line of the pipelines list."""

    info: PipelineInfo
    last_run: PipelineRunInfo | None
    schedule: Schedule | None
    triggers: list[str]


def list_pipelines(store: Store) -> list[PipelineRow]:
    """Every pipeline with its last run, schedule and triggers."""
    meta = store.metadata
    schedules = {s.pipeline: s for s in meta.list_schedules()}
    triggers: dict[str, list[str]] = {}
    for t in meta.list_triggers():
        triggers.setdefault(t.pipeline, []).append(t.dataset)
    rows = []
    for info in meta.list_pipelines():
        runs = meta.list_pipeline_runs(info.name, limit=1)
        rows.append(
            PipelineRow(
                info,
                runs[0] if runs else None,
                schedules.get(info.name),
                triggers.get(info.name, []),
            )
        )
    return rows


@dataclass(frozen=True)
class RunRow:
    """A run in a pipeline's history."""

    run: PipelineRunInfo
    duration: str
    cache_hits: int
    steps: int


@dataclass(frozen=True)
class PipelinePage:
    """One pipeline: its DAG, schedule, triggers and recent runs."""

    info: PipelineInfo
    dag: Dag
    runs: list[RunRow]
    schedule: Schedule | None
    triggers: list[DatasetTrigger]


def build_pipeline_page(store: Store, name: str) -> PipelinePage:
    """The page of pipeline ``name``. Raises ``NotFound``."""
    meta = store.metadata
    info = meta.get_pipeline(name)
    rows = []
    for run in meta.list_pipeline_runs(name, limit=50):
        steps = meta.list_step_runs(run.id)
        hits = sum(1 for s in steps if s.cache_hit)
        rows.append(RunRow(run, duration(run.started_at, run.ended_at), hits, len(steps)))
    schedule = next((s for s in meta.list_schedules() if s.pipeline == name), None)
    triggers = [t for t in meta.list_triggers() if t.pipeline == name]
    return PipelinePage(info, layout(list(info.spec.get("steps", []))), rows, schedule, triggers)


@dataclass(frozen=True)
class OutputLink:
    """An output of a step and where to see it."""

    name: str
    materializer: str
    digest: str
    href: str | None


@dataclass(frozen=True)
class StepView:
    """A step of a run, with its log and outputs."""

    record: StepRunInfo
    duration: str
    outputs: list[OutputLink]
    log: str
    log_truncated: bool


@dataclass(frozen=True)
class RunPage:
    """One pipeline run: DAG with statuses, steps, logs and links."""

    run: PipelineRunInfo
    tracked: Run | None
    duration: str
    dag: Dag
    steps: list[StepView] = field(default_factory=list)

    @property
    def cache_hits(self) -> int:
        return sum(1 for s in self.steps if s.record.cache_hit)


def _outputs(record: StepRunInfo) -> list[OutputLink]:
    links = []
    for out in record.outputs:
        href = None
        if record.run_id:
            path = quote(f"outputs/{out['name']}", safe="")
            href = f"/runs/{quote(record.run_id, safe='')}/artifacts/preview?path={path}"
        links.append(OutputLink(out["name"], out["materializer"], out["hash"], href))
    return links


def build_run_page(store: Store, run_id: str) -> RunPage:
    """The page of pipeline run ``run_id``. Raises ``NotFound``."""
    meta = store.metadata
    run = meta.get_pipeline_run(run_id)
    steps = meta.list_step_runs(run.id)
    try:
        info = meta.get_pipeline(run.pipeline)
        spec_steps = list(info.spec.get("steps", []))
    except NotFound:
        spec_steps = []
    known = {s["name"] for s in spec_steps}
    spec_steps += [
        {"name": s.step, "upstream": list(s.upstream)} for s in steps if s.step not in known
    ]
    records = {s.step: s for s in steps}
    views = []
    for record in steps:
        text, truncated = "", False
        if record.log_hash:
            data = store.blobs.get_bytes(record.log_hash)
            truncated = len(data) > LOG_LIMIT
            text = data[-LOG_LIMIT:].decode(errors="replace")
        views.append(
            StepView(
                record,
                duration(record.started_at, record.ended_at),
                _outputs(record),
                text,
                truncated,
            )
        )
    try:
        tracked: Run | None = meta.get_run(run.id)
    except NotFound:
        tracked = None
    return RunPage(
        run, tracked, duration(run.started_at, run.ended_at), layout(spec_steps, records), views
    )


@dataclass(frozen=True)
class ArtifactPage:
    """Where a step output (by content hash) came from and what read it."""

    digest: str
    producers: list[str]
    consumers: list[str]


def build_artifact_page(store: Store, digest: str) -> ArtifactPage:
    """Runs that wrote and read the artifact ``digest`` (from lineage)."""
    edges = store.metadata.list_lineage("pipeline_artifact", digest, direction="both")
    if not edges:
        raise NotFound(f"no pipeline artifact {digest}")
    producers = [e.source_id for e in edges if e.role == "output" and e.source_type == "run"]
    consumers = [e.target_id for e in edges if e.role == "input" and e.target_type == "run"]
    return ArtifactPage(digest, producers, consumers)


def _find(store: MetadataStore, text: str, limit: int) -> list[SearchHit]:
    needle = text.lower()
    hits = []
    for info in store.list_pipelines():
        if needle in info.name.lower() or needle in info.description.lower():
            hits.append(
                SearchHit(
                    info.name,
                    f"/pipelines/{quote(info.name, safe='')}",
                    info.description or info.entrypoint,
                )
            )
        if len(hits) >= limit:
            break
    return hits


register_search_provider(SearchProvider("pipelines", "Pipelines", _find))
