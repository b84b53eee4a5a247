"""``launch(fn, nprocs=N, backend="gloo")``: PyTorch DDP workers on this machine.

It follows torchrun's semantics: every process gets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR=127.0.0.1`` and a free ``MASTER_PORT``, the process group is initialised before
``fn`` runs and destroyed after it. Processes are started with ``torch.multiprocessing``'s
``spawn``; if one rank fails, the others are terminated and :class:`LaunchError` says which
rank failed and why, so nothing is left waiting in a collective.

With ``project`` set, one run is recorded for the whole launch: rank 0's calls to
:func:`log_metrics` go to it (other ranks' calls are no-ops), and every rank's stdout and
stderr are kept as the run's artifacts ``logs/rank<N>.log``.

Use ``backend="nccl"`` on GPU machines (one GPU per rank: ``LOCAL_RANK`` selects the device,
so call ``torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))`` first in ``fn``); ``gloo``
works on CPUs.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackml.compute.process import free_port
from stackml.errors import InvalidInput, StackmlError

__all__ = ["LaunchError", "LaunchResult", "launch", "log_metrics"]

#: Set in every rank when the launch records a run.
RUN_ENV = "STACKML_LAUNCH_RUN_ID"
BACKENDS = ("gloo", "nccl")


class LaunchError(StackmlError):
    """A rank of a distributed launch failed; the other ranks were terminated."""


@dataclass(frozen=True)
class LaunchResult:
    """What a launch produced: each rank's JSON return value, its log, and the run."""

    results: list[Any]
    logs: list[str] = field(default_factory=list)
    run_id: str | None = None


def _rank_main(
    local_rank: int,
    fn: Callable[..., Any],
    args: Sequence[Any],
    world_size: int,
    port: int,
    backend: str,
    folder: str,
    run_env: Mapping[str, str],
) -> None:
    log_path = Path(folder) / f"rank{local_rank}.log"
    # Keep every rank's output: the file descriptors themselves, so child processes and C
    # extensions write there too.
    log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the process
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.environ.update(
        RANK=str(local_rank),
        LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(world_size),
        LOCAL_WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        **run_env,
    )
    import torch.distributed as dist

    dist.init_process_group(backend=backend, rank=local_rank, world_size=world_size)
    try:
        result = fn(*args)
        with open(Path(folder) / f"rank{local_rank}.json", "w", encoding="utf-8") as handle:
            json.dump(result, handle)
    except BaseException as exc:
        # Noted with the time it happened: the launch names the rank that failed first (its
        # peers then fail too, with broken connections, which is not the cause).
        note = {"time": time.time(), "error": f"{type(exc).__name__}: {exc}"}
        with open(Path(folder) / f"rank{local_rank}.error", "w", encoding="utf-8") as handle:
            json.dump(note, handle)
        raise
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        dist.destroy_process_group()


def _failure_message(folder: str, nprocs: int, error: BaseException) -> str:
    notes = []
    for rank in range(nprocs):
        path = Path(folder) / f"rank{rank}.error"
        if path.exists():
            note = json.loads(path.read_text(encoding="utf-8"))
            notes.append((note["time"], rank, note["error"]))
    if not notes:  # a rank died without raising (killed, out of memory)
        return f"distributed launch failed: {error}"
    notes.sort()
    _, first_rank, first_error = notes[0]
    others = "; ".join(f"rank {rank}: {text}" for _, rank, text in notes[1:])
    message = f"distributed launch failed: rank {first_rank} failed first with {first_error}"
    return f"{message} (then {others})" if others else message


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log metrics to the launch's run from rank 0; a no-op on other ranks or without a run."""
    run_id = os.environ.get(RUN_ENV)
    if not run_id or os.environ.get("RANK", "0") != "0":
        return
    from stackml._internal.timeutil import now_ms
    from stackml.store import MetricPoint
    from stackml.tracking.api import get_store

    stamp = now_ms()
    points = [MetricPoint(k, float(v), int(step or 0), stamp) for k, v in metrics.items()]
    get_store().metadata.log_metrics(run_id, points)


def launch(
    fn: Callable[..., Any],
    nprocs: int = 2,
    backend: str = "gloo",
    args: Sequence[Any] = (),
    *,
    project: str | None = None,
    run_name: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> LaunchResult:
    """Run ``fn(*args)`` in ``nprocs`` DDP processes and wait for all of them.

    Args:
        fn: a module-level function (it is pickled by ``spawn`` to reach the processes);
            its return value must be JSON (``None`` is fine).
        nprocs: processes (ranks) to start.
        backend: ``"gloo"`` (CPU) or ``"nccl"`` (GPU).
        args: positional arguments of ``fn``.
        project: record one run in this project for the launch (rank 0 logs to it).
        run_name: name of that run.
        params: params of that run.

    Raises:
        LaunchError: a rank failed; its error is in the message and the run is ``failed``.
        InvalidInput: bad ``nprocs`` or ``backend``.
    """
    if isinstance(nprocs, bool) or not isinstance(nprocs, int) or not 1 <= nprocs <= 1024:
        raise InvalidInput(f"nprocs must be an integer between 1 and 1024, not {nprocs!r}")
    if backend not in BACKENDS:
        raise InvalidInput(f"backend must be one of {BACKENDS}, not {backend!r}")
    import torch.multiprocessing as mp

    run = None
    if project is not None:
        from stackml.tracking import start_run

        run = start_run(
            project=project,
            name=run_name,
            params={**(params or {}), "nprocs": nprocs, "backend": backend},
            nested=True,
        )
    run_env = {RUN_ENV: run.id} if run is not None else {}
    if run is not None:  # the ranks log to the store the run lives in
        location = run.store.location
        run_env["STACKML_TRACKING_URI"] = str(location.root or location.metadata_url)
    with tempfile.TemporaryDirectory(prefix="stackml-launch-") as folder:
        error: BaseException | None = None
        try:
            mp.spawn(
                _rank_main,
                args=(fn, tuple(args), nprocs, free_port(), backend, folder, run_env),
                nprocs=nprocs,
                join=True,
                start_method="spawn",
            )
        except Exception as exc:  # ProcessRaisedException / ProcessExitedException
            error = exc
        logs = []
        for rank in range(nprocs):
            path = Path(folder) / f"rank{rank}.log"
            logs.append(path.read_text(errors="replace") if path.exists() else "")
            if run is not None and path.exists():
                run.log_artifact(str(path), name=f"logs/rank{rank}.log")
        if error is not None:
            if run is not None:
                run.finish(status="failed")
            raise LaunchError(_failure_message(folder, nprocs, error)) from error
        results = []
        for rank in range(nprocs):
            with open(Path(folder) / f"rank{rank}.json", encoding="utf-8") as handle:
                results.append(json.load(handle))
    if run is not None:
        run.finish()
    return LaunchResult(results=results, logs=logs, run_id=None if run is None else run.id)
