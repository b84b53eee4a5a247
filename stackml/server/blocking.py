"""A request's blocking work (store reads, rendering) run inline when the server is idle.

A page handler's work is synchronous (store queries and HTML rendering), and so is the token
lookup of the access rule. FastAPI would run a plain function on its thread pool, and that
hand-off (queue the call, wake a worker thread, wake the event loop with the result) costs a
few tenths of a millisecond on a small machine: a fifth of the runs table's whole answer.
When this request is the only one the server is answering, nobody is waiting on the event
loop, so the work runs right there; when others are in flight, it goes to the thread pool as
usual, so a slow page never holds up the rest. (A request that arrives during inline work
waits for it, at most one page's time.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

T = TypeVar("T")


async def run_blocking(request: Request, work: Callable[[], T]) -> T:
    """``work()``, inline if this is the only request in flight, else on the thread pool."""
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None and metrics.active <= 1:
        return work()
    return await run_in_threadpool(work)
