"""Reading tables (CSV, Parquet, pandas, Arrow) into Arrow, with errors that name file and line."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from stackml.data.schema import as_arrow
from stackml.errors import InvalidInput

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def is_table_file(path: Path) -> bool:
    """Whether ``path`` names a file stackml reads as a table."""
    return path.suffix.lower() in TABLE_SUFFIXES


def _bad_csv_line(path: Path) -> tuple[int, str]:
    """The first line whose field count differs from the header's, and why."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            return 1, "the file is empty"
        except csv.Error as error:
            return reader.line_num, str(error)
        try:
            for row in reader:
                if row and len(row) != len(header):
                    return (
                        reader.line_num,
                        f"expected {len(header)} fields, found {len(row)}",
                    )
        except csv.Error as error:
            return reader.line_num, str(error)
    return 0, ""


def read_csv(path: Path) -> pa.Table:
    """Read a CSV file. Raises ``InvalidInput`` naming the file and line of a malformed row."""
    try:
        return pacsv.read_csv(path)
    except PermissionError as error:
        raise InvalidInput(f"{path}: cannot read the file ({error.strerror})") from error
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        line, why = _bad_csv_line(path)
        where = f"{path}, line {line}" if line else str(path)
        raise InvalidInput(f"{where}: malformed CSV: {why or error}") from error


def read_table(source: Any) -> pa.Table:
    """An Arrow table from a CSV/Parquet path, a pandas DataFrame or an Arrow table."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InvalidInput(f"{path}: no such table file")
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return read_csv(path)
        if suffix in {".parquet", ".pq"}:
            try:
                return pq.read_table(path)
            except PermissionError as error:
                raise InvalidInput(f"{path}: cannot read the file ({error.strerror})") from error
            except (pa.ArrowInvalid, OSError) as error:
                raise InvalidInput(f"{path}: not a readable Parquet file: {error}") from error
        raise InvalidInput(f"{path}: tables must be .csv or .parquet files")
    try:
        return as_arrow(source)
    except TypeError as error:
        raise InvalidInput(str(error)) from error


def to_parquet_bytes(table: pa.Table) -> bytes:
    """Deterministic Parquet bytes of a table (same table, same bytes, same blob)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", write_statistics=True)
    return sink.getvalue()


def from_parquet_bytes(data: bytes) -> pa.Table:
    """The table stored in Parquet bytes."""
    return pq.read_table(io.BytesIO(data))
