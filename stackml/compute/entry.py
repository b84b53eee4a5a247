"""``python -m stackml.compute.entry module:function '{"arg": 1}'``: run a callable job.

The callable is imported by name and called with the JSON object as keyword arguments: no
pickle travels between submitter and worker. A return value that is an ``ActiveRun``, a
``Run`` or a mapping with ``run_id`` links the job to that run.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

from stackml.compute.process import RUN_FILE_ENV
from stackml.errors import InvalidInput
from stackml.store.jobs_base import _TARGET_RE


def resolve(target: str) -> Any:
    """The callable named by ``"package.module:function"``."""
    if not _TARGET_RE.fullmatch(target):
        raise InvalidInput(f"invalid target {target!r}: use 'package.module:function'")
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise InvalidInput(f"{target} is not callable")
    return obj


def run_id_of(result: object) -> str | None:
    """The run id a callable's return value names, if any."""
    if isinstance(result, dict):
        value = result.get("run_id")
        return value if isinstance(value, str) else None
    value = getattr(result, "id", None)
    if isinstance(value, str) and type(result).__name__ in {"ActiveRun", "Run"}:
        return value
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m stackml.compute.entry module:function '<json kwargs>'")
        return 2
    function = resolve(argv[0])
    kwargs = json.loads(argv[1])
    result = function(**kwargs)
    run_id = run_id_of(result)
    run_file = os.environ.get(RUN_FILE_ENV)
    if run_id and run_file and os.environ.get("RANK", "0") == "0":
        with open(run_file, "w", encoding="utf-8") as handle:
            handle.write(run_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
