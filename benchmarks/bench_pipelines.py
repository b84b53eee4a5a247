"""Pipelines: a chain of trivial steps, cold and fully cached, against direct function calls.

    .venv/bin/python benchmarks/bench_pipelines.py [--steps 100] [--repeat 3]

Measures, on a fresh embedded store (SQLite + local blobs):

* cold: every step runs (in-process executor), is tracked as a child run, its output is
  stored as a blob, logged as an artifact, cached and joined to its neighbours by lineage;
* cached: the same pipeline again; every step is a cache hit (target: under 1 s in total);
* the per-step overhead of each against calling the same functions directly (the peer a
  user would otherwise pick; target: under 10 ms per step).

Beside wall-clock time it prints the CPU time of the cold run per step (this process, all
threads): on a loaded machine wall-clock time is mostly waiting for a core, CPU time is not.
The last line prints the figures and the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import stackml
from stackml.store import open_store


@stackml.step
def inc(x: int) -> int:
    """A trivial step."""
    return x + 1


def make_chain(steps: int) -> stackml.pipelines.Pipeline:
    @stackml.pipeline(name=f"chain-{steps}", project="bench")
    def chain(start: int = 0) -> None:
        value = inc(start)
        for _ in range(steps - 1):
            value = inc(value)

    return chain


def direct(steps: int) -> float:
    start = time.perf_counter()
    value = 0
    for _ in range(steps):
        value = inc.fn(value)
    assert value == steps
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    chain = make_chain(args.steps)
    colds, cacheds, directs, cpus = [], [], [], []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            store = open_store(str(Path(folder) / "store"))
            try:
                t, cpu = time.perf_counter(), time.process_time()
                cold = chain.run({"start": 0}, store=store)
                colds.append(time.perf_counter() - t)
                cpus.append(time.process_time() - cpu)
                assert cold.succeeded and len(cold.executed) == args.steps
                t = time.perf_counter()
                cached = chain.run({"start": 0}, store=store)
                cacheds.append(time.perf_counter() - t)
                assert cached.succeeded and len(cached.cache_hits) == args.steps
                assert cached.output(f"inc_{args.steps}") == args.steps
                directs.append(direct(args.steps))
            finally:
                store.close()
        print(
            f"repeat {i + 1}: cold {colds[-1]:.3f} s (CPU {cpus[-1]:.3f} s), "
            f"cached {cacheds[-1]:.3f} s"
        )
    cold_s, cached_s = statistics.median(colds), statistics.median(cacheds)
    direct_s = statistics.median(directs)
    per_cold = (cold_s - direct_s) / args.steps * 1000
    per_cached = (cached_s - direct_s) / args.steps * 1000
    print(
        f"{args.steps} trivial steps (median of {args.repeat}): "
        f"cold {cold_s:.3f} s ({per_cold:.1f} ms/step overhead, "
        f"{statistics.median(cpus) / args.steps * 1000:.1f} ms/step CPU), "
        f"fully cached {cached_s:.3f} s (target < 1 s; {per_cached:.2f} ms/step overhead, "
        f"target < 10 ms), direct calls {direct_s * 1000:.3f} ms; "
        f"ratio cached/direct {cached_s / direct_s:,.0f}x, cold/cached {cold_s / cached_s:.1f}x"
    )


if __name__ == "__main__":
    main()
