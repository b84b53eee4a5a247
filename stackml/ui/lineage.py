"""The lineage panel every entity page shows: where an entity came from and what used it.

It reads the generic lineage table (``list_lineage``), so it works for any entity type.
Pages of other capabilities make their entities clickable with :func:`register_entity_link`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from stackml.store.base import MetadataStore

_LINKS: dict[str, Callable[[str], str]] = {
    "run": lambda run_id: f"/runs/{quote(run_id, safe='')}",
}
_LABELS: dict[str, str] = {
    "run": "Run",
    "dataset_version": "Dataset version",
    "dataset": "Dataset",
    "model_version": "Model version",
    "model": "Model",
    "artifact": "Artifact",
}


def register_entity_link(entity_type: str, link: Callable[[str], str], label: str) -> None:
    """Make entities of ``entity_type`` link to their page in lineage panels."""
    _LINKS[entity_type] = link
    _LABELS[entity_type] = label


@dataclass(frozen=True)
class LineageLink:
    """One neighbour in the lineage graph and the role the edge records."""

    entity_type: str
    entity_id: str
    role: str
    created_at: int

    @property
    def label(self) -> str:
        return _LABELS.get(self.entity_type, self.entity_type.replace("_", " ").capitalize())

    @property
    def href(self) -> str | None:
        link = _LINKS.get(self.entity_type)
        return link(self.entity_id) if link else None


@dataclass
class LineagePanel:
    """Upstream (what the entity came from) and downstream (what used it) neighbours."""

    entity_type: str
    entity_id: str
    upstream: list[LineageLink] = field(default_factory=list)
    downstream: list[LineageLink] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.upstream and not self.downstream


def build_lineage_panel(store: MetadataStore, entity_type: str, entity_id: str) -> LineagePanel:
    """The lineage panel of one entity, from the edges touching it."""
    panel = LineagePanel(entity_type, entity_id)
    for edge in store.list_lineage(entity_type, entity_id, direction="both"):
        if edge.target_type == entity_type and edge.target_id == entity_id:
            panel.upstream.append(
                LineageLink(edge.source_type, edge.source_id, edge.role, edge.created_at)
            )
        else:
            panel.downstream.append(
                LineageLink(edge.target_type, edge.target_id, edge.role, edge.created_at)
            )
    return panel
