"""Steps and pipelines the pipeline tests run (importable, so worker processes find them)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np

import stackml
from tests.pipelines import helpers_demo

#: Folder where steps leave marks that tests read (set by the tests).
MARKS = "STACKML_TEST_MARKS"


def mark(name: str) -> None:
    """Record that a step body ran (one line per execution)."""
    folder = os.environ.get(MARKS)
    if folder:
        with open(Path(folder) / name, "a") as f:
            f.write("x\n")


@stackml.step
def make_numbers(n: int) -> np.ndarray:
    mark("make_numbers")
    print(f"making {n} numbers")
    return np.arange(n, dtype=np.int64)


@stackml.step(outputs=("evens", "odds"))
def split(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mark("split")
    return values[values % 2 == 0], values[values % 2 == 1]


@stackml.step
def total(evens: np.ndarray, odds: np.ndarray) -> dict:
    mark("total")
    return {"evens": int(evens.sum()), "odds": int(odds.sum()), "scale": helpers_demo.scale()}


@stackml.pipeline(project="pipetest")
def numbers(n: int = 10):
    """Numbers: make, split, total."""
    evens, odds = split(make_numbers(n))
    total(evens, odds)


@stackml.step
def flaky(values: np.ndarray) -> int:
    mark("flaky")
    if os.environ.get("STACKML_TEST_FAIL"):
        raise RuntimeError("flaky step failed on purpose")
    return int(values.sum())


@stackml.step
def other_branch(values: np.ndarray) -> int:
    mark("other_branch")
    return int(values.max())


@stackml.step(cache=False)
def noisy(values: np.ndarray) -> float:
    mark("noisy")
    return float(np.random.default_rng().random())


@stackml.pipeline(project="pipetest")
def resumable(n: int = 5):
    values = make_numbers(n)
    noisy(values)
    flaky(values)
    other_branch(values)


@stackml.step
def suicide(values: np.ndarray) -> int:
    mark("suicide")
    if os.environ.get("STACKML_TEST_KILL"):
        os.kill(os.getpid(), signal.SIGKILL)
    return int(values.sum())


@stackml.pipeline(project="pipetest", executor="local")
def killable(n: int = 4):
    suicide(make_numbers(n))


@stackml.step(timeout=1.0)
def sleepy(values: np.ndarray) -> int:
    time.sleep(30)
    return 0


@stackml.pipeline(project="pipetest", executor="local")
def too_slow(n: int = 3):
    sleepy(make_numbers(n))


#: Lets the step that the in-process executor abandoned on its timeout finish (tests set it).
RELEASE = threading.Event()


@stackml.step(timeout=0.5)
def stuck(values: np.ndarray) -> int:
    mark("stuck")
    RELEASE.wait(30)
    return int(values.sum())


@stackml.pipeline(project="pipetest")
def hangs(n: int = 3):
    stuck(make_numbers(n))


@stackml.step
def interrupted(values: np.ndarray) -> int:
    mark("interrupted")
    if os.environ.get("STACKML_TEST_INTERRUPT"):
        raise KeyboardInterrupt  # as if Ctrl-C reached the step
    return int(values.sum())


@stackml.pipeline(project="pipetest")
def ctrl_c(n: int = 3):
    interrupted(make_numbers(n))
