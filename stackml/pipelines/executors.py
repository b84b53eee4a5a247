"""The ``Executor`` seam: where a step runs.

Built in:

* ``inprocess`` (:class:`InProcessExecutor`): this process; easiest to debug (breakpoints
  work). A step that runs alone runs in the runner's own thread, branches run in a thread
  pool. A step's timeout fails it as ``killed`` when it passes, but a thread cannot be
  stopped: the step's thread is abandoned and runs on, and nothing it writes is recorded.
  It cannot survive a crash of the step.
* ``local`` (:class:`SubprocessExecutor`): each step in its own ``python -m
  stackml.pipelines.worker`` process group; a timeout or a kill ends the whole group.

Other executors register themselves with :func:`register_executor`; ``compute`` (jobs on
``stackml worker`` processes) and ``ray`` (jobs as Ray tasks) live in
:mod:`stackml.compute.pipeline_executor`, a layer above this one, and are imported on first
use.

Contract: :meth:`Executor.submit` answers a future at once; the future's result is a
:class:`~stackml.pipelines.execution.StepOutcome` and it never raises for the step's own
errors. Executors are used from the runner's thread only.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from stackml.errors import InvalidInput
from stackml.pipelines.execution import StepOutcome, StepTask, execute_step

if TYPE_CHECKING:
    from stackml.pipelines.definition import Step
    from stackml.store import Store

__all__ = [
    "Executor",
    "InProcessExecutor",
    "SubprocessExecutor",
    "create_executor",
    "register_executor",
]

ExecutorFactory = Callable[["Store", int], "Executor"]
_FACTORIES: dict[str, ExecutorFactory] = {}
#: Executors that live in higher layers, imported the first time they are asked for.
_PROVIDERS = {
    "compute": "stackml.compute.pipeline_executor",
    "ray": "stackml.compute.pipeline_executor",
}
_LOG_LIMIT = 1 << 20


class Executor(abc.ABC):
    """Runs steps. One instance serves one pipeline run and is closed at its end."""

    name: ClassVar[str]

    def __init__(self, store: Store, max_parallel: int = 4) -> None:
        self.store = store
        self.max_parallel = max(1, int(max_parallel))

    @abc.abstractmethod
    def submit(self, task: StepTask, step: Step) -> Future[StepOutcome]:
        """Start ``task`` (or queue it) and answer a future of its outcome."""

    def submit_alone(self, task: StepTask, step: Step) -> Future[StepOutcome]:
        """Like :meth:`submit`, for a step that runs while no other step of the run is
        running or ready, so the caller has nothing else to do; an executor may run it in
        the caller's thread. The default is :meth:`submit`."""
        return self.submit(task, step)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release threads or processes. The default does nothing."""


class InProcessExecutor(Executor):
    """Steps run in this process (independent branches in parallel threads).

    A step with a ``timeout`` runs in a thread of its own; when the timeout passes the step
    is ``killed`` and that thread is abandoned (Python cannot stop a thread): it runs on in
    the background, and nothing it returns or stores afterwards is recorded or cached.
    """

    name = "inprocess"

    def __init__(self, store: Store, max_parallel: int = 4) -> None:
        super().__init__(store, max_parallel)
        self._pool = ThreadPoolExecutor(self.max_parallel, thread_name_prefix="stackml-step")

    def submit(self, task: StepTask, step: Step) -> Future[StepOutcome]:
        if task.timeout is not None:
            return self._pool.submit(run_with_timeout, task, self.store, step.fn)
        return self._pool.submit(execute_step, task, self.store, step.fn)

    def submit_alone(self, task: StepTask, step: Step) -> Future[StepOutcome]:
        if task.timeout is not None:
            return self.submit(task, step)
        # Nothing else can run meanwhile: calling the step here saves two thread handoffs.
        # A KeyboardInterrupt reaches the runner, which marks the step killed.
        future: Future[StepOutcome] = Future()
        future.set_result(execute_step(task, self.store, step.fn))
        return future

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def run_with_timeout(task: StepTask, store: Store, fn: Callable[..., object]) -> StepOutcome:
    """Run the step in a daemon thread and wait at most ``task.timeout`` seconds for it.

    On a timeout the outcome is ``killed`` at once; the thread cannot be stopped and is
    left to finish in the background, its result discarded.
    """
    outcome: list[StepOutcome] = []
    done = threading.Event()

    def target() -> None:
        try:
            outcome.append(execute_step(task, store, fn))
        finally:
            done.set()

    worker = threading.Thread(target=target, name=f"stackml-step-{task.step}", daemon=True)
    worker.start()
    finished = done.wait(task.timeout)
    if outcome:
        return outcome[0]
    if finished:  # execute_step raised what it does not catch (e.g. KeyboardInterrupt)
        return StepOutcome("failed", (), "", "the step's thread ended without an outcome")
    message = (
        f"timed out after {task.timeout:g} s; the in-process executor cannot stop a thread, "
        "so the step was abandoned (it may run on in the background; nothing it writes is "
        "recorded)"
    )
    return StepOutcome("killed", (), message + "\n", message)


def module_root(task: StepTask) -> str | None:
    """The folder to put on ``sys.path`` so that the step's module imports in a new process."""
    module = task.function.partition(":")[0]
    if not task.source_file or module == "__main__" or module.endswith(".py"):
        return None
    path = Path(task.source_file).resolve()
    depth = module.count(".") + (1 if path.name == "__init__.py" else 0)
    return str(path.parents[depth]) if depth < len(path.parents) else None


