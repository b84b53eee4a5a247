"""SQLAlchemy rows of the training capability (registered on the shared ``Base.metadata``)."""

from __future__ import annotations
