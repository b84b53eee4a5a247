"""The 8x8 digits images bundled with scikit-learn, split once for every stage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Fractions of the whole data set held out for validation and for the final test.
VAL_FRACTION = 0.2
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class DigitsSplits:
    """Stratified train/validation/test split of the digits (pixels 0 to 16, labels 0 to 9)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    seed: int

    @property
    def classes(self) -> np.ndarray:
        """The sorted class labels."""
        return np.unique(self.y_train)

    def sizes(self) -> dict[str, int]:
        """Number of images in each split."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def load_digits_splits(seed: int = 0) -> DigitsSplits:
    """Load the bundled digits (no network) and split them, stratified by label."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = np.asarray(data.data, dtype=np.float64)
    y = np.asarray(data.target, dtype=np.int64)
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, stratify=y, random_state=seed
    )
    val_of_rest = VAL_FRACTION / (1 - TEST_FRACTION)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_of_rest, stratify=y_rest, random_state=seed
    )
    return DigitsSplits(x_train, y_train, x_val, y_val, x_test, y_test, seed)
