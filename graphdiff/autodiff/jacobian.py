"""Jacobians and second order: ``jacobian``, ``hessian``, ``hvp``.

``jacobian(y, x)`` has shape ``y.shape + x.shape``. Forward mode builds it a column at a time,
one JVP per basis vector of ``x``; reverse mode a row at a time, one VJP per basis vector of
``y``. Each pass appends about as many nodes as the graph between x and y, so the cheaper mode
is the one with fewer passes: ``mode="auto"`` picks forward mode when ``x.size < y.size`` and
reverse mode otherwise (ties go to reverse mode, whose passes share more nodes with the forward
graph through interning). Both need static shapes, since the number of passes is the size.

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
from ..ops.join import concatenate
from ..ops.shape import reshape, transpose
from ..ops.source import constant, fill
from .forward import jvp
from .reverse import grad
from .reverse import vjp as reverse_vjp

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


def _basis(node: Node, index: int) -> Node:
    """The ``index``-th one-hot tensor of ``node``'s type."""
    array = np.zeros(node.shape, dtype=node.dtype)
    array.flat[index] = 1
    return constant(array)


def _as_row(value: Node, size: int) -> Node:
    return reshape(value, shape=(1, size)) if value.shape != (1, size) else value


def _stack_rows(rows: list[Node]) -> Node:
    return rows[0] if len(rows) == 1 else concatenate(*rows, axis=0)


def jacobian(y: Node, x: Node, mode: Mode = "auto") -> Node:
    """The Jacobian dy/dx, of shape ``y.shape + x.shape`` (static shapes required).

    ``mode`` is "fwd" (one JVP per element of x), "rev" (one VJP per element of y) or "auto"
    (forward when ``x.size < y.size``, see :func:`choose_mode`).
    """
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
        columns = [_as_row(jvp(y, x, _basis(x, i), unconnected="zero"), n_out)
                   for i in range(n_in)]
        flat = transpose(_stack_rows(columns), perm=(1, 0))  # (n_in, n_out) -> (n_out, n_in)
    else:
        rows = [_as_row(reverse_vjp([y], [x], [_basis(y, j)], unconnected="zero")[0], n_in)
                for j in range(n_out)]
        flat = _stack_rows(rows)
    return reshape(flat, shape=shape) if flat.shape != shape else flat


def hessian(f: Node, x: Node) -> Node:
    """The Hessian of the scalar ``f``, shape ``x.shape + x.shape``: forward over reverse.

    The gradient is built once in reverse mode, then differentiated in forward mode, one JVP
    per element of ``x``.
    """
    return jacobian(grad(f, x), x, mode="fwd")


def hvp(f: Node, x: Node | Sequence[Node], v: Any) -> Node | list[Node]:
    """The Hessian of the scalar ``f`` times ``v``, without forming the Hessian.

    Forward over reverse: one JVP, along ``v``, of the gradient. ``x`` and ``v`` are single
    tensors (the result is one tensor of x's shape) or lists of equal length (a list).
    """
    gradient = grad(f, x)
    return jvp(gradient, x, v, unconnected="zero")
