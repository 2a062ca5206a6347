"""Neural-network composites, written over primitives with numerical care.

None of these has a derivative rule of its own: reverse and forward mode differentiate the
primitives they are made of. Stability comes from the formulas:

- ``logsumexp`` and ``softmax`` subtract the (gradient-stopped) maximum, and replace a
  non-finite maximum by 0 so an all ``-inf`` row gives ``-inf`` / NaN-free results.
- ``softplus(x) = max(x, 0) + log1p(exp(-|x|))`` never overflows; ``log_sigmoid`` is
  ``-softplus(-x)``.
- ``softmax_cross_entropy`` is ``logsumexp(logits) - logits[label]``, selected with ``where``
  so masked (-inf) logits of other classes never produce ``0 * inf``.

>>> import numpy as np, graphdiff as gd
>>> z = gd.placeholder((2, 3), "float64", name="z")
>>> f = gd.function([z], gd.logsumexp(z, axis=1))
>>> f(np.array([[1000.0, 1000.0, -np.inf], [0.0, 0.0, 0.0]])).round(6).tolist()
[1000.693147, 1.098612]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError, user_location
from ..ir.node import Node
from ..ir.types import as_dtype, normalize_axes, normalize_axis
from ..ops import softmax as SM
from . import math as M
from . import reductions as RD
from .convert import TensorLike, as_tensor, cast_to
from .creation import arange, uniform
from .indexing import take_along_axis
from .shape import expand_dims, squeeze

__all__ = [
    "logsumexp",
    "softmax",
    "log_softmax",
    "one_hot",
    "softmax_cross_entropy",
    "softplus",
    "log_sigmoid",
    "binary_cross_entropy_with_logits",
    "gelu",
    "layer_norm",
    "dropout",
]


def _stable_max(x: Node, axes: tuple[int, ...]) -> Node:
    """max over ``axes`` (kept), gradient-stopped, with non-finite maxima replaced by 0."""
    m = M.stop_gradient(RD.max(x, axes, keepdims=True))
    return M.where(M.isfinite(m), m, 0.0)


def _float(x: TensorLike, what: str) -> Node:
    x = as_tensor(x)
    if x.dtype.kind != "f":
        x = cast_to(x, np.dtype(np.float64))
    return x


def logsumexp(x: TensorLike, axis: int | Sequence[int] | None = None,
              keepdims: bool = False) -> Node:
    """log(sum(exp(x))) over ``axis`` without overflow."""
    x = _float(x, "logsumexp")
    axes = normalize_axes(axis, x.ndim)
    m = _stable_max(x, axes)
    out = M.log(RD.sum(M.exp(x - m), axes, keepdims=True)) + m
    return out if keepdims else squeeze(out, axes)


def softmax(x: TensorLike, axis: int = -1) -> Node:
    """exp(x) / sum(exp(x)) along ``axis``, computed after subtracting the maximum.

    A primitive (``graphdiff/ops/softmax.py``) for its short derivative.
    """
    x = _float(x, "softmax")
    return SM.softmax(x, axis=normalize_axis(axis, x.ndim))


def log_softmax(x: TensorLike, axis: int = -1) -> Node:
    """x - logsumexp(x) along ``axis``."""
    x = _float(x, "log_softmax")
    return x - logsumexp(x, axis, keepdims=True)


def one_hot(labels: TensorLike, depth: int, dtype: Any = "float32") -> Node:
    """A new last axis of size ``depth`` holding 1 at each label's position, else 0."""
    labels = as_tensor(labels)
    if labels.dtype.kind not in "iu":
        raise DTypeError(f"one_hot labels must be integers, got {labels.dtype.name} "
                         f"(at {user_location()})")
    return M.astype(_class_mask(labels, depth), as_dtype(dtype))


def _class_mask(labels: Node, depth: int) -> Node:
    """bool[..., depth]: True where the last index equals the label."""
    return M.equal(expand_dims(labels, -1), arange(depth, dtype=labels.dtype))


