"""``/health``: liveness and a database check, open to everyone."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from stackml._version import __version__
from stackml.errors import NotFound
from stackml.server.auth import public
from stackml.server.deps import get_metadata
from stackml.server.schemas import Health
from stackml.store.base import MetadataStore

logger = logging.getLogger("stackml.server")

router = APIRouter(tags=["health"], dependencies=[Depends(public)])

# Looking up a user that does not exist is a cheap round trip that proves the database answers.
_PROBE_USER = "stackml-health-probe"


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "The metadata store does not answer"}},
)
def health(store: MetadataStore = Depends(get_metadata)) -> Health | JSONResponse:
    """``ok`` with the version when the metadata store answers, else 503."""
    try:
        store.get_user(_PROBE_USER)
    except NotFound:
        pass
    except Exception as exc:
        logger.warning("health check: metadata store does not answer: %s", exc)
        body = Health(status="unavailable", version=__version__, checks={"metadata": "error"})
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ok", version=__version__, checks={"metadata": "ok"})
