"""The labeling REST API: roles enforced with auth on, uploads validated, files served
safely, bad input answered 4xx, payloads kept as text, and concurrent annotators."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict

import httpx
import pytest

import stackml.labeling as sl
from stackml.store import Store
from tests.labeling.support import XSS, png, seed_images
from tests.server.conftest import Served

BOX = {"boxes": [{"class": "cat", "x": 1, "y": 1, "w": 10, "h": 10}]}


def _client(served: Served, user: str, *, admin: bool = False) -> httpx.Client:
    served.store.metadata.create_user(user, is_admin=admin)
    secret, _ = served.store.metadata.create_token(user, "t")
    return httpx.Client(
        base_url=served.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )


def test_roles_are_enforced_and_the_token_user_acts(served_auth: Served) -> None:
    boss = _client(served_auth, "boss")
    config = {"task_type": "bboxes", "classes": ["cat", "dog"]}
    assert (
        boss.post("/api/v1/label-projects", json={"name": "p", "config": config}).status_code == 201
    )
    ann, rev, stranger = (_client(served_auth, u) for u in ("ann", "rev", "eve"))
    for user, role in (("ann", "annotator"), ("rev", "reviewer")):
        assert (
            boss.put(f"/api/v1/label-projects/p/members/{user}", json={"role": role}).status_code
            == 200
        )
    task = {"data": {"image": "ab" * 32, "width": 50, "height": 50}, "gold": BOX}
    assert ann.post("/api/v1/label-projects/p/tasks", json={"tasks": [task]}).status_code == 403
    (tid,) = boss.post("/api/v1/label-projects/p/tasks", json={"tasks": [task, task]}).json()[
        "ids"
    ][:1]
    assert stranger.post("/api/v1/label-projects/p/next", json={}).status_code == 403
    got = ann.post("/api/v1/label-projects/p/next", json={"user": "boss"}).json()
    assert got[0]["id"] == tid and got[0]["gold"] is None  # gold answers are hidden
    listed = ann.get("/api/v1/label-projects/p/tasks").json()
    assert all(t["gold"] is None for t in listed)
    assert rev.get("/api/v1/label-projects/p/tasks").json()[0]["gold"] == BOX
    made = ann.post(f"/api/v1/label-tasks/{tid}/annotations", json={"user": "boss", "value": BOX})
    assert made.status_code == 201 and made.json()["user"] == "ann"  # not whoever the body names
    machine = ann.post(
        f"/api/v1/label-tasks/{tid + 1}/annotations", json={"value": BOX, "origin": "machine"}
    )
    assert machine.status_code == 403
    aid = made.json()["id"]
    assert (
        ann.post(f"/api/v1/label-annotations/{aid}/review", json={"decision": "accept"}).status_code
        == 403
    )
    ok = rev.post(
        f"/api/v1/label-annotations/{aid}/review", json={"decision": "reject", "comment": "no"}
    )
    assert ok.status_code == 200 and ok.json()["reviewer"] == "rev"
    assert (
        ann.get("/api/v1/label-projects/p/annotations", params={"user": "rev"}).json()[0]["user"]
        == "ann"
    )
    assert rev.patch("/api/v1/label-projects/p", json={"description": "x"}).status_code == 403
    assert boss.patch("/api/v1/label-projects/p", json={"description": "x"}).status_code == 200
    assert httpx.get(f"{served_auth.url}/api/v1/label-projects").status_code == 401


def test_bad_input_is_answered_4xx(client: httpx.Client) -> None:
    config = {"task_type": "bboxes", "classes": ["cat"]}
    assert (
        client.post("/api/v1/label-projects", json={"name": "p", "config": config}).status_code
        == 201
    )
    assert (
        client.post("/api/v1/label-projects", json={"name": "p", "config": config}).status_code
        == 409
    )
    assert (
        client.post("/api/v1/label-projects", json={"name": "../x", "config": config}).status_code
        == 400
    )
    bad = {"task_type": "bboxes", "classes": ["cat", "cat"]}
    assert (
        client.post("/api/v1/label-projects", json={"name": "q", "config": bad}).status_code == 400
    )
    keys = {"task_type": "bboxes", "classes": [{"name": "a", "hotkey": "n"}]}
    assert (
        client.post("/api/v1/label-projects", json={"name": "q", "config": keys}).status_code == 400
    )
    task = {"data": {"image": "ab" * 32, "width": 20, "height": 10}}
    (tid,) = client.post("/api/v1/label-projects/p/tasks", json={"tasks": [task]}).json()["ids"]
    outside = {"boxes": [{"class": "cat", "x": 30, "y": 1, "w": 5, "h": 5}]}
    for value in (
        outside,
        {"boxes": [{"class": "dog", "x": 1, "y": 1, "w": 5, "h": 5}]},
        {"boxes": "x"},
    ):
        answer = client.post(f"/api/v1/label-tasks/{tid}/annotations", json={"value": value})
        assert answer.status_code == 400, answer.text
    clamped = client.post(
        f"/api/v1/label-tasks/{tid}/annotations",
        json={"value": {"boxes": [{"class": "cat", "x": -4, "y": 2, "w": 100, "h": 3}]}},
    ).json()["value"]["boxes"][0]
    assert (clamped["x"], clamped["w"]) == (0.0, 20.0)
    assert client.get("/api/v1/label-tasks/999").status_code == 404
    assert client.get("/api/v1/label-tasks/0").status_code == 400
    assert client.post("/api/v1/label-tasks/1/skip", json={"reason": "x"}).status_code == 409
    assert (
        client.post("/api/v1/label-annotations/1/review", json={"decision": "meh"}).status_code
        == 400
    )
    assert (
        client.get("/api/v1/label-projects/p/tasks", params={"state": "weird"}).status_code == 400
    )


def test_uploads_are_decoded_and_files_served_with_safe_headers(
    client: httpx.Client, served: Served
) -> None:
    config = {"task_type": "bboxes", "classes": ["cat"]}
    client.post("/api/v1/label-projects", json={"name": "up", "config": config})
    image = png(40, 30)
    made = client.post("/api/v1/label-projects/up/images", content=image, params={"key": "a.png"})
    assert made.status_code == 201 and (made.json()["width"], made.json()["height"]) == (40, 30)
    tid = made.json()["task_id"]
    for fake in (b"<svg onload=alert(1)></svg>", b"<html><script>alert(1)</script>", image[:60]):
        assert client.post("/api/v1/label-projects/up/images", content=fake).status_code == 400
    big = b"\x89PNG" + b"\0" * (21 * 1024 * 1024)
    assert client.post("/api/v1/label-projects/up/images", content=big).status_code == 413
    served_image = client.get(f"/api/v1/label-tasks/{tid}/image")
    assert served_image.content == image
    headers = served_image.headers
    assert headers["content-type"] == "image/png" and headers["x-content-type-options"] == "nosniff"
    assert headers["content-disposition"] == f'inline; filename="task-{tid}.png"'
    assert "sandbox" in headers["content-security-policy"]
    # A task whose data points at stored HTML is never served as HTML.
    digest = served.store.blobs.put_bytes(b"<html><script>alert(1)</script></html>")
    (evil,) = served.store.metadata.add_label_tasks(
        "up", [sl.TaskDraft({"image": digest, "width": 4, "height": 4})]
    )
    sniffed = client.get(f"/api/v1/label-tasks/{evil}/image")
    assert sniffed.headers["content-type"] == "application/octet-stream"


def test_payloads_in_task_data_and_names_come_back_as_text(
    client: httpx.Client, served: Served
) -> None:
    seed_images(served.store, "x", 1)
    sl.add_tasks("x", [{"image_bytes": png(), "caption": XSS}], store=served.store)
    pages = [
        client.get(p).text
        for p in ("/labeling", "/labeling/x", "/labeling/x/annotate", "/labeling/x/review")
    ]
    for text in pages:
        assert XSS not in text and "<script>window.__xss" not in text
    assert "&lt;img src=x onerror=" in pages[1]
    tasks = client.get("/api/v1/label-projects/x/tasks").json()
    assert tasks[1]["data"]["caption"] == XSS  # data is kept as given; pages escape it


def _annotate_concurrently(url: str, overlap: int, users: int = 5) -> tuple[dict, list]:
    received: dict[str, list[int]] = defaultdict(list)
    errors: list[str] = []

    def work(user: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            while True:
                got = c.post("/api/v1/label-projects/conc/next", json={"user": user, "limit": 2})
                if got.status_code != 200:
                    errors.append(got.text)
                    return
                tasks = got.json()
                if not tasks:
                    return
                for t in tasks:
                    received[user].append(t["id"])
                    answer = c.post(
                        f"/api/v1/label-tasks/{t['id']}/annotations",
                        json={"user": user, "value": BOX, "duration_ms": 5},
                    )
                    if answer.status_code != 201:
                        errors.append(answer.text)

    threads = [threading.Thread(target=work, args=(f"user{i}",)) for i in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return received, errors


def _check_concurrency(store: Store, url: str) -> None:
    overlap, n = 2, 40
    config = sl.LabelConfig.from_dict(
        {"task_type": "bboxes", "classes": ["cat"], "overlap": overlap}
    )
    store.metadata.create_label_project("conc", config)
    drafts = [sl.TaskDraft({"image": "ab" * 32, "width": 50, "height": 50}) for _ in range(n)]
    ids = store.metadata.add_label_tasks("conc", drafts)
    received, errors = _annotate_concurrently(url, overlap)
    assert not errors
    per_task = Counter(tid for got in received.values() for tid in got)
    assert set(per_task) == set(ids) and set(per_task.values()) == {overlap}  # never beyond
    for got in received.values():
        assert len(got) == len(set(got))  # nobody got a task twice
    annotations = store.metadata.list_annotations("conc")
    assert len(annotations) == overlap * n  # none lost
    assert Counter(a.task_id for a in annotations) == per_task
    assert {(a.task_id, a.user) for a in annotations} == {
        (t, u) for u, got in received.items() for t in got
    }
    assert store.metadata.label_progress("conc").done == n


def test_five_annotators_pull_and_submit_concurrently(served: Served) -> None:
    _check_concurrency(served.store, served.url)


@pytest.mark.postgres
def test_five_annotators_concurrently_on_postgres(served_postgres: Served) -> None:
    _check_concurrency(served_postgres.store, served_postgres.url)
