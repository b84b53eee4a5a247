"""Environment capture: git state, Python, packages, host and command line — never env vars."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stackml
from stackml.tracking.environment import DIFF_ARTIFACT, REQUIREMENTS_ARTIFACT

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def test_dirty_git_repo_is_recorded(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print('v1')\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    (repo / "train.py").write_text("print('v2')\n")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("MY_SECRET_TOKEN", "s3cr3t-value-never-stored")

    with stackml.start_run(project="env") as run:
        pass
    tags = stackml.get_run(run.id).tags
    assert tags["stackml.git.commit"] == _git(repo, "rev-parse", "HEAD")
    assert tags["stackml.git.branch"] == "main"
    assert tags["stackml.git.dirty"] == "true"
    assert tags["stackml.python"] == ".".join(map(str, sys.version_info[:3]))
    assert tags["stackml.python.implementation"] == "CPython"
    assert tags["stackml.host"] and tags["stackml.os"] and tags["stackml.user"]
    assert tags["stackml.pid"].isdigit()
    assert "pytest" in tags["stackml.cmd"] or sys.argv[0] in tags["stackml.cmd"]

    blobs, metadata = run.store.blobs, run.store.metadata
    diff = blobs.get_bytes(metadata.get_artifact(run.id, DIFF_ARTIFACT).blob_hash).decode()
    assert "-print('v1')" in diff and "+print('v2')" in diff
    requirements = blobs.get_bytes(
        metadata.get_artifact(run.id, REQUIREMENTS_ARTIFACT).blob_hash
    ).decode()
    assert any(line.lower().startswith("pytest==") for line in requirements.splitlines())

    recorded = " ".join(tags.values()) + diff + requirements
    assert "s3cr3t-value-never-stored" not in recorded


def test_clean_repo_has_no_diff(mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "clean"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "a.txt").write_text("a")
    _git(repo, "add", "a.txt")
    _git(repo, "commit", "-q", "-m", "a")
    monkeypatch.chdir(repo)
    with stackml.start_run(project="env") as run:
        pass
    assert stackml.get_run(run.id).tags["stackml.git.dirty"] == "false"
    paths = [a.path for a in run.store.metadata.list_artifacts(run.id)]
    assert paths == [REQUIREMENTS_ARTIFACT]


def test_outside_a_repo_git_is_quietly_absent(mode: str, tmp_path: Path) -> None:
    with stackml.start_run(project="env") as run:
        pass
    tags = stackml.get_run(run.id).tags
    assert not any(key.startswith("stackml.git.") for key in tags)
    assert "stackml.python" in tags


def test_capture_can_be_disabled(mode: str) -> None:
    with stackml.start_run(project="env", capture_environment=False) as run:
        pass
    assert not any(key.startswith("stackml.") for key in stackml.get_run(run.id).tags)
    assert run.store.metadata.list_artifacts(run.id) == []
