"""``stackml data``: every subcommand end to end on the working directory's store."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.support import Invoke, assert_clean_failure


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    (root / "sub").mkdir(parents=True)
    for i in range(6):
        (root / f"{i}.txt").write_text(f"file {i}")
    (root / "sub" / "deep.txt").write_text("deep")
    return root


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "t.csv"
    lines = ["id,x,label"] + [f"{i},{i / 10},{'ab'[i % 2]}" for i in range(20)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_add_ls_show_get_and_diff(cli: Invoke, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    result = cli("data", "add", "docs", str(folder), "-m", "first", "--split", "train=0.5,test=0.5")
    assert result.exit_code == 0, result.output
    assert "added docs@v1" in result.stdout and "7 files" in result.stdout
    (folder / "0.txt").write_text("changed")
    (folder / "new.txt").write_text("new")
    assert cli("data", "add", "docs", str(folder), "--verify").exit_code == 0
    listing = cli("data", "ls", "docs").stdout
    assert "v1" in listing and "v2" in listing and "first" in listing
    assert "docs  2 versions" in cli("data", "ls").stdout
    shown = cli("data", "show", "docs@v1").stdout
    assert "splits: train=4, test=3" in shown and "schema and statistics" in shown
    diff = cli("data", "diff", "docs@v1", "docs@v2").stdout
    assert "files added: 1" in diff and "new.txt" in diff and "files changed: 1" in diff
    out = tmp_path / "out"
    got = cli("data", "get", "docs@latest", str(out))
    assert got.exit_code == 0, got.output
    assert (out / "sub" / "deep.txt").read_text() == "deep" and (
        out / "0.txt"
    ).read_text() == "changed"
    as_json = json.loads(cli("data", "show", "docs@v2", "--json").stdout)
    assert as_json["number"] == 2 and as_json["kind"] == "files"


def test_tables_validate_query_tag_and_rm(cli: Invoke, tmp_path: Path) -> None:
    table = _csv(tmp_path)
    expectations = tmp_path / "exp.yaml"
    expectations.write_text("row_count: {min: 10}\ncolumns:\n  x: {min: 0, max: 2}\n")
    added = cli(
        "data",
        "add",
        "tab",
        str(table),
        "--key",
        "id",
        "--label",
        "label",
        "--expectations",
        str(expectations),
    )
    assert added.exit_code == 0, added.output
    ok = cli("data", "validate", "tab@v1")
    assert ok.exit_code == 0 and "PASSED" in ok.stdout
    strict = tmp_path / "strict.yaml"
    strict.write_text("columns:\n  x: {max: 1}\n  label: {allowed: [a]}\n")
    failed = cli("data", "validate", "tab@v1", "--expectations", str(strict))
    assert (
        failed.exit_code == 1
        and "FAIL x max 1" in failed.stdout
        and "label allowed" in failed.stdout
    )
    assert "allowed:" in cli("data", "validate", "tab@v1", "--suggest").stdout
    queried = cli(
        "data", "query", "tab@v1", "SELECT label, count(*) AS n FROM data GROUP BY 1 ORDER BY 1"
    )
    assert queried.exit_code == 0
    assert [line.split() for line in queried.stdout.splitlines()[1:]] == [["a", "10"], ["b", "10"]]
    tagged = cli("data", "tag", "tab@v1", "prod")
    assert tagged.exit_code == 0 and "tab@prod ->" in tagged.stdout
    assert cli("data", "show", "tab@prod").exit_code == 0
    removed = cli("data", "rm", "tab@v1")
    assert removed.exit_code == 0 and "stackml gc" in removed.stdout
    assert "(deleted)" in cli("data", "ls", "tab", "--all").stdout


def test_bad_input_fails_cleanly(cli: Invoke, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3\n")
    stderr = assert_clean_failure(cli("data", "add", "t", str(bad)))
    assert "bad.csv, line 3" in stderr
    assert "no such file" in assert_clean_failure(cli("data", "add", "t", str(tmp_path / "nope")))
    assert "split" in assert_clean_failure(cli("data", "add", "t", str(tmp_path), "--split", "x"))
    assert "does not exist" in assert_clean_failure(cli("data", "show", "missing@v1"))
    assert "dataset name" in assert_clean_failure(cli("data", "show", "../etc@v1"))
    folder = _folder(tmp_path)
    assert cli("data", "add", "d", str(folder)).exit_code == 0
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert "empty folder" in assert_clean_failure(
        cli("data", "get", "d@v1", str(tmp_path / "full"))
    )
    assert "name the version" in assert_clean_failure(cli("data", "rm", "d"))
    (folder / "link").symlink_to(folder / "0.txt")
    assert "--follow-symlinks" in assert_clean_failure(cli("data", "add", "d", str(folder)))
    assert cli("data", "add", "d", str(folder), "--follow-symlinks").exit_code == 0
