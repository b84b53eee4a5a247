"""The runs table: what the query string asks for, and the page of rows it shows.

Only one page of runs is ever read (``search_runs`` with a limit and a page token), so a
project of 10,000 runs costs the same as one of 50. Sorting and filtering run in the database
through the ``search_runs`` filter language; the column chooser offers the params and metrics
of the runs on screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode

from stackml.errors import InvalidInput
from stackml.store.base import MetadataStore
from stackml.store.entities import Run
from stackml.ui.run_scores import RunScore, score_runs

ColumnKind = Literal["attribute", "param", "metric", "tag"]

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
#: How many param and metric columns are shown before the user chooses.
DEFAULT_DYNAMIC_COLUMNS = 3
_PREFIX = {"param": "params", "metric": "metrics", "tag": "tags"}


@dataclass(frozen=True)
class Column:
    """A column of the table: an attribute, a param, a metric or a tag."""

    kind: ColumnKind
    key: str
    label: str

    @property
    def id(self) -> str:
        """The column's id in the query string, e.g. ``metric:acc``."""
        return f"{self.kind}:{self.key}"

    @property
    def order_key(self) -> str:
        """The ``search_runs`` order key sorting on this column."""
        if self.kind == "attribute":
            return self.key
        return f"{_PREFIX[self.kind]}.`{self.key}`"

    def cell(self, run: Run) -> str | float | None:
        """This column's value for ``run`` (``None`` when unset)."""
        if self.kind == "param":
            return run.params.get(self.key)
        if self.kind == "metric":
            return run.metric(self.key)
        if self.kind == "tag":
            return run.tags.get(self.key)
        return None


#: Fixed attribute columns, always shown, in order.
ATTRIBUTE_COLUMNS = (
    Column("attribute", "name", "Run"),
    Column("attribute", "status", "Status"),
    Column("attribute", "start_time", "Started"),
    Column("attribute", "end_time", "Duration"),
    Column("attribute", "user", "User"),
)


def parse_column(text: str) -> Column | None:
    """A column from its id (``param:lr``); ``None`` for anything else."""
    kind, sep, key = text.partition(":")
    if not sep or not key or kind not in _PREFIX or len(key) > 250:
        return None
    return Column(kind, key, key)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RunsQuery:
    """What the runs table shows, as given by the query string."""

    project: str | None = None
    filter: str = ""
    sort: str = "start_time"
    descending: bool = True
    columns: tuple[str, ...] | None = None  # None: choose automatically
    page_token: str | None = None
    limit: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_params(cls, params: Mapping[str, str], columns: list[str]) -> RunsQuery:
        """Read the query string; malformed sizes fall back to defaults."""
        try:
            limit = int(params.get("limit", DEFAULT_PAGE_SIZE))
        except ValueError:
            limit = DEFAULT_PAGE_SIZE
        chosen = tuple(c for c in columns if c) if params.get("chosen") == "1" else None
        return cls(
            project=params.get("project") or None,
            filter=(params.get("filter") or "").strip(),
            sort=params.get("sort") or "start_time",
            descending=params.get("dir", "desc") != "asc",
            columns=chosen,
            page_token=params.get("page_token") or None,
            limit=limit if limit in PAGE_SIZES else DEFAULT_PAGE_SIZE,
        )

    def url(self, **changes: object) -> str:
        """The ``/runs`` URL of this query with some fields changed."""
        values: dict[str, object] = {
            "project": self.project,
            "filter": self.filter,
            "sort": self.sort,
            "dir": "desc" if self.descending else "asc",
            "limit": self.limit,
            "page_token": self.page_token,
        }
        values.update(changes)
        pairs = [(k, str(v)) for k, v in values.items() if v not in (None, "")]
        if self.columns is not None:
            pairs.append(("chosen", "1"))
            pairs += [("col", c) for c in self.columns]
        return "/runs?" + urlencode(pairs)


@dataclass
class RunsTable:
    """One rendered page of the runs table."""

    query: RunsQuery
    runs: list[Run] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    available: list[Column] = field(default_factory=list)
    next_page_token: str | None = None
    error: str | None = None
    #: Score and baseline delta by run id, for runs whose project has a metric definition.
    scores: dict[str, RunScore] = field(default_factory=dict)

    def sort_url(self, column: Column) -> str:
        """URL sorting on ``column``: toggles direction if it is already the sort column."""
        same = self.query.sort == column.order_key
        descending = not self.query.descending if same else column.kind == "metric"
        return self.query.url(
            sort=column.order_key, dir="desc" if descending else "asc", page_token=None
        )

    def sort_state(self, column: Column) -> str:
        """``"asc"``, ``"desc"`` or ``""`` for a column's header."""
        if self.query.sort != column.order_key:
            return ""
        return "desc" if self.query.descending else "asc"


def build_runs_table(store: MetadataStore, query: RunsQuery) -> RunsTable:
    """Read one page of runs for ``query``; a bad filter becomes :attr:`RunsTable.error`."""
    table = RunsTable(query=query)
    order = f"{query.sort} {'DESC' if query.descending else 'ASC'}"
    try:
        page = store.search_runs(
            project=query.project,
            filter=query.filter or None,
            order_by=[order],
            limit=query.limit,
            page_token=query.page_token,
        )
    except InvalidInput as exc:
        table.error = str(exc)
        return table
    table.runs = page.runs
    table.next_page_token = page.next_page_token
    table.scores = score_runs(store, page.runs)
    params = sorted({k for run in page.runs for k in run.params})
    metrics = sorted({k for run in page.runs for k in run.metrics})
    table.available = [Column("metric", k, k) for k in metrics] + [
        Column("param", k, k) for k in params
    ]
    if query.columns is None:
        table.columns = [Column("metric", k, k) for k in metrics[:DEFAULT_DYNAMIC_COLUMNS]] + [
            Column("param", k, k) for k in params[:DEFAULT_DYNAMIC_COLUMNS]
        ]
    else:
        table.columns = [c for c in map(parse_column, query.columns) if c is not None]
        known = {c.id for c in table.available}
        table.available += [c for c in table.columns if c.id not in known]
    return table
