"""The registry part of the metadata-store contract, run against every backend.

Subclass :class:`RegistryStoreContract` and provide a ``store`` fixture yielding a fresh
:class:`~stackml.store.base.MetadataStore`; only the public interface is used.
"""

from __future__ import annotations

import pytest

from stackml.errors import AlreadyExists, InvalidInput, NotFound
from stackml.store.base import MetadataStore
from stackml.store.entities import Artifact
from stackml.store.registry_base import ModelFile, ModelVersionDraft

BLOB_A = "ab" * 32
BLOB_B = "cd" * 32
SIGNATURE = {
    "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 4]}],
    "outputs": [{"name": "y", "dtype": "float32", "shape": [-1, 3]}],
    "task": "classification",
    "classes": ["a", "b", "c"],
}


def _run_with_model(store: MetadataStore, path: str = "model") -> str:
    run = store.create_run("demo")
    for name, blob in (("weights.npy", BLOB_A), ("stackml-model.json", BLOB_B)):
        store.log_artifact(
            Artifact(run.id, f"{path}/{name}", blob, 10, "application/octet-stream", 0)
        )
    return run.id


def _draft(
    run_id: str, model: str = "iris", path: str = "model", **changes: object
) -> ModelVersionDraft:
    fields: dict[str, object] = {
        "model": model,
        "run_id": run_id,
        "artifact_path": path,
        "format": "onnx",
        "files": (
            ModelFile(f"{path}/weights.npy", BLOB_A, 10),
            ModelFile(f"{path}/stackml-model.json", BLOB_B, 10),
        ),
        "signature": SIGNATURE,
        "metrics": {"accuracy": 0.9, "nan": float("nan")},
        "meta": {"opset": 20},
        "description": "first <b>",
        "tags": {"team": "vision"},
        "author": "ada",
        "code_commit": "f" * 40,
        "dataset_versions": ("digits@0123456789ab",),
    }
    fields.update(changes)
    return ModelVersionDraft(**fields)  # type: ignore[arg-type]


