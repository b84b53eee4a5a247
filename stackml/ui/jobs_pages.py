"""View models of the compute pages: the job queue, one job with its live log, the workers."""

from __future__ import annotations

from dataclasses import dataclass

from stackml.store.base import MetadataStore
from stackml.store.jobs_base import Job, JobState, LogChunk, Worker
from stackml.ui.rendering import Area, register_area

register_area(Area("jobs", "Jobs", "/jobs"), after="runs")
register_area(Area("workers", "Workers", "/workers"), after="jobs")

#: Jobs shown per section of the jobs page.
SECTION_LIMIT = 200


@dataclass(frozen=True)
class JobsView:
    """The jobs page: what waits, what runs (with its resources), what finished."""

    queued: list[Job]
    running: list[Job]
    history: list[Job]
    user: str | None


def build_jobs_view(meta: MetadataStore, user: str | None) -> JobsView:
    """The queue, running jobs and recent history; only ``user``'s jobs when given."""

    def of(state: JobState) -> list[Job]:
        return meta.list_jobs(state=state, user=user, limit=SECTION_LIMIT)

    finished = [j for s in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED) for j in of(s)]
    finished.sort(key=lambda j: j.finished_at or j.created_at, reverse=True)
    # The queue in the order workers consider it: priority, then age.
    queued = sorted(of(JobState.QUEUED), key=lambda j: (-j.spec.priority, j.created_at))
    return JobsView(queued, of(JobState.RUNNING), finished[:SECTION_LIMIT], user)


@dataclass(frozen=True)
class JobPage:
    """One job and the first part of its live log."""

    job: Job
    log: LogChunk

    @property
    def live(self) -> bool:
        return not self.job.state.is_terminal


def build_job_page(meta: MetadataStore, job_id: str) -> JobPage:
    """A job with its log so far."""
    job = meta.get_job(job_id)
    return JobPage(job, meta.read_job_log(job_id))


@dataclass(frozen=True)
class WorkersView:
    """The workers page: capacity, usage and heartbeat of each worker."""

    workers: list[Worker]

    @property
    def totals(self) -> dict[str, float]:
        active = [w for w in self.workers if w.state == "active"]
        return {
            "cpus": sum(w.cpus for w in active),
            "used_cpus": sum(w.used_cpus for w in active),
            "gpus": float(sum(len(w.gpus) for w in active)),
            "used_gpus": float(sum(len(w.used_gpus) for w in active)),
            "jobs": float(sum(w.running_jobs for w in active)),
        }


def build_workers_view(meta: MetadataStore, *, include_stopped: bool = True) -> WorkersView:
    """Every worker, active ones first."""
    workers = meta.list_workers(include_stopped=include_stopped)
    workers.sort(key=lambda w: (w.state != "active", -w.heartbeat_at))
    return WorkersView(workers)
