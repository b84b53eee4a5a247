"""Stage ``job``: the digits CNN trained as a job, run by a local worker.

The training is submitted as a Python-callable job (``module:function`` plus JSON arguments,
no pickle) to the queue in the quickstart's store. A worker in this process claims it, runs it
in its own process group with its resources reserved, captures its log and links the job to
the run the training recorded, exactly as ``stackml worker`` does on a GPU box.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from stackml.errors import StackmlError
from stackml.quickstart.stage import Stage, StageResult

if TYPE_CHECKING:
    from stackml.quickstart.context import QuickstartContext

PROJECT = "digits"
TARGET = "stackml.quickstart.stages.job:train_digits_job"


def train_digits_job(epochs: int = 3, seed: int = 0) -> dict[str, Any]:
    """The job's body: train the small digits CNN (or, without torch, a linear model) and
    record it as a run; returning the run id links the job to it."""
    from stackml.compute import current_job_id
    from stackml.tracking import start_run

    tags = {"quickstart.stage": "job", "stackml.job_id": current_job_id() or "-"}
    if importlib.util.find_spec("torch") is None:
        from sklearn.datasets import load_digits
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split

        data = load_digits()
        x_train, x_test, y_train, y_test = train_test_split(
            data.data / 16.0, data.target, test_size=0.25, stratify=data.target, random_state=seed
        )
        with start_run(project=PROJECT, name="job-logreg", tags=tags) as run:
            model = LogisticRegression(max_iter=300).fit(x_train, y_train)
            run.log_metrics({"test_accuracy": float(model.score(x_test, y_test))})
        return {"run_id": run.id}
    from stackml.training.digits_ddp import train_digits

    params = {"model": "cnn", "epochs": epochs, "seed": seed, "batch_size": 64}
    with start_run(project=PROJECT, name="job-cnn", params=params, tags=tags) as run:
        result = train_digits(epochs=epochs, seed=seed, check_sync=False)
        run.log_metrics({k: v for k, v in result.items() if k != "rank"})
    return {"run_id": run.id}


class JobStage(Stage):
    """Train through the job queue: submit, run on a local worker, report job and run."""

    name = "job"
    title = "Train as a job on a local worker"

    def __init__(self, epochs: int = 3) -> None:
        self.epochs = epochs

    def run(self, ctx: QuickstartContext) -> StageResult:
        from stackml.compute import LocalExecutor, WorkerSettings, iter_logs, make_spec
        from stackml.store.jobs_base import JobState

        store = ctx.store
        executor = LocalExecutor(store)
        spec = make_spec(
            target=TARGET,
            args={"epochs": self.epochs, "seed": ctx.seed},
            name="digits-cnn",
            project=PROJECT,
            cpus=1,
            timeout=600,
        )
        job = executor.submit(spec)
        ctx.note(f"job {job.id[:8]} queued; a local worker runs it")
        executor.run_worker(cpus=1, settings=WorkerSettings(poll_s=0.05, heartbeat_s=2.0))
        done = store.metadata.get_job(job.id)
        if done.state is not JobState.SUCCEEDED or done.run_id is None:
            tail = "".join(iter_logs(store, job.id))[-2000:]
            raise StackmlError(f"the training job {job.id} ended {done.state.value}: {tail}")
        run = store.metadata.get_run(done.run_id)
        accuracy = run.metric("test_accuracy") or 0.0
        return StageResult(
            headline=f"job {job.id[:8]} {done.state.value}: test accuracy {accuracy:.3f}",
            metrics={"test_accuracy": accuracy},
            run_ids=[run.id],
            details={"job_id": job.id, "logs": f"stackml jobs logs {job.id}"},
        )
