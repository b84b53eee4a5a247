"""View models of the model registry pages: the models list, a model, and a version page.

The version page shows a lineage graph (dataset versions → run → this version → versions
derived from it), the signature, the metrics snapshot, the aliases with their full history
(who moved them, when, why, and the gates' answers), the compression variants table (versions
with a ``compressed_from`` edge to this one, with size and metric deltas) and download links
for every file (served from the run's artifacts).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from stackml.errors import InvalidInput, NotFound, StackmlError
from stackml.ui.lineage import register_entity_link
from stackml.ui.rendering import Area, register_area
from stackml.ui.search import SearchHit, SearchProvider, register_search_provider

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.base import MetadataStore
    from stackml.store.registry_base import ModelAliasEvent, ModelVersion, RegisteredModel

__all__ = ["ModelPage", "VersionPage", "build_model_page", "build_version_page", "version_href"]

ENTITY = "model_version"
#: Metric names containing one of these improve when they go down.
_LOWER_IS_BETTER = ("loss", "latency", "error", "time", "size", "mse", "mae")
#: Lineage roles that make a version a compression variant of another.
VARIANT_ROLES = ("compressed_from",)


#: A lineage node: label, caption, kind and link (``None``: this page).
_Node = tuple[str, str, str, str | None]


def version_href(ref: str) -> str:
    """The page of a ``name@N`` version (``/models`` when the ref is malformed)."""
    name, _, number = ref.partition("@")
    if not number.isdigit():
        return f"/models/{quote(name, safe='')}"
    return f"/models/{quote(name, safe='')}/versions/{number}"


register_area(Area("models", "Models", "/models"), after="datasets")
register_entity_link(ENTITY, version_href, "Model version")
register_entity_link("model", lambda name: f"/models/{quote(name, safe='')}", "Model")


def find_models(store: MetadataStore, text: str, limit: int) -> list[SearchHit]:
    """Registered models whose name or description contains the text (case-insensitive)."""
    needle = text.casefold()
    hits = []
    for model in store.list_registered_models():
        if needle in model.name.casefold() or needle in model.description.casefold():
            aliases = " ".join(f"{a}→v{v}" for a, v in model.aliases.items())
            detail = f"{model.version_count} version{'s' if model.version_count != 1 else ''}"
            hits.append(
                SearchHit(
                    model.name,
                    f"/models/{quote(model.name, safe='')}",
                    f"{detail}{' · ' + aliases if aliases else ''}",
                )
            )
            if len(hits) >= limit:
                break
    return hits


register_search_provider(SearchProvider("models", "Models", find_models), after="datasets")


@dataclass(frozen=True)
class GraphNode:
    """One box of the lineage graph."""

    label: str
    sub: str
    kind: str
    href: str | None
    x: float
    y: float
    current: bool = False


@dataclass(frozen=True)
class GraphEdge:
    """A curve between two boxes, with the role the edge records."""

    path: str
    role: str
    lx: float
    ly: float


@dataclass
class LineageGraph:
    """Boxes laid out in columns (inputs → run → version → derived) and the edges between."""

    width: int
    height: int
    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[GraphEdge] = field(default_factory=list)


@dataclass(frozen=True)
class Variant:
    """A version derived from this one, with what it saved and what it cost."""

    ref: str
    href: str
    format: str
    size: int
    size_ratio: float | None
    technique: str
    #: ``(metric, value, delta vs this version, whether the delta is an improvement)``.
    metrics: list[tuple[str, float, float, bool]]


@dataclass(frozen=True)
class Download:
    """One file of the version and where to fetch it."""

    name: str
    size: int
    href: str


@dataclass(frozen=True)
class VersionPage:
    """Everything the version page shows."""

    version: ModelVersion
    model: RegisteredModel
    versions: list[ModelVersion]
    history: list[ModelAliasEvent]
    graph: LineageGraph
    variants: list[Variant]
    downloads: list[Download]
    signature: dict[str, Any]
    features: list[dict[str, Any]]
    run_name: str | None


@dataclass(frozen=True)
class ModelPage:
    """A registered model: its versions, aliases and the audit trail."""

    model: RegisteredModel
    versions: list[ModelVersion]
    history: list[ModelAliasEvent]


def list_models(store: Store) -> list[RegisteredModel]:
    """Every registered model, by name."""
    return store.metadata.list_registered_models()


def build_model_page(store: Store, name: str) -> ModelPage:
    """The model page: versions newest first and every alias move, newest first."""
    meta = store.metadata
    return ModelPage(
        meta.get_registered_model(name),
        meta.list_model_versions(name),
        list(reversed(meta.model_alias_history(name))),
    )


_NODE_W, _NODE_H, _COL_W, _ROW_H, _PAD = 176, 46, 300, 62, 16


def _column(items: list[tuple[str, str, str, str | None]], col: int, rows: int) -> list[GraphNode]:
    top = _PAD + (rows - len(items)) * _ROW_H / 2
    return [
        GraphNode(label, sub, kind, href, _PAD + col * _COL_W, top + i * _ROW_H)
        for i, (label, sub, kind, href) in enumerate(items)
    ]


def _curve(a: GraphNode, b: GraphNode, role: str) -> GraphEdge:
    x1, y1 = a.x + _NODE_W, a.y + _NODE_H / 2
    x2, y2 = b.x, b.y + _NODE_H / 2
    mid = (x1 + x2) / 2
    path = f"M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
    return GraphEdge(path, role.replace("_", " "), mid, (y1 + y2) / 2 - 4)


def _short(text: str, size: int = 24) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def build_graph(
    store: Store, version: ModelVersion, run_name: str | None, derived: list[tuple[str, str]]
) -> LineageGraph:
    """Datasets (and a source version) → run → this version → derived versions."""
    inputs: list[_Node] = [
        (_short(d.split("@")[0]), "dataset " + d.split("@")[-1][:8], "dataset", _dataset_href(d))
        for d in version.dataset_versions
    ]
    if version.source_version:
        inputs.append(
            (
                version.source_version,
                "source version",
                "model",
                version_href(version.source_version),
            )
        )
    run: list[_Node] = [
        (
            _short(run_name or version.run_id[:8]),
            "run " + version.run_id[:8],
            "run",
            f"/runs/{quote(version.run_id, safe='')}",
        )
    ]
    me: list[_Node] = [(version.ref, f"{version.format}", "model", None)]
    outs: list[_Node] = [
        (ref, role.replace("_", " "), "model", version_href(ref)) for ref, role in derived
    ]
    columns = [c for c in (inputs, run, me, outs) if c]
    rows = max(len(c) for c in columns)
    graph = LineageGraph(
        width=int(2 * _PAD + (len(columns) - 1) * _COL_W + _NODE_W),
        height=int(2 * _PAD + (rows - 1) * _ROW_H + _NODE_H),
    )
    placed = [_column(c, i, rows) for i, c in enumerate(columns)]
    placed_me = placed[columns.index(me)]
    placed_me[0] = GraphNode(**{**placed_me[0].__dict__, "current": True})
    for col in placed:
        graph.nodes += col
    run_col = placed[columns.index(run)]
    if inputs:
        for node in placed[0]:
            role = "input" if node.kind == "dataset" else "source"
            target = run_col[0] if node.kind == "dataset" else placed_me[0]
            graph.edges.append(_curve(node, target, role))
    graph.edges.append(_curve(run_col[0], placed_me[0], "produced"))
    if outs:
        for node, (_, role) in zip(placed[-1], derived, strict=True):
            graph.edges.append(_curve(placed_me[0], node, role))
    return graph


def _dataset_href(ref: str) -> str:
    name, _, vid = ref.partition("@")
    return f"/datasets/{quote(name, safe='')}/versions/{quote(vid or 'latest', safe='')}"


def _variant(store: Store, version: ModelVersion, ref: str, role: str) -> Variant | None:
    name, _, number = ref.partition("@")
    try:
        other = store.metadata.get_model_version(name, int(number))
    except (StackmlError, ValueError):
        return None
    keys = sorted(set(version.metrics) & set(other.metrics))[:4]
    metrics = []
    for key in keys:
        delta = other.metrics[key] - version.metrics[key]
        lower_better = any(word in key.lower() for word in _LOWER_IS_BETTER)
        metrics.append((key, other.metrics[key], delta, delta <= 0 if lower_better else delta >= 0))
    ratio = other.size_bytes / version.size_bytes if version.size_bytes else None
    # The technique is the ``compression`` or ``method`` tag, or in the format metadata.
    recorded = other.meta.get("compression")
    technique = (
        other.tags.get("compression")
        or other.tags.get("method")
        or (str(recorded.get("technique", "")) if isinstance(recorded, dict) else "")
    )
    return Variant(
        ref, version_href(ref), other.format, other.size_bytes, ratio, technique or role, metrics
    )


def build_version_page(store: Store, name: str, number: str) -> VersionPage:
    """The version page of ``name`` version ``number`` (digits, or an alias)."""
    meta = store.metadata
    if number.isdigit():
        version = meta.get_model_version(name, int(number))
    else:
        version = meta.get_model_version(name, meta.get_model_alias(name, number))
    run_name = None
    with contextlib.suppress(NotFound, InvalidInput):
        run_name = meta.get_run(version.run_id).name
    edges = meta.list_lineage(ENTITY, version.ref, direction="downstream")
    derived = [(e.target_id, e.role) for e in edges if e.target_type == ENTITY]
    variants = [
        v
        for ref, role in derived
        if role in VARIANT_ROLES
        for v in [_variant(store, version, ref, role)]
        if v is not None
    ]
    root = version.artifact_path
    downloads = [
        Download(
            f.path[len(root) + 1 :] if f.path != root else f.path.rsplit("/", 1)[-1],
            f.size,
            f"/runs/{quote(version.run_id, safe='')}/artifacts/raw?path={quote(f.path, safe='')}",
        )
        for f in version.files
    ]
    schema = version.signature.get("input_schema") or {}
    features = [
        {"name": c.get("name"), "type": c.get("type"), "stats": c.get("stats") or {}}
        for c in schema.get("columns", [])
    ]
    return VersionPage(
        version=version,
        model=meta.get_registered_model(name),
        versions=meta.list_model_versions(name),
        history=list(reversed(meta.model_alias_history(name))),
        graph=build_graph(store, version, run_name, derived),
        variants=variants,
        downloads=downloads,
        signature=version.signature,
        features=features,
        run_name=run_name,
    )
