"""Label queue: next-task and submit latency with 100,000 tasks, importing them, exporting COCO.

stackml's queue (leases in one transaction on an index ordered by priority) runs against a
naive queue on the same SQLite file settings: one ``tasks`` table with no index on priority,
where "next" is ``SELECT ... WHERE state = 'open' ORDER BY priority DESC LIMIT 1`` followed by
an ``UPDATE`` (what one writes first). Label Studio, the usual peer, is not installable here
in reasonable time (a Django server with its own database), so this baseline stands in.

Cases, in one process, on the same 100,000 image tasks:

(a) importing the tasks (``add_label_tasks``; the baseline: ``executemany`` into its table);
(b) next-task latency: server time of one ``next_label_tasks`` call (what the route runs),
    p50/p99 over ``--calls`` calls by 5 annotators in turn;
(c) submit latency: server time of ``submit_annotation`` (value checked and clamped), and
    of ``label_progress``, which the annotator page asks for after every task; the CPU time
    of the next-task and submit calls is printed beside their wall time, because on a shared
    machine a p99 of wall time measures the scheduler as much as the queue;
(d) exporting every labeled task as a COCO document (consensus, provenance, JSON), with
    annotations inserted in bulk first; image files are not copied in this figure.

    python benchmarks/bench_labeling.py                 # 100,000 tasks, 500 calls
    python benchmarks/bench_labeling.py --tasks 20000 --calls 200

The last line prints both queues' p99 next-task times and their ratio.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stackml.store.labeling_entities import LabelConfig, TaskDraft
from stackml.store.sql.store import SqlMetadataStore

USERS = [f"annotator{i}" for i in range(5)]
BOX = {"boxes": [{"class": "cat", "x": 4.0, "y": 3.0, "w": 30.0, "h": 20.0}]}


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def bench_stackml(root: Path, tasks: int, calls: int) -> dict[str, float]:
    store = SqlMetadataStore(f"sqlite:///{root / 'stackml.db'}")
    config = LabelConfig.from_dict({"task_type": "bboxes", "classes": ["cat", "dog"]})
    store.create_label_project("bench", config)
    drafts = [
        TaskDraft(
            {"image": "ab" * 32, "width": 64, "height": 48, "path": f"img/{i}.png"},
            priority=(i * 7919) % 1000 / 1000,
        )
        for i in range(tasks)
    ]
    start = time.perf_counter()
    for chunk in range(0, tasks, 50_000):
        store.add_label_tasks("bench", drafts[chunk : chunk + 50_000])
    imported = time.perf_counter() - start
    nexts, submits, progress, cpu_next, cpu_submit = [], [], [], [], []
    for i in range(calls):
        user = USERS[i % len(USERS)]
        c0, t0 = time.thread_time(), time.perf_counter()
        (task,) = store.next_label_tasks("bench", user)
        c1, t1 = time.thread_time(), time.perf_counter()
        store.submit_annotation(task.id, user, BOX, duration_ms=1500)
        c2, t2 = time.thread_time(), time.perf_counter()
        store.label_progress("bench")
        t3 = time.perf_counter()
        nexts.append(t1 - t0)
        submits.append(t2 - t1)
        progress.append(t3 - t2)
        cpu_next.append(c1 - c0)
        cpu_submit.append(c2 - c1)
    # Label every task in bulk (the API path is timed above), then time the COCO export.
    from sqlalchemy import update

    from stackml.store.sql.labeling_rows import ANNOTATIONS, TASKS

    def label_all(conn: object) -> None:
        ids = [
            r[0]
            for r in conn.execute(
                TASKS.select().with_only_columns(TASKS.c.id).where(TASKS.c.state != "done")
            )
        ]  # type: ignore[attr-defined]
        rows = [
            {
                "task_id": t,
                "project": "bench",
                "user": "bulk",
                "value": BOX,
                "origin": "human",
                "status": "submitted",
                "counted": True,
                "extra": False,
                "created_at": 0,
                "comment": "",
            }
            for t in ids
        ]
        conn.execute(ANNOTATIONS.insert(), rows)  # type: ignore[attr-defined]
        conn.execute(update(TASKS).values(state="done", done_count=1, open_slots=0))  # type: ignore[attr-defined]

    store._db.transact(label_all, write=True, what="bulk label")
    from stackml.labeling import transfer
    from stackml.labeling.formats.coco import export_coco
    from stackml.store import Store
    from stackml.store.blobs.local import LocalBlobStore

    wrapped = Store(store, LocalBlobStore(root / "blobs"), None)  # type: ignore[arg-type]
    start = time.perf_counter()
    config, items = transfer.collect(wrapped, "bench")
    document = json.dumps(export_coco(config, items))
    exported = time.perf_counter() - start
    store.close()
    return {
        "import_s": imported,
        "next_p50_ms": _p(nexts, 0.5),
        "next_p99_ms": _p(nexts, 0.99),
        "submit_p50_ms": _p(submits, 0.5),
        "submit_p99_ms": _p(submits, 0.99),
        "next_cpu_p99_ms": _p(cpu_next, 0.99),
        "submit_cpu_p99_ms": _p(cpu_submit, 0.99),
        "progress_p50_ms": _p(progress, 0.5),
        "progress_p99_ms": _p(progress, 0.99),
        "export_s": exported,
        "export_images": len(items),
        "export_mb": len(document) / 1e6,
    }


def bench_naive(root: Path, tasks: int, calls: int) -> dict[str, float]:
    db = sqlite3.connect(root / "naive.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(
        "CREATE TABLE tasks (id INTEGER PRIMARY KEY, data TEXT, priority REAL, state TEXT, "
        "assignee TEXT, lease_expires INTEGER)"
    )
    db.execute(
        "CREATE TABLE annotations (id INTEGER PRIMARY KEY, task_id INTEGER, user TEXT, "
        "value TEXT, created_at INTEGER)"
    )
    rows = [
        (
            json.dumps({"image": "ab" * 32, "width": 64, "height": 48, "path": f"img/{i}.png"}),
            (i * 7919) % 1000 / 1000,
        )
        for i in range(tasks)
    ]
    start = time.perf_counter()
    db.execute("BEGIN")
    db.executemany("INSERT INTO tasks (data, priority, state) VALUES (?, ?, 'open')", rows)
    db.execute("COMMIT")
    imported = time.perf_counter() - start
    nexts, submits = [], []
    for i in range(calls):
        user = USERS[i % len(USERS)]
        t0 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        (task_id,) = db.execute(
            "SELECT id FROM tasks WHERE state = 'open' ORDER BY priority DESC LIMIT 1"
        ).fetchone()
        db.execute(
            "UPDATE tasks SET state = 'leased', assignee = ?, lease_expires = ? WHERE id = ?",
            (user, int(time.time() * 1000) + 600_000, task_id),
        )
        db.execute("COMMIT")
        t1 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "INSERT INTO annotations (task_id, user, value, created_at) VALUES (?, ?, ?, ?)",
            (task_id, user, json.dumps(BOX), 0),
        )
        db.execute("UPDATE tasks SET state = 'done' WHERE id = ?", (task_id,))
        db.execute("COMMIT")
        t2 = time.perf_counter()
        nexts.append(t1 - t0)
        submits.append(t2 - t1)
    db.close()
    return {
        "import_s": imported,
        "next_p50_ms": _p(nexts, 0.5),
        "next_p99_ms": _p(nexts, 0.99),
        "submit_p50_ms": _p(submits, 0.5),
        "submit_p99_ms": _p(submits, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-labeling-") as tmp:
        root = Path(tmp)
        ours = bench_stackml(root, args.tasks, args.calls)
        naive = bench_naive(root, args.tasks, args.calls)
    o, n = ours, naive
    print(f"tasks: {args.tasks}, calls: {args.calls}")
    print(f"import   stackml {o['import_s']:.2f} s   naive {n['import_s']:.2f} s (target < 30 s)")
    print(
        f"next     stackml p50 {o['next_p50_ms']:.2f} ms p99 {o['next_p99_ms']:.2f} ms   "
        f"naive p50 {n['next_p50_ms']:.2f} ms p99 {n['next_p99_ms']:.2f} ms (target p99 < 20 ms)"
    )
    print(
        f"submit   stackml p50 {o['submit_p50_ms']:.2f} ms p99 {o['submit_p99_ms']:.2f} ms   "
        f"naive p50 {n['submit_p50_ms']:.2f} ms p99 {n['submit_p99_ms']:.2f} ms"
    )
    print(
        f"cpu      stackml next p99 {o['next_cpu_p99_ms']:.2f} ms, submit p99 "
        f"{o['submit_cpu_p99_ms']:.2f} ms (CPU time of the calling thread)"
    )
    print(f"progress stackml p50 {o['progress_p50_ms']:.2f} ms p99 {o['progress_p99_ms']:.2f} ms")
    print(
        f"export   stackml COCO of {o['export_images']:.0f} images in {o['export_s']:.2f} s "
        f"({o['export_mb']:.1f} MB)"
    )
    ratio = n["next_p99_ms"] / o["next_p99_ms"]
    print(
        f"next-task p99: stackml {o['next_p99_ms']:.2f} ms vs naive queue {n['next_p99_ms']:.2f} ms"
        f" = {ratio:.1f}x faster; submit p99 {o['submit_p99_ms']:.2f} vs"
        f" {n['submit_p99_ms']:.2f} ms"
    )


if __name__ == "__main__":
    main()
