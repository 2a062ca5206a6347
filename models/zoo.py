"""The five digit classifiers with the recipes that train them, and a script printing their test
accuracy on the fixed split.

    python -m models.zoo            # from the repository root: trains all five (~40 s here)
    python -m models.zoo cnn mlp    # only these

The accuracies measured with these recipes are quoted in the README's model table.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import graphdiff as gd
from graphdiff.nn import Module
from graphdiff.optim import Adam

from . import nets
from .digits import Digits, load_digits
from .train import Classifier, compile_classifier, evaluate


@dataclass(frozen=True)
class Recipe:
    """How one model is built and trained."""

    build: Callable[[np.random.Generator], Module]
    input_shape: tuple[int, ...]  # per example: (64,) flat or (1, 8, 8) images
    learning_rate: float
    epochs: int
    batch_size: int = 32

    def inputs(self, data: Digits, split: str) -> np.ndarray:
        x = data.x_train if split == "train" else data.x_test
        return x.reshape(-1, *self.input_shape)


RECIPES: dict[str, Recipe] = {
    "mlp": Recipe(lambda rng: nets.MLP((64, 256, 128, 10), rng), (64,), 1e-3, 30),
    "cnn": Recipe(lambda rng: nets.LeNet(rng), (1, 8, 8), 3e-3, 20),
    "lstm": Recipe(lambda rng: nets.LSTMClassifier(rng), (64,), 3e-3, 20),
    "gru": Recipe(lambda rng: nets.GRUClassifier(rng), (64,), 3e-3, 20),
    "transformer": Recipe(lambda rng: nets.TransformerClassifier(rng), (64,), 3e-3, 20),
}


def build(name: str, seed: int = 0) -> Classifier:
    """A compiled, untrained classifier from its recipe."""
    recipe = RECIPES[name]
    model = recipe.build(np.random.default_rng(seed))
    return compile_classifier(model, model.parameters(), Adam(recipe.learning_rate),
                              recipe.input_shape)


def train(name: str, data: Digits, *, epochs: int | None = None, seed: int = 0,
          progress: bool | None = None, checkpoint: Any = None, checkpoint_every: int | None = None,
          resume: bool = False) -> tuple[Classifier, gd.train.History, float]:
    """Build and train one model with ``gd.train.fit`` (the test accuracy measured after each
    epoch, in the history as "test_accuracy"); returns it, its history and its final test
    accuracy. ``checkpoint``, ``checkpoint_every`` and ``resume`` go to ``fit``."""
    recipe = RECIPES[name]
    model = build(name, seed)
    x_test = recipe.inputs(data, "test")
    history = gd.train.fit(
        model.step, (recipe.inputs(data, "train"), data.y_train),
        epochs=recipe.epochs if epochs is None else epochs, batch_size=recipe.batch_size,
        seed=seed,
        evaluate=lambda: {"test_accuracy": evaluate(model, x_test, data.y_test)},
        state=model.state, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
        resume=resume, progress=progress)
    return model, history, evaluate(model, x_test, data.y_test)


def main(names: list[str]) -> None:
    data = load_digits()
    for name in names or list(RECIPES):
        start = time.perf_counter()
        model, history, accuracy = train(name, data)
        recipe = RECIPES[name]
        print(f"{name:12s} test accuracy {accuracy:.2%}  ({recipe.epochs} epochs, "
              f"{len(model.step.graph)}-node training step, "
              f"{time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
