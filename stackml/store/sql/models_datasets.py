"""SQLAlchemy rows of the datasets capability (registered on the shared ``Base.metadata``)."""

from __future__ import annotations
