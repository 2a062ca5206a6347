"""numpy's matrix helpers and products: tril, triu, diag, diagonal, trace, outer, inner, vdot,
tensordot, kron, cross. Composites of where, einsum, broadcasting and reshapes, so derivatives
and ONNX export come from those primitives. Masks and diagonals need the two matrix axes static
(they are constants built when the graph is); other axes may be symbolic.

>>> import numpy as np, graphdiff as gd
>>> a = gd.placeholder(("n", 3, 4), "float64")
>>> gd.triu(a, 1).shape, gd.diagonal(a, axis1=1, axis2=2).shape, gd.trace(a[0]).shape
(('n', 3, 4), ('n', 3), ())
>>> gd.tensordot(a, gd.placeholder((4, 5), "float64"), axes=1).shape
('n', 3, 5)
>>> gd.kron(gd.placeholder((2, 3), "float64"), gd.placeholder((4, 5), "float64")).shape
(8, 15)
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError, user_location
from ..ir.dims import product_dims
from ..ir.node import Node
from ..ir.types import broadcast_shapes
from ..ops.source import constant
from .conv import einsum
from .convert import TensorLike, as_tensor, promote_arrays
from .indexing import getitem, pad, stack
from .math import astype, broadcast_to, multiply, negative, subtract, where
from .reductions import sum
from .shape import axis_of, moveaxis, ravel, reshape

__all__ = [
    "cross",
    "diag",
    "diagonal",
    "inner",
    "kron",
    "outer",
    "tensordot",
    "trace",
    "tril",
    "triu",
    "vdot",
]


def _static(function: str, x: Node, axes: Sequence[int]) -> tuple[int, ...]:
    dims = tuple(x.shape[a] for a in axes)
    if not all(isinstance(d, int) for d in dims):
        raise ShapeError(f"{function} of {x.type} needs static sizes on axes {tuple(axes)} "
                         f"(the mask is built with the graph) (at {user_location()})")
    return dims


def _offset(function: str, k: Any) -> int:
    if not isinstance(k, int | np.integer) or isinstance(k, bool):
        raise ShapeError(f"{function}: the diagonal offset k must be an int, got {k!r} "
                         f"(at {user_location()})")
    return int(k)


def _triangle(function: str, x: TensorLike, k: int, lower: bool) -> Node:
    x = as_tensor(x)
    if x.ndim == 0:
        raise ShapeError(f"{function} needs a tensor of rank >= 1, got {x.type} "
                         f"(at {user_location()})")
    k = _offset(function, k)
    dims = _static(function, x, range(x.ndim)[-2:])
    rows, cols = (dims[0], dims[0]) if len(dims) == 1 else dims
    keep = np.tri(rows, cols, k, dtype=bool) if lower else ~np.tri(rows, cols, k - 1, dtype=bool)
    return where(constant(keep), x, np.zeros((), x.dtype))


def tril(x: TensorLike, k: int = 0) -> Node:
    """numpy.tril: zero the elements above the ``k``-th diagonal of the last two axes."""
    return _triangle("tril", x, k, lower=True)


def triu(x: TensorLike, k: int = 0) -> Node:
    """numpy.triu: zero the elements below the ``k``-th diagonal of the last two axes."""
    return _triangle("triu", x, k, lower=False)


def diagonal(x: TensorLike, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Node:
    """numpy.diagonal: the ``offset`` diagonal of the (axis1, axis2) planes, as a last axis."""
    x = as_tensor(x)
    if x.ndim < 2:
        raise ShapeError(f"diagonal needs a tensor of rank >= 2, got {x.type} "
                         f"(at {user_location()})")
    a, b = axis_of("diagonal", x, axis1), axis_of("diagonal", x, axis2)
    if a == b:
        raise ShapeError(f"diagonal of {x.type}: axis1 and axis2 cannot be the same ({a}) "
                         f"(at {user_location()})")
    offset = _offset("diagonal", offset)
    rows, cols = _static("diagonal", x, (a, b))
    x = moveaxis(x, (a, b), (-2, -1))
    lead = (Ellipsis,)
    x = getitem(x, lead + ((slice(None), slice(offset, None)) if offset >= 0
                           else (slice(-offset, None), slice(None))))
    size = max(0, min(rows - max(-offset, 0), cols - max(offset, 0)))
    x = getitem(x, lead + (slice(0, size), slice(0, size)))
    return einsum("...ij,ij->...i", x, constant(np.eye(size, dtype=x.dtype)))


def trace(x: TensorLike, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None
          ) -> Node:
    """numpy.trace: the sum along a diagonal."""
    total = sum(diagonal(x, offset, axis1, axis2), axis=-1)
    return total if dtype is None else astype(total, dtype)


def diag(v: TensorLike, k: int = 0) -> Node:
    """numpy.diag: a 2-D tensor with 1-D ``v`` on its ``k``-th diagonal, or the ``k``-th
    diagonal of a 2-D ``v``."""
    v = as_tensor(v)
    k = _offset("diag", k)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ShapeError(f"diag needs a 1-D or 2-D tensor, got {v.type} (at {user_location()})")
    (length,) = _static("diag", v, (0,))
    n = length + abs(k)
    full = pad(v, (0, k) if k >= 0 else (-k, 0))
    mask = constant(np.eye(n, n, k, dtype=bool))
    return where(mask, reshape(full, (n, 1)), np.zeros((), v.dtype))


def outer(a: TensorLike, b: TensorLike) -> Node:
    """numpy.outer: ``a.ravel()[:, None] * b.ravel()[None, :]``."""
    a, b = promote_arrays(a, b)
    return multiply(reshape(ravel(a), (-1, 1)), reshape(ravel(b), (1, -1)))


def _matching(function: str, a: Node, b: Node, pairs: Sequence[tuple[int, int]]) -> None:
    for i, j in pairs:
        if a.shape[i] != b.shape[j]:
            raise ShapeError(f"{function}: {a.type} axis {i} ({a.shape[i]}) does not match "
                             f"{b.type} axis {j} ({b.shape[j]}) (at {user_location()})")


def tensordot(a: TensorLike, b: TensorLike, axes: int | Sequence[Any] = 2) -> Node:
    """numpy.tensordot: sum products over ``axes`` (an int N: a's last N with b's first N; or
    two sequences of axes); the result has a's free axes then b's."""
    a, b = promote_arrays(a, b)
    if isinstance(axes, int | np.integer) and not isinstance(axes, bool):
        n = int(axes)
        if not 0 <= n <= min(a.ndim, b.ndim):
            raise ShapeError(f"tensordot of {a.type} and {b.type}: axes={n} is out of range "
                             f"(at {user_location()})")
        a_axes, b_axes = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        try:
            a_axes, b_axes = axes
        except (TypeError, ValueError):
            raise ShapeError(f"tensordot: axes must be an int or a pair of axis sequences, got "
                             f"{axes!r} (at {user_location()})") from None
        a_axes = [a_axes] if isinstance(a_axes, int | np.integer) else list(a_axes)
        b_axes = [b_axes] if isinstance(b_axes, int | np.integer) else list(b_axes)
        if len(a_axes) != len(b_axes):
            raise ShapeError(f"tensordot of {a.type} and {b.type}: {len(a_axes)} axes of a "
                             f"against {len(b_axes)} of b (at {user_location()})")
        a_axes = [axis_of("tensordot", a, x) for x in a_axes]
        b_axes = [axis_of("tensordot", b, x) for x in b_axes]
    _matching("tensordot", a, b, list(zip(a_axes, b_axes, strict=True)))
    letters = iter(string.ascii_letters)
    a_terms = [next(letters) for _ in range(a.ndim)]
    b_terms = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(a_axes, b_axes, strict=True):
        b_terms[j] = a_terms[i]
    out = [t for i, t in enumerate(a_terms) if i not in a_axes] + \
        [t for j, t in enumerate(b_terms) if j not in b_axes]
    return einsum(f"{''.join(a_terms)},{''.join(b_terms)}->{''.join(out)}", a, b)


def inner(a: TensorLike, b: TensorLike) -> Node:
    """numpy.inner: sum products over the last axes (a product when one operand is 0-d)."""
    a, b = promote_arrays(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    return tensordot(a, b, ([-1], [-1]))


def vdot(a: TensorLike, b: TensorLike) -> Node:
    """numpy.vdot for real tensors: the inner product of the flattened operands."""
    a, b = promote_arrays(a, b)
    a, b = ravel(a), ravel(b)
    _matching("vdot", a, b, [(0, 0)])
    return einsum("i,i->", a, b)


def kron(a: TensorLike, b: TensorLike) -> Node:
    """numpy.kron: the Kronecker product (blocks ``a[i, j] * b``), ranks aligned on the right."""
    a, b = promote_arrays(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    rank = max(a.ndim, b.ndim)
    a = reshape(a, (1,) * (rank - a.ndim) + a.shape)
    b = reshape(b, (1,) * (rank - b.ndim) + b.shape)
    spread_a = reshape(a, tuple(d for dim in a.shape for d in (dim, 1)))
    spread_b = reshape(b, tuple(d for dim in b.shape for d in (1, dim)))
    product = multiply(spread_a, spread_b)
    return reshape(product, tuple(product_dims((x, y)) for x, y in zip(a.shape, b.shape,
                                                                     strict=True)))


def cross(a: TensorLike, b: TensorLike, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: int | None = None) -> Node:
    """numpy.cross of 3-vectors (or 2-vectors: then the z component, as numpy) along the vector
    axes; the other axes broadcast."""
    a, b = promote_arrays(a, b)
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(a, axis_of("cross", a, axisa), -1)
    b = moveaxis(b, axis_of("cross", b, axisb), -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ShapeError(f"cross: the vector axes must have size 2 or 3, got {a.type} and "
                         f"{b.type} (vectors moved last) (at {user_location()})")
    try:
        broadcast_shapes(a.shape[:-1], b.shape[:-1])
    except ShapeError:
        raise ShapeError(f"cross: {a.type} and {b.type} (vectors moved last) do not broadcast "
                         f"(at {user_location()})") from None
    ca = [a[..., i] for i in range(a.shape[-1])]
    cb = [b[..., i] for i in range(b.shape[-1])]
    z = subtract(multiply(ca[0], cb[1]), multiply(ca[1], cb[0]))
    if len(ca) == 2 and len(cb) == 2:
        return z
    if len(ca) == 2:
        x, y = multiply(ca[1], cb[2]), negative(multiply(ca[0], cb[2]))
    elif len(cb) == 2:
        x, y = negative(multiply(ca[2], cb[1])), multiply(ca[2], cb[0])
    else:
        x = subtract(multiply(ca[1], cb[2]), multiply(ca[2], cb[1]))
        y = subtract(multiply(ca[2], cb[0]), multiply(ca[0], cb[2]))
    shape = broadcast_shapes(x.shape, y.shape, z.shape)
    c = stack([broadcast_to(t, shape) for t in (x, y, z)], axis=-1)
    return moveaxis(c, -1, axis_of("cross", c, axisc))
