"""``stackml gc`` and ``stackml fsck`` on a real local store."""

from __future__ import annotations

from pathlib import Path

import stackml
from stackml.store import open_store
from tests.cli.support import Invoke, assert_clean_failure


def _store_orphan_and_artifact(tmp_path: Path) -> tuple[str, str]:
    """One blob a run refers to and one nothing refers to; returns their hashes."""
    kept = tmp_path / "kept.txt"
    kept.write_text("referenced by a run")
    with stackml.start_run(project="maint", capture_environment=False) as run:
        (artifact,) = run.log_artifact(kept)
    store = open_store()
    try:
        orphan = store.blobs.put_bytes(b"nobody refers to me")
    finally:
        store.close()
    return artifact.blob_hash, orphan


def _row(table: str, label: str) -> str:
    """The line of a summary table whose first cell is ``label``."""
    return next(line for line in table.splitlines() if line.strip("│ ").startswith(label))


def _exists(digest: str) -> bool:
    store = open_store()
    try:
        return store.blobs.exists(digest)
    finally:
        store.close()


def test_gc_dry_run_then_real(cli: Invoke, tmp_path: Path) -> None:
    kept, orphan = _store_orphan_and_artifact(tmp_path)

    dry = cli("gc", "--dry-run", "--grace-seconds", "0")
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.stdout and orphan in dry.stdout and kept not in dry.stdout
    assert _exists(orphan)

    young = cli("gc")  # default grace period: the orphan was stored moments ago
    assert young.exit_code == 0, young.output
    assert _exists(orphan)

    real = cli("gc", "--grace-seconds", "0")
    assert real.exit_code == 0, real.output
    assert orphan in real.stdout
    assert not _exists(orphan) and _exists(kept)

    again = cli("gc", "--grace-seconds", "0")
    assert orphan not in again.stdout


def test_gc_rejects_a_negative_grace_period(cli: Invoke) -> None:
    assert_clean_failure(cli("gc", "--grace-seconds", "-1"), code=2)


def test_fsck_finds_and_quarantines_a_corrupted_blob(cli: Invoke, tmp_path: Path) -> None:
    kept, orphan = _store_orphan_and_artifact(tmp_path)
    clean = cli("fsck")
    assert clean.exit_code == 0, clean.output
    assert "checked" in clean.stdout

    store = open_store()
    try:
        blob_path = store.blobs.path_of(kept)
    finally:
        store.close()
    blob_path.chmod(0o644)
    blob_path.write_bytes(b"flipped bits")

    found = cli("fsck")
    stderr = assert_clean_failure(found)
    assert kept in _row(found.stdout, "corrupt") and orphan not in _row(found.stdout, "corrupt")
    assert "1 corrupt" in stderr and "--quarantine" in stderr
    assert blob_path.exists()

    quarantined = cli("fsck", "--quarantine")
    assert quarantined.exit_code == 1
    assert not blob_path.exists()

    # Once set aside, the blob is missing for the run that refers to it.
    after = cli("fsck")
    assert after.exit_code == 1
    assert kept in _row(after.stdout, "missing")
