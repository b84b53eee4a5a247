"""A backend-agnostic test suite for every :class:`~stackml.store.base.MetadataStore`.

Subclass :class:`MetadataStoreContract` and provide a fixture named ``store`` that yields a
fresh, empty store; every test here uses only the public interface.
"""

from __future__ import annotations

import math
import time

import pytest

from stackml.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from stackml.store.base import MetadataStore
from stackml.store.entities import Artifact, LineageEdge, MetricPoint, RunStatus

BLOB = "ab" * 32


class MetadataStoreContract:
    """Behaviour every metadata store must show. Needs a ``store`` fixture."""

    # -- projects and experiments -------------------------------------------------------
    def test_project_lifecycle(self, store: MetadataStore) -> None:
        created = store.create_project("digits", "handwritten digits")
        assert created.name == "digits" and created.description == "handwritten digits"
        assert store.get_project("digits") == created
        store.create_project("alpha")
        assert [p.name for p in store.list_projects()] == ["alpha", "digits"]
        with pytest.raises(AlreadyExists):
            store.create_project("digits")
        with pytest.raises(NotFound):
            store.get_project("missing")
        assert store.ensure_project("digits") == created
        assert store.ensure_project("fresh").name == "fresh"

    @pytest.mark.parametrize("bad", ["", "has space", "../etc", "-dash", "x" * 200, "a/b", "é"])
    def test_invalid_project_names(self, store: MetadataStore, bad: str) -> None:
        with pytest.raises(InvalidInput):
            store.create_project(bad)

    def test_experiments(self, store: MetadataStore) -> None:
        store.create_project("p")
        exp = store.create_experiment("p", "baseline", tags={"team": "vision"})
        assert exp.project == "p" and exp.name == "baseline" and exp.tags == {"team": "vision"}
        assert store.get_experiment(exp.id) == exp
        assert store.get_experiment_by_name("p", "baseline") == exp
        names = [e.name for e in store.list_experiments("p")]
        assert set(names) == {"default", "baseline"}
        with pytest.raises(AlreadyExists):
            store.create_experiment("p", "baseline")
        with pytest.raises(NotFound):
            store.create_experiment("nope", "x")
        with pytest.raises(NotFound):
            store.get_experiment("0" * 32)
        with pytest.raises(NotFound):
            store.get_experiment_by_name("p", "missing")
        with pytest.raises(InvalidInput):
            store.create_experiment("p", "bad name!")

    def test_experiment_tags(self, store: MetadataStore) -> None:
        store.create_project("p")
        exp = store.create_experiment("p", "tagged", tags={"team": "vision"})
        updated = store.set_experiment_tags(exp.id, {"team": "nlp", "owner": "ada"})
        assert updated.tags == {"team": "nlp", "owner": "ada"}
        assert store.get_experiment(exp.id).tags == {"team": "nlp", "owner": "ada"}
        store.delete_experiment_tag(exp.id, "team")
        assert store.get_experiment(exp.id).tags == {"owner": "ada"}
        with pytest.raises(NotFound):
            store.delete_experiment_tag(exp.id, "team")
        with pytest.raises(NotFound):
            store.set_experiment_tags("0" * 32, {"a": "b"})
        with pytest.raises(InvalidInput):
            store.set_experiment_tags(exp.id, {"bad\nkey": "b"})

    # -- runs ---------------------------------------------------------------------------
    def test_create_and_get_run(self, store: MetadataStore) -> None:
        run = store.create_run(
            "digits",
            name="first",
            user="ada",
            params={"lr": "0.001", "opt": "adam"},
            tags={"stage": "dev"},
            start_time=1_700_000_000_000,
        )
        assert run.status is RunStatus.RUNNING and run.end_time is None
        assert run.project == "digits" and run.name == "first" and run.user == "ada"
        assert run.params == {"lr": "0.001", "opt": "adam"} and run.tags == {"stage": "dev"}
        assert run.start_time == 1_700_000_000_000
        assert store.get_run(run.id) == run
        experiment = store.get_experiment(run.experiment_id)
        assert (experiment.project, experiment.name) == ("digits", "default")
        other = store.create_run("digits", experiment="sweep")
        assert store.get_experiment(other.experiment_id).name == "sweep"
        assert other.name and other.id != run.id
        with pytest.raises(NotFound):
            store.get_run("f" * 32)

    def test_run_names_are_generated(self, store: MetadataStore) -> None:
        names = {store.create_run("p").name for _ in range(5)}
        assert all(name and "-" in name for name in names)

    def test_bad_run_input(self, store: MetadataStore) -> None:
        with pytest.raises(InvalidInput):
            store.create_run("p", name="line\nbreak")
        with pytest.raises(InvalidInput):
            store.create_run("p", params={"bad\x00key": "1"})
        with pytest.raises(InvalidInput):
            store.create_run("p", tags={"../escape": "1"})
        with pytest.raises(NotFound):
            store.create_run("p", parent_id="0" * 32)

    def test_update_and_finish_run(self, store: MetadataStore) -> None:
        run = store.create_run("p")
        renamed = store.update_run(run.id, name="renamed")
        assert renamed.name == "renamed" and renamed.status is RunStatus.RUNNING
        done = store.update_run(run.id, status=RunStatus.COMPLETED)
        assert done.status is RunStatus.COMPLETED and done.end_time is not None
        assert done.duration_ms is not None and done.duration_ms >= 0
        failed = store.update_run(run.id, status=RunStatus.FAILED, end_time=run.start_time + 5)
        assert failed.end_time == run.start_time + 5
        with pytest.raises(InvalidInput):
            store.update_run(run.id, status="exploded")  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            store.update_run("0" * 32, name="x")

    def test_nested_runs_and_delete(self, store: MetadataStore) -> None:
        parent = store.create_run("p", name="sweep")
        child = store.create_run("p", name="trial-1", parent_id=parent.id)
        assert child.parent_id == parent.id
        page = store.search_runs(project="p", filter=f"parent_id = '{parent.id}'")
        assert [r.id for r in page.runs] == [child.id]
        store.log_metrics(child.id, [MetricPoint("loss", 1.0, 0, 1)])
        store.log_artifact(Artifact(child.id, "model.bin", BLOB, 3, "application/octet-stream", 0))
        store.add_lineage(LineageEdge("dataset_version", "d@v1", "run", child.id, "input"))
        store.delete_run(child.id)
        with pytest.raises(NotFound):
            store.get_run(child.id)
        with pytest.raises(NotFound):
            store.metric_history(child.id, "loss")
        assert store.list_lineage("run", child.id) == []
        assert BLOB not in set(store.referenced_blobs())
        with pytest.raises(NotFound):
            store.delete_run(child.id)
        store.delete_run(parent.id)
        assert store.search_runs(project="p").runs == []

    # -- params and tags ----------------------------------------------------------------
    def test_params_are_immutable(self, store: MetadataStore) -> None:
        run = store.create_run("p", params={"lr": "0.1"})
        store.log_params(run.id, {"lr": "0.1", "batch": "32"})
        with pytest.raises(Conflict):
            store.log_params(run.id, {"lr": "0.2"})
        assert store.get_run(run.id).params == {"lr": "0.1", "batch": "32"}
        with pytest.raises(NotFound):
            store.log_params("0" * 32, {"a": "1"})
        with pytest.raises(InvalidInput):
            store.log_params(run.id, {"": "1"})

    def test_tags(self, store: MetadataStore) -> None:
        run = store.create_run("p", tags={"a": "1"})
        store.set_tags(run.id, {"a": "2", "b": "x"})
        assert store.get_run(run.id).tags == {"a": "2", "b": "x"}
        store.delete_tag(run.id, "a")
        assert store.get_run(run.id).tags == {"b": "x"}
        with pytest.raises(NotFound):
            store.delete_tag(run.id, "a")
        with pytest.raises(NotFound):
            store.set_tags("0" * 32, {"a": "1"})
        with pytest.raises(InvalidInput):
            store.set_tags(run.id, {"a\tb": "1"})

    # -- metrics ------------------------------------------------------------------------
    def test_metrics_history_and_summary(self, store: MetadataStore) -> None:
        run = store.create_run("p")
        store.log_metrics(
            run.id,
            [MetricPoint("loss", 1.0 - s / 10, s, 1000 + s) for s in range(5)]
            + [MetricPoint("train/acc", 0.5, 0, 1000)],
        )
        store.log_metrics(run.id, [MetricPoint("loss", 0.9, 2, 2000)])
        history = store.metric_history(run.id, "loss")
        assert [(p.step, p.value) for p in history] == [
            (0, 1.0),
            (1, 0.9),
            (2, 0.8),
            (2, 0.9),
            (3, 0.7),
            (4, 0.6),
        ]
        summaries = store.metric_summaries(run.id)
        loss = summaries["loss"]
        assert (loss.latest, loss.latest_step, loss.count) == (0.6, 4, 6)
        assert (loss.min, loss.max) == (0.6, 1.0)
        assert summaries["train/acc"].latest == 0.5
        assert store.get_run(run.id).metric("loss") == 0.6
        assert store.metric_history(run.id, "never") == []
        store.log_metrics(run.id, [])

    def test_metric_nan_and_infinity_round_trip(self, store: MetadataStore) -> None:
        run = store.create_run("p")
        values = [math.nan, math.inf, -math.inf, 1.5]
        store.log_metrics(run.id, [MetricPoint("x", v, i, i) for i, v in enumerate(values)])
        got = [p.value for p in store.metric_history(run.id, "x")]
        assert math.isnan(got[0]) and got[1:] == [math.inf, -math.inf, 1.5]
        summary = store.metric_summaries(run.id)["x"]
        assert (summary.min, summary.max, summary.latest, summary.count) == (
            -math.inf,
            math.inf,
            1.5,
            4,
        )
        store.log_metrics(run.id, [MetricPoint("only_nan", math.nan, 0, 0)])
        nan_summary = store.metric_summaries(run.id)["only_nan"]
        assert math.isnan(nan_summary.latest) and math.isnan(nan_summary.min)

    def test_bad_metrics(self, store: MetadataStore) -> None:
        run = store.create_run("p")
        with pytest.raises(InvalidInput):
            store.log_metrics(run.id, [MetricPoint("bad\nkey", 1.0, 0, 0)])
        with pytest.raises(InvalidInput):
            store.log_metrics(run.id, [MetricPoint("k", "high", 0, 0)])  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            store.log_metrics("0" * 32, [MetricPoint("k", 1.0, 0, 0)])
        with pytest.raises(NotFound):
            store.metric_summaries("0" * 32)
        assert store.metric_summaries(run.id) == {}

    def test_many_points_round_trip(self, store: MetadataStore) -> None:
        run = store.create_run("p")
        keys = ("loss", "acc", "lr", "grad/norm")
        points = [
            MetricPoint(keys[i % 4], i * 0.5, i // 4, 1_700_000_000_000 + i) for i in range(100_000)
        ]
        store.log_metrics(run.id, points[:50_000])
        store.log_metrics(run.id, points[50_000:])
        summaries = store.metric_summaries(run.id)
        assert {k: s.count for k, s in summaries.items()} == dict.fromkeys(keys, 25_000)
        history = store.metric_history(run.id, "acc")
        assert len(history) == 25_000 and history[-1].step == 24_999

    # -- artifacts ----------------------------------------------------------------------
    def test_artifacts(self, store: MetadataStore) -> None:
        run = store.create_run("p")
        first = store.log_artifact(
            Artifact(run.id, "model/weights.pt", BLOB, 10, "application/octet-stream", 5)
        )
        assert first.created_at == 5 and first.blob_hash == BLOB
        store.log_artifact(
            Artifact(run.id, "model/config.json", "cd" * 32, 2, "application/json", 6)
        )
        store.log_artifact(Artifact(run.id, "models.txt", "ef" * 32, 1, "text/plain", 7))
        assert [a.path for a in store.list_artifacts(run.id)] == [
            "model/config.json",
            "model/weights.pt",
            "models.txt",
        ]
        assert [a.path for a in store.list_artifacts(run.id, prefix="model")] == [
            "model/config.json",
            "model/weights.pt",
        ]
        replaced = store.log_artifact(Artifact(run.id, "models.txt", BLOB, 10, "text/plain", 8))
        assert store.get_artifact(run.id, "models.txt") == replaced
        assert sorted(store.referenced_blobs()) == sorted({BLOB, "cd" * 32})
        with pytest.raises(NotFound):
            store.get_artifact(run.id, "missing.txt")
        with pytest.raises(NotFound):
            store.log_artifact(Artifact("0" * 32, "a.txt", BLOB, 1, "text/plain", 1))

    def test_delete_artifacts(self, store: MetadataStore) -> None:
        run = store.create_run("p")
        for path in ["model/a.bin", "model/sub/b.bin", "models.txt", "top.txt"]:
            store.log_artifact(Artifact(run.id, path, BLOB, 1, "text/plain", 1))
        assert store.delete_artifacts(run.id, "model") == 2
        assert [a.path for a in store.list_artifacts(run.id)] == ["models.txt", "top.txt"]
        assert store.delete_artifacts(run.id, "top.txt") == 1
        assert store.delete_artifacts(run.id, "missing") == 0
        assert [a.path for a in store.list_artifacts(run.id)] == ["models.txt"]
        with pytest.raises(InvalidInput):
            store.delete_artifacts(run.id, "../models.txt")
        with pytest.raises(NotFound):
            store.delete_artifacts("0" * 32, "models.txt")

    @pytest.mark.parametrize(
        "path", ["../escape", "/abs/path", "a//b", "a/./b", "a\\b", "%2e%2e/x", "a;b", "nul\x00"]
    )
    def test_artifact_paths_are_validated(self, store: MetadataStore, path: str) -> None:
        run = store.create_run("p")
        with pytest.raises(InvalidInput):
            store.log_artifact(Artifact(run.id, path, BLOB, 1, "text/plain", 1))

    # -- lineage ------------------------------------------------------------------------
    def test_lineage_both_directions(self, store: MetadataStore) -> None:
        run = store.create_run("p")
        edge = LineageEdge("dataset_version", "digits@v3", "run", run.id, "input", 0, {"rows": 10})
        stored = store.add_lineage(edge)
        assert stored.properties == {"rows": 10} and stored.created_at > 0
        assert store.add_lineage(edge) == stored  # idempotent
        out = store.add_lineage(LineageEdge("run", run.id, "model_version", "clf@1", "output"))
        assert store.list_lineage("run", run.id, direction="upstream") == [stored]
        assert store.list_lineage("run", run.id, direction="downstream") == [out]
        assert store.list_lineage("run", run.id) == [stored, out]
        assert store.list_lineage("dataset_version", "digits@v3", direction="downstream") == [
            stored
        ]
        with pytest.raises(InvalidInput):
            store.list_lineage("run", run.id, direction="sideways")
        with pytest.raises(InvalidInput):
            store.add_lineage(LineageEdge("bad type", "x", "run", run.id, "input"))

    # -- users and tokens ---------------------------------------------------------------
    def test_users_and_tokens(self, store: MetadataStore) -> None:
        user = store.create_user("ada", is_admin=True)
        assert user.is_admin and store.get_user("ada") == user
        with pytest.raises(AlreadyExists):
            store.create_user("ada")
        with pytest.raises(NotFound):
            store.get_user("bob")
        with pytest.raises(NotFound):
            store.create_token("bob", "ci")
        secret, token = store.create_token("ada", "laptop")
        assert secret.startswith("sml_") and len(secret) > 40
        assert token.prefix == secret[:8] and not token.revoked and token.last_used_at is None
        assert secret not in repr(store.list_tokens("ada"))
        authed = store.authenticate(secret)
        assert authed is not None and authed.name == "ada"
        assert store.list_tokens("ada")[0].last_used_at is not None
        assert store.authenticate(secret + "x") is None
        assert store.authenticate("") is None
        assert store.authenticate("' OR 1=1 --") is None
        store.revoke_token(token.id)
        assert store.authenticate(secret) is None
        assert store.list_tokens()[0].revoked
        with pytest.raises(NotFound):
            store.revoke_token("0" * 32)

    # -- search -------------------------------------------------------------------------
    def _populate(self, store: MetadataStore) -> dict[str, str]:
        ids = {}
        specs = [
            ("a", 0.91, {"opt": "adam", "lr": "0.001"}, {"stage": "prod"}),
            ("b", 0.85, {"opt": "sgd", "lr": "0.01"}, {"stage": "dev"}),
            ("c", 0.97, {"opt": "adam", "lr": "0.1"}, {"stage": "dev"}),
            ("d", None, {"opt": "adam", "lr": "high"}, {}),
        ]
        for i, (name, acc, params, tags) in enumerate(specs):
            run = store.create_run(
                "search", name=name, params=params, tags=tags, start_time=1000 + i
            )
            if acc is not None:
                store.log_metrics(run.id, [MetricPoint("acc", acc, 1, 1)])
                store.log_metrics(run.id, [MetricPoint("train/loss", 1 - acc, 1, 1)])
            ids[name] = run.id
        store.create_run("elsewhere", name="z")
        return ids

    @staticmethod
    def _names(store: MetadataStore, **kwargs: object) -> list[str]:
        return [r.name for r in store.search_runs(project="search", **kwargs).runs]  # type: ignore[arg-type]

    def test_search_filters(self, store: MetadataStore) -> None:
        self._populate(store)
        names = self._names
        assert names(store) == ["d", "c", "b", "a"]  # newest first
        assert sorted(names(store, filter="metrics.acc > 0.9")) == ["a", "c"]
        assert names(
            store, filter="metrics.acc > 0.9 and params.opt = 'adam'", order_by=["metrics.acc DESC"]
        ) == ["c", "a"]
        assert sorted(names(store, filter="metrics.`train/loss` < 0.1")) == ["a", "c"]
        assert sorted(names(store, filter="params.lr >= 0.01")) == ["b", "c"]
        assert sorted(names(store, filter="params.lr = 'high'")) == ["d"]
        assert sorted(names(store, filter="tags.stage IN ('prod', 'dev')")) == ["a", "b", "c"]
        assert sorted(names(store, filter="tags.stage NOT IN ('prod')")) == ["b", "c"]
        assert sorted(names(store, filter="name LIKE 'a%' or attr.name = \"b\"")) == ["a", "b"]
        assert sorted(names(store, filter="params.opt ILIKE 'ADA%'")) == ["a", "c", "d"]
        assert names(store, filter="status = 'running' and attributes.start_time <= 1000") == ["a"]
        assert sorted(
            names(store, filter="(metrics.acc < 0.9 OR metrics.acc > 0.95) and params.opt != 'sgd'")
        ) == ["c"]
        # A run lacking one key of an OR still matches on the other (d has no acc).
        assert sorted(names(store, filter="metrics.acc > 0.95 or params.lr = 'high'")) == [
            "c",
            "d",
        ]
        assert sorted(names(store, filter="metrics.acc IS NULL")) == ["d"]
        assert sorted(names(store, filter="tags.stage is not null")) == ["a", "b", "c"]
        assert sorted(names(store, filter="end_time IS NULL and params.opt = 'sgd'")) == ["b"]
        assert names(store, filter="attributes.parent_id IS NOT NULL") == []
        all_runs = store.search_runs(filter="params.opt = 'adam'").runs
        assert {r.project for r in all_runs} == {"search"}

    def test_search_order_and_pagination(self, store: MetadataStore) -> None:
        self._populate(store)
        names = self._names
        assert names(store, order_by=["metrics.acc ASC"]) == ["b", "a", "c", "d"]
        assert names(store, order_by=["metrics.acc DESC"]) == ["c", "a", "b", "d"]
        assert names(store, order_by=["params.lr"]) == ["a", "b", "c", "d"]
        assert names(store, order_by=["name DESC"]) == ["d", "c", "b", "a"]
        assert names(store, order_by=["attributes.start_time ASC"]) == ["a", "b", "c", "d"]
        seen: list[str] = []
        token = None
        while True:
            page = store.search_runs(project="search", order_by=["name"], limit=3, page_token=token)
            seen += [r.name for r in page.runs]
            token = page.next_page_token
            if token is None:
                break
        assert seen == ["a", "b", "c", "d"]
        page = store.search_runs(project="search", limit=2)
        assert page.runs[0].metrics.keys() <= {"acc", "train/loss"}
        assert page.runs[0].params and page.next_page_token
        with pytest.raises(InvalidInput):
            store.search_runs(project="search", limit=2, page_token=page.next_page_token + "x")
        with pytest.raises(InvalidInput):
            store.search_runs(
                project="search", filter="metrics.acc > 0", page_token=page.next_page_token
            )
        with pytest.raises(InvalidInput):
            store.search_runs(page_token="not-a-token")

    @pytest.mark.parametrize(
        "bad_filter",
        [
            "metrics.acc >",
            "metrics.acc > 'high'",
            "tags.stage = 3",
            "unknown_attr = 'x'",
            "metrics.acc > 0.5 and",
            "(metrics.acc > 0.5",
            "metrics.acc >> 1",
            "params.x = 'unterminated",
            "metrics.acc = 1; DROP TABLE runs",
            "1 = 1",
            "metrics.acc IS 3",
            "tags.stage IS NOT",
        ],
    )
    def test_search_rejects_malformed_filters(self, store: MetadataStore, bad_filter: str) -> None:
        with pytest.raises(InvalidInput):
            store.search_runs(filter=bad_filter)

    @pytest.mark.parametrize("limit", [0, -1, 50_001])
    def test_search_rejects_bad_limits(self, store: MetadataStore, limit: int) -> None:
        with pytest.raises(InvalidInput):
            store.search_runs(limit=limit)

    @pytest.mark.parametrize("order", ["metrics.acc sideways", "", "bogus", "metrics."])
    def test_search_rejects_bad_order(self, store: MetadataStore, order: str) -> None:
        with pytest.raises(InvalidInput):
            store.search_runs(order_by=[order])

    def test_injection_looking_values_are_data(self, store: MetadataStore) -> None:
        evil = "x'); DROP TABLE runs; --"
        run = store.create_run("p", tags={"note": evil}, params={"q": "' OR '1'='1"})
        assert store.search_runs(filter="tags.note = 'nothing'").runs == []
        escaped = evil.replace("'", "''")
        found = store.search_runs(filter=f"tags.note = '{escaped}'").runs
        assert [r.id for r in found] == [run.id]
        assert store.search_runs(filter="params.q = 'x'").runs == []
        with pytest.raises(InvalidInput):
            store.search_runs(filter="params.q = 'x' or '1'='1'")
        assert store.search_runs(filter="tags.`note' OR 1=1 --` = 'x'").runs == []
        assert store.get_run(run.id).tags["note"] == evil
        assert store.search_runs(project="p").runs[0].id == run.id

    def test_timestamps_are_milliseconds(self, store: MetadataStore) -> None:
        before = time.time_ns() // 1_000_000
        run = store.create_run("p")
        assert before <= run.start_time <= before + 60_000
