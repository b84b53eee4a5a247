"""The ML Test Score page of a model version (``/models/{name}/versions/{ref}/check``) and the
standalone HTML report of ``stackml check --format html``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stackml.checks.rubric import BANDS, SECTIONS
from stackml.checks.scoring import Scorecard, TestResult

if TYPE_CHECKING:
    from stackml.store import Store

__all__ = ["CheckView", "build_check_view", "render_scorecard_html"]


@dataclass(frozen=True)
class CheckView:
    """What the template shows: the scorecard, results grouped by section and evidence links."""

    card: Scorecard
    by_section: dict[str, list[TestResult]]
    bands: tuple[tuple[float, str], ...]
    run_id: str | None


def build_check_view(store: Store, name: str, ref: str) -> CheckView:
    """Score ``name@ref`` with the server's checks configuration."""
    from stackml.checks import check

    card = check(f"{name}@{ref}", store=store)
    version = store.metadata.get_model_version(card.model, card.version)
    by_section = {s: [r for r in card.results if r.test.section == s] for s in SECTIONS}
    return CheckView(card, by_section, BANDS, version.run_id)


def render_scorecard_html(card: Scorecard) -> str:
    """A self-contained HTML report (inline styles; no scripts)."""
    from stackml.ui.rendering import environment

    by_section = {s: [r for r in card.results if r.test.section == s] for s in SECTIONS}
    return (
        environment()
        .get_template("check_report.html")
        .render(view=CheckView(card, by_section, BANDS, None))
    )
