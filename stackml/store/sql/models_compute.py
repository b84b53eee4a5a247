"""SQLAlchemy rows of the compute capability (registered on the shared ``Base.metadata``)."""

from __future__ import annotations
