"""``stackml server``: the REST API over a store, with health and Prometheus metrics.

:func:`create_app` builds the ASGI application; :func:`serve` runs it with uvicorn.
"""

from __future__ import annotations

from stackml.server.app import create_app
from stackml.server.runner import serve

__all__ = ["create_app", "serve"]