def worker_env(task: StepTask) -> dict[str, str]:
    """The environment of a worker process: this one's, plus the step's module on the path."""
    env = dict(os.environ)
    root = module_root(task)
    paths = [p for p in [root, *sys.path] if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_worker_process(task: StepTask, folder: Path) -> StepOutcome:
    """Run ``task`` in a fresh ``python -m stackml.pipelines.worker`` process group.

    A timeout kills the group (``killed``); so does any signal from outside. Only a clean
    exit with a result file counts as success.
    """
    task_file = folder / "task.json"
    result_file = folder / "result.json"
    log_file = folder / "step.log"
    task_file.write_text(json.dumps(task.to_json()))
    argv = [sys.executable, "-m", "stackml.pipelines.worker", str(task_file), str(result_file)]
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=worker_env(task),
            start_new_session=True,
            cwd=os.getcwd(),
        )
        timed_out = False
        try:
            process.wait(timeout=task.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process)
            process.wait()
    text = log_file.read_bytes()[-_LOG_LIMIT:].decode(errors="replace")
    code = process.returncode
    if timed_out:
        return StepOutcome("killed", (), text, f"timed out after {task.timeout} s; killed")
    if code < 0:
        return StepOutcome("killed", (), text, f"killed by signal {-code}")
    if code != 0 or not result_file.is_file():
        last = text.strip().splitlines()[-1:] or [f"exit code {code}"]
        return StepOutcome("failed", (), text, f"worker exited with code {code}: {last[0]}")
    outcome = StepOutcome.from_json(json.loads(result_file.read_text()))
    return StepOutcome(outcome.status, outcome.outputs, text, outcome.error)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


class SubprocessExecutor(Executor):
    """Each step in its own process (independent branches in parallel processes)."""

    name = "local"

    def __init__(self, store: Store, max_parallel: int = 4) -> None:
        super().__init__(store, max_parallel)
        self._pool = ThreadPoolExecutor(self.max_parallel, thread_name_prefix="stackml-proc")
        self._tmp = tempfile.TemporaryDirectory(prefix="stackml-steps-")

    def submit(self, task: StepTask, step: Step) -> Future[StepOutcome]:
        folder = Path(self._tmp.name) / f"{task.step}-{len(os.listdir(self._tmp.name))}"
        folder.mkdir()
        return self._pool.submit(run_worker_process, task, folder)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._tmp.cleanup()


def register_executor(name: str, factory: ExecutorFactory) -> None:
    """Make ``name`` usable as a step's or pipeline's executor.

    ``factory(store, max_parallel)`` answers a new :class:`Executor`.
    """
    _FACTORIES[name] = factory


def create_executor(name: str, store: Store, max_parallel: int) -> Executor:
    """A new executor called ``name``. Raises ``InvalidInput`` for an unknown name."""
    if name not in _FACTORIES and name in _PROVIDERS:
        importlib.import_module(_PROVIDERS[name])
    factory = _FACTORIES.get(name)
    if factory is None:
        raise InvalidInput(
            f"unknown executor {name!r}; use one of {', '.join(sorted(known_executors()))}"
        )
    return factory(store, max_parallel)


def known_executors() -> set[str]:
    """Names of executors registered or importable on demand."""
    return set(_FACTORIES) | set(_PROVIDERS)


register_executor(InProcessExecutor.name, InProcessExecutor)
register_executor(SubprocessExecutor.name, SubprocessExecutor)
