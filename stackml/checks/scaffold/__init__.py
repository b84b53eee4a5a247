"""``stackml init DIR``: a new ML project that separates prediction, training and serving.

The files are templates shipped beside this module (``*.tmpl``); ``{{package}}`` and
``{{project}}`` are replaced with the package name (derived from the folder) and the folder's
name. Existing files are never overwritten.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from stackml.errors import AlreadyExists, InvalidInput

__all__ = ["package_name", "scaffold"]

_HERE = Path(__file__).parent

#: template -> destination (``{pkg}`` is the package name).
FILES = {
    "README.md.tmpl": "README.md",
    "Makefile.tmpl": "Makefile",
    "pyproject.toml.tmpl": "pyproject.toml",
    "stackml-checks.yaml.tmpl": "stackml-checks.yaml",
    "attestations.yaml.tmpl": "attestations.yaml",
    "gitignore.tmpl": ".gitignore",
    "workflow.yml.tmpl": ".github/workflows/ml.yml",
    "pkg_init.py.tmpl": "src/{pkg}/__init__.py",
    "data.py.tmpl": "src/{pkg}/data.py",
    "predictor.py.tmpl": "src/{pkg}/predictor.py",
    "train.py.tmpl": "src/{pkg}/train.py",
    "test_predictor.py.tmpl": "tests/test_predictor.py",
    "test_validation.py.tmpl": "tests/test_validation.py",
}


def package_name(folder: Path) -> str:
    """A valid Python package name from a folder name (``My-Project`` -> ``my_project``)."""
    name = re.sub(r"[^0-9a-zA-Z]+", "_", folder.name).strip("_").lower()
    if not name:
        raise InvalidInput(f"cannot derive a package name from {folder.name!r}; name the folder")
    if name[0].isdigit():
        name = f"project_{name}"
    if keyword.iskeyword(name):
        name += "_project"
    return name


def scaffold(folder: Path) -> list[Path]:
    """Write the project into ``folder``; returns the files written.

    Raises ``AlreadyExists`` when any of them already exists (nothing is written then).
    """
    folder = folder.absolute()
    pkg = package_name(folder)
    targets = {src: folder / dest.format(pkg=pkg) for src, dest in FILES.items()}
    clashes = [str(p.relative_to(folder)) for p in targets.values() if p.exists()]
    if clashes:
        raise AlreadyExists(
            f"{folder} already holds {', '.join(clashes)}; init writes into a new or empty folder"
        )
    written = []
    for src, dest in targets.items():
        text = (_HERE / src).read_text(encoding="utf-8")
        text = text.replace("{{package}}", pkg).replace("{{project}}", folder.name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text, encoding="utf-8")
        written.append(dest)
    return written
