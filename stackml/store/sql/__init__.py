"""The SQL metadata store: SQLite (embedded default) or PostgreSQL through SQLAlchemy.

Modules by responsibility: :mod:`.engine` (connections, retries, error translation),
:mod:`.migrate` (Alembic under a lock), :mod:`.models` (rows), and one module per kind of
data (:mod:`.projects`, :mod:`.runs`, :mod:`.metrics`, :mod:`.artifacts`, :mod:`.auth`,
:mod:`.search`) behind :class:`~stackml.store.sql.store.SqlMetadataStore`.
"""

from __future__ import annotations

from stackml.store.sql.store import SqlMetadataStore

__all__ = ["SqlMetadataStore"]