def softmax_cross_entropy(logits: TensorLike, labels: TensorLike, axis: int = -1) -> Node:
    """Per-example cross-entropy of ``softmax(logits)`` against ``labels``.

    Integer labels are class indices (shape = logits' shape without ``axis``); float labels are
    probabilities of the same shape as the logits.
    """
    logits = _float(logits, "softmax_cross_entropy")
    labels = as_tensor(labels)
    axis = normalize_axis(axis, logits.ndim)
    if labels.dtype.kind == "f":
        if labels.ndim != logits.ndim:
            raise ShapeError(f"probability labels {labels.shape} must match logits "
                             f"{logits.shape} (at {user_location()})")
        return -RD.sum(labels * log_softmax(logits, axis), axis)
    if axis != logits.ndim - 1:
        raise ShapeError(f"integer labels need the class axis last, got axis={axis} "
                         f"(at {user_location()})")
    depth = logits.shape[-1]
    if not isinstance(depth, int):
        raise ShapeError(f"the number of classes must be static, got {depth!r} "
                         f"(at {user_location()})")
    if labels.ndim != logits.ndim - 1:
        raise ShapeError(f"labels {labels.shape} must have the logits' shape without the "
                         f"class axis, {logits.shape[:-1]} (at {user_location()})")
    # a gather, not a sum over a one-hot mask: O(batch) instead of O(batch x classes), and its
    # gradient is a scatter into zeros (labels out of range are an IndexError, as in PyTorch)
    picked = take_along_axis(logits, expand_dims(labels, -1), -1)
    return logsumexp(logits, -1) - squeeze(picked, -1)


def softplus(x: TensorLike) -> Node:
    """log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)): no overflow."""
    x = _float(x, "softplus")
    return M.relu(x) + M.log1p(M.exp(-M.abs(x)))


def log_sigmoid(x: TensorLike) -> Node:
    """log(sigmoid(x)) = -softplus(-x), finite for large |x|."""
    return -softplus(-_float(x, "log_sigmoid"))


def binary_cross_entropy_with_logits(logits: TensorLike, targets: TensorLike) -> Node:
    """Elementwise -(t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))), stable in z."""
    z = _float(logits, "binary_cross_entropy_with_logits")
    t = as_tensor(targets)
    return softplus(z) - z * t


def gelu(x: TensorLike, approximate: str = "none") -> Node:
    """Gaussian error linear unit: x * Phi(x) (``approximate="tanh"`` for the tanh form)."""
    x = _float(x, "gelu")
    if approximate == "none":
        return 0.5 * x * (1.0 + M.erf(x * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + M.tanh(inner))
    raise ShapeError(f"gelu approximate must be 'none' or 'tanh', got {approximate!r} "
                     f"(at {user_location()})")


def layer_norm(x: TensorLike, weight: TensorLike | None = None, bias: TensorLike | None = None,
               axis: int | Sequence[int] = -1, eps: float = 1e-5) -> Node:
    """(x - mean) / sqrt(var + eps) over ``axis``, then ``* weight + bias`` if given."""
    x = _float(x, "layer_norm")
    axes = normalize_axes(axis, x.ndim)
    mean = RD.mean(x, axes, keepdims=True)
    centered = x - mean
    variance = RD.mean(centered * centered, axes, keepdims=True)
    out = centered * (1.0 / M.sqrt(variance + eps))
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def dropout(x: TensorLike, rate: float, *, seed: int, training: bool = True) -> Node:
    """Zero each element with probability ``rate`` and scale the rest by 1/(1-rate).

    A new mask is drawn at every call (from the seed's stream); the backward pass uses the
    same mask as the forward pass because both read the one mask node.
    """
    x = _float(x, "dropout")
    if not 0.0 <= rate < 1.0:
        raise ShapeError(f"dropout rate must be in [0, 1), got {rate} (at {user_location()})")
    if not training or rate == 0.0:
        return x
    keep = M.greater_equal(uniform(x.shape, seed=seed, dtype=x.dtype), rate)
    return M.where(keep, x * (1.0 / (1.0 - rate)), 0.0)
