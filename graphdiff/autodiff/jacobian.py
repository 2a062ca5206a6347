"""Jacobians and second order: ``jacobian``, ``hessian``, ``hvp``.

``jacobian(y, x)`` has shape ``y.shape + x.shape``. Forward mode builds its columns as one JVP
``vmap``-ed over the basis vectors of ``x``; reverse mode its rows as one VJP ``vmap``-ed over
the basis of ``y``. Either is one pass over the graph between x and y, batched: the graph does
not grow with the number of basis vectors, the work per call does (a batch of that many).
``mode="auto"`` picks forward mode when ``x.size < y.size`` and reverse mode otherwise (the
smaller batch). Both need static shapes, since the batch is the identity matrix.

``hessian(f, x)`` is forward-over-reverse: the forward-mode Jacobian of the gradient.
``hvp(f, x, v)`` is one JVP of the gradient, H v, without forming H.

>>> import numpy as np, graphdiff as gd
>>> x = gd.placeholder((2,), "float64", name="x")
>>> H = gd.hessian(gd.sum(x ** 3), x)
>>> gd.function([x], H)(np.array([1.0, 2.0]))
array([[ 6.,  0.],
       [ 0., 12.]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ..errors import GradientError, user_location
from ..ir.node import Node
from ..ir.types import is_float
from ..ops.shape import reshape, transpose
from ..ops.source import constant, fill
from .forward import jvp
from .reverse import grad
from .reverse import vjp as reverse_vjp
from .trees import LEAF, flatten, unflatten
from .vmap import vmap

Mode = Literal["fwd", "rev", "auto"]


def choose_mode(y: Node, x: Node) -> Literal["fwd", "rev"]:
    """The mode ``jacobian(y, x, mode="auto")`` uses: forward when x has fewer elements."""
    n_in, n_out = _static_size(x, "input"), _static_size(y, "output")
    return "fwd" if n_in < n_out else "rev"


def _static_size(node: Node, what: str) -> int:
    size = node.type.static_size()
    if size is None:
        raise GradientError(
            f"jacobian needs static shapes: the {what} {node.name or node.op.name} is "
            f"{node.type}, and the number of passes is its size (at {user_location()}); "
            f"use gd.jvp or gd.vjp with a tangent of the symbolic shape instead")
    return size


def _basis(node: Node, size: int) -> Node:
    """The one-hot tensors of ``node``'s type, stacked: the identity, shaped (size, *shape)."""
    return constant(np.eye(size, dtype=node.dtype).reshape((size, *node.shape)))


def jacobian(y: Any, x: Any, mode: Mode = "auto") -> Any:
    """The Jacobian dy/dx, of shape ``y.shape + x.shape`` (static shapes required).

    ``mode`` is "fwd" (one JVP per element of x), "rev" (one VJP per element of y) or "auto"
    (forward when ``x.size < y.size``, see :func:`choose_mode`). ``y`` and ``x`` may be pytrees
    (nested lists, tuples, dicts of tensors), as in JAX: the result has the structure of ``y``
    with, at each of its tensors, the Jacobians with respect to ``x`` in ``x``'s structure.
    """
    y_leaves, y_tree = flatten(y)
    x_leaves, x_tree = flatten(x)
    if y_tree == LEAF and x_tree == LEAF:
        return _jacobian(y, x, mode)
    return unflatten(y_tree, [unflatten(x_tree, [_jacobian(yi, xj, mode) for xj in x_leaves])
                              for yi in y_leaves])


def _jacobian(y: Node, x: Node, mode: Mode) -> Node:
    """The Jacobian of one tensor with respect to one tensor."""
    for value, what in ((y, "output"), (x, "input")):
        if not isinstance(value, Node):
            raise GradientError(f"jacobian: the {what} must be one tensor, got "
                                f"{type(value).__name__} (at {user_location()})")
        if not is_float(value.dtype):
            raise GradientError(f"jacobian: the {what} is {value.type}; only float tensors "
                                f"have derivatives (at {user_location()})")
    if mode not in ("fwd", "rev", "auto"):
        raise GradientError(f"jacobian: mode must be 'fwd', 'rev' or 'auto', got {mode!r} "
                            f"(at {user_location()})")
    n_in, n_out = _static_size(x, "input"), _static_size(y, "output")
    shape = tuple(y.shape) + tuple(x.shape)
    if n_in == 0 or n_out == 0:
        return fill(0.0, y.type.with_shape(shape))
    if mode == "auto":
        mode = choose_mode(y, x)
    if mode == "fwd":
        columns = vmap(lambda u: jvp(y, x, u, unconnected="zero"))(_basis(x, n_in))
        # (n_in, *y.shape) -> (n_out, n_in)
        flat = transpose(reshape(columns, shape=(n_in, n_out)), perm=(1, 0))
    else:
        flat = vmap(lambda v: reverse_vjp([y], [x], [v], unconnected="zero")[0])(_basis(y, n_out))
    return reshape(flat, shape=shape) if flat.shape != shape else flat


def hessian(f: Node, x: Node) -> Node:
    """The Hessian of the scalar ``f``, shape ``x.shape + x.shape``: forward over reverse.

    The gradient is built once in reverse mode, then differentiated in forward mode: one JVP,
    batched over the basis of ``x``.
    """
    return jacobian(grad(f, x), x, mode="fwd")


def hvp(f: Node, x: Node | Sequence[Node], v: Any) -> Node | list[Node]:
    """The Hessian of the scalar ``f`` times ``v``, without forming the Hessian.

    Forward over reverse: one JVP, along ``v``, of the gradient. ``x`` and ``v`` are single
    tensors (the result is one tensor of x's shape) or lists of equal length (a list).
    """
    gradient = grad(f, x)
    return jvp(gradient, x, v, unconnected="zero")
