"""numpy-named shape functions: reshape, transpose, expand_dims, squeeze.

>>> import graphdiff as gd
>>> x = gd.placeholder(("n", 2, 3), "float32")
>>> gd.reshape(x, (-1, 6)).shape
('n', 6)
>>> gd.transpose(x).shape
(3, 2, 'n')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError, user_location
from ..ir.dims import exact_quotient, product_dims
from ..ir.node import Node
from ..ir.types import Shape, as_shape, format_shape, normalize_axes, normalize_axis
from ..ops import shape as S
from .convert import TensorLike, as_tensor

__all__ = [
    "expand_dims",
    "ravel",
    "reshape",
    "squeeze",
    "swapaxes",
    "transpose",
]


def resolve_reshape(old: Shape, new: Sequence[Any]) -> Shape:
    """Replace the one ``-1`` in ``new`` by the dimension that keeps the element count.

    With symbols the result may be a symbol (``(n, 4) -> (-1,)`` gives ``n*4``, and
    ``(n*4, 10) -> (-1, 4, 10)`` gives ``n``): the element counts are polynomials in the symbols
    and the missing dim is their exact quotient (``ir.dims``); derived symbols are named by
    their formula, bound when the function first runs with concrete shapes.
    """
    new = tuple(-1 if d == -1 else d for d in new)
    if new.count(-1) > 1:
        raise ShapeError(f"reshape of {format_shape(old)} to {new}: at most one -1 "
                         f"(at {user_location()})")
    known = as_shape(tuple(d for d in new if d != -1))
    if -1 not in new:
        return known
    total, known_count = product_dims(old), product_dims(known)
    missing = None if known_count == 0 else exact_quotient(total, known_count)
    if missing is None:
        raise ShapeError(f"reshape: cannot reshape {format_shape(old)} ({total} elements) to "
                         f"{new} (at {user_location()})")
    it = iter(known)
    return tuple(missing if d == -1 else next(it) for d in new)


def reshape(x: TensorLike, shape: Sequence[Any] | int) -> Node:
    """numpy.reshape (C order); one dimension may be -1."""
    x = as_tensor(x)
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    target = resolve_reshape(x.shape, tuple(shape))
    if target == x.shape:
        return x
    return S.reshape(x, shape=target)


def transpose(x: TensorLike, axes: Sequence[int] | None = None) -> Node:
    """numpy.transpose: reverse the axes, or permute them by ``axes``."""
    x = as_tensor(x)
    perm = tuple(reversed(range(x.ndim))) if axes is None else \
        tuple(normalize_axis(a, x.ndim) for a in axes)
    if perm == tuple(range(x.ndim)):
        return x
    return S.transpose(x, perm=perm)


def swapaxes(x: TensorLike, axis1: int, axis2: int) -> Node:
    x = as_tensor(x)
    perm = list(range(x.ndim))
    a, b = normalize_axis(axis1, x.ndim), normalize_axis(axis2, x.ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


def expand_dims(x: TensorLike, axis: int | Sequence[int]) -> Node:
    """Insert size-1 axes at ``axis`` (positions in the result)."""
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim + (1 if isinstance(axis, int) else len(axis)))
    dims = iter(x.shape)
    shape = tuple(1 if i in axes else next(dims) for i in range(x.ndim + len(axes)))
    return S.reshape(x, shape=shape)


def squeeze(x: TensorLike, axis: int | Sequence[int] | None = None) -> Node:
    """Remove size-1 axes (all of them, or those in ``axis``, which must have size 1)."""
    x = as_tensor(x)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = normalize_axes(axis, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise ShapeError(f"squeeze: axis {a} of {x.type} is not 1 "
                                 f"(at {user_location()})")
    if not axes:
        return x
    return S.reshape(x, shape=tuple(d for i, d in enumerate(x.shape) if i not in axes))


def ravel(x: TensorLike) -> Node:
    return reshape(x, (-1,))
