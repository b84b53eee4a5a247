"""``launch_on_ray(fn, nprocs=N)``: DDP ranks as Ray actors, placed by Ray across a cluster.

Each rank is an actor reserving ``num_cpus_per_rank`` CPUs and ``num_gpus_per_rank`` GPUs.
Rank 0's actor picks the rendezvous (its node's address and a free port); every actor then
gets torchrun's variables and runs ``fn`` with the process group initialised. Ray gives each
GPU actor its own devices in ``CUDA_VISIBLE_DEVICES``, so ``LOCAL_RANK`` is 0 there: call
``torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))`` as with :func:`launch`. If a rank
fails, every actor is killed (peers blocked in a collective included) and :class:`LaunchError`
names the rank. Each rank's output is captured and returned in ``LaunchResult.logs``; with
``project`` set, one run records the launch as :func:`launch` does.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from stackml.compute.process import free_port
from stackml.errors import InvalidInput
from stackml.training.launch import BACKENDS, RUN_ENV, LaunchError, LaunchResult

__all__ = ["launch_on_ray"]

#: Seconds to collect the other ranks' failures once one rank failed.
FAILURE_GRACE_S = 3.0


class RankActor:
    """One DDP rank living in a Ray actor process."""

    def rendezvous(self) -> tuple[str, int]:
        """This node's address and a free port on it (asked of rank 0)."""
        import ray

        return str(ray.util.get_node_ip_address()), free_port()

    def run(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any],
        env: Mapping[str, str],
        backend: str,
    ) -> dict[str, Any]:
        """Run ``fn`` as one rank; answer its result (or its error and when it happened) and
        everything it printed."""
        import sys

        import torch.distributed as dist

        os.environ.update(env)
        with tempfile.TemporaryFile() as log:
            saved = os.dup(1), os.dup(2)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                dist.init_process_group(
                    backend, rank=int(env["RANK"]), world_size=int(env["WORLD_SIZE"])
                )
                try:
                    outcome = {"ok": True, "result": fn(*args)}
                except Exception as exc:
                    # Reported with its time, not raised: a failing rank makes its peers fail
                    # too (broken connections), and the launch must name the first one.
                    outcome = {
                        "ok": False,
                        "time": time.time(),
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    dist.destroy_process_group()
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
            log.seek(0)
            outcome["log"] = log.read().decode("utf-8", errors="replace")
        return outcome


def launch_on_ray(
    fn: Callable[..., Any],
    nprocs: int = 2,
    backend: str = "gloo",
    args: Sequence[Any] = (),
    *,
    num_cpus_per_rank: float = 1.0,
    num_gpus_per_rank: float = 0.0,
    project: str | None = None,
    run_name: str | None = None,
    timeout_s: float | None = None,
) -> LaunchResult:
    """Run ``fn(*args)`` in ``nprocs`` DDP ranks on the connected Ray cluster.

    Ray must be initialised (``ray.init(...)``). Raises :class:`LaunchError` when a rank
    fails or ``timeout_s`` passes; the actors are always killed at the end.
    """
    if isinstance(nprocs, bool) or not isinstance(nprocs, int) or not 1 <= nprocs <= 1024:
        raise InvalidInput(f"nprocs must be an integer between 1 and 1024, not {nprocs!r}")
    if backend not in BACKENDS:
        raise InvalidInput(f"backend must be one of {BACKENDS}, not {backend!r}")
    from stackml.compute.ray_executor import import_ray

    ray = import_ray()
    remote = ray.remote(num_cpus=num_cpus_per_rank, num_gpus=num_gpus_per_rank)(RankActor)
    run = None
    if project is not None:
        from stackml.tracking import start_run

        params = {"nprocs": nprocs, "backend": backend, "placement": "ray"}
        run = start_run(project=project, name=run_name, params=params, nested=True)
    actors = [remote.remote() for _ in range(nprocs)]
    try:
        address, port = ray.get(actors[0].rendezvous.remote(), timeout=timeout_s)
        base = {"WORLD_SIZE": str(nprocs), "MASTER_ADDR": address, "MASTER_PORT": str(port)}
        if run is not None:
            location = run.store.location
            base[RUN_ENV] = run.id
            base["STACKML_TRACKING_URI"] = str(location.root or location.metadata_url)
        pending = {
            actor.run.remote(
                fn, tuple(args), {**base, "RANK": str(rank), "LOCAL_RANK": "0"}, backend
            ): rank
            for rank, actor in enumerate(actors)
        }
        outputs: dict[int, dict[str, Any]] = {}
        waiting = list(pending)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1, timeout=timeout_s)
            if not done:
                raise LaunchError(f"distributed launch on Ray timed out after {timeout_s} s")
            rank = pending[done[0]]
            try:
                outputs[rank] = ray.get(done[0])
            except Exception as exc:  # the actor itself died
                raise LaunchError(f"distributed launch on Ray: rank {rank} died: {exc}") from exc
            if not outputs[rank]["ok"]:
                # Let the peers that fail because of it report too, then name the first.
                done, _ = ray.wait(waiting, num_returns=len(waiting), timeout=FAILURE_GRACE_S)
                for ref in done:
                    with contextlib.suppress(Exception):
                        outputs[pending[ref]] = ray.get(ref)
                failures = sorted(
                    (out["time"], r, out["error"]) for r, out in outputs.items() if not out["ok"]
                )
                _, first, error = failures[0]
                raise LaunchError(
                    f"distributed launch on Ray: rank {first} failed first with {error}"
                )
    except LaunchError:
        if run is not None:
            run.finish(status="failed")
        raise
    finally:
        for actor in actors:
            ray.kill(actor)
    results = [outputs[rank]["result"] for rank in range(nprocs)]
    logs = [outputs[rank]["log"] for rank in range(nprocs)]
    if run is not None:
        from stackml.tracking.artifacts import log_bytes

        for rank, text in enumerate(logs):
            log_bytes(run.store, run.id, text.encode(), f"logs/rank{rank}.log", "text/plain")
        run.finish()
    return LaunchResult(results=results, logs=logs, run_id=None if run is None else run.id)
