"""``stackml sweep run``: start a sweep's agents as jobs of the compute layer.

Each agent is one job (``stackml.tuning.launch:agent_job``) that asks for the sweep's per-trial
resources (``resources: {cpus, gpus, memory}``) and runs trials one after another, so every
trial runs with those resources; ``budget.parallelism`` agents run at once. The local executor
queues the jobs in the metadata store and drains them with a worker in this process (sized to
``parallelism`` trials), or leaves them to ``stackml worker`` processes; the Ray executor
places them on a Ray cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from stackml.compute.api import make_spec
from stackml.compute.executor import Executor
from stackml.compute.local import LocalExecutor
from stackml.errors import InvalidInput
from stackml.store.jobs_base import Job
from stackml.tracking import get_store
from stackml.tuning.agent import run_agent
from stackml.tuning.spec import SweepSpec

__all__ = ["LaunchResult", "agent_job", "launch_sweep"]


def agent_job(sweep: str, count: int | None = None) -> dict[str, object]:
    """Job entry point: run one agent of ``sweep`` against the job's store."""
    result = run_agent(sweep, count=count)
    return {"sweep_id": result.sweep_id, "trials": result.trials, "states": result.states}


@dataclass
class LaunchResult:
    """The agent jobs a launch started, in their final state when it waited."""

    sweep_id: str
    jobs: list[Job]


def launch_sweep(
    sweep_ref: str,
    *,
    executor: str = "local",
    parallelism: int | None = None,
    wait: bool = True,
    ray_address: str | None = None,
    tracking_uri: str | None = None,
) -> LaunchResult:
    """Start ``parallelism`` agents of a sweep as compute jobs.

    Args:
        sweep_ref: Sweep id or ``project/name``.
        executor: ``local`` (the store's job queue) or ``ray``.
        parallelism: Agents at once (default: the sweep's ``budget.parallelism``).
        wait: With ``local``, drain the queue in this process; with ``ray``, wait for the
            tasks. Without it the jobs stay queued for ``stackml worker`` processes.
        ray_address: The Ray cluster (default: a local Ray in this process).
        tracking_uri: The store.
    """
    store = get_store(tracking_uri)
    sweep = store.metadata.get_sweep(sweep_ref)
    store.metadata.study_storage_url()
    spec = SweepSpec.from_mapping(sweep.spec)
    agents = parallelism or spec.budget.parallelism
    if agents < 1:
        raise InvalidInput("parallelism is at least 1")
    resources = spec.resources
    job_specs = [
        make_spec(
            target="stackml.tuning.launch:agent_job",
            args={"sweep": sweep.id},
            name=f"sweep-{spec.name}-agent-{i}",
            project=spec.project,
            cpus=float(resources.get("cpus", 1.0)),
            gpus=int(resources.get("gpus", 0)),
            memory=resources.get("memory"),
            timeout=spec.budget.timeout_s + 120 if spec.budget.timeout_s else None,
        )
        for i in range(agents)
    ]
    runner: Executor
    if executor == "local":
        runner = LocalExecutor(store)
    elif executor == "ray":
        from stackml.compute.ray_executor import RayExecutor

        runner = RayExecutor(store, address=ray_address)
    else:
        raise InvalidInput(f"unknown executor {executor!r}: use local or ray")
    jobs = [runner.submit(s) for s in job_specs]
    if wait:
        if isinstance(runner, LocalExecutor):
            cpus = float(resources.get("cpus", 1.0)) * agents
            runner.run_worker(cpus=cpus, max_jobs=agents)
        jobs = [runner.wait(j.id) for j in jobs]
        runner.close()
    return LaunchResult(sweep.id, jobs)
