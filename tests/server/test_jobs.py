"""The job queue over HTTP: the REST store round trip, and who may do what with auth on."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from stackml.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from stackml.store.jobs_base import Capacity, JobSpec, JobState, Quota
from stackml.store.rest import RestMetadataStore
from tests.server.conftest import Served

SPEC = {"name": "train", "command": ["python", "train.py"]}


def test_rest_store_round_trip(served: Served) -> None:
    rest = RestMetadataStore(served.url)
    try:
        job = rest.submit_job(JobSpec(name="j", command=["true"], env={"A": "1"}), user="carol")
        assert job.user == "carol" and job.state is JobState.QUEUED
        assert rest.get_job(job.id) == served.store.metadata.get_job(job.id)
        worker = rest.register_worker(
            name="w", host="h", cpus=2, gpus=["0"], memory_mb=0, lease_s=5
        )
        claimed = rest.claim_jobs(worker.id, Capacity(cpus=2, gpus=["0"]), limit=5)
        assert [j.id for j in claimed] == [job.id]
        rest.append_job_log(job.id, "line\n")
        assert rest.read_job_log(job.id).text == "line\n"
        assert rest.heartbeat(worker.id) == []
        assert rest.list_workers()[0].running_jobs == 1
        done = rest.finish_job(job.id, worker.id, exit_code=0)
        assert done.state is JobState.SUCCEEDED
        assert [j.id for j in rest.list_jobs(state="succeeded")] == [job.id]
        with pytest.raises(Conflict):
            rest.cancel_job(job.id)
        rest.set_quota(Quota("carol", max_cpus=4))
        assert rest.list_quotas() == [Quota("carol", 4.0, None, None)]
        with pytest.raises(InvalidInput):
            rest.submit_job(JobSpec(name="bad", command=["x"], env={"NO SPACES": "1"}))
        with pytest.raises(NotFound):
            rest.get_job("missing")
        rest.stop_worker(worker.id)
        assert rest.reap_expired_jobs() == 0
    finally:
        rest.close()


def test_bad_bodies_are_400_not_500(client: httpx.Client) -> None:
    for body in (
        {"spec": {**SPEC, "command": "rm -rf /"}},
        {"spec": {**SPEC, "cpus": "many"}},
        {"spec": {**SPEC, "unknown": 1}},
        {"spec": {"name": "x", "command": ["a"], "env": {"A=B": "1"}}},
        {"spec": SPEC, "executor": "slurm"},
    ):
        response = client.post("/api/v1/jobs", json=body)
        assert response.status_code in (400, 422), (body, response.text)
    assert client.get("/api/v1/jobs", params={"state": "nope"}).status_code == 400


@pytest.fixture
def people(served_auth: Served) -> Iterator[dict[str, RestMetadataStore]]:
    meta = served_auth.store.metadata
    meta.create_user("root", is_admin=True)
    meta.create_user("alice")
    meta.create_user("bob")
    clients = {
        name: RestMetadataStore(served_auth.url, token=meta.create_token(name, "t")[0])
        for name in ("root", "alice", "bob")
    }
    clients["anon"] = RestMetadataStore(served_auth.url)
    yield clients
    for client in clients.values():
        client.close()


def test_auth_is_required_for_every_job_route(
    served_auth: Served, people: dict[str, RestMetadataStore]
) -> None:
    with pytest.raises(Unauthorized):
        people["anon"].submit_job(JobSpec(name="x", command=["true"]))
    assert served_auth.store.metadata.list_jobs() == []  # nothing was queued
    with httpx.Client(base_url=served_auth.url) as anon:
        for method, path in (
            ("POST", "/api/v1/jobs"),
            ("GET", "/api/v1/jobs"),
            ("GET", "/api/v1/jobs/x"),
            ("POST", "/api/v1/jobs/x/cancel"),
            ("GET", "/api/v1/jobs/x/logs"),
            ("GET", "/api/v1/workers"),
            ("POST", "/api/v1/workers"),
        ):
            assert anon.request(method, path, json=SPEC).status_code == 401, path


def test_users_own_their_jobs(served_auth: Served, people: dict[str, RestMetadataStore]) -> None:
    alice, bob, root = people["alice"], people["bob"], people["root"]
    # The token decides the owner, whatever the body claims.
    job = alice.submit_job(JobSpec(name="mine", command=["true"]), user="bob")
    assert job.user == "alice"
    bobs = bob.submit_job(JobSpec(name="his", command=["true"]))
    for call in (bob.get_job, bob.cancel_job, bob.retry_job, bob.read_job_log):
        with pytest.raises(Forbidden):
            call(job.id)
    with pytest.raises(Forbidden):
        bob.list_jobs(user="alice")
    assert [j.id for j in bob.list_jobs()] == [bobs.id]
    assert {j.id for j in root.list_jobs()} == {job.id, bobs.id}
    assert alice.cancel_job(job.id).state is JobState.CANCELLED
    assert root.cancel_job(bobs.id).state is JobState.CANCELLED  # administrators may
    # Workers run everyone's code: registering, claiming and finishing need an administrator.
    with pytest.raises(Forbidden):
        alice.register_worker(name="w", host="h", cpus=1, gpus=[], memory_mb=0, lease_s=5)
    worker = root.register_worker(name="w", host="h", cpus=1, gpus=[], memory_mb=0, lease_s=5)
    assert worker.user == "root"
    with pytest.raises(Forbidden):
        alice.claim_jobs(worker.id, Capacity(cpus=1))
    with pytest.raises(Forbidden):
        alice.set_quota(Quota("alice", max_jobs=100))


def test_a_worker_runs_jobs_through_the_server(
    served_auth: Served, people: dict[str, RestMetadataStore]
) -> None:
    from stackml.compute import JobWorker, WorkerSettings, iter_logs, make_spec
    from stackml.store import open_store

    job = people["alice"].submit_job(make_spec(["sh", "-c", "echo from $STACKML_JOB_ID"]))
    secret = served_auth.store.metadata.create_token("root", "worker")[0]
    worker_store = open_store(served_auth.url, token=secret)
    try:
        settings = WorkerSettings(lease_s=5, heartbeat_s=0.2, poll_s=0.05)
        assert JobWorker(worker_store, cpus=1, settings=settings).run(until_idle=True) == 1
        done = people["alice"].get_job(job.id)
        assert done.state is JobState.SUCCEEDED and done.user == "alice"
        assert "".join(iter_logs(worker_store, job.id)) == f"from {job.id}\n"
    finally:
        worker_store.close()
