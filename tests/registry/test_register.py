"""Registering versions: source validation, signature, metrics snapshot, lineage, loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stackml
import stackml.models
from stackml.errors import IntegrityError, InvalidInput, NotFound
from stackml.registry import load, parse_source, register, resolve
from stackml.registry.versions import DESCRIPTOR
from stackml.store import Store
from tests.registry import npy_format
from tests.registry.conftest import SIGNATURE, logged_run, weights


def test_log_model_registers_with_snapshot_and_lineage(store: Store) -> None:
    run_id = logged_run(store, metrics={"accuracy": 0.93, "loss": 0.2})
    version = register(
        "iris",
        run_id=run_id,
        artifact_path="model",
        description="first",
        tags={"team": "ml"},
        store=store,
    )
    assert version.version == 1 and version.ref == "iris@1"
    assert version.format == npy_format.NAME
    assert version.metrics == {"accuracy": 0.93, "loss": 0.2}
    assert version.description == "first" and version.tags == {"team": "ml"}
    assert {f.path for f in version.files} == {"model/weights.npy", f"model/{DESCRIPTOR}"}
    assert version.signature["classes"] == ["a", "b", "c"]
    edges = store.metadata.list_lineage("model_version", "iris@1", direction="upstream")
    assert ("run", run_id, "output") in {(e.source_type, e.source_id, e.role) for e in edges}
    second = register("iris", source=f"runs:/{run_id}/model", store=store)
    assert second.version == 2
    assert resolve("iris", store) == ("iris", 2)
    assert resolve("iris@1", store) == ("iris", 1)
    assert resolve("iris@v1", store) == ("iris", 1)


def test_load_predicts_and_facade_works(store: Store) -> None:
    run_id = logged_run(store, seed=3)
    register("iris", run_id=run_id, artifact_path="model", store=store)
    stackml.models.set_alias("iris@1", "staging", reason="smoke test", store=store)
    predictor = stackml.models.load("iris@staging", store=store)
    x = np.ones((5, 4), np.float32)
    out = predictor.predict(x)
    np.testing.assert_allclose(out["y"], x @ weights(3), rtol=1e-6)
    assert predictor.name == "iris" and predictor.version == 1
    assert predictor.signature.classes == ("a", "b", "c")
    assert stackml.models.load is load


def test_top_level_lazy_models_module() -> None:
    assert stackml.models.load is load  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "source",
    [
        "file:///etc",
        "file:///etc/passwd",
        "/etc/passwd",
        "../model",
        "model/../../etc",
        "%2e%2e/etc",
        "model%2Fweights.npy",
        "%252e%252e/etc",
        "..\\..\\etc",
        "s3://bucket/model",
        "https://example.com/model.onnx",
        "C:/models/x",
        "~/model",
        "./model",
    ],
)
def test_sources_outside_the_run_are_refused(store: Store, source: str) -> None:
    run_id = logged_run(store)
    with pytest.raises(InvalidInput):
        register("iris", run_id=run_id, artifact_path=source, format="npy-linear", store=store)
    with pytest.raises(InvalidInput):
        register("iris", source=source, format="npy-linear", store=store)
    with pytest.raises(InvalidInput):
        register("iris", source=f"runs:/{run_id}/{source}", store=store)
    assert store.metadata.list_registered_models() == []


def test_local_relative_path_that_is_not_an_artifact_is_refused(
    store: Store, tmp_path: Path
) -> None:
    run_id = logged_run(store)
    local = Path.cwd() / "weights.npy"
    np.save(local, weights())
    with pytest.raises(InvalidInput, match="not an artifact of run"):
        register(
            "iris", run_id=run_id, artifact_path="weights.npy", format="npy-linear", store=store
        )


def test_another_runs_artifacts_are_refused(store: Store) -> None:
    mine = logged_run(store, path="mine")
    other = logged_run(store, path="theirs")
    with pytest.raises(InvalidInput, match=r"not this version's run"):
        register("iris", run_id=mine, source=f"runs:/{other}/theirs", store=store)
    with pytest.raises(InvalidInput, match="not an artifact of run"):
        register("iris", run_id=mine, artifact_path="theirs", store=store)
    with pytest.raises(NotFound):
        register("iris", source="runs:/0123456789abcdef0123456789abcdef/model", store=store)


def test_parse_source_accepts_only_run_artifacts() -> None:
    assert parse_source("runs:/abc123/model/x.onnx").artifact_path == "model/x.onnx"
    assert parse_source(run_id="abc", artifact_path="model").uri == "runs:/abc/model"
    for bad in ("runs:/abc", "runs:/a%2fb/model", "runs://abc/model", "runs:/../x/model"):
        with pytest.raises(InvalidInput):
            parse_source(bad)


def test_store_refuses_files_outside_artifacts_even_when_called_directly(store: Store) -> None:
    from stackml.store.registry_base import ModelFile, ModelVersionDraft

    run_id = logged_run(store)
    real = store.metadata.get_artifact(run_id, "model/weights.npy")
    draft = ModelVersionDraft(
        model="iris",
        run_id=run_id,
        artifact_path="model",
        format="npy-linear",
        files=(ModelFile("model/weights.npy", "0" * 64, real.size),),
        signature=SIGNATURE.to_dict(),
    )
    with pytest.raises(InvalidInput, match="holds blob"):
        store.metadata.create_model_version(draft)


def test_corrupted_blob_fails_to_load_with_a_clear_error(store: Store) -> None:
    run_id = logged_run(store)
    version = register("iris", run_id=run_id, artifact_path="model", store=store)
    digest = next(f.blob_hash for f in version.files if f.path.endswith(".npy"))
    blob = store.blobs.path_of(digest)  # type: ignore[attr-defined]
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its recorded hash"):
        load("iris@1", store=store)


def test_signature_derived_from_the_dataset_schema(store: Store) -> None:
    import stackml.data as sd

    frame = pd.DataFrame(
        {
            "alcohol": np.linspace(11, 14, 60),
            "ash": np.linspace(1, 3, 60),
            "label": np.arange(60) % 3,
        }
    )
    sd.add("wine", frame, label="label", store=store)
    uri = str(store.location.root.parent)  # type: ignore[union-attr]
    with stackml.start_run(project="wine", tracking_uri=uri, capture_environment=False) as run:
        run.use_dataset("wine")
        run.set_tags({"stackml.git.commit": "a" * 40})
        run.log_artifact(_weights_file(Path.cwd()), "model/weights.npy")
    version = register(
        "wine", run_id=run.id, artifact_path="model", format="npy-linear", store=store
    )
    sig = stackml.models.Signature.from_dict(version.signature)
    assert sig.inputs[0].shape == (-1, 2)
    assert sig.feature_names == ("alcohol", "ash")
    assert sig.task == "classification" and sig.classes == ("0", "1", "2")
    assert version.code_commit == "a" * 40
    assert len(version.dataset_versions) == 1 and version.dataset_versions[0].startswith("wine@")
    edges = store.metadata.list_lineage("model_version", "wine@1", direction="upstream")
    assert {e.role for e in edges} == {"output", "trained_on"}


def _weights_file(folder: Path) -> Path:
    path = folder / "weights.npy"
    np.save(path, weights())
    return path


def test_without_any_signature_registration_is_refused(store: Store) -> None:
    uri = str(store.location.root.parent)  # type: ignore[union-attr]
    with stackml.start_run(project="p", tracking_uri=uri, capture_environment=False) as run:
        run.log_artifact(_weights_file(Path.cwd()), "model/weights.npy")
    with pytest.raises(InvalidInput, match="no signature"):
        register("p", run_id=run.id, artifact_path="model", format="npy-linear", store=store)
    with pytest.raises(InvalidInput, match="format"):
        register("p", run_id=run.id, artifact_path="model", signature=SIGNATURE, store=store)


def test_archive_version_is_extracted_safely_on_load(store: Store, tmp_path: Path) -> None:
    import tarfile

    folder = tmp_path / "m"
    folder.mkdir()
    _weights_file(folder)
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(folder / "weights.npy", arcname="weights.npy")
    uri = str(store.location.root.parent)  # type: ignore[union-attr]
    with stackml.start_run(project="p", tracking_uri=uri, capture_environment=False) as run:
        run.log_artifact(archive, "model.tar.gz")
    register(
        "arch",
        run_id=run.id,
        artifact_path="model.tar.gz",
        format="npy-linear",
        signature=SIGNATURE,
        store=store,
    )
    out = load("arch", store=store).predict(np.ones((2, 4), np.float32))
    np.testing.assert_allclose(out["y"], np.ones((2, 4)) @ weights(), rtol=1e-6)


def test_compressed_from_edge(store: Store) -> None:
    run_id = logged_run(store)
    register("iris", run_id=run_id, artifact_path="model", store=store)
    small = register(
        "iris-int8", run_id=run_id, artifact_path="model", source_version="iris@1", store=store
    )
    assert small.source_version == "iris@1"
    down = store.metadata.list_lineage("model_version", "iris@1", direction="downstream")
    assert [(e.target_id, e.role) for e in down] == [("iris-int8@1", "compressed_from")]
    with pytest.raises(NotFound):
        register("x", run_id=run_id, artifact_path="model", source_version="iris@9", store=store)
    edge = stackml.models.add_version_lineage(
        "iris@1", "iris-int8@1", relation="distilled_from", store=store
    )
    assert edge.role == "distilled_from"


def test_a_version_keeps_its_files_when_the_artifact_is_overwritten(store: Store) -> None:
    from stackml.store.maintenance import collect_garbage

    run_id = logged_run(store, seed=1)
    register("iris", run_id=run_id, artifact_path="model", store=store)
    np.save(Path.cwd() / "weights.npy", weights(2))
    from stackml.tracking.artifacts import log_path

    log_path(store, run_id, Path.cwd() / "weights.npy", "model/weights.npy")  # overwrite it
    collect_garbage(store.metadata, store.blobs, grace_seconds=0)
    x = np.ones((2, 4), np.float32)
    out = load("iris@1", store=store).predict(x)  # the registered bytes, not the new ones
    np.testing.assert_allclose(out["y"], x @ weights(1), rtol=1e-6)
