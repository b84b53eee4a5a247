"""The artifacts browser: a tree of a run's files and a preview of one of them.

Previews read at most :data:`PREVIEW_BYTES` of a blob. Only raster images in
:data:`SAFE_IMAGE_TYPES` are ever shown inline by the browser; everything else is rendered as
escaped text by a template, or offered as a download (``Content-Disposition: attachment``).
SVG is not in the list on purpose: it can carry script.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

from stackml.store.blobs.base import BlobStore
from stackml.store.entities import Artifact

PREVIEW_BYTES = 512 * 1024
CSV_ROWS = 200
SAFE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_TEXT_SUFFIXES = frozenset(
    {".txt", ".log", ".md", ".py", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".diff", ".sh"}
)

PreviewKind = Literal["image", "json", "csv", "text", "binary"]


@dataclass
class TreeNode:
    """A folder or file of the artifacts tree."""

    name: str
    path: str
    artifact: Artifact | None = None
    children: list[TreeNode] = field(default_factory=list)

    @property
    def is_dir(self) -> bool:
        return self.artifact is None


def build_tree(artifacts: list[Artifact]) -> TreeNode:
    """Nest artifacts by their ``/``-separated logical paths (folders first, then files)."""
    root = TreeNode("", "")
    for artifact in artifacts:
        node = root
        parts = artifact.path.split("/")
        for depth, part in enumerate(parts[:-1]):
            folder = next((c for c in node.children if c.is_dir and c.name == part), None)
            if folder is None:
                folder = TreeNode(part, "/".join(parts[: depth + 1]))
                node.children.append(folder)
            node = folder
        node.children.append(TreeNode(parts[-1], artifact.path, artifact))
    _sort(root)
    return root


def _sort(node: TreeNode) -> None:
    node.children.sort(key=lambda c: (not c.is_dir, c.name.lower()))
    for child in node.children:
        _sort(child)


def preview_kind(artifact: Artifact) -> PreviewKind:
    """How an artifact is previewed, from its media type and file suffix."""
    media = artifact.media_type.split(";")[0].strip().lower()
    suffix = posixpath.splitext(artifact.path)[1].lower()
    if media in SAFE_IMAGE_TYPES:
        return "image"
    if media == "application/json" or suffix == ".json":
        return "json"
    if media == "text/csv" or suffix in {".csv", ".tsv"}:
        return "csv"
    if media.startswith("text/") or suffix in _TEXT_SUFFIXES:
        return "text"
    return "binary"


def is_inline_safe(media_type: str) -> bool:
    """Whether a browser may display this media type inline (raster images only)."""
    return media_type.split(";")[0].strip().lower() in SAFE_IMAGE_TYPES


def content_disposition(path: str, media_type: str) -> str:
    """``inline`` for safe images, ``attachment`` for everything else, with the file name."""
    name = posixpath.basename(path) or "artifact"
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("\\", "_")
    mode = "inline" if is_inline_safe(media_type) else "attachment"
    return f"{mode}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


@dataclass
class Preview:
    """What the preview pane shows for one artifact."""

    artifact: Artifact
    kind: PreviewKind
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False
    error: str | None = None


def build_preview(blobs: BlobStore, artifact: Artifact) -> Preview:
    """Read the start of an artifact and shape it for its preview kind."""
    kind = preview_kind(artifact)
    preview = Preview(artifact, kind)
    if kind in {"image", "binary"}:
        return preview
    with blobs.open(artifact.blob_hash) as fh:
        data = fh.read(PREVIEW_BYTES + 1)
    preview.truncated = len(data) > PREVIEW_BYTES
    text = data[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    if kind == "json" and not preview.truncated:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError as exc:
            preview.error = f"not valid JSON ({exc}); shown as text"
    if kind == "csv":
        dialect = "excel-tab" if artifact.path.lower().endswith(".tsv") else "excel"
        try:
            reader = csv.reader(io.StringIO(text), dialect=dialect)
            for row in reader:
                if len(preview.rows) >= CSV_ROWS:
                    preview.truncated = True
                    break
                preview.rows.append(row)
        except csv.Error as exc:
            preview.error = f"not valid CSV ({exc}); shown as text"
            preview.kind = "text"
    preview.text = text
    return preview
