"""Derived versions: a transform of a parent version's table, recorded with its lineage.

A transform is a small, serialisable description (``{"op": "filter", "where": ...}``), so the
new version records exactly how it was made, and lineage gets an edge
``dataset_version parent -> dataset_version child`` with role ``derived``.

Built in:

* ``filter``: keep rows matching a DuckDB SQL condition, e.g. ``"label != 3"``;
* ``relabel``: map values of a column, e.g. ``{"column": "label", "mapping": {"7": "1"}}``;
* ``merge_labels``: take a column's values from another table by key (labels from a
  labeling project), e.g. ``{"key": "path", "column": "label", "labels": table}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from stackml.data.schema import as_arrow
from stackml.errors import InvalidInput

OPS = ("filter", "relabel", "merge_labels")


def filter_rows(table: pa.Table, where: str) -> pa.Table:
    """Rows of ``table`` for which the SQL condition ``where`` holds (DuckDB)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("t", table)
        return con.sql(f"SELECT * FROM t WHERE {where}").to_arrow_table()
    except duckdb.Error as error:
        raise InvalidInput(f"bad filter {where!r}: {error}") from error
    finally:
        con.close()


def relabel(table: pa.Table, column: str, mapping: Mapping[Any, Any]) -> pa.Table:
    """Replace values of ``column`` per ``mapping`` (keys compared as strings)."""
    if column not in table.column_names:
        raise InvalidInput(f"column {column!r} is not in the table")
    original = table.column(column)
    lookup = {str(k): v for k, v in mapping.items()}
    values = [lookup.get(str(v), v) if v is not None else None for v in original.to_pylist()]
    try:
        new = pa.array(values, type=original.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        new = pa.array([None if v is None else str(v) for v in values], pa.string())
    return table.set_column(table.column_names.index(column), column, new)


def merge_labels(table: pa.Table, labels: Any, *, key: str, column: str) -> pa.Table:
    """Set ``column`` from ``labels`` where its ``key`` matches; other rows keep theirs."""
    labels = as_arrow(labels)
    for t, what in ((table, "table"), (labels, "labels")):
        if key not in t.column_names:
            raise InvalidInput(f"key column {key!r} is not in the {what}")
    if column not in labels.column_names:
        raise InvalidInput(f"column {column!r} is not in the labels")
    found = dict(
        zip(labels.column(key).to_pylist(), labels.column(column).to_pylist(), strict=True)
    )
    keys = table.column(key).to_pylist()
    if column in table.column_names:
        old = table.column(column).to_pylist()
        values = [found.get(k, o) for k, o in zip(keys, old, strict=True)]
        typ = table.column(column).type
        return table.set_column(table.column_names.index(column), column, pa.array(values, typ))
    return table.append_column(column, pa.array([found.get(k) for k in keys]))


def apply(table: pa.Table, op: str, **args: Any) -> tuple[pa.Table, dict[str, Any]]:
    """Apply one transform; return the new table and its JSON record."""
    if op == "filter":
        return filter_rows(table, str(args["where"])), {"op": op, "where": args["where"]}
    if op == "relabel":
        mapping = {str(k): v for k, v in dict(args["mapping"]).items()}
        return relabel(table, args["column"], mapping), {
            "op": op,
            "column": args["column"],
            "mapping": mapping,
        }
    if op == "merge_labels":
        labels = as_arrow(args["labels"])
        merged = merge_labels(table, labels, key=args["key"], column=args["column"])
        record = {
            "op": op,
            "key": args["key"],
            "column": args["column"],
            "labeled_rows": labels.num_rows,
            "source": args.get("source", ""),
        }
        return merged, record
    raise InvalidInput(f"unknown transform {op!r}; use one of {', '.join(OPS)}")


def drop_split(table: pa.Table) -> pa.Table:
    """The table without its ``split`` column (a derived version keeps its parent's splits)."""
    return table.drop_columns(["split"]) if "split" in table.column_names else table
