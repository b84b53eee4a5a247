"""Compute: jobs with resources, a fair-share queue, workers, Ray, and cluster job specs.

A job is an argv list or a Python callable (``"module:function"`` with JSON arguments) plus
resources, environment, project, priority, timeout and retry policy. The queue lives in the
metadata store; ``stackml worker`` processes claim jobs that fit their free capacity.
"""

from __future__ import annotations

from stackml.compute.api import (
    cancel,
    current_job_id,
    get_job,
    iter_logs,
    list_jobs,
    logs,
    make_spec,
    retry,
    submit,
    wait,
)
from stackml.compute.executor import Executor
from stackml.compute.local import LocalExecutor
from stackml.compute.worker import JobWorker, WorkerSettings
from stackml.store.jobs_base import Job, JobSpec, JobState, Quota, Worker

__all__ = [
    "Executor",
    "Job",
    "JobSpec",
    "JobState",
    "JobWorker",
    "LocalExecutor",
    "Quota",
    "Worker",
    "WorkerSettings",
    "cancel",
    "current_job_id",
    "get_job",
    "iter_logs",
    "list_jobs",
    "logs",
    "make_spec",
    "retry",
    "submit",
    "wait",
]
