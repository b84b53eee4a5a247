"""Safe extraction: slip entries, absolute names, links and devices are refused, nothing written."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from stackml.errors import InvalidInput
from stackml.registry.archives import UnsafeArchive, is_archive, safe_extract


def _tar(path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tf:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tf.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                tf.addfile(info, io.BytesIO(entry[1]))
    return path


def _zip(path: Path, entries: list[tuple[str, bytes] | zipfile.ZipInfo]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for entry in entries:
            if isinstance(entry, zipfile.ZipInfo):
                zf.writestr(entry, b"/etc/passwd")
            else:
                zf.writestr(entry[0], entry[1])
    return path


def _link(name: str, kind: bytes, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize(
    "bad",
    [
        "../evil.txt",
        "ok/../../evil.txt",
        "/etc/evil.txt",
        "C:/evil.txt",
        "..\\evil.txt",
        "a/%2e%2e/evil.txt",
    ],
)
def test_slip_names_are_refused_without_writing(tmp_path: Path, bad: str) -> None:
    for archive in (
        _tar(tmp_path / "a.tar", [("good.txt", b"ok"), (bad, b"evil")]),
        _zip(tmp_path / "a.zip", [("good.txt", b"ok"), (bad, b"evil")]),
    ):
        dest = tmp_path / "out"
        with pytest.raises(UnsafeArchive):
            safe_extract(archive, dest)
        assert not dest.exists()
        assert not (tmp_path / "evil.txt").exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".extract")] == []


@pytest.mark.parametrize(
    ("kind", "what"), [(tarfile.SYMTYPE, "symlink"), (tarfile.LNKTYPE, "hardlink")]
)
def test_tar_links_are_refused(tmp_path: Path, kind: bytes, what: str) -> None:
    archive = _tar(tmp_path / "l.tar", [("good.txt", b"ok"), _link("link", kind, "/etc/passwd")])
    with pytest.raises(UnsafeArchive, match=what):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tar_devices_are_refused(tmp_path: Path) -> None:
    fifo = tarfile.TarInfo("pipe")
    fifo.type = tarfile.FIFOTYPE
    with pytest.raises(UnsafeArchive):
        safe_extract(_tar(tmp_path / "d.tar", [fifo]), tmp_path / "out")


def test_zip_symlink_is_refused(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("link")
    info.external_attr = 0o120777 << 16  # a symlink in the Unix mode bits
    with pytest.raises(UnsafeArchive, match="symlink"):
        safe_extract(_zip(tmp_path / "s.zip", [("a.txt", b"x"), info]), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_duplicate_entries_are_refused(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "dup.tar", [("a.txt", b"1"), ("a.txt", b"2")])
    with pytest.raises(UnsafeArchive, match="twice"):
        safe_extract(archive, tmp_path / "out")


def test_good_archives_extract(tmp_path: Path) -> None:
    entries = [("model.onnx", b"onnx"), ("sub/meta.json", b"{}")]
    for archive in (
        _tar(tmp_path / "g.tar", list(entries)),
        _zip(tmp_path / "g.zip", list(entries)),
    ):
        dest = tmp_path / f"out-{archive.suffix[1:]}"
        files = safe_extract(archive, dest)
        assert sorted(p.relative_to(dest).as_posix() for p in files) == [
            "model.onnx",
            "sub/meta.json",
        ]
        assert (dest / "sub" / "meta.json").read_bytes() == b"{}"
    with pytest.raises(InvalidInput, match="exists"):
        safe_extract(tmp_path / "g.tar", tmp_path / "out-tar")
    (tmp_path / "plain.txt").write_text("x")
    with pytest.raises(InvalidInput):
        safe_extract(tmp_path / "plain.txt", tmp_path / "never")
    assert is_archive("m.tar.gz") and is_archive("m.ZIP") and not is_archive("m.onnx")
