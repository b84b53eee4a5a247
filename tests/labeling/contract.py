"""The labeling part of the metadata-store contract, run on SQLite, PostgreSQL and REST."""

from __future__ import annotations

import time

import pytest

from stackml.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from stackml.store.base import MetadataStore
from stackml.store.labeling_entities import LabelConfig, TaskDraft

IMG = "ab" * 32


def boxes_config(overlap: int = 1, lease_s: float = 600) -> LabelConfig:
    return LabelConfig.from_dict(
        {
            "task_type": "bboxes",
            "classes": [{"name": "cat", "hotkey": "c"}, "dog"],
            "instructions": "Draw a box around every animal.",
            "overlap": overlap,
            "lease_s": lease_s,
        }
    )


def image(i: int = 0, priority: float = 0.0, **kw: object) -> TaskDraft:
    return TaskDraft({"image": IMG, "width": 100, "height": 50, "i": i}, priority=priority, **kw)  # type: ignore[arg-type]


def box(cls: str = "cat", x: float = 10, y: float = 10, w: float = 20, h: float = 20) -> dict:
    return {"boxes": [{"class": cls, "x": x, "y": y, "w": w, "h": h}]}


class LabelingStoreContract:
    """Behaviour every labeling store must show. Needs a ``store`` fixture."""

    def test_project_lifecycle(self, store: MetadataStore) -> None:
        p = store.create_label_project("pets", boxes_config(), description="d", created_by="ada")
        assert p.config.classes[0].hotkey == "c" and p.config.classes[1].color.startswith("#")
        assert store.get_label_project("pets") == p
        assert [x.name for x in store.list_label_projects()] == ["pets"]
        assert [(m.user, m.role) for m in store.list_label_members("pets")] == [("ada", "manager")]
        with pytest.raises(AlreadyExists):
            store.create_label_project("pets", boxes_config())
        with pytest.raises(NotFound):
            store.get_label_project("nope")
        with pytest.raises(InvalidInput):
            store.create_label_project("bad name!", boxes_config())
        changed = store.update_label_project("pets", description="new")
        assert changed.description == "new"
        other = LabelConfig.from_dict({"task_type": "text_spans", "classes": ["PER"]})
        with pytest.raises(Conflict):
            store.update_label_project("pets", config=other)
        members = store.set_label_member("pets", "bob", "annotator")
        assert {m.user: m.role for m in members} == {"ada": "manager", "bob": "annotator"}
        with pytest.raises(InvalidInput):
            store.set_label_member("pets", "bob", "boss")
        assert store.set_label_group("pets", "night", ["bob", "eve"]) == {"night": ["bob", "eve"]}
        assert store.list_label_groups("pets") == {"night": ["bob", "eve"]}

    def test_queue_hands_out_by_priority_with_leases(self, store: MetadataStore) -> None:
        store.create_label_project("q", boxes_config())
        ids = store.add_label_tasks("q", [image(i, priority=i % 3) for i in range(6)])
        assert len(ids) == 6 and ids == sorted(ids)
        first = store.next_label_tasks("q", "ada", limit=2)
        assert [t.priority for t in first] == [2.0, 2.0]
        assert all(t.lease_expires_at for t in first)
        again = store.next_label_tasks("q", "ada", limit=2)  # renews what ada holds
        assert [t.id for t in again] == [t.id for t in first]
        bob = store.next_label_tasks("q", "bob", limit=10)
        assert not {t.id for t in bob} & {t.id for t in first}
        assert store.next_label_tasks("q", "eve") == []
        progress = store.label_progress("q")
        assert (progress.total, progress.open, progress.leased) == (6, 0, 6)

    def test_submit_records_who_when_how_long_and_clamps(self, store: MetadataStore) -> None:
        store.create_label_project("s", boxes_config())
        (tid,) = store.add_label_tasks("s", [image()])
        (task,) = store.next_label_tasks("s", "ada")
        a = store.submit_annotation(task.id, "ada", box(x=-10, w=500), duration_ms=1234)
        assert a.user == "ada" and a.duration_ms == 1234 and a.created_at > 0
        assert a.started_at is not None and not a.extra
        assert a.value["boxes"][0] == {"class": "cat", "x": 0.0, "y": 10.0, "w": 100.0, "h": 20.0}
        assert store.get_label_task(tid).state == "done"
        with pytest.raises(InvalidInput):
            store.submit_annotation(tid, "bob", box(x=500))  # entirely outside
        with pytest.raises(InvalidInput):
            store.submit_annotation(tid, "bob", box(cls="horse"))
        with pytest.raises(InvalidInput):
            store.submit_annotation(tid, "bob", {"boxes": [{"class": "cat", "x": float("nan")}]})
        fixed = store.submit_annotation(tid, "ada", box(w=5), duration_ms=100)
        assert fixed.id == a.id and fixed.duration_ms == 1334  # a correction, not a second label
        assert len(store.list_annotations("s")) == 1

    def test_overlap_and_expired_leases(self, store: MetadataStore) -> None:
        store.create_label_project("o", boxes_config(overlap=2))
        (tid,) = store.add_label_tasks("o", [image()])
        assert [t.id for t in store.next_label_tasks("o", "ada", lease_s=2.0)] == [tid]
        assert [t.id for t in store.next_label_tasks("o", "bob")] == [tid]
        assert store.next_label_tasks("o", "eve") == []  # overlap 2 reached
        time.sleep(2.2)
        assert [t.id for t in store.next_label_tasks("o", "eve")] == [tid]  # ada's lapsed
        store.submit_annotation(tid, "bob", box())
        store.submit_annotation(tid, "eve", box("dog"))
        assert store.get_label_task(tid).state == "done"
        late = store.submit_annotation(tid, "ada", box())
        assert late.extra  # kept beside the others, not overwriting them
        values = {a.user: a.value["boxes"][0]["class"] for a in store.list_annotations("o")}
        assert values == {"bob": "cat", "eve": "dog", "ada": "cat"}
        assert store.get_label_task(tid).done_count == 2

    def test_skip_assign_priorities(self, store: MetadataStore) -> None:
        store.create_label_project("k", boxes_config())
        a, b, c = store.add_label_tasks("k", [image(0), image(1), image(2)])
        (t,) = store.next_label_tasks("k", "ada")
        assert t.id == a
        store.skip_label_task(a, "ada", "blurry")
        assert [x.id for x in store.next_label_tasks("k", "ada")] == [b]
        with pytest.raises(Conflict):
            store.skip_label_task(c, "ada", "never leased")
        assert store.label_progress("k").skipped == 1
        assert store.assign_label_tasks("k", [c], "bob") == 1
        assert [x.id for x in store.next_label_tasks("k", "eve")] == [a]  # c is bob's, b ada's
        store.skip_label_task(a, "eve", "not my kind of task")
        store.set_label_group("k", "team", ["zed"])
        assert store.assign_label_tasks("k", [a], "@team") == 1
        assert [x.id for x in store.next_label_tasks("k", "zed")] == [a]
        assert [x.id for x in store.next_label_tasks("k", "bob")] == [c]
        store.add_label_tasks("k", [image(3), image(4)])
        tasks = store.list_label_tasks("k", state="open")
        assert store.set_label_priorities("k", {tasks[-1].id: 9.5}) == 1
        assert store.next_label_tasks("k", "yan")[0].id == tasks[-1].id
        with pytest.raises(InvalidInput):
            store.set_label_priorities("k", {tasks[0].id: float("inf")})

    def test_review_workflow(self, store: MetadataStore) -> None:
        store.create_label_project("r", boxes_config())
        t1, t2, t3 = store.add_label_tasks("r", [image(0), image(1), image(2)])
        anns = []
        for tid in (t1, t2, t3):
            store.next_label_tasks("r", "ada")
            anns.append(store.submit_annotation(tid, "ada", box()))
        ok = store.review_annotation(anns[0].id, "rita", "accept")
        assert ok.status == "accepted" and ok.reviewer == "rita" and ok.reviewed_at
        bad = store.review_annotation(anns[1].id, "rita", "reject", comment="box too loose")
        assert bad.status == "rejected" and bad.comment == "box too loose"
        assert store.get_label_task(t2).state == "open"  # back in the queue
        assert [t.id for t in store.next_label_tasks("r", "bob")] == [t2]
        fix = store.review_annotation(anns[2].id, "rita", "fix", value=box("dog"))
        assert (
            fix.origin == "review"
            and fix.user == "rita"
            and fix.value["boxes"][0]["class"] == "dog"
        )
        assert store.get_annotation(anns[2].id).status == "fixed"
        with pytest.raises(Conflict):
            store.review_annotation(anns[0].id, "rita", "reject")
        with pytest.raises(InvalidInput):
            store.review_annotation(anns[0].id, "rita", "maybe")
        with pytest.raises(NotFound):
            store.get_annotation(99999)
        p = store.label_progress("r")
        assert (p.accepted, p.rejected, p.done) == (2, 1, 2)

    def test_machine_labels_and_text(self, store: MetadataStore) -> None:
        cfg = LabelConfig.from_dict({"task_type": "text_spans", "classes": ["PER", "ORG"]})
        store.create_label_project("ner", cfg)
        (tid,) = store.add_label_tasks("ner", [TaskDraft({"text": "Ada works at ACME"})])
        m = store.submit_annotation(
            tid,
            "model",
            {"spans": [{"class": "ORG", "start": 13, "end": 17}]},
            origin="machine",
            model="ner@3",
            confidence=0.97,
            audit=True,
        )
        assert (m.origin, m.model, m.confidence, m.status) == ("machine", "ner@3", 0.97, "audit")
        with pytest.raises(InvalidInput):
            store.submit_annotation(
                tid, "ada", {"spans": [{"class": "PER", "start": 5, "end": 99}]}
            )
        with pytest.raises(InvalidInput):
            store.add_label_tasks("ner", [TaskDraft({"image": IMG})])
        assert store.label_progress("ner").machine == 1
