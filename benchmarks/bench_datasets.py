"""Dataset versioning: ``stackml data add``/``get`` against ``dvc add``/``checkout``.

Cases, on the same data in one run:

(a) cold add of N small files (default 10,000 x 10 KiB);
(b) cold add of one large file (default 1 GiB), with a b3sum-style baseline: the ``blake3``
    package hashing that file with every core (``max_threads=AUTO``, memory-mapped); stackml's
    own hashing is timed by re-adding the file with a new mtime (hashed again, not copied);
(c) re-add of (a) after changing one file;
(d) materialising (a) into an empty folder (``stackml data get`` / ``dvc checkout``).

Both tools run as their Python APIs in this process (no CLI start-up cost on either side),
each with its own store/cache on the same disk. Every repeat of a cold add starts each tool on a
new, empty store or cache, and nothing is deleted until the end: ext4 skips inodes freed in the
last minute or more when it allocates new ones, so deleting the previous repeat's 10,000 blobs
just before a timed add would slow whichever tool came next by seconds. Dirty pages are
flushed (``os.sync``, untimed) before every timed step, so stackml's one flush before it
commits a version pays only for its own blobs; DVC does not flush at all. DVC's cold add
swings a lot on these disks, so each DVC timing is the median of ``--repeat`` runs
(stackml's too, for fairness).

    python benchmarks/bench_datasets.py                 # the defaults above (needs ~8 GiB free)
    python benchmarks/bench_datasets.py --files 2000 --big-mib 256

The last line prints the ratios: cold add (a) speed-up, incremental re-add (c) speed-up,
and stackml's hashing throughput on (b) as a fraction of the raw BLAKE3 baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import blake3


def _timed(fn: Callable[[], object]) -> float:
    # Flush what earlier steps left dirty (the other tool's cache, deleted stores, the
    # generated data) first, untimed: stackml syncs its blobs before it commits a version,
    # and that flush must not be charged for another tool's writes.
    os.sync()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_small_files(root: Path, count: int, size: int) -> None:
    root.mkdir(parents=True)
    for i in range(count):
        sub = root / f"d{i % 100:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{i:06d}.bin").write_bytes(os.urandom(size))


def make_big_file(path: Path, mib: int) -> None:
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for i in range(mib):
            fh.write(chunk[:-8] + i.to_bytes(8, "little"))


def raw_blake3(path: Path) -> float:
    """Seconds for BLAKE3 over a whole file with every core (what ``b3sum`` does)."""

    def run() -> None:
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        hasher.update_mmap(str(path))
        hasher.hexdigest()

    return _timed(run)


class Stackml:
    """stackml's Python API on a store of its own; :meth:`reset` moves to a new, empty one."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.generation = 0
        self._open()

    def _open(self) -> None:
        from stackml.store import open_store

        here = self.work / f"gen{self.generation}"
        os.environ["XDG_CACHE_HOME"] = str(here / "cache")
        self.store = open_store(str(here / "store"))

    def add(self, name: str, path: Path) -> None:
        import stackml.data as sd

        sd.add(name, path, store=self.store)

    def get(self, name: str, dest: Path, *, link: bool = False) -> None:
        import stackml.data as sd
        from stackml.data.materialize import materialize

        materialize(self.store.blobs, sd.resolve(name, store=self.store), dest, link=link)

    def reset(self) -> None:
        self.store.close()
        self.generation += 1
        self._open()


