"""Overhead of tracking a PyTorch training loop: the same loop with and without stackml.

The loop trains the quickstart's digits CNN (one thread, batch 64). The tracked variant logs
every step through :class:`stackml.training.Tracker` (loss, learning rate, throughput) into an
embedded store and flushes at the end; the plain variant logs nothing. Variants alternate
over several repeats and the medians are compared. When MLflow is installed (the ``bench``
extra), the same loop logging every step with ``mlflow.log_metrics`` (SQLite backend) is
measured too, on fewer steps, as the peer figure.

Usage: python benchmarks/bench_training.py [--steps N] [--repeats N] [--mlflow-steps N]
The last line prints the overhead percentages.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any


def _setup(seed: int = 0) -> tuple[Any, Any, Any, Any]:
    import torch
    from sklearn.datasets import load_digits

    from stackml.quickstart.stages.cnn import digits_cnn

    torch.manual_seed(seed)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.tensor(digits.target)
    model = digits_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    return x, y, model, opt


def _loop(steps: int, log: Callable[[Any, int, Any], None] | None) -> float:
    import torch

    x, y, model, opt = _setup()
    loss_fn = torch.nn.CrossEntropyLoss()
    n = len(x)
    started = time.perf_counter()
    for step in range(1, steps + 1):
        lo = (step * 64) % (n - 64)
        xb, yb = x[lo : lo + 64], y[lo : lo + 64]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        if log is not None:
            log(loss, step, opt)
    return time.perf_counter() - started


def run_plain(steps: int) -> float:
    return _loop(steps, None)


def run_stackml(steps: int, root: str) -> float:
    import stackml
    from stackml.training import Tracker

    tracker = Tracker(project="bench", system_every_s=None)

    def log(loss: Any, step: int, opt: Any) -> None:
        tracker.log_step(loss, step=step, batch_size=64, optimizer=opt)

    elapsed = _loop(steps, log)
    flush_started = time.perf_counter()
    stackml.flush()
    elapsed += time.perf_counter() - flush_started
    tracker.finish()
    return elapsed


def log_step_cost(calls: int = 20000) -> float:
    """Seconds one ``Tracker.log_step`` takes, measured alone (insensitive to machine load
    swings that dominate whole-loop timings on a shared box)."""
    import torch

    import stackml
    from stackml.training import Tracker

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    loss = torch.tensor(0.5)
    tracker = Tracker(project="bench-calls", system_every_s=None)
    started = time.perf_counter()
    for step in range(1, calls + 1):
        tracker.log_step(loss, step=step, batch_size=64, optimizer=opt)
    stackml.flush()
    elapsed = time.perf_counter() - started
    tracker.finish()
    return elapsed / calls


def run_mlflow(steps: int, root: str) -> float | None:
    try:
        import mlflow
    except ImportError:
        return None
    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    mlflow.set_experiment("bench")
    with mlflow.start_run():

        def log(loss: Any, step: int, opt: Any) -> None:
            mlflow.log_metrics(
                {"train/loss": loss.item(), "train/lr": opt.param_groups[0]["lr"]}, step=step
            )

        return _loop(steps, log)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mlflow-steps", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as root:
        os.environ["STACKML_TRACKING_URI"] = root
        run_plain(50)  # warm-up: first-call costs are not the loop's
        run_stackml(50, root)
        plain, tracked = [], []
        for _ in range(args.repeats):
            plain.append(run_plain(args.steps))
            tracked.append(run_stackml(args.steps, root))
        p, t = statistics.median(plain), statistics.median(tracked)
        pairs = ", ".join(f"{(b - a) / a * 100:+.1f}%" for a, b in zip(plain, tracked, strict=True))
        print(f"per-repeat overhead (run-to-run noise here is large): {pairs}")
        overhead = (t - p) / p * 100
        print(
            f"plain loop        {args.steps} steps: {p:.3f} s ({p / args.steps * 1e3:.3f} ms/step)"
        )
        print(
            f"stackml tracked   {args.steps} steps: {t:.3f} s ({t / args.steps * 1e3:.3f} ms/step)"
        )
        mlflow_overhead = None
        if args.mlflow_steps > 0:
            base = statistics.median(run_plain(args.mlflow_steps) for _ in range(3))
            peer = run_mlflow(args.mlflow_steps, root)
            if peer is not None:
                mlflow_overhead = (peer - base) / base * 100
                print(
                    f"mlflow tracked    {args.mlflow_steps} steps: {peer:.3f} s "
                    f"(plain {base:.3f} s)"
                )
        per_call = log_step_cost()
        per_step = p / args.steps
        print(f"log_step alone: {per_call * 1e6:.1f} us per call (including the flush)")
        peer_text = f"{mlflow_overhead:.1f}%" if mlflow_overhead is not None else "n/a"
        print(
            f"tracking overhead: stackml {overhead:.2f}% loop median, "
            f"{per_call / per_step * 100:.2f}% from the per-call cost (target < 2%); "
            f"mlflow {peer_text}"
        )


if __name__ == "__main__":
    main()
