"""Process trees: start a job's processes in their own session and kill the whole tree.

Each process starts with ``start_new_session=True``, so it leads a new process group and
everything it forks stays in that group unless it deliberately calls ``setsid`` itself.
Stopping a job signals the groups: ``SIGTERM`` first, ``SIGKILL`` after a grace period, and
``SIGKILL`` once more when the leader has exited, so orphaned children never outlive the job.
Commands run from an argv list, never through a shell.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ProcessGroup", "free_port", "kill_group"]

#: Where a callable job's entry point writes the id of the run its callable returned.
RUN_FILE_ENV = "STACKML_JOB_RUN_FILE"
#: Variables of the worker's environment that jobs never inherit.
SECRETS = frozenset({"STACKML_TOKEN"})
#: Seconds between SIGTERM and SIGKILL.
KILL_GRACE_S = 3.0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGKILL this process when the worker that started it dies (even by ``kill -9``),
    so a job never keeps running unsupervised after its lease is handed on."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the process group led by ``pid``; a group that is gone already is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def free_port() -> int:
    """A free TCP port on the loopback interface (for a rendezvous)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ProcessGroup:
    """The processes of one job attempt (one per rank), their logs and how they ended.

    Args:
        argv: the program and its arguments.
        env: the complete environment of every process.
        log_dir: folder for one log file per rank.
        nprocs: ranks to start; more than one sets torchrun-style ``RANK``, ``LOCAL_RANK``,
            ``WORLD_SIZE``, ``MASTER_ADDR`` (loopback) and a free ``MASTER_PORT``.
        cwd: working directory of the processes.
    """

    argv: Sequence[str]
    env: Mapping[str, str]
    log_dir: Path
    nprocs: int = 1
    cwd: Path | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_paths: list[Path] = field(default_factory=list)
    _offsets: list[int] = field(default_factory=list)
    _term_at: float | None = None
    _failure: int | None = None

    def start(self) -> None:
        """Start every rank. Raises ``OSError`` when the program cannot be started."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        port = str(free_port()) if self.nprocs > 1 else None
        for rank in range(self.nprocs):
            env = dict(self.env)
            if port is not None:
                env.update(
                    RANK=str(rank),
                    LOCAL_RANK=str(rank),
                    WORLD_SIZE=str(self.nprocs),
                    LOCAL_WORLD_SIZE=str(self.nprocs),
                    MASTER_ADDR="127.0.0.1",
                    MASTER_PORT=port,
                )
            path = self.log_dir / f"rank{rank}.log"
            with open(path, "wb") as log:
                try:
                    proc = subprocess.Popen(
                        list(self.argv),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                        cwd=self.cwd,
                        start_new_session=True,
                        close_fds=True,
                        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                    )
                except OSError:
                    self.kill()
                    raise
            self.procs.append(proc)
            self.log_paths.append(path)
            self._offsets.append(0)

    @property
    def pid(self) -> int:
        """The pid of rank 0."""
        return self.procs[0].pid

    def poll(self) -> int | None:
        """The job's exit code once it ended, else ``None``.

        The job ends when every rank exited, or as soon as one rank failed: the others are
        then killed (a failed rank would leave its peers waiting in a collective forever).
        """
        codes = [p.poll() for p in self.procs]
        failed = [c for c in codes if c not in (None, 0)]
        if failed and self._failure is None:
            # The first failure is the job's exit code, not the signals of the ranks we stop.
            self._failure = failed[0]
        if failed and any(c is None for c in codes):
            self.terminate()
        if any(c is None for c in codes):
            self._escalate()
            return None
        for proc in self.procs:  # reap orphans left in the groups
            kill_group(proc.pid)
        return self._failure if self._failure is not None else 0

    def terminate(self) -> None:
        """Ask every rank's group to stop (SIGTERM); :meth:`poll` escalates to SIGKILL."""
        if self._term_at is None:
            self._term_at = time.monotonic()
            for proc in self.procs:
                kill_group(proc.pid, signal.SIGTERM)

    def _escalate(self) -> None:
        if self._term_at is not None and time.monotonic() - self._term_at > KILL_GRACE_S:
            self.kill()

    def kill(self) -> None:
        """SIGKILL every rank's process group at once."""
        for proc in self.procs:
            kill_group(proc.pid)

    def wait(self, timeout: float | None = None) -> int | None:
        """Poll until the job ended or ``timeout`` passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                return None
            time.sleep(0.02)
        return code

    def read_new_output(self) -> str:
        """Log text written since the last call, each line of rank N>0 prefixed ``[rank N]``."""
        parts: list[str] = []
        for rank, path in enumerate(self.log_paths):
            try:
                with open(path, "rb") as log:
                    log.seek(self._offsets[rank])
                    data = log.read()
            except OSError:
                continue
            if not data:
                continue
            if self.nprocs > 1:  # only whole lines, so prefixes stay at line starts
                cut = data.rfind(b"\n") + 1
                if cut == 0 and self.poll_rank(rank) is None:
                    continue
                data = data[:cut] if cut else data
            self._offsets[rank] += len(data)
            text = data.decode("utf-8", errors="replace")
            if self.nprocs > 1:
                text = "".join(f"[rank {rank}] {line}" for line in text.splitlines(keepends=True))
            parts.append(text)
        return "".join(parts)

    def poll_rank(self, rank: int) -> int | None:
        return self.procs[rank].poll()

    def full_log(self) -> bytes:
        """Every rank's complete log, rank after rank."""
        if self.nprocs == 1:
            return self.log_paths[0].read_bytes() if self.log_paths else b""
        chunks = []
        for rank, path in enumerate(self.log_paths):
            chunks.append(f"===== rank {rank} =====\n".encode())
            chunks.append(path.read_bytes())
        return b"".join(chunks)


def job_environment(base: Mapping[str, str] | None, extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a job: the worker's own (or ``base``) plus the job's variables.

    The worker's credentials are not inherited: a worker runs with an administrator's token,
    and jobs are other people's code.
    """
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in SECRETS}
    env.update(extra)
    return env
