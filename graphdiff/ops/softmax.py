"""softmax as a primitive: its derivative is much shorter than the composite's.

As a composite, exp(x - max) / sum(exp(x - max)) differentiates by the quotient rule into eight
full-size ops; the primitive's rules are the textbook ones, each three ops:

    VJP: g_x = y * (g - sum(g * y))      JVP: t_y = y * (t - sum(t * y))

(sums over the softmax axis, kept). Both are built from primitives, so second derivatives work.
The kernel is the stable formula the composite used, so values are bit-identical to it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ShapeError
from ..ir.node import Node
from ..ir.types import TensorType
from . import elementwise as E
from .batching import batch_along_axis
from .core import defop, jnp, require_float
from .reduce import sum_


def _softmax_type(types: Sequence[TensorType], *, axis: int) -> TensorType:
    (x,) = types
    require_float(x)
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"axis {axis} is out of range for rank {x.ndim}")
    return x


def _softmax_kernel(x: np.ndarray, *, axis: int, out: np.ndarray | None = None) -> np.ndarray:
    m = np.maximum.reduce(x, axis=axis, keepdims=True)
    m[~np.isfinite(m)] = 0  # an all -inf (or inf/NaN) slice: no shift, as the composite does
    out = np.subtract(x, m, out=out)
    np.exp(out, out=out)
    return np.divide(out, np.add.reduce(out, axis=axis, keepdims=True), out=out)


def _softmax_jax(x, *, axis: int):
    np_ = jnp()
    m = np_.max(x, axis=axis, keepdims=True)
    e = np_.exp(x - np_.where(np_.isfinite(m), m, 0))  # the kernel's shift, the same values
    return e / np_.sum(e, axis=axis, keepdims=True)


def _centered(y: Node, v: Node, axis: int) -> Node:
    """y * (v - sum(v * y)) over ``axis``: the softmax Jacobian applied to ``v``."""
    return E.mul(y, E.sub(v, sum_(E.mul(v, y), axes=(axis,), keepdims=True)))


softmax = defop(
    "softmax", _softmax_type, _softmax_kernel, out_arg=True, jax=_softmax_jax,
    vjp=lambda node, g: [_centered(node, g, node.attrs["axis"])],
    jvp=lambda node, t: _centered(node, t[0], node.attrs["axis"]),
    batch=batch_along_axis("axis"),
    onnx=lambda ctx, n, i: ctx.op("Softmax", i, axis=n.attrs["axis"]),
    doc="exp(x) / sum(exp(x)) along one axis, computed after subtracting the maximum.")
