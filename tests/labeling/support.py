"""Shared helpers of the labeling tests: small images and seeded projects."""

from __future__ import annotations

import io

import numpy as np

from stackml.store import Store

XSS = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "</script><script>window.__xss=2</script>"


def png(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """A real PNG with a bright rectangle on a dark background."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = np.full((height, width, 3), 30, dtype=np.uint8)
    x, y = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
    pixels[y : y + height // 3, x : x + width // 3] = (230, 180, 60)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def seed_images(
    store: Store, project: str, n: int, *, task_type: str = "bboxes", **options: object
) -> list[int]:
    """A project of ``n`` images (classes cat and dog, plus an XSS-named one)."""
    import stackml.labeling as sl

    sl.create_project(
        project,
        task_type,
        [
            {"name": "cat", "hotkey": "1"},
            {"name": "dog", "hotkey": "2"},
            {"name": XSS, "hotkey": "3"},
        ],
        instructions=f"Label every animal. {XSS_SCRIPT}",
        store=store,
        **options,  # type: ignore[arg-type]
    )
    items = [{"image_bytes": png(seed=i), "key": f"img-{i}.png"} for i in range(n)]
    return sl.add_tasks(project, items, store=store)
