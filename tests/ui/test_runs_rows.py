"""The runs table's rows, written in Python: escaping, cells, tags, scores and page reads."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackml.store import Store, open_store
from stackml.store.entities import MetricPoint, RunStatus
from stackml.store.training_base import MetricDefinition
from stackml.ui.runs_rows import render_rows, truncate
from stackml.ui.runs_table import RunsQuery, build_runs_table
from tests.ui.conftest import XSS_IMG, XSS_SCRIPT


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(str(tmp_path / "rows"))
    yield opened
    opened.close()


def _rows(html: str) -> list[str]:
    return re.findall(r"<tr data-run-id=.*?</tr>", html, flags=re.S)


def test_user_text_is_shown_as_text_in_every_cell(store: Store) -> None:
    meta = store.metadata
    run = meta.create_run(
        "p",
        name=XSS_IMG,
        params={"opt": XSS_SCRIPT},
        tags={"note": XSS_IMG},
        user=XSS_SCRIPT,
    )
    table = build_runs_table(meta, RunsQuery(project="p", columns=("param:opt", "tag:note")))
    html = str(render_rows(table))
    assert "<img" not in html and "<script" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # name, tag chip and tag column
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html  # user and param
    assert f'href="/runs/{run.id}"' in html and f'value="{run.id}"' in html


def test_cells_badges_durations_tags_and_missing_values(store: Store) -> None:
    meta = store.metadata
    done = meta.create_run(
        "p",
        name="done",
        params={"lr": "0.001", "path": "x" * 60},
        tags={"stackml.source": "hidden", "b": "2", "a": "1", "c": "3", "d": "4", "e": "y" * 40},
        start_time=1_700_000_000_000,
    )
    meta.log_metrics(
        done.id, [MetricPoint("acc", 0.9375, 0, 1), MetricPoint("loss", math.nan, 0, 1)]
    )
    meta.update_run(done.id, status=RunStatus.COMPLETED, end_time=1_700_000_083_000)
    running = meta.create_run("p", name="running", start_time=1_700_000_100_000)
    columns = ("metric:acc", "metric:loss", "param:path", "param:missing")
    table = build_runs_table(meta, RunsQuery(project="p", columns=columns))
    rows = _rows(str(render_rows(table)))
    assert len(rows) == 2
    first, second = rows  # newest first
    assert f'data-run-id="{running.id}"' in first and "badge-running" in first
    assert "badge-completed" in second and "1m 23s" in second
    assert "2023-11-14 22:13:20" in second
    chips = re.findall(r'<span class="chip" title="([^"]*)">', second)
    assert chips == ["a=1", "b=2", "c=3"]  # sorted, system tags hidden, three at most
    cells = re.findall(r'<td class="num mono cell-val"(?: title="([^"]*)")?>(.*?)</td>', second)
    assert cells[0] == ("0.9375", "0.9375")
    assert cells[1] == ("nan", "nan")
    assert cells[2] == ("x" * 60, "x" * 37 + "...")
    assert cells[3][1] == '<span class="muted">—</span>'
    assert first.count('<span class="muted">—</span>') == 4  # no values yet
    assert "—" in re.findall(r'<td class="nowrap num">(.*?)</td>', first)[0]  # no duration


def test_score_cell_and_delta(store: Store) -> None:
    meta = store.metadata
    meta.set_metric_definition("p", MetricDefinition("weighted", {"weights": {"acc": 1.0}}))
    meta.set_baseline("p", "majority", kind="internal", metrics={"acc": 0.5})
    good = meta.create_run("p", name="good")
    meta.log_metrics(good.id, [MetricPoint("acc", 0.75, 0, 1)])
    meta.create_run("p", name="unscored", start_time=good.start_time + 1)
    table = build_runs_table(meta, RunsQuery(project="p"))
    unscored, scored = _rows(str(render_rows(table)))
    assert '<td class="num mono cell-score"><span class="muted">—</span></td>' in unscored
    assert "0.75" in scored and "+0.2500" in scored and "delta-good" in scored
    assert 'title="vs baseline majority (0.5)"' in scored


def test_empty_table_renders_no_rows(store: Store) -> None:
    table = build_runs_table(store.metadata, RunsQuery(project="nothing"))
    assert str(render_rows(table)) == ""


def test_truncate_matches_the_template_filter() -> None:
    assert truncate("a" * 29, 24) == "a" * 29  # within the leeway
    assert truncate("a" * 30, 24) == "a" * 21 + "..."


def test_page_reads_match_single_run_reads_and_see_new_writes(store: Store) -> None:
    meta = store.metadata
    ids = []
    for i in range(7):
        run = meta.create_run(
            "p", name=f"r{i}", params={"i": str(i)}, tags={"t": f"v{i}"}, start_time=1000 + i
        )
        meta.log_metrics(run.id, [MetricPoint("m", i / 10, s, 1) for s in range(3)])
        ids.append(run.id)
    for order in (["start_time DESC"], ["metrics.m ASC"], ["params.i DESC"]):
        page = meta.search_runs(project="p", order_by=order, limit=5)
        assert len(page.runs) == 5 and page.next_page_token is not None
        for run in page.runs:
            assert run == meta.get_run(run.id)
        rest = meta.search_runs(
            project="p", order_by=order, limit=5, page_token=page.next_page_token
        )
        assert {r.id for r in page.runs + rest.runs} == set(ids)
    # The same query again (its statement is cached) sees what was written since.
    meta.log_params(ids[0], {"extra": "yes"})
    meta.set_tags(ids[0], {"t": "changed"})
    again = meta.search_runs(project="p", order_by=["metrics.m ASC"], limit=1)
    assert again.runs[0].params["extra"] == "yes" and again.runs[0].tags["t"] == "changed"
    filtered = meta.search_runs(project="p", filter="metrics.m > 0.45 and tags.t = 'v6'")
    assert [r.name for r in filtered.runs] == ["r6"]
