"""``AdaptiveBatcher``: each request gets its own rows back from mixed batches, batches stay
under the row limit, the target adapts (AIMD) to the SLO, and a full queue sheds load."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping

import numpy as np
import pytest

from stackml.registry.runtime import Predictor
from stackml.registry.signature import Signature, TensorSpec
from stackml.serving import AdaptiveBatcher, BatchPolicy, Overloaded


class RowEcho(Predictor):
    """Returns each row's sum and its index in the batch; sleeps ``cost`` per row."""

    def __init__(self, cost: float = 0.0, version: int = 1) -> None:
        sig = Signature(
            inputs=(TensorSpec("x", "float32", (-1, 3)),),
            outputs=(TensorSpec("sum", "float32", (-1,)),),
        )
        super().__init__(sig, name="echo", version=version)
        self.cost = cost
        self.batches: list[int] = []

    def predict(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs["x"] if isinstance(inputs, Mapping) else inputs
        self.batches.append(len(x))
        time.sleep(self.cost * len(x))
        return {"sum": x.sum(axis=1) * self.version}


def test_mixed_row_counts_under_concurrency() -> None:
    model = RowEcho(cost=0.0002)
    batcher = AdaptiveBatcher(model, BatchPolicy(max_batch_rows=16, max_wait_ms=3, slo_ms=1000))
    rng = np.random.default_rng(0)

    async def client(i: int) -> bool:
        ok = True
        for k in range(10):
            x = rng.random((1 + (i + k) % 5, 3)).astype(np.float32) + i * 100
            out, used = await batcher.submit({"x": x})
            ok &= out["sum"].shape == (len(x),) and np.allclose(out["sum"], x.sum(axis=1))
            ok &= used is model
        return ok

    async def main() -> list[bool]:
        try:
            return await asyncio.gather(*(client(i) for i in range(40)))
        finally:
            await batcher.close()

    assert all(asyncio.run(main()))
    assert max(model.batches) <= 16 and sum(model.batches) == sum(
        1 + (i + k) % 5 for i in range(40) for k in range(10)
    )
    assert len(model.batches) < 400  # requests were grouped
    assert batcher.stats.rows == sum(model.batches)


def test_a_request_larger_than_the_batch_runs_alone() -> None:
    model = RowEcho()
    batcher = AdaptiveBatcher(model, BatchPolicy(max_batch_rows=4, max_wait_ms=1))

    async def main() -> np.ndarray:
        out, _ = await batcher.submit({"x": np.ones((10, 3), np.float32)})
        await batcher.close()
        return out["sum"]

    assert np.allclose(asyncio.run(main()), 3.0) and model.batches == [10]


def test_aimd_grows_within_the_slo_and_shrinks_on_misses() -> None:
    batcher = AdaptiveBatcher(
        RowEcho(), BatchPolicy(max_batch_rows=32, slo_ms=50, increase_rows=4, decrease_factor=0.5)
    )
    start = batcher.target
    for _ in range(5):
        batcher._adapt(10.0)  # within the SLO: additive increase
    assert batcher.target == min(32, start + 20)
    for _ in range(10):
        batcher._adapt(10.0)
    assert batcher.target == 32  # capped at the maximum batch
    batcher._adapt(80.0)  # a miss: multiplicative decrease
    assert batcher.target == 16 and batcher.stats.slo_misses == 1
    for _ in range(10):
        batcher._adapt(500.0)
    assert batcher.target == 1.0


def test_the_target_jumps_to_the_waiting_rows_when_the_slo_allows() -> None:
    batcher = AdaptiveBatcher(RowEcho(), BatchPolicy(max_batch_rows=64, slo_ms=100))
    batcher.target = 8.0
    batcher._adapt(10.0, rows=8, demand=40)  # 40 rows at 10 ms per 8: 50 ms, within 100
    assert batcher.target == 40
    batcher._adapt(40.0, rows=40, demand=200)  # capped at the maximum batch
    assert batcher.target == 64
    batcher.target = 8.0
    batcher._adapt(30.0, rows=8, demand=40)  # 40 rows would take 150 ms: 26 fit in 100
    assert batcher.target == 26
    batcher.target = 8.0
    batcher._adapt(90.0, rows=8, demand=40)  # none more fit: only the additive step
    assert batcher.target == 10
    batcher._adapt(10.0, grow=False, rows=8, demand=40)  # nobody was left waiting
    assert batcher.target == 10


def test_slow_model_makes_the_target_settle_below_the_maximum() -> None:
    model = RowEcho(cost=0.004)  # 4 ms per row: 64 rows would take 256 ms
    batcher = AdaptiveBatcher(model, BatchPolicy(max_batch_rows=64, max_wait_ms=2, slo_ms=60))

    async def client() -> None:
        for _ in range(15):
            await batcher.submit({"x": np.ones((1, 3), np.float32)})

    async def main() -> None:
        await asyncio.gather(*(client() for _ in range(32)))
        await batcher.close()

    asyncio.run(main())
    assert batcher.stats.slo_misses > 0
    assert batcher.target < 64 and max(model.batches) < 64


def test_full_queue_sheds_and_swap_changes_the_model() -> None:
    slow = RowEcho(cost=0.05)
    batcher = AdaptiveBatcher(slow, BatchPolicy(max_batch_rows=1, max_queue_rows=3, max_wait_ms=0))

    async def main() -> list[object]:
        results = await asyncio.gather(
            *(batcher.submit({"x": np.ones((1, 3), np.float32)}) for _ in range(8)),
            return_exceptions=True,
        )
        batcher.swap(RowEcho(version=2))
        out, used = await batcher.submit({"x": np.ones((1, 3), np.float32)})
        await batcher.close()
        return [*results, (out, used)]

    results = asyncio.run(main())
    shed = [r for r in results[:-1] if isinstance(r, Overloaded)]
    assert shed and all(r.retry_after > 0 for r in shed)
    assert len(shed) + sum(isinstance(r, tuple) for r in results[:-1]) == 8
    out, used = results[-1]  # type: ignore[misc]
    assert used.version == 2 and np.allclose(out["sum"], 6.0)


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        BatchPolicy(max_batch_rows=0)
    with pytest.raises(ValueError):
        BatchPolicy(decrease_factor=1.5)


class Overlap(RowEcho):
    """Counts how many model calls run at the same time."""

    def __init__(self, cost: float) -> None:
        super().__init__(cost=cost)
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0

    def predict(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().predict(inputs)
        finally:
            with self._lock:
                self.running -= 1


@pytest.mark.parametrize("concurrent", [1, 2])
def test_the_next_batch_starts_while_one_is_computing(concurrent: int) -> None:
    model = Overlap(cost=0.005)
    policy = BatchPolicy(max_batch_rows=4, max_wait_ms=1, max_concurrent_batches=concurrent)
    batcher = AdaptiveBatcher(model, policy)

    async def main() -> list[np.ndarray]:
        try:
            xs = [np.full((1, 3), i, np.float32) for i in range(16)]
            answers = await asyncio.gather(*(batcher.submit({"x": x}) for x in xs))
            return [out["sum"] for out, _ in answers]
        finally:
            await batcher.close()

    sums = asyncio.run(main())
    assert [float(s[0]) for s in sums] == [3.0 * i for i in range(16)]  # each its own rows
    assert model.most == concurrent
    assert max(model.batches) <= 4 and sum(model.batches) == 16


def test_concurrent_batches_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_concurrent_batches"):
        BatchPolicy(max_concurrent_batches=0)


@pytest.mark.parametrize(("outstanding", "waits"), [(1, False), (2, True), (None, True)])
def test_a_lone_request_does_not_wait_for_a_batch_to_fill(
    outstanding: int | None, waits: bool
) -> None:
    """With a minute of ``max_wait_ms`` and a target above one row, a request waits for others
    unless the server says every request it holds is already queued."""
    model = RowEcho()
    hint = None if outstanding is None else (lambda: outstanding)
    batcher = AdaptiveBatcher(
        model, BatchPolicy(max_batch_rows=8, max_wait_ms=60_000, slo_ms=1000), outstanding=hint
    )
    batcher.target = 8.0

    async def main() -> bool:
        try:
            await asyncio.wait_for(batcher.submit({"x": np.ones((1, 3), np.float32)}), 1.0)
            return False
        except TimeoutError:
            return True
        finally:
            await batcher.close()

    assert asyncio.run(main()) is waits
    assert model.batches == ([] if waits else [1])


def test_cohorts_that_queued_while_the_model_computed_merge_into_full_batches() -> None:
    """Two groups of clients start apart; the second queues while the first group's batch
    computes. Its wait counts from when the model is free, so the first group's clients,
    answered at that moment, join it: full batches from then on (waiting only from the
    oldest arrival would keep two half batches forever)."""
    model = RowEcho(cost=0.02)  # 4 rows: 80 ms, longer than the wait
    policy = BatchPolicy(max_batch_rows=8, max_wait_ms=50, slo_ms=10_000)
    batcher = AdaptiveBatcher(model, policy, outstanding=lambda: 8)
    batcher.target = 8.0

    async def client(start: float) -> None:
        await asyncio.sleep(start)
        for _ in range(5):
            await batcher.submit({"x": np.ones((1, 3), np.float32)})

    async def main() -> None:
        try:
            await asyncio.gather(*(client(0.0 if i < 4 else 0.06) for i in range(8)))
        finally:
            await batcher.close()

    asyncio.run(main())
    assert sum(model.batches) == 40
    assert model.batches[0] == 4 and model.batches.count(8) >= 3, model.batches


def test_the_target_settles_on_the_rows_that_come() -> None:
    """Three clients, no hint from the server: the first batch waits out ``max_wait_ms`` with
    three rows, the target drops to three, and later batches start as soon as they fill."""
    model = RowEcho()
    policy = BatchPolicy(max_batch_rows=16, max_wait_ms=30, slo_ms=10_000)
    batcher = AdaptiveBatcher(model, policy)
    batcher.target = 16.0
    rounds = 6

    async def client() -> None:
        for _ in range(rounds):
            await batcher.submit({"x": np.ones((1, 3), np.float32)})

    async def main() -> None:
        try:
            await asyncio.wait_for(asyncio.gather(*(client() for _ in range(3))), 30)
        finally:
            await batcher.close()

    asyncio.run(main())
    assert model.batches == [3] * rounds  # every batch holds all three clients
    assert batcher.target == 3.0  # no rows were left waiting, so it did not grow back
