"""The runs table's body rows as HTML, written in Python.

The rows are the part of the runs page that grows with its size (50 to 200 rows of ten or more
cells). Written with f-strings they cost a few microseconds a row, several times less than the
same markup through the template engine, whose per-value attribute lookups, filters and macro
calls dominated the page's render time. Everything a user typed (names, users, tags, params)
is escaped exactly as :func:`markupsafe.escape` escapes it; the rest is markup fixed here,
percent-encoded URLs or numbers formatted here. The rest of the page (toolbar, headers, pager)
stays in ``_runs_table.html``.
"""

from __future__ import annotations

import functools
from urllib.parse import quote

from markupsafe import Markup, escape

from stackml.store.entities import Run, RunStatus
from stackml.ui.rendering import _datetime, _duration, _number
from stackml.ui.run_scores import RunScore
from stackml.ui.runs_table import RunsTable

__all__ = ["render_rows"]

#: Tags shown per row (``stackml.*`` system tags are never shown).
MAX_TAGS = 3
_MUTED_DASH = '<span class="muted">—</span>'
_BADGES = {
    status: (
        f'<span class="badge badge-{status.value}"><span class="dot" aria-hidden="true"></span>'
        f"{status.value}</span>"
    )
    for status in RunStatus
}


def _esc(text: str) -> str:
    """:func:`markupsafe.escape` as plain text (the same entities): clean text, the common
    case, is returned as is without building a ``Markup`` object."""
    if "&" in text or "<" in text or ">" in text or '"' in text or "'" in text:
        return str(escape(text))
    return text


def truncate(text: str, length: int, leeway: int = 5) -> str:
    """Jinja's ``truncate(length, true)``: ``text`` if within ``length + leeway`` characters,
    else its first ``length - 3`` characters and ``...``."""
    if len(text) <= length + leeway:
        return text
    return text[: length - 3] + "..."


@functools.lru_cache(maxsize=4096)
def _started(ms: int | None) -> str:
    return _datetime(ms)


def _tags_cell(tags: dict[str, str]) -> str:
    shown = [(k, v) for k, v in sorted(tags.items()) if not k.startswith("stackml.")][:MAX_TAGS]
    return "".join(
        f'<span class="chip" title="{_esc(k)}={_esc(v)}">{_esc(k)}={_esc(truncate(v, 24))}</span>'
        for k, v in shown
    )


def _score_cell(score: RunScore | None) -> str:
    if score is None or score.score is None:
        return f'<td class="num mono cell-score">{_MUTED_DASH}</td>'
    delta = ""
    if score.delta is not None:
        tone = " delta-good" if score.better else " delta-bad" if score.better is False else ""
        title = f"vs baseline {_esc(str(score.baseline))} ({_number(score.baseline_score)})"
        delta = f'<div class="small delta{tone}" title="{title}">{score.delta:+.4f}</div>'
    return f'<td class="num mono cell-score">{_number(score.score)}{delta}</td>'


def _value_cell(value: str | float | None, metric: bool) -> str:
    if value is None:
        return f'<td class="num mono cell-val">{_MUTED_DASH}</td>'
    if metric and not isinstance(value, str):
        return f'<td class="num mono cell-val" title="{value}">{_number(value)}</td>'
    text = str(value)
    return f'<td class="num mono cell-val" title="{_esc(text)}">{_esc(truncate(text, 40))}</td>'


def _href_id(run_id: str) -> str:
    """``run_id`` percent-encoded for a URL path (ids are plain hex; anything else is quoted)."""
    return run_id if run_id.isascii() and run_id.isalnum() else quote(run_id, safe="/")


def _row(run: Run, table: RunsTable, scored: bool) -> str:
    run_id = _esc(run.id)
    name = _esc(run.name)
    cells = [
        f'<tr data-run-id="{run_id}">'
        f'<td class="select-col"><input type="checkbox" class="run-select" name="runs" '
        f'value="{run_id}" form="compare-form" aria-label="Select {name}"></td>'
        f'<td class="run-name"><a href="/runs/{_href_id(run.id)}" '
        f'hx-boost="false">{name}</a><div class="muted small mono">{_esc(run.project)} · '
        f"{_esc(run.id[:8])}</div></td>"
        f"<td>{_BADGES[run.status]}</td>"
        f'<td class="nowrap muted">{_started(run.start_time)}</td>'
        f'<td class="nowrap num">{_duration(run.duration_ms)}</td>'
        f'<td class="nowrap">{_esc(run.user)}</td>'
        f'<td class="tags">{_tags_cell(run.tags)}</td>'
    ]
    if scored:
        cells.append(_score_cell(table.scores.get(run.id)))
    for column in table.columns:
        cells.append(_value_cell(column.cell(run), column.kind == "metric"))
    cells.append("</tr>\n")
    return "".join(cells)


def render_rows(table: RunsTable) -> Markup:
    """The ``<tr>`` rows of the table's runs (empty markup when it has none)."""
    scored = bool(table.scores)
    return Markup("".join(_row(run, table, scored) for run in table.runs))