class RegistryStoreContract:
    """Behaviour every metadata store's registry part must show. Needs a ``store`` fixture."""

    def test_registered_models(self, store: MetadataStore) -> None:
        created = store.create_registered_model("digits", description="8x8", tags={"k": "v"})
        assert (
            created.name == "digits" and created.description == "8x8" and created.tags == {"k": "v"}
        )
        assert created.version_count == 0 and created.latest_version is None
        with pytest.raises(AlreadyExists):
            store.create_registered_model("digits")
        with pytest.raises(NotFound):
            store.get_registered_model("missing")
        for bad in ("", "a b", "../x", "a/b"):
            with pytest.raises(InvalidInput):
                store.create_registered_model(bad)
        store.create_registered_model("alpha")
        assert [m.name for m in store.list_registered_models()] == ["alpha", "digits"]
        updated = store.update_registered_model(
            "digits", description="new", gates={"production": ["metric:acc>=0.9", "ml-test-score"]}
        )
        assert updated.description == "new" and updated.tags == {"k": "v"}
        assert updated.gates == {"production": ["metric:acc>=0.9", "ml-test-score"]}
        with pytest.raises(InvalidInput):
            store.update_registered_model("digits", gates={"production": "not-a-list"})  # type: ignore[dict-item]
        with pytest.raises(NotFound):
            store.update_registered_model("missing", description="x")

    def test_versions_round_trip_and_number(self, store: MetadataStore) -> None:
        run_id = _run_with_model(store)
        first = store.create_model_version(_draft(run_id))
        second = store.create_model_version(_draft(run_id, description="second"))
        assert (first.version, second.version) == (1, 2)
        assert first.ref == "iris@1" and first.run_id == run_id and first.format == "onnx"
        assert first.metrics == {"accuracy": 0.9}  # NaN is left out of the snapshot
        assert first.signature["classes"] == ["a", "b", "c"] and first.meta == {"opset": 20}
        assert first.tags == {"team": "vision"} and first.author == "ada"
        assert first.code_commit == "f" * 40 and first.dataset_versions == ("digits@0123456789ab",)
        assert [f.path for f in first.files] == ["model/stackml-model.json", "model/weights.npy"]
        assert first.size_bytes == 20
        assert store.get_model_version("iris", 1) == first
        assert [v.version for v in store.list_model_versions("iris")] == [2, 1]
        model = store.get_registered_model("iris")
        assert model.version_count == 2 and model.latest_version == 2
        with pytest.raises(NotFound):
            store.get_model_version("iris", 3)
        with pytest.raises(NotFound):
            store.list_model_versions("missing")
        with pytest.raises(InvalidInput):
            store.get_model_version("iris", 0)

    def test_version_source_must_be_the_runs_artifacts(self, store: MetadataStore) -> None:
        mine = _run_with_model(store)
        other = _run_with_model(store, path="other")
        with pytest.raises(InvalidInput, match="not an artifact"):
            store.create_model_version(_draft(mine, path="other"))
        with pytest.raises(InvalidInput, match="not an artifact"):
            store.create_model_version(_draft(other, path="model"))
        with pytest.raises(InvalidInput, match="holds blob"):
            store.create_model_version(
                _draft(mine, files=(ModelFile("model/weights.npy", BLOB_B, 10),))
            )
        with pytest.raises(InvalidInput, match="not under"):
            store.create_model_version(
                _draft(mine, files=(ModelFile("other/weights.npy", BLOB_A, 10),))
            )
        for path in ("../model", "/etc", "model/../x", "%2e%2e/x"):
            with pytest.raises(InvalidInput):
                store.create_model_version(_draft(mine, path=path))
        with pytest.raises(InvalidInput):
            store.create_model_version(_draft(mine, files=()))
        with pytest.raises(InvalidInput):
            store.create_model_version(_draft(mine, signature={}))
        with pytest.raises(NotFound):
            store.create_model_version(_draft("0" * 32))
        assert store.list_registered_models() == []

    def test_aliases_and_their_history(self, store: MetadataStore) -> None:
        run_id = _run_with_model(store)
        for _ in range(3):
            store.create_model_version(_draft(run_id))
        first = store.set_model_alias(
            "iris",
            "production",
            1,
            action="promote",
            author="ada",
            reason="initial",
            gates={"metric:acc>=0.9": {"passed": True}},
        )
        assert (first.version, first.previous, first.action) == (1, None, "promote")
        assert first.author == "ada" and first.reason == "initial" and first.moved_at > 0
        assert first.gates == {"metric:acc>=0.9": {"passed": True}}
        moved = store.set_model_alias(
            "iris", "production", 2, action="promote", author="bob", reason="better"
        )
        assert (moved.version, moved.previous) == (2, 1)
        store.set_model_alias("iris", "staging", 3, author="bob")
        assert store.get_model_alias("iris", "production") == 2
        assert store.get_registered_model("iris").aliases == {"production": 2, "staging": 3}
        assert store.get_model_version("iris", 2).aliases == ("production",)
        back = store.set_model_alias(
            "iris", "production", 1, action="rollback", author="ada", reason="regression"
        )
        assert (back.version, back.previous, back.action) == (1, 2, "rollback")
        removed = store.set_model_alias("iris", "staging", None, action="remove", author="ada")
        assert removed.version is None and removed.previous == 3
        with pytest.raises(NotFound):
            store.get_model_alias("iris", "staging")
        history = store.model_alias_history("iris", "production")
        assert [(e.version, e.action, e.author) for e in history] == [
            (1, "promote", "ada"),
            (2, "promote", "bob"),
            (1, "rollback", "ada"),
        ]
        assert len(store.model_alias_history("iris")) == 5

    def test_alias_validation(self, store: MetadataStore) -> None:
        run_id = _run_with_model(store)
        store.create_model_version(_draft(run_id))
        for bad in ("3", "v2", "latest", "a b", ""):
            with pytest.raises(InvalidInput):
                store.set_model_alias("iris", bad, 1)
        with pytest.raises(NotFound):
            store.set_model_alias("iris", "production", 7)
        with pytest.raises(NotFound):
            store.set_model_alias("missing", "production", 1)
        with pytest.raises(NotFound):
            store.set_model_alias("iris", "never-set", None, action="remove")
        with pytest.raises(InvalidInput):
            store.set_model_alias("iris", "production", 1, action="teleport")
        with pytest.raises(InvalidInput):
            store.set_model_alias("iris", "production", None, action="set")
        with pytest.raises(NotFound):
            store.model_alias_history("missing")
        assert store.model_alias_history("iris") == []

    def test_concurrent_registrations_get_distinct_numbers(self, store: MetadataStore) -> None:
        from concurrent.futures import ThreadPoolExecutor

        run_id = _run_with_model(store)
        with ThreadPoolExecutor(4) as pool:
            made = list(pool.map(lambda _: store.create_model_version(_draft(run_id)), range(8)))
        assert sorted(v.version for v in made) == list(range(1, 9))
        assert store.get_registered_model("iris").version_count == 8
