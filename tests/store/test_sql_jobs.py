"""The job queue in the SQL store, on SQLite and PostgreSQL: validation, claims, fair share,
quotas, leases, cancel/retry, live logs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackml.errors import Conflict, InvalidInput, NotFound
from stackml.store.jobs_base import Capacity, JobSpec, JobState, Quota
from stackml.store.sql.store import SqlMetadataStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMetadataStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    with SqlMetadataStore(url) as opened:
        yield opened


def _spec(name: str = "job", **kw: object) -> JobSpec:
    return JobSpec(name=name, command=["true"], **kw)  # type: ignore[arg-type]


def _worker(
    store: SqlMetadataStore, cpus: float = 4, gpus: list[str] | None = None, lease_s: float = 30.0
) -> str:
    return store.register_worker(
        name="w", host="h", cpus=cpus, gpus=gpus or [], memory_mb=0, lease_s=lease_s
    ).id


def _free(cpus: float = 4, gpus: list[str] | None = None, memory: int = 0) -> Capacity:
    return Capacity(cpus=cpus, gpus=gpus or [], memory_mb=memory, memory_limited=memory > 0)


@pytest.mark.parametrize(
    "spec",
    [
        JobSpec(name="x", command=[]),  # neither command nor target
        JobSpec(name="x", command=["a"], target="m:f"),  # both
        JobSpec(name="x", command="rm -rf /"),  # type: ignore[arg-type]  # a shell string
        JobSpec(name="bad name!", command=["a"]),
        JobSpec(name="x", command=["a"], env={"1BAD": "v"}),
        JobSpec(name="x", command=["a"], env={"A;B": "v"}),
        JobSpec(name="x", command=["a"], env={"CUDA_VISIBLE_DEVICES": "0"}),
        JobSpec(name="x", target="os:system; rm"),
        JobSpec(name="x", target="m:f", args={"x": float("nan")}),
        JobSpec(name="x", command=["a"], cpus=-1),
        JobSpec(name="x", command=["a"], gpus=1.5),  # type: ignore[arg-type]
        JobSpec(name="x", command=["a\x00b"]),
        JobSpec(name="x", command=["a"], timeout_s=0),
    ],
)
def test_bad_specs_are_refused(store: SqlMetadataStore, spec: JobSpec) -> None:
    with pytest.raises(InvalidInput):
        store.submit_job(spec)
    assert store.list_jobs() == []


def test_submit_get_list(store: SqlMetadataStore) -> None:
    job = store.submit_job(
        JobSpec(name="train", target="pkg.mod:main", args={"lr": 0.1}, env={"A": "1"}, cpus=2),
        user="alice",
    )
    assert job.state is JobState.QUEUED and job.user == "alice" and job.attempts == 0
    again = store.get_job(job.id)
    assert again == job
    assert again.spec.args == {"lr": 0.1} and again.spec.env == {"A": "1"}
    store.submit_job(_spec("other"), user="bob")
    assert [j.name for j in store.list_jobs(user="alice")] == ["train"]
    assert len(store.list_jobs(state="queued")) == 2
    with pytest.raises(InvalidInput):
        store.list_jobs(state="sleeping")
    with pytest.raises(NotFound):
        store.get_job("nope")


def test_claims_fit_capacity_and_gpus_are_exclusive(store: SqlMetadataStore) -> None:
    big = store.submit_job(_spec("big", cpus=8))
    g1 = store.submit_job(_spec("g1", gpus=1))
    g2 = store.submit_job(_spec("g2", gpus=1))
    g3 = store.submit_job(_spec("g3", gpus=1))
    mem = store.submit_job(_spec("mem", memory_mb=4096))
    worker = _worker(store, cpus=4, gpus=["0", "1"])
    claimed = store.claim_jobs(worker, _free(4, ["0", "1"], memory=1024), limit=10)
    names = {j.name for j in claimed}
    assert names == {"g1", "g2"}  # big needs 8 cpus, g3 has no GPU left, mem needs 4 GiB
    assert sorted(g for j in claimed for g in j.gpu_ids) == ["0", "1"]
    assert all(j.state is JobState.RUNNING and j.attempts == 1 for j in claimed)
    assert store.get_job(big.id).state is JobState.QUEUED
    assert store.get_job(g3.id).state is JobState.QUEUED
    assert store.get_job(mem.id).state is JobState.QUEUED
    # Nothing is claimed twice.
    assert {j.id for j in store.claim_jobs(worker, _free(4, ["0", "1"]), limit=10)} == {
        g3.id,
        mem.id,
    }
    assert g1.id != g2.id


def test_fair_share_then_priority_then_age(store: SqlMetadataStore) -> None:
    a_jobs = [store.submit_job(_spec(f"a{i}"), user="alice") for i in range(4)]
    b_low = store.submit_job(_spec("b-low"), user="bob")
    b_high = store.submit_job(_spec("b-high", priority=5), user="bob")
    worker = _worker(store)
    order = [store.claim_jobs(worker, _free(1), limit=1)[0].name for _ in range(4)]
    # Equal usage: priority, then age decide. Then whoever runs less goes first.
    assert order == ["b-high", "a0", "a1", "b-low"]
    assert {j.id for j in a_jobs[:2]} | {b_low.id, b_high.id} == {
        j.id for j in store.list_jobs(state="running")
    }


def test_quota_caps_a_user(store: SqlMetadataStore) -> None:
    store.set_quota(Quota("alice", max_jobs=1))
    assert store.list_quotas() == [Quota("alice", None, None, 1)]
    for i in range(3):
        store.submit_job(_spec(f"a{i}"), user="alice")
    store.submit_job(_spec("b0"), user="bob")
    worker = _worker(store)
    claimed = store.claim_jobs(worker, _free(8), limit=10)
    assert sorted(j.user for j in claimed) == ["alice", "bob"]
    store.set_quota(Quota("alice"))  # every limit None clears it
    assert store.list_quotas() == []
    assert len(store.claim_jobs(worker, _free(8), limit=10)) == 2


def test_finish_states_and_retry_policy(store: SqlMetadataStore) -> None:
    ok = store.submit_job(_spec("ok"))
    bad = store.submit_job(_spec("bad", max_retries=1, retry_on_failure=True))
    worker = _worker(store)
    store.claim_jobs(worker, _free(), limit=2)
    assert store.finish_job(ok.id, worker, exit_code=0).state is JobState.SUCCEEDED
    first = store.finish_job(bad.id, worker, exit_code=2, error="exited with code 2")
    assert first.state is JobState.QUEUED  # retried once
    assert store.claim_jobs(worker, _free())[0].attempts == 2
    final = store.finish_job(bad.id, worker, exit_code=2, error="exited with code 2")
    assert final.state is JobState.FAILED and final.exit_code == 2
    with pytest.raises(Conflict):
        store.finish_job(ok.id, worker, exit_code=0)
    again = store.retry_job(bad.id)
    assert again.state is JobState.QUEUED and again.attempts == 0 and again.exit_code is None
    with pytest.raises(Conflict):
        store.retry_job(ok.id)


def test_cancel_queued_and_running(store: SqlMetadataStore) -> None:
    queued = store.submit_job(_spec("q"))
    running = store.submit_job(_spec("r"))
    assert store.cancel_job(queued.id).state is JobState.CANCELLED
    worker = _worker(store)
    store.claim_jobs(worker, _free())
    marked = store.cancel_job(running.id)
    assert marked.state is JobState.RUNNING and marked.cancel_requested
    assert store.heartbeat(worker) == [running.id]
    done = store.finish_job(running.id, worker, exit_code=-15, cancelled=True)
    assert done.state is JobState.CANCELLED
    with pytest.raises(Conflict):
        store.cancel_job(running.id)


def test_expired_lease_requeues_then_fails(store: SqlMetadataStore) -> None:
    job = store.submit_job(_spec("lost", max_retries=1))
    dead = _worker(store, lease_s=0.2)
    store.claim_jobs(dead, _free())
    time.sleep(0.4)
    requeued = store.get_job(job.id)  # readers reap expired leases
    assert requeued.state is JobState.QUEUED and "heartbeat" in (requeued.error or "")
    with pytest.raises(Conflict):  # the dead worker is lost: it cannot finish or beat
        store.finish_job(job.id, dead, exit_code=0)
    with pytest.raises(Conflict):
        store.heartbeat(dead)
    second = _worker(store, lease_s=0.2)
    assert store.claim_jobs(second, _free())[0].attempts == 2
    time.sleep(0.4)
    assert store.reap_expired_jobs() == 1
    failed = store.get_job(job.id)
    assert failed.state is JobState.FAILED and failed.finished_at is not None
    assert {w.state for w in store.list_workers(include_stopped=True)} == {"lost"}


def test_heartbeat_keeps_a_lease_alive(store: SqlMetadataStore) -> None:
    job = store.submit_job(_spec("kept"))
    worker = _worker(store, lease_s=0.5)
    store.claim_jobs(worker, _free())
    for _ in range(4):
        time.sleep(0.2)
        store.heartbeat(worker)
    assert store.get_job(job.id).state is JobState.RUNNING
    usage = store.list_workers()[0]
    assert usage.running_jobs == 1 and usage.used_cpus == 1.0
    store.stop_worker(worker)
    back = store.get_job(job.id)
    assert back.state is JobState.QUEUED and back.attempts == 0


def test_live_log_append_and_follow(store: SqlMetadataStore) -> None:
    job = store.submit_job(_spec("logs"))
    store.append_job_log(job.id, "hello\n")
    first = store.read_job_log(job.id)
    assert first.text == "hello\n"
    store.append_job_log(job.id, "world\x00\n")
    rest = store.read_job_log(job.id, first.next_seq)
    assert rest.text == "world\ufffd\n"
    assert store.read_job_log(job.id, rest.next_seq).text == ""
    with pytest.raises(NotFound):
        store.read_job_log("missing")


def test_concurrent_claims_never_share_a_job(store: SqlMetadataStore) -> None:
    ids = {store.submit_job(_spec(f"j{i}", cpus=0.1)).id for i in range(60)}
    workers = [_worker(store) for _ in range(3)]
    claimed: list[str] = []
    lock = threading.Lock()

    def drain(worker_id: str) -> None:
        while True:
            got = store.claim_jobs(worker_id, _free(1), limit=3)
            if not got:
                return
            with lock:
                claimed.extend(j.id for j in got)
            for j in got:
                store.finish_job(j.id, worker_id, exit_code=0)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)
    assert {j.state for j in store.list_jobs(limit=100)} == {JobState.SUCCEEDED}


def test_only_external_executors_update_jobs_directly(store: SqlMetadataStore) -> None:
    local = store.submit_job(_spec("local"))
    with pytest.raises(Conflict):
        store.update_job(local.id, state="running")
    remote = store.submit_job(_spec("remote"), executor="ray")
    running = store.update_job(remote.id, state="running")
    assert running.state is JobState.RUNNING and running.attempts == 1
    done = store.update_job(remote.id, state="succeeded", exit_code=0)
    assert done.state is JobState.SUCCEEDED and done.finished_at is not None
    with pytest.raises(Conflict):
        store.update_job(remote.id, state="failed")
    with pytest.raises(InvalidInput):
        store.submit_job(_spec("x"), executor="slurm")
