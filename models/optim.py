"""Optimizers as graph updates: each returns ``{variable: new-value expression}``.

An optimizer's state (momentum buffers, Adam's moments and step count) lives in graphdiff
variables, so one compiled training step reads the old state and writes the new one together
with the parameters, atomically, after the call succeeds. Nothing is computed in Python between
steps.

>>> import numpy as np, graphdiff as gd
>>> w = gd.variable(np.array([1.0, -2.0]), name="w")
>>> loss = gd.sum(w * w)
>>> step = gd.function([], loss, updates=Adam(0.1).updates([w], gd.grad(loss, [w])))
>>> for _ in range(200):
...     _ = step()
>>> bool(np.all(np.abs(gd.get_value(w)) < 1e-2))
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import graphdiff as gd
from graphdiff import Node

Updates = dict[Node, Node]


def _state_like(param: Node, label: str) -> Node:
    """A zero-initialized state variable shaped like ``param``, named after it."""
    return gd.variable(np.zeros(param.shape, param.dtype), name=f"{param.name or 'p'}.{label}")


class SGD:
    """Plain gradient descent: p <- p - lr * g."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = learning_rate

    def updates(self, params: Sequence[Node], grads: Sequence[Node]) -> Updates:
        return {p: p - self.learning_rate * g for p, g in zip(params, grads, strict=False)}


class Momentum:
    """Heavy-ball momentum: v <- beta * v + g; p <- p - lr * v (PyTorch's convention)."""

    def __init__(self, learning_rate: float, beta: float = 0.9) -> None:
        self.learning_rate = learning_rate
        self.beta = beta

    def updates(self, params: Sequence[Node], grads: Sequence[Node]) -> Updates:
        result: Updates = {}
        for p, g in zip(params, grads, strict=False):
            velocity = _state_like(p, "velocity")
            new_velocity = self.beta * velocity + g
            result[velocity] = new_velocity
            result[p] = p - self.learning_rate * new_velocity
        return result


class Adam:
    """Adam (Kingma & Ba): bias-corrected first and second moments, one step counter.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  t <- t + 1;
    p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
    """

    def __init__(self, learning_rate: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> None:
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps

    def updates(self, params: Sequence[Node], grads: Sequence[Node]) -> Updates:
        if not params:
            return {}
        dtype = params[0].dtype
        step = gd.variable(np.zeros((), dtype), name="adam.t")
        new_step = step + 1
        # b^t as exp(t log b): one elementwise op on a scalar, exact enough for any t we reach
        correction1 = 1 - gd.exp(new_step * float(np.log(self.beta1)))
        correction2 = 1 - gd.exp(new_step * float(np.log(self.beta2)))
        result: Updates = {step: new_step}
        for p, g in zip(params, grads, strict=False):
            m = _state_like(p, "m")
            v = _state_like(p, "v")
            new_m = self.beta1 * m + (1 - self.beta1) * g
            new_v = self.beta2 * v + (1 - self.beta2) * g * g
            result[m] = new_m
            result[v] = new_v
            m_hat = new_m / correction1
            v_hat = new_v / correction2
            result[p] = p - self.learning_rate * m_hat / (gd.sqrt(v_hat) + self.eps)
        return result
