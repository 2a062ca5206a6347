"""Compile a classifier's training step; ``gd.train.fit`` runs it.

``compile_classifier`` builds the whole training step as one graph: forward pass, mean
softmax cross-entropy, accuracy, gradients (appended by ``gd.grad``) and the optimizer's
updates; ``evaluate`` measures the accuracy of its predictor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import graphdiff as gd
from graphdiff import Node


@dataclass
class Classifier:
    """A compiled classifier: ``step(x, y) -> {"loss": ..., "accuracy": ...}`` updates the
    parameters, ``predict(x) -> logits`` does not. The symbolic pieces are kept for drawing
    and export."""

    step: gd.Function
    predict: gd.Function
    x: Node
    y: Node
    logits: Node
    loss: Node
    params: Any  # the pytree of parameters
    state: Any  # what a checkpoint saves: {"params": ..., "optimizer": optimizer.state}


def compile_classifier(model: Callable[[Node], Node], params: Any, optimizer: Any,
                       input_shape: Sequence[int], passes: Any = "default") -> Classifier:
    """Build and compile the training step and the prediction function of ``model``."""
    x = gd.placeholder((None, *input_shape), "float32", name="x")
    y = gd.placeholder((x.shape[0],), "int64", name="y")
    logits = model(x)
    loss = gd.mean(gd.softmax_cross_entropy(logits, y))
    accuracy = gd.mean(gd.astype(gd.equal(gd.argmax(logits, axis=1), y), "float32"))
    grads = gd.grad(loss, params)
    updates = optimizer.updates(params, grads)
    step = gd.function([x, y], {"loss": loss, "accuracy": accuracy}, updates=updates,
                       passes=passes)
    predict = gd.function([x], logits, passes=passes)
    return Classifier(step, predict, x, y, logits, loss, params,
                      {"params": params, "optimizer": optimizer.state})


def evaluate(model: Classifier, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """Accuracy of ``model.predict`` on (x, y)."""
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = model.predict(x[start:start + batch_size])
        correct += int(np.sum(np.argmax(logits, axis=1) == y[start:start + batch_size]))
    return correct / len(x)
