"""The dataset part of the store contract on SQLite and PostgreSQL, and the REST store.

One suite (:class:`DatasetStoreContract`) runs against every backend; the REST variant
lives in ``tests/server/test_datasets.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackml.errors import InvalidInput, NotFound
from stackml.store.base import MetadataStore
from stackml.store.datasets_base import VersionDraft
from stackml.store.sql.store import SqlMetadataStore

H1, H2, H3 = "1" * 64, "2" * 64, "3" * 64


def draft(dataset: str = "ds", **changes: object) -> VersionDraft:
    fields: dict[str, object] = {
        "dataset": dataset,
        "kind": "files",
        "manifest_hash": H1,
        "table_hash": None,
        "blob_hashes": (H2,),
        "num_files": 1,
        "num_rows": None,
        "size_bytes": 10,
        "message": "m",
        "author": "alice",
    }
    fields.update(changes)
    return VersionDraft(**fields)  # type: ignore[arg-type]


class DatasetStoreContract:
    """Behaviour every store must show; subclasses provide the ``store`` fixture."""

    def test_versions_numbers_parents_and_latest(self, store: MetadataStore) -> None:
        v1 = store.create_dataset_version(draft(schema={"columns": []}, splits={"a": 1}))
        v2 = store.create_dataset_version(draft(message="second"))
        assert (v1.number, v2.number, v2.parent_id) == (1, 2, v1.id)
        assert len(v1.id) == 12 and v1.id != v2.id and v1.ref == f"ds@{v1.id}"
        assert store.get_dataset_version("ds", "latest").id == v2.id
        assert store.get_dataset_version("ds", "v1").splits == {"a": 1}
        assert store.get_dataset_version("ds", v1.id[:4]).id == v1.id
        assert [v.number for v in store.list_dataset_versions("ds")] == [2, 1]
        listed = store.list_datasets()
        assert [(d.name, d.version_count, d.latest_id) for d in listed] == [("ds", 2, v2.id)]
        explicit = store.create_dataset_version(draft(parent_id="v1"))
        assert explicit.parent_id == v1.id

    def test_aliases_move_and_keep_history(self, store: MetadataStore) -> None:
        v1 = store.create_dataset_version(draft())
        v2 = store.create_dataset_version(draft())
        store.set_dataset_alias("ds", "prod", "v1", author="bob")
        store.set_dataset_alias("ds", "prod", v2.id, author="bob")
        assert store.get_dataset_version("ds", "prod").id == v2.id
        assert set(store.get_dataset_version("ds", "v2").aliases) == {"latest", "prod"}
        history = store.alias_history("ds", "prod")
        assert [(e.version_id, e.author) for e in history] == [(v1.id, "bob"), (v2.id, "bob")]
        store.set_dataset_alias("ds", "prod", None)
        with pytest.raises(NotFound):
            store.get_dataset_version("ds", "prod")
        for bad in ("v3", "abcd", "../x", ""):
            with pytest.raises(InvalidInput):
                store.set_dataset_alias("ds", bad, "v1")

    def test_soft_delete_moves_latest_and_hides_from_lists(self, store: MetadataStore) -> None:
        v1 = store.create_dataset_version(draft())
        v2 = store.create_dataset_version(draft(blob_hashes=(H3,)))
        store.set_dataset_alias("ds", "prod", "v2")
        gone = store.delete_dataset_version("ds", "v2")
        assert gone.deleted and gone.aliases == ()
        assert store.get_dataset_version("ds", "latest").id == v1.id
        assert store.get_dataset_version("ds", v2.id).deleted  # still readable by id
        assert [v.number for v in store.list_dataset_versions("ds")] == [1]
        assert len(store.list_dataset_versions("ds", include_deleted=True)) == 2
        with pytest.raises(InvalidInput):
            store.set_dataset_alias("ds", "prod", "v2")

    def test_unknown_and_malformed_input(self, store: MetadataStore) -> None:
        with pytest.raises(NotFound):
            store.get_dataset_version("nope", "latest")
        with pytest.raises(NotFound):
            store.list_dataset_versions("nope")
        store.create_dataset_version(draft())
        with pytest.raises(NotFound):
            store.get_dataset_version("ds", "v9")
        with pytest.raises(NotFound):
            store.create_dataset_version(draft(parent_id="v9"))
        for bad in (
            draft(dataset="../x"),
            draft(kind="weird"),
            draft(manifest_hash="xyz"),
            draft(manifest_hash=None),
            draft(num_files=-1),
            draft(blob_hashes=("nothex",)),
            draft(schema={"x": float("nan")}),
        ):
            with pytest.raises(InvalidInput):
                store.create_dataset_version(bad)
        assert store.list_dataset_versions("ds")[0].number == 1


class TestSqlite(DatasetStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqlMetadataStore]:
        s = SqlMetadataStore(f"sqlite:///{tmp_path / 'd.db'}")
        yield s
        s.close()


@pytest.mark.postgres
class TestPostgres(DatasetStoreContract):
    @pytest.fixture
    def store(self, fresh_postgres_url: str) -> Iterator[SqlMetadataStore]:
        s = SqlMetadataStore(fresh_postgres_url)
        yield s
        s.close()


def _concurrent_adds(store: SqlMetadataStore, count: int) -> set[str]:
    ids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def add() -> None:
        try:
            v = store.create_dataset_version(draft(created_at=1))  # identical drafts on purpose
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
            return
        with lock:
            ids.append(v.id)

    threads = [threading.Thread(target=add) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    return set(ids)


def test_concurrent_identical_adds_sqlite(tmp_path: Path) -> None:
    with SqlMetadataStore(f"sqlite:///{tmp_path / 'c.db'}") as store:
        assert len(_concurrent_adds(store, 6)) == 6
        assert sorted(v.number for v in store.list_dataset_versions("ds")) == list(range(1, 7))


@pytest.mark.postgres
def test_concurrent_identical_adds_postgres(fresh_postgres_url: str) -> None:
    with SqlMetadataStore(fresh_postgres_url) as store:
        assert len(_concurrent_adds(store, 6)) == 6


def test_referenced_blobs_cover_live_versions_only(tmp_path: Path) -> None:
    with SqlMetadataStore(f"sqlite:///{tmp_path / 'r.db'}") as store:
        store.create_dataset_version(draft(table_hash=H3, blob_hashes=()))
        store.create_dataset_version(draft(manifest_hash=H2, blob_hashes=("4" * 64,)))
        assert set(store.referenced_blobs()) == {H1, H2, H3, "4" * 64}
        store.delete_dataset_version("ds", "v2")
        assert set(store.referenced_blobs()) == {H1, H3}


@pytest.mark.postgres
def test_referenced_blobs_of_many_files_postgres(fresh_postgres_url: str) -> None:
    many = [f"{k:064x}" for k in range(3000)]
    with SqlMetadataStore(fresh_postgres_url) as store:
        store.create_dataset_version(draft(blob_hashes=many[:2000]))
        store.create_dataset_version(draft(blob_hashes=many[1000:] + many[1000:1010]))
        store.create_dataset_version(draft(blob_hashes=["f" * 64]))
        store.delete_dataset_version("ds", "v3")
        referenced = list(store.referenced_blobs())
        assert len(referenced) == len(set(referenced))  # each blob once
        assert set(referenced) == {H1, *many}
