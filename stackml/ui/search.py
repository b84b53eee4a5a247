"""The global search box: one provider per kind of thing (runs, datasets, jobs, ...).

A provider turns the searched text into a few hits that link to their pages. The search page
shows one section per provider, in registration order. A capability whose pages land later
(the model registry, for one) adds its own with :func:`register_search_provider`::

    register_search_provider(SearchProvider("models", "Models", find_models))

Providers get the already-trimmed text (at most :data:`MAX_QUERY` characters) and a limit; a
provider that raises a store error shows as an empty section, never as a failed page.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from stackml.errors import InvalidInput, NotFound, StackmlError
from stackml.store.base import MetadataStore

__all__ = [
    "MAX_QUERY",
    "SearchHit",
    "SearchProvider",
    "SearchSection",
    "register_search_provider",
    "search",
    "search_providers",
]

MAX_QUERY = 200
#: Most hits one section shows.
SECTION_LIMIT = 25
#: How many of the newest jobs a name search looks through.
JOB_SCAN = 1000


@dataclass(frozen=True)
class SearchHit:
    """One result: what it is called, a line of detail and the page it links to."""

    label: str
    href: str
    detail: str = ""
    status: str | None = None


@dataclass(frozen=True)
class SearchProvider:
    """Finds one kind of thing: ``find(store, text, limit)`` returns at most ``limit`` hits."""

    key: str
    title: str
    find: Callable[[MetadataStore, str, int], list[SearchHit]]


@dataclass
class SearchSection:
    """The hits of one provider on the search page."""

    key: str
    title: str
    hits: list[SearchHit] = field(default_factory=list)


def _quote(text: str) -> str:
    return quote(text, safe="")


def find_runs(store: MetadataStore, text: str, limit: int) -> list[SearchHit]:
    """Runs whose id is the text or whose name contains it (case-insensitive)."""
    found = []
    with contextlib.suppress(NotFound, InvalidInput):
        found.append(store.get_run(text))
    # Quotes and escapes cannot be spelled inside a filter string: drop them from the text.
    safe = "".join(ch for ch in text if ch not in "'\"\\`%_")
    if safe:
        page = store.search_runs(filter=f"name ILIKE '%{safe}%'", limit=limit)
        found += [r for r in page.runs if all(r.id != f.id for f in found)]
    return [
        SearchHit(
            label=run.name,
            href=f"/runs/{_quote(run.id)}",
            detail=f"{run.project} · {run.id[:8]}",
            status=run.status.value,
        )
        for run in found[:limit]
    ]


def find_datasets(store: MetadataStore, text: str, limit: int) -> list[SearchHit]:
    """Datasets whose name contains the text (case-insensitive)."""
    needle = text.casefold()
    hits = []
    for dataset in store.list_datasets():
        if needle in dataset.name.casefold():
            versions = f"{dataset.version_count} version" + (
                "" if dataset.version_count == 1 else "s"
            )
            hits.append(SearchHit(dataset.name, f"/datasets/{_quote(dataset.name)}", versions))
            if len(hits) >= limit:
                break
    return hits


def find_jobs(store: MetadataStore, text: str, limit: int) -> list[SearchHit]:
    """The job whose id is the text, then the newest jobs whose name contains it."""
    found = []
    with contextlib.suppress(NotFound, InvalidInput):
        found.append(store.get_job(text))
    needle = text.casefold()
    for job in store.list_jobs(limit=JOB_SCAN):
        if len(found) >= limit:
            break
        if needle in job.name.casefold() and all(job.id != f.id for f in found):
            found.append(job)
    return [
        SearchHit(
            label=job.name,
            href=f"/jobs/{_quote(job.id)}",
            detail=f"{job.project} · {job.id[:8]} · {job.user}",
            status=job.state.value,
        )
        for job in found[:limit]
    ]


_PROVIDERS: list[SearchProvider] = [
    SearchProvider("runs", "Runs", find_runs),
    SearchProvider("datasets", "Datasets", find_datasets),
    SearchProvider("jobs", "Jobs", find_jobs),
]


def search_providers() -> list[SearchProvider]:
    """The registered providers, in the order their sections show."""
    return list(_PROVIDERS)


def register_search_provider(provider: SearchProvider, *, after: str | None = None) -> None:
    """Add a provider (idempotent by ``key``), optionally after the provider ``after``."""
    if any(p.key == provider.key for p in _PROVIDERS):
        return
    index = next((i + 1 for i, p in enumerate(_PROVIDERS) if p.key == after), len(_PROVIDERS))
    _PROVIDERS.insert(index, provider)


def search(store: MetadataStore, query: str, *, limit: int = SECTION_LIMIT) -> list[SearchSection]:
    """Every provider's hits for ``query`` (trimmed; empty text finds nothing)."""
    text = query.strip()[:MAX_QUERY]
    sections = []
    for provider in _PROVIDERS:
        section = SearchSection(provider.key, provider.title)
        if text:
            # One broken kind must not hide the others' results.
            with contextlib.suppress(StackmlError):
                section.hits = provider.find(store, text, limit)[:limit]
        sections.append(section)
    return sections
