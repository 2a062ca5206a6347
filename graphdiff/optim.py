"""Optimizers as graph updates, with their state in variables (``torch.optim``'s algorithms).

``optimizer.updates(params, grads)`` returns ``{variable: new-value expression}`` for
``gd.function(..., updates=...)``: one compiled step reads the old parameters and state and
writes the new ones together, after the call succeeds. ``params`` and ``grads`` are pytrees of
the same structure (a list, a dict of names, nested). The state (moments, momentum buffers, the
step counter) is ``optimizer.state``, a pytree of variables a checkpoint saves.

A learning rate is a float, a graph value (a variable a user sets, for instance), or a schedule:
a function of the number of steps already taken (an int64 scalar node) returning the rate, as
``step_decay``, ``cosine_decay`` and ``linear_warmup`` build. Each algorithm follows PyTorch's
update exactly (tests/test_optim.py compares 100 steps in float64).

>>> import numpy as np, graphdiff as gd
>>> w = gd.variable(np.array([1.0, -2.0]), name="w")
>>> loss = gd.sum(w * w)
>>> opt = gd.optim.Adam(0.1)
>>> step = gd.function([], loss, updates=opt.updates([w], gd.grad(loss, [w])))
>>> for _ in range(200):
...     _ = step()
>>> bool(np.all(np.abs(gd.get_value(w)) < 1e-2)), int(gd.get_value(opt.state["step"]))
(True, 200)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import api as _api
from .api.pytree import flatten, unflatten
from .errors import GraphdiffError, user_location
from .ir import Node
from .ops.source import VARIABLE, variable

Updates = dict[Node, Node]
Schedule = Callable[[Node], Node]
LearningRate = float | Node | Schedule

__all__ = ["SGD", "Adam", "AdamW", "RMSProp", "Adagrad", "Optimizer", "clip_by_global_norm",
           "cosine_decay", "linear_warmup", "step_decay", "global_norm"]


# ---- learning-rate schedules: step count (steps already taken) -> rate, as graph values -----

def step_decay(learning_rate: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """``lr * gamma ** (t // step_size)`` (torch's ``StepLR``)."""
    def schedule(t: Node) -> Node:
        return learning_rate * gamma ** _api.floor(_float(t) / float(step_size))
    return schedule


def cosine_decay(learning_rate: float, total_steps: int, min_rate: float = 0.0) -> Schedule:
    """``min + (lr - min) (1 + cos(pi t / T)) / 2`` up to ``T``, then ``min`` (torch's
    ``CosineAnnealingLR`` for ``t <= T_max``)."""
    def schedule(t: Node) -> Node:
        fraction = _api.minimum(_float(t) / float(total_steps), 1.0)
        return min_rate + (learning_rate - min_rate) * 0.5 * (1.0 + _api.cos(math.pi * fraction))
    return schedule


def linear_warmup(after: LearningRate, warmup_steps: int, start_factor: float = 0.0) -> Schedule:
    """The rate ``after`` gives, scaled by a factor rising linearly from ``start_factor`` to 1
    over ``warmup_steps`` (torch's ``LinearLR`` with ``end_factor=1``). ``after`` may be a
    schedule, which then sees the same step count."""
    def schedule(t: Node) -> Node:
        progress = _api.minimum(_float(t) / float(warmup_steps), 1.0)
        return (start_factor + (1.0 - start_factor) * progress) * _rate(after, t)
    return schedule


# ---- gradient clipping -----------------------------------------------------------------------

def global_norm(tree: Any) -> Node:
    """The 2-norm of all the tensors of ``tree`` taken together."""
    leaves, _ = flatten(tree)
    return _api.sqrt(sum(_api.sum(g * g) for g in leaves))


def clip_by_global_norm(grads: Any, max_norm: float) -> Any:
    """``grads`` scaled by ``min(1, max_norm / (norm + 1e-6))`` (torch's ``clip_grad_norm_``),
    the same structure out."""
    leaves, tree = flatten(grads)
    scale = _api.minimum(max_norm / (global_norm(leaves) + 1e-6), 1.0)
    return unflatten(tree, [g * scale.astype(g.dtype) for g in leaves])


# ---- optimizers -------------------------------------------------------------------------------

class Optimizer:
    """The shared part: pairs parameters with gradients, owns the step counter and the state.

    Subclasses implement ``_update(p, g, lr, t1) -> {variable: expression}`` for one parameter,
    where ``lr`` is the rate of this step and ``t1`` the step number counting this one (both
    scalars of the parameter's dtype), creating state with ``self._slot``.
    """

    def __init__(self, learning_rate: LearningRate, name: str | None = None) -> None:
        self.learning_rate = learning_rate
        self.name = name or type(self).__name__.lower()
        self.state: dict[str, Any] = {}

    def updates(self, params: Any, grads: Any) -> Updates:
        """``{variable: new value}`` for every parameter and state variable of one step."""
        p_leaves, p_tree = flatten(params)
        g_leaves, g_tree = flatten(grads)
        if p_tree != g_tree:
            raise GraphdiffError(f"{type(self).__name__}.updates: params {p_tree} and grads "
                                 f"{g_tree} differ in structure (at {user_location()})")
        if self.state:
            raise GraphdiffError(f"{type(self).__name__}.updates called twice: each call would "
                                 f"make new state; make one optimizer per training step "
                                 f"(at {user_location()})")
        for p in p_leaves:
            if not isinstance(p, Node) or p.op is not VARIABLE:
                raise GraphdiffError(f"{type(self).__name__}.updates: parameters must be "
                                     f"variables, got {p!r} (at {user_location()})")
        step = variable(np.zeros((), np.int64), name=f"{self.name}.step")
        self.state["step"] = step
        lr_node = _rate(self.learning_rate, step)
        result: Updates = {step: step + 1}
        self._slots: dict[str, list[Node]] = {}
        for p, g in zip(p_leaves, g_leaves):
            lr = _as_dtype(lr_node, p.dtype)
            t1 = _float(step + 1).astype(p.dtype)
            result.update(self._update(p, g, lr, t1))
        for label, slot in self._slots.items():
            self.state[label] = unflatten(p_tree, slot)
        return result

    def minimize(self, loss: Node, params: Any) -> Updates:
        """The updates of one step descending ``loss`` (its gradients appended with ``grad``)."""
        from .autodiff import grad

        leaves, tree = flatten(params)
        return self.updates(params, unflatten(tree, grad(loss, list(leaves))))

    def _slot(self, p: Node, label: str, fill: float = 0.0) -> Node:
        """A state variable shaped like ``p``, named after it, listed in ``state[label]``."""
        name = f"{self.name}.{p.name or 'p'}.{label}"
        slot = variable(np.full(p.shape, fill, p.dtype), name=name)
        self._slots.setdefault(label, []).append(slot)
        return slot

    def _update(self, p: Node, g: Node, lr: Node, t1: Node) -> Updates:
        raise NotImplementedError


class SGD(Optimizer):
    """Gradient descent with optional momentum (heavy-ball or Nesterov), dampening and L2
    weight decay, as ``torch.optim.SGD``: the first step's buffer is the gradient itself."""

    def __init__(self, learning_rate: LearningRate, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, name: str | None = None):
        super().__init__(learning_rate, name)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise GraphdiffError("SGD: nesterov needs momentum > 0 and dampening 0")
        self.momentum, self.dampening = momentum, dampening
        self.nesterov, self.weight_decay = nesterov, weight_decay

    def _update(self, p, g, lr, t1):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if not self.momentum:
            return {p: p - lr * g}
        buf = self._slot(p, "momentum")
        new_buf = self.momentum * buf + (1 - self.dampening) * g
        if self.dampening:
            new_buf = _api.where(_api.equal(t1, 1.0), g, new_buf)
        direction = g + self.momentum * new_buf if self.nesterov else new_buf
        return {buf: new_buf, p: p - lr * direction}


class Adam(Optimizer):
    """Adam (Kingma & Ba) as ``torch.optim.Adam``: bias-corrected moments, L2 weight decay
    added to the gradient.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    """

    decoupled = False

    def __init__(self, learning_rate: LearningRate = 1e-3, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
                 name: str | None = None) -> None:
        super().__init__(learning_rate, name)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.weight_decay = weight_decay

    def _update(self, p, g, lr, t1):
        if self.weight_decay and self.decoupled:
            p_decayed = p * (1 - lr * self.weight_decay)
        else:
            p_decayed = p
            if self.weight_decay:
                g = g + self.weight_decay * p
        m, v = self._slot(p, "m"), self._slot(p, "v")
        new_m = self.beta1 * m + (1 - self.beta1) * g
        new_v = self.beta2 * v + (1 - self.beta2) * g * g
        correction1 = 1 - self.beta1 ** t1
        correction2 = 1 - self.beta2 ** t1
        denom = _api.sqrt(new_v) / _api.sqrt(correction2) + self.eps
        return {m: new_m, v: new_v, p: p_decayed - (lr / correction1) * (new_m / denom)}


class AdamW(Adam):
    """Adam with decoupled weight decay (``torch.optim.AdamW``): p <- p (1 - lr wd) first."""

    decoupled = True

    def __init__(self, learning_rate: LearningRate = 1e-3, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 1e-2,
                 name: str | None = None) -> None:
        super().__init__(learning_rate, beta1, beta2, eps, weight_decay, name)


class RMSProp(Optimizer):
    """RMSProp as ``torch.optim.RMSprop``: v <- a v + (1 - a) g^2; p <- p - lr g / (sqrt(v) +
    eps), optionally centered (minus the squared mean gradient) and with momentum."""

    def __init__(self, learning_rate: LearningRate = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, momentum: float = 0.0, centered: bool = False,
                 weight_decay: float = 0.0, name: str | None = None) -> None:
        super().__init__(learning_rate, name)
        self.alpha, self.eps, self.momentum = alpha, eps, momentum
        self.centered, self.weight_decay = centered, weight_decay

    def _update(self, p, g, lr, t1):
        if self.weight_decay:
            g = g + self.weight_decay * p
        v = self._slot(p, "square_avg")
        new_v = self.alpha * v + (1 - self.alpha) * g * g
        result = {v: new_v}
        if self.centered:
            mean = self._slot(p, "grad_avg")
            new_mean = self.alpha * mean + (1 - self.alpha) * g
            result[mean] = new_mean
            denom = _api.sqrt(new_v - new_mean * new_mean) + self.eps
        else:
            denom = _api.sqrt(new_v) + self.eps
        if self.momentum:
            buf = self._slot(p, "momentum")
            new_buf = self.momentum * buf + g / denom
            result[buf] = new_buf
            result[p] = p - lr * new_buf
        else:
            result[p] = p - lr * g / denom
        return result


class Adagrad(Optimizer):
    """Adagrad as ``torch.optim.Adagrad``: s <- s + g^2; p <- p - lr_t g / (sqrt(s) + eps) with
    lr_t = lr / (1 + (t - 1) lr_decay)."""

    def __init__(self, learning_rate: LearningRate = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, name: str | None = None) -> None:
        super().__init__(learning_rate, name)
        self.lr_decay, self.weight_decay = lr_decay, weight_decay
        self.initial_accumulator_value, self.eps = initial_accumulator_value, eps

    def _update(self, p, g, lr, t1):
        if self.weight_decay:
            g = g + self.weight_decay * p
        s = self._slot(p, "sum", self.initial_accumulator_value)
        new_s = s + g * g
        rate = lr / (1 + (t1 - 1) * self.lr_decay) if self.lr_decay else lr
        return {s: new_s, p: p - rate * g / (_api.sqrt(new_s) + self.eps)}


# ---- helpers ----------------------------------------------------------------------------------

def _float(t: Node) -> Node:
    return t.astype("float64")


def _rate(learning_rate: LearningRate, step: Node) -> Any:
    if isinstance(learning_rate, Node):
        return learning_rate
    if callable(learning_rate):
        return learning_rate(step)
    return float(learning_rate)


def _as_dtype(value: Any, dtype: Any) -> Any:
    return value.astype(dtype) if isinstance(value, Node) else value
