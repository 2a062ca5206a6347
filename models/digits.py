"""The bundled handwritten-digits data (UCI, 1,797 8x8 images) with a fixed train/test split.

>>> data = load_digits()
>>> data.x_train.shape, data.x_test.shape, data.y_test.dtype.name
((1438, 64), (359, 64), 'int64')
>>> float(data.x_train.max())
1.0
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_FILE = Path(__file__).resolve().parent / "data" / "digits.csv.gz"
N_CLASSES = 10
IMAGE_SIDE = 8
SPLIT_SEED = 0
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Digits:
    """Pixels scaled to [0, 1] as float32 (one row of 64 per image) and int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def images(self, split: str) -> np.ndarray:
        """The split's pixels as NCHW images, shape (n, 1, 8, 8), for convolutional models."""
        x = self.x_train if split == "train" else self.x_test
        return x.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)


def read_raw(path: Path = DATA_FILE) -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 images as (pixels 0..16 as int64 of shape (n, 64), labels of shape (n,))."""
    with gzip.open(path, "rt") as stream:
        table = np.loadtxt(stream, delimiter=",", dtype=np.float64)
    return table[:, :-1].astype(np.int64), table[:, -1].astype(np.int64)


def split_indices(labels: np.ndarray, test_fraction: float = TEST_FRACTION,
                  seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """A stratified split: each class contributes the same fraction to the test set."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in range(N_CLASSES):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(len(members) * test_fraction))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def load_digits() -> Digits:
    """The fixed split used by the demo, the README numbers and the tests."""
    pixels, labels = read_raw()
    train, test = split_indices(labels)
    x = (pixels / 16.0).astype(np.float32)
    return Digits(x[train], labels[train], x[test], labels[test])
