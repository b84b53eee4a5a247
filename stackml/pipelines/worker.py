"""The process that runs one step for the ``local`` and ``compute`` executors.

``python -m stackml.pipelines.worker TASK.json RESULT.json`` runs the task and writes the
outcome to ``RESULT.json`` (atomically, as its very last act). ``python -m
stackml.pipelines.worker --task-json '{...}'`` stores the outcome as artifact
``pipeline/result.json`` of the step's tracked run instead, for workers on other machines.
A process that dies early leaves no result, so its step is never taken for a success.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from stackml._internal.timeutil import now_ms
from stackml.pipelines.execution import StepTask, execute_step
from stackml.store import Artifact, open_store

RESULT_ARTIFACT = "pipeline/result.json"


def main(argv: list[str]) -> int:
    """Run the task ``argv`` names; the exit code is 0 when the outcome was recorded."""
    if len(argv) == 2 and argv[0] == "--task-json":
        task, result_path = StepTask.from_json(json.loads(argv[1])), None
    elif len(argv) == 2:
        task = StepTask.from_json(json.loads(Path(argv[0]).read_text()))
        result_path = Path(argv[1])
    else:
        print("usage: python -m stackml.pipelines.worker TASK.json RESULT.json", file=sys.stderr)
        return 2
    store = open_store(task.tracking_uri or None, task.artifact_uri)
    try:
        # Output goes to this process's stdout, which the executor captures as the log.
        outcome = execute_step(task, store, capture=False)
        sys.stdout.flush()
        body = json.dumps({**outcome.to_json(), "log": ""})
        if result_path is None:
            digest = store.blobs.put_bytes(body.encode())
            store.metadata.log_artifact(
                Artifact(
                    task.run_id, RESULT_ARTIFACT, digest, len(body), "application/json", now_ms()
                )
            )
        else:
            partial = result_path.with_suffix(".partial")
            partial.write_text(body)
            os.replace(partial, result_path)
        if outcome.error:
            print(outcome.error, file=sys.stderr)
        return 0
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
