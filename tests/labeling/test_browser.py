"""The labeling UI in headless Chromium: keyboard-only labeling, drawing and editing a box
with the mouse, reviewing, progress numbers, payloads shown as text, and screenshots in light
and dark theme (written to ``docs/img/`` with ``UPDATE_DOC_SCREENSHOTS=1``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import stackml.labeling as sl
from stackml.server import create_app
from stackml.store import Store, open_store
from tests.labeling.support import XSS, seed_images
from tests.server.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
        reason="Chromium is not installed (apt-get install chromium)",
    ),
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store(str(tmp_path_factory.mktemp("label-ui") / "store"))
    seed_images(store, "digits-check", 10, task_type="image_classification")
    seed_images(store, "pets", 3)
    seed_images(store, "review-me", 3, overlap=2)
    seed_images(store, "shapes", 1, task_type="polygons")
    sl.create_project("ner", "text_spans", ["PER", "ORG"], store=store)
    prelabel = {"value": {"spans": [{"class": "ORG", "start": 13, "end": 17}]}, "model": "ner@1"}
    sl.add_tasks("ner", [{"text": f"Ada works at ACME. {XSS}", "prelabel": prelabel}], store=store)
    for user, cls in (("ada", "cat"), ("bob", "dog")):
        for task in sl.next_tasks("review-me", user=user, limit=3, store=store):
            box = {"class": cls, "x": 5 + task.id, "y": 4, "w": 30, "h": 20}
            sl.submit(task.id, {"boxes": [box]}, user=user, duration_ms=2100, store=store)
    yield store
    store.close()


@pytest.fixture(scope="module")
def server(seeded: Store) -> Iterator[LiveServer]:
    live = LiveServer(create_app(seeded)).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    problems: list[str] = []
    tab = browser.new_page(viewport={"width": 1440, "height": 900})
    tab.on("dialog", lambda d: (problems.append("dialog " + d.message), d.dismiss()))
    tab.on("pageerror", lambda e: problems.append(str(e)))
    yield tab
    xss = tab.evaluate("() => window.__xss")
    tab.close()
    assert xss is None, "a payload ran as script"
    assert not problems, problems


def _shoot(page: Any, name: str, tmp_path: Path) -> None:
    folder = DOCS_IMG if os.environ.get("UPDATE_DOC_SCREENSHOTS") == "1" else tmp_path
    for theme in ("light", "dark"):
        page.evaluate(f"() => document.documentElement.setAttribute('data-theme', '{theme}')")
        page.wait_for_timeout(100)
        path = folder / f"{name}-{theme}.png"
        page.screenshot(path=str(path))
        assert path.stat().st_size > 10_000


def test_label_ten_images_with_the_keyboard_only(
    page: Any, server: LiveServer, seeded: Store, tmp_path: Path
) -> None:
    page.goto(f"{server.url}/labeling/digits-check/annotate?user=kim")
    for i in range(10):
        page.wait_for_selector("#workspace[data-state=ready]")
        if i == 2:
            page.keyboard.press("2")
            page.keyboard.press("z")  # undo the pick...
            page.keyboard.press("y")  # ...and redo it
        else:
            page.keyboard.press("1" if i % 3 else "2")
        if i == 0:
            _shoot(page, "labeling-annotate", tmp_path)
        page.keyboard.press("n" if i % 2 else "Enter")
    page.wait_for_selector("#workspace[data-state=empty]")
    page.wait_for_function("() => document.getElementById('p-done').textContent === '10'")
    assert page.inner_text("#p-total") == "10" and page.inner_text("#p-mine") == "10"
    assert page.inner_text("#p-session") == "10"
    done = sl.all_annotations(seeded, "digits-check")
    assert len(done) == 10 and {a.user for a in done} == {"kim"}
    assert all(a.duration_ms is not None and a.duration_ms >= 0 for a in done)
    expected = ["dog" if i % 3 == 0 or i == 2 else "cat" for i in range(10)]
    assert [a.value["class"] for a in done] == expected
    # Payloads in class names and instructions are text, not markup.
    assert XSS in page.inner_text("#class-list")
    assert page.locator("#class-list img").count() == 0


def test_draw_a_box_with_the_mouse_and_edit_it(
    page: Any, server: LiveServer, seeded: Store, tmp_path: Path
) -> None:
    page.goto(f"{server.url}/labeling/pets/annotate?user=lee")
    page.wait_for_selector("#workspace[data-state=ready]")
    view = page.evaluate("() => window.stackmlAnnotator.canvas.view")
    rect = page.locator("#canvas").bounding_box()

    def screen(x: float, y: float) -> tuple[float, float]:
        return rect["x"] + view["ox"] + x * view["scale"], rect["y"] + view["oy"] + y * view[
            "scale"
        ]

    page.keyboard.press("2")  # class "dog" for new shapes
    page.mouse.move(*screen(10, 8))
    page.mouse.down()
    page.mouse.move(*screen(30, 20), steps=5)
    page.mouse.move(*screen(40, 30), steps=5)
    page.mouse.up()
    shapes = page.evaluate("() => window.stackmlAnnotator.state().shapes")
    assert len(shapes) == 1 and shapes[0]["cls"] == "dog"
    assert abs(shapes[0]["x"] - 10) < 1 and abs(shapes[0]["w"] - 30) < 1
    # Edit: drag the bottom-right handle far outside the image; it snaps to the bounds.
    page.keyboard.press("v")
    page.mouse.move(*screen(40, 30))
    page.mouse.down()
    page.mouse.move(*screen(200, 150), steps=8)
    page.mouse.up()
    page.keyboard.press("ArrowUp")  # nudge by one pixel
    page.keyboard.press("1")  # and change its class to cat
    _shoot(page, "labeling-box", tmp_path)
    page.keyboard.press("n")
    page.wait_for_function("() => document.getElementById('p-mine').textContent === '1'")
    (annotation,) = sl.all_annotations(seeded, "pets")
    (box,) = annotation.value["boxes"]
    assert box["class"] == "cat"
    assert abs(box["x"] - 10) < 1 and abs(box["y"] - 7) < 1
    assert abs(box["x"] + box["w"] - 64) < 0.01 and abs(box["y"] + box["h"] - 47) < 1  # clamped


def test_review_and_reject_one(
    page: Any, server: LiveServer, seeded: Store, tmp_path: Path
) -> None:
    page.goto(f"{server.url}/labeling/review-me/review")
    cards = page.locator(".lb-review-item").first.locator(".lb-review-card")
    assert cards.count() == 2  # both annotators side by side
    assert page.locator(".lb-review-item svg rect").count() >= 2
    _shoot(page, "labeling-review", tmp_path)
    first = cards.first
    annotation_id = int(first.get_attribute("id").split("-")[1])
    first.locator("input[name=comment]").fill(f"box too loose {XSS}")
    first.locator("button[value=reject]").click()
    page.wait_for_url("**/labeling/review-me/review*")
    rejected = next(a for a in sl.all_annotations(seeded, "review-me") if a.id == annotation_id)
    assert rejected.status == "rejected" and rejected.comment.startswith("box too loose")
    assert seeded.metadata.get_label_task(rejected.task_id).state == "open"
    page.locator(".lb-review-card button[value=accept]").first.click()
    page.wait_for_url("**/labeling/review-me/review*")
    assert seeded.metadata.label_progress("review-me").accepted == 1


def test_progress_numbers_on_the_project_page(
    page: Any, server: LiveServer, seeded: Store, tmp_path: Path
) -> None:
    page.goto(f"{server.url}/labeling/review-me")
    progress = seeded.metadata.label_progress("review-me")
    assert page.inner_text("[data-stat=total]") == str(progress.total)
    assert page.inner_text("[data-stat=done]") == str(progress.done)
    assert page.inner_text("[data-stat=open]") == str(progress.open)
    assert "ada" in page.inner_text("#annotator-stats") and "2.1 s" in page.inner_text(
        "#annotator-stats"
    )
    assert XSS in page.inner_text("#classes")
    assert "</script>" in page.inner_text("#instructions")
    _shoot(page, "labeling-project", tmp_path)
    page.goto(f"{server.url}/labeling")
    assert page.locator("#label-projects tbody tr").count() == 5
    _shoot(page, "labeling-projects", tmp_path)


def test_draw_a_polygon_and_label_a_text_span(page: Any, server: LiveServer, seeded: Store) -> None:
    page.goto(f"{server.url}/labeling/shapes/annotate?user=pam")
    page.wait_for_selector("#workspace[data-state=ready]")
    view = page.evaluate("() => window.stackmlAnnotator.canvas.view")
    rect = page.locator("#canvas").bounding_box()
    for x, y in ((5, 5), (40, 5), (40, 30), (-1, 30)):  # the last point snaps to x = 0
        page.mouse.click(
            rect["x"] + view["ox"] + x * view["scale"], rect["y"] + view["oy"] + y * view["scale"]
        )
    page.keyboard.press("Enter")  # closes the polygon
    page.keyboard.press("n")
    page.wait_for_selector("#workspace[data-state=empty]")
    (annotation,) = sl.all_annotations(seeded, "shapes")
    (polygon,) = annotation.value["polygons"]
    assert polygon["class"] == "cat" and len(polygon["points"]) == 4
    assert polygon["points"][3][0] == 0.0 and abs(polygon["points"][1][0] - 40) < 1

    page.goto(f"{server.url}/labeling/ner/annotate?user=pam")
    page.wait_for_selector("#workspace[data-state=ready]")
    assert page.locator("#text-view mark").count() == 1  # the model's suggestion
    assert XSS in page.inner_text("#text-view") and page.locator("#text-view img").count() == 0
    page.evaluate(
        """() => {
            const node = document.getElementById('text-view').firstChild;
            const range = document.createRange();
            range.setStart(node, 0); range.setEnd(node, 3);
            const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
        }"""
    )
    hotkey = seeded.metadata.get_label_project("ner").config.classes[0].hotkey
    page.keyboard.press(hotkey)
    assert page.locator("#text-view mark").count() == 2
    page.keyboard.press("n")
    page.wait_for_selector("#workspace[data-state=empty]")
    (annotation,) = sl.all_annotations(seeded, "ner")
    assert annotation.value["spans"] == [
        {"class": "PER", "start": 0, "end": 3},
        {"class": "ORG", "start": 13, "end": 17},
    ]
