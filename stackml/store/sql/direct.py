"""Hot read queries run straight on the driver's cursor, compiled once per statement.

SQLAlchemy Core spends more time per execution than SQLite spends answering a page of the
runs table (cache-key lookup, parameter processing, event dispatch, result and row objects).
The run search's two statements are fixed shapes executed on every page, so they are
compiled once per dialect and run on the DBAPI cursor of the same connection and
transaction. Statements that SQLAlchemy must render per execution (expanding ``IN`` lists,
literal-rendered or type-processed parameters) take the usual path, and a driver error is
raised as the ``sqlalchemy.exc.DBAPIError`` that path would raise, so retries and error
translation are unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable

__all__ = ["fetch_all"]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: Parameter names in placeholder order (``qmark``/``format`` drivers); ``None``: by name.
    positions: tuple[str, ...] | None
    #: The values bound inside the statement itself (filter literals).
    fixed: Mapping[str, Any]


@functools.lru_cache(maxsize=512)
def _compile(statement: Any, dialect: Dialect) -> _Compiled | None:
    compiled = statement.compile(dialect=dialect)
    if (
        compiled.post_compile_params
        or compiled.literal_execute_params
        or compiled._bind_processors
        or compiled.has_out_parameters
    ):
        return None
    positions = tuple(compiled.positiontup) if compiled.positional else None
    return _Compiled(compiled.string, positions, compiled.construct_params(_check=False))


def fetch_all(conn: Connection, statement: Executable, params: Mapping[str, Any]) -> Sequence[Any]:
    """Every row of ``statement`` with ``params``, as plain tuples, in ``conn``'s transaction."""
    compiled = _compile(statement, conn.dialect)
    if compiled is None:
        return conn.execute(statement, dict(params)).all()
    values = {**compiled.fixed, **params}
    args: Any = (
        [values[name] for name in compiled.positions] if compiled.positions is not None else values
    )
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(compiled.sql, args)
        return cursor.fetchall()  # type: ignore[no-any-return]
    except conn.dialect.loaded_dbapi.Error as error:
        raise exc.DBAPIError.instance(
            compiled.sql, args, error, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from error
    finally:
        cursor.close()