class Dvc:
    """DVC's Python API on a repo holding the data; :meth:`reset` gives it a new, empty cache
    and hash state (its site cache), so every cold add hashes and copies everything."""

    def __init__(self, work: Path, scratch: Path) -> None:
        from dvc.repo import Repo

        self.work = work
        self.scratch = scratch
        self.generation = 0
        work.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            Repo.init(str(work), no_scm=True, force=True).close()
        self._open()

    def _open(self) -> None:
        from dvc.repo import Repo

        here = self.scratch / f"dvc-gen{self.generation}"
        repo = Repo(str(self.work))
        with repo.config.edit() as conf:
            conf["cache"]["dir"] = str(here / "cache")
            conf["core"]["site_cache_dir"] = str(here / "site")
        repo.close()
        self.repo = Repo(str(self.work))

    def add(self, target: Path) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            self.repo.add([str(target)])

    def checkout(self, target: Path) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            self.repo.checkout([str(target)], force=True)

    def reset(self) -> None:
        self.repo.close()
        for dvcfile in self.work.glob("*.dvc"):
            if dvcfile.is_file():
                dvcfile.unlink()
        self.generation += 1
        self._open()


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000, help="small files in case (a)")
    parser.add_argument("--file-kib", type=int, default=10, help="size of each small file")
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the file in (b)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (median)")
    parser.add_argument("--dir", default=None, help="scratch folder (default: a temp dir)")
    args = parser.parse_args()

    try:
        import dvc.repo
    except ImportError:
        raise SystemExit("install the peer first: pip install -e '.[bench]'") from None

    scratch = Path(args.dir or tempfile.mkdtemp(prefix="bench-datasets-"))
    small_bytes = args.files * args.file_kib * 1024
    big_bytes = args.big_mib << 20
    try:
        sm_dir, dvc_dir = scratch / "sm", scratch / "dvcrepo"
        sm_dir.mkdir(parents=True)
        dvc = Dvc(dvc_dir, scratch)
        data = dvc_dir / "small"  # DVC tracks data inside its repo; stackml reads the same
        make_small_files(data, args.files, args.file_kib * 1024)
        big = dvc_dir / "big.bin"
        make_big_file(big, args.big_mib)
        sm = Stackml(sm_dir)

        # (a) cold add of the small files
        sm_a, dvc_a = [], []
        for _ in range(args.repeat):
            sm.reset()
            sm_a.append(_timed(lambda: sm.add("small", data)))
            dvc.reset()
            dvc_a.append(_timed(lambda: dvc.add(data)))
        # (c) re-add after changing one file (both warm: stackml's hash cache, DVC's state db)
        sm_c, dvc_c = [], []
        victim = next(data.rglob("*.bin"))
        for i in range(args.repeat):
            victim.write_bytes(os.urandom(args.file_kib * 1024) + bytes([i]))
            sm_c.append(_timed(lambda: sm.add("small", data)))
            dvc_c.append(_timed(lambda: dvc.add(data)))
        # (d) materialise into an empty folder
        sm_d, sm_dl, dvc_d = [], [], []
        for i in range(args.repeat):
            copy_dest, link_dest = scratch / f"get{i}", scratch / f"link{i}"
            sm_d.append(_timed(lambda d=copy_dest: sm.get("small", d)))
            sm_dl.append(_timed(lambda d=link_dest: sm.get("small", d, link=True)))
            data.rename(scratch / f"checked-out{i}")  # moved aside, not deleted (see above)
            dvc_d.append(_timed(lambda: dvc.checkout(data)))
        # (b) one big file, and the raw hashing baseline on the same file
        sm_b, sm_bh, dvc_b, raw_b = [], [], [], []
        for _ in range(args.repeat):
            raw_b.append(raw_blake3(big))
            sm.reset()
            sm_b.append(_timed(lambda: sm.add("big", big)))
            # stackml's hashing alone: a new mtime makes the stat cache miss, the content is
            # already stored, so the re-add hashes the whole file and copies nothing.
            os.utime(big)
            sm_bh.append(_timed(lambda: sm.add("big", big)))
            raw_b.append(raw_blake3(big))  # again, right after: both see the same page cache
            dvc.reset()
            dvc_b.append(_timed(lambda: dvc.add(big)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    a_sm, a_dvc = _median(sm_a), _median(dvc_a)
    b_sm, b_dvc, b_raw = _median(sm_b), _median(dvc_b), _median(raw_b)
    b_hash = _median(sm_bh)
    c_sm, c_dvc = _median(sm_c), _median(dvc_c)
    d_sm, d_sml, d_dvc = _median(sm_d), _median(sm_dl), _median(dvc_d)
    mb = 1e6
    print(
        f"(a) cold add {args.files} x {args.file_kib} KiB: stackml {a_sm:.2f} s "
        f"({args.files / a_sm:,.0f} files/s, {small_bytes / a_sm / mb:.0f} MB/s), "
        f"dvc {a_dvc:.2f} s ({args.files / a_dvc:,.0f} files/s)"
    )
    print(
        f"(b) cold add 1 x {args.big_mib} MiB: stackml {b_sm:.2f} s ({big_bytes / b_sm / mb:.0f} "
        f"MB/s), dvc {b_dvc:.2f} s ({big_bytes / b_dvc / mb:.0f} MB/s), raw blake3 "
        f"{b_raw:.2f} s ({big_bytes / b_raw / mb:.0f} MB/s); stackml hashing alone (re-add, "
        f"new mtime, nothing copied) {b_hash:.2f} s ({big_bytes / b_hash / mb:.0f} MB/s)"
    )
    print(f"(c) re-add after 1 change: stackml {c_sm:.3f} s, dvc {c_dvc:.3f} s")
    print(
        f"(d) get/checkout: stackml copy {d_sm:.2f} s ({args.files / d_sm:,.0f} files/s), "
        f"stackml --link {d_sml:.2f} s, dvc {d_dvc:.2f} s ({args.files / d_dvc:,.0f} files/s)"
    )
    print(
        f"ratios (dvc/stackml time): cold add x{a_dvc / a_sm:.2f} (target >= 3), "
        f"incremental re-add x{c_dvc / c_sm:.2f} (target >= 10), big add x{b_dvc / b_sm:.2f}, "
        f"get x{d_dvc / d_sm:.2f} (link x{d_dvc / d_sml:.2f}); hashing on (b) "
        f"{b_raw / b_hash:.0%} of raw blake3 (target >= 70%; whole cold add incl. copy "
        f"{b_raw / b_sm:.0%})"
    )


if __name__ == "__main__":
    main()
