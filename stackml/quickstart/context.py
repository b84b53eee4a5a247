"""``QuickstartContext``: what every stage shares (where to work, the store, earlier results)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stackml.config import STORE_DIR

if TYPE_CHECKING:
    from stackml.quickstart.digits import DigitsSplits
    from stackml.quickstart.stage import StageResult
    from stackml.store import Store

#: Seed of every random choice the quickstart makes, so two runs give the same numbers.
DEFAULT_SEED = 0


def _ignore(_: str) -> None:
    pass


@dataclass
class QuickstartContext:
    """Shared state of one quickstart run.

    Attributes:
        workdir: The quickstart's own folder; its store is ``workdir/.stackml``.
        seed: Seed for data splits and models.
        results: Results of the stages that already ran, by stage name, in order.
        progress: Called with a short message while a stage works (the progress display).
    """

    workdir: Path
    seed: int = DEFAULT_SEED
    results: dict[str, StageResult] = field(default_factory=dict)
    progress: Callable[[str], None] = _ignore
    _digits: DigitsSplits | None = field(default=None, repr=False)

    @property
    def store_dir(self) -> Path:
        """The quickstart's embedded store (a ``.stackml`` folder)."""
        return self.workdir / STORE_DIR

    @property
    def tracking_uri(self) -> str:
        """What to pass as ``tracking_uri`` so runs land in the quickstart's store."""
        return str(self.store_dir)

    @property
    def store(self) -> Store:
        """The quickstart's store (shared with the tracking SDK's cache)."""
        from stackml.tracking.api import get_store

        return get_store(self.tracking_uri)

    def output_dir(self, *parts: str) -> Path:
        """A folder under ``workdir/outputs`` for files a stage writes before logging them."""
        folder = self.workdir.joinpath("outputs", *parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def digits(self) -> DigitsSplits:
        """The digits train/val/test split, loaded once and shared by every stage."""
        if self._digits is None:
            from stackml.quickstart.digits import load_digits_splits

            self._digits = load_digits_splits(seed=self.seed)
        return self._digits

    def note(self, message: str) -> None:
        """Report what the current stage is doing."""
        self.progress(message)
