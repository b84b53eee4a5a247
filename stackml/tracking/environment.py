"""What a run ran on: git state, Python, installed packages, host and command line.

Recorded as ``stackml.*`` tags and two artifacts (``environment/git.diff`` when the work tree
is dirty, ``environment/requirements.txt``). Environment variables are never captured: they
routinely hold secrets.
"""

from __future__ import annotations

import getpass
import os
import platform
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path

__all__ = ["Environment", "capture_environment", "git_state", "requirements_text"]

#: Seconds any one ``git`` command may take; a slow network file system must not stall a run.
GIT_TIMEOUT_S = 5.0
#: Longest tag value written; a huge command line is cut, the artifacts keep everything else.
MAX_TAG_CHARS = 4000
#: Largest diff kept as an artifact.
MAX_DIFF_BYTES = 10 * 1024 * 1024

DIFF_ARTIFACT = "environment/git.diff"
REQUIREMENTS_ARTIFACT = "environment/requirements.txt"


@dataclass(frozen=True)
class Environment:
    """Tags and small files describing where a run executes."""

    tags: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
            # Never prompt for credentials or open a pager.
            env={**_git_env(), "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", errors="replace")


def _git_env() -> dict[str, str]:
    # git itself needs PATH and HOME; it receives them but they are never recorded.
    return {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL"}}


def git_state(cwd: Path | None = None) -> tuple[dict[str, str], bytes | None]:
    """``stackml.git.*`` tags and the uncommitted diff, or ``({}, None)`` outside a repo."""
    cwd = cwd or Path.cwd()
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return {}, None
    tags = {"stackml.git.commit": commit.strip()}
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
    if branch and branch.strip() != "HEAD":
        tags["stackml.git.branch"] = branch.strip()
    root = _git(["rev-parse", "--show-toplevel"], cwd)
    if root:
        tags["stackml.git.root"] = root.strip()
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    dirty = bool(status and status.strip())
    tags["stackml.git.dirty"] = "true" if dirty else "false"
    diff = None
    if dirty:
        text = _git(["diff", "HEAD", "--no-color", "--no-ext-diff"], cwd)
        if text:
            diff = text.encode()[:MAX_DIFF_BYTES]
    return tags, diff


@lru_cache(maxsize=1)
def requirements_text() -> str:
    """``name==version`` of every installed distribution, sorted (cached: it is slow)."""
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.name
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={dist.version}"
    return "".join(f"{line}\n" for _, line in sorted(seen.items()))


def _short(value: str) -> str:
    return value if len(value) <= MAX_TAG_CHARS else value[: MAX_TAG_CHARS - 3] + "..."


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def capture_environment(cwd: Path | None = None) -> Environment:
    """Describe the current process: git, Python, packages, host, user, command line."""
    tags = {
        "stackml.python": platform.python_version(),
        "stackml.python.implementation": platform.python_implementation(),
        "stackml.host": socket.gethostname(),
        "stackml.os": platform.platform(),
        "stackml.user": _user(),
        "stackml.cmd": _short(shlex.join(sys.argv)),
        "stackml.pid": str(os.getpid()),
    }
    files = {REQUIREMENTS_ARTIFACT: requirements_text().encode()}
    git_tags, diff = git_state(cwd)
    tags.update(git_tags)
    if diff:
        files[DIFF_ARTIFACT] = diff
    return Environment(tags={k: v for k, v in tags.items() if v}, files=files)
