"""Selections whose result size depends on the data: nonzero, one-argument where, argwhere,
flatnonzero, unique, extract, compress (boolean-mask selection).

A graph's shapes are fixed when it is built, so each of these takes a static ``size=`` as
jax.numpy's do: the first ``size`` results are kept and missing ones are filled with
``fill_value``. Without ``size=`` they raise a ``GraphdiffError`` saying so. Selected values are
gathers, so their gradient is a scatter back to the elements selected (fill slots get none).

>>> import numpy as np, graphdiff as gd
>>> x = gd.placeholder((2, 3), "float64", name="x")
>>> rows, cols = gd.nonzero(x > 0, size=4, fill_value=-1)
>>> f = gd.function([x], [rows, cols, gd.extract(x > 0, x, size=4)])
>>> [a.tolist() for a in f(np.array([[1.0, -2.0, 3.0], [-1.0, -1.0, 5.0]]))]
[[0, 0, 1, -1], [0, 2, 2, -1], [1.0, 3.0, 5.0, 0.0]]
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..errors import DTypeError, GraphdiffError, ShapeError, user_location
from ..ir.node import Node
from ..ir.types import normalize_axis
from ..ops import elementwise as E
from ..ops import index as I
from ..ops import reduce as R
from ..ops import sort as O
from ..ops.core import scalar
from ..ops.source import constant
from .convert import TensorLike, as_tensor
from .shape import reshape

__all__ = ["argwhere", "compress", "extract", "flatnonzero", "nonzero", "unique"]

_INT = np.dtype(np.int64)


def static_size(function: str, size: Any) -> int:
    """A ``size=`` argument: a static int >= 0, or a clear error naming the function."""
    if size is None:
        raise GraphdiffError(
            f"{function}: the number of results depends on the data, but a graph's shapes are "
            f"fixed when it is built: pass a static size= (results beyond it are dropped, "
            f"missing ones are filled with fill_value), as in jax.numpy "
            f"(at {user_location()})")
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 0:
        raise ShapeError(f"{function}: size must be an int >= 0, got {size!r} "
                         f"(at {user_location()})")
    return operator.index(size)


def _fills(function: str, fill_value: Any, rank: int) -> tuple[int, ...]:
    """jnp.nonzero's fill_value: one int for every axis, or one per axis."""
    values = np.asarray(0 if fill_value is None else fill_value)
    if values.dtype.kind not in "iub" or values.ndim > 1 or \
            (values.ndim == 1 and len(values) != rank):
        raise ShapeError(f"{function}: fill_value must be an int or {rank} ints, got "
                         f"{fill_value!r} (at {user_location()})")
    return tuple(int(v) for v in np.broadcast_to(values, (rank,)))


def _truth(a: TensorLike, function: str) -> Node:
    x = as_tensor(a)
    if x.ndim == 0:
        raise ShapeError(f"{function} of a 0-d tensor: use atleast_1d first, as numpy asks "
                         f"(at {user_location()})")
    return x


def argwhere(a: TensorLike, *, size: int | None = None, fill_value: Any = None) -> Node:
    """numpy.argwhere with a static ``size``: (size, ndim) int64 indices of the non-zero
    elements in row-major order; padding rows hold ``fill_value`` (default 0)."""
    size = static_size("argwhere", size)
    x = _truth(a, "argwhere")
    return O.argwhere(x, size=size, fill_value=_fills("argwhere", fill_value, x.ndim),
                      batch_dims=0)


def nonzero(a: TensorLike, *, size: int | None = None,
            fill_value: Any = None) -> tuple[Node, ...]:
    """numpy.nonzero with a static ``size``: one (size,) int64 index tensor per axis."""
    size = static_size("nonzero", size)
    x = _truth(a, "nonzero")
    found = O.argwhere(x, size=size, fill_value=_fills("nonzero", fill_value, x.ndim),
                       batch_dims=0)
    return tuple(found[:, axis] for axis in range(x.ndim))


def flatnonzero(a: TensorLike, *, size: int | None = None, fill_value: Any = None) -> Node:
    """numpy.flatnonzero with a static ``size``: indices into the flattened tensor."""
    size = static_size("flatnonzero", size)
    flat = reshape(as_tensor(a), (-1,))
    return O.argwhere(flat, size=size, fill_value=_fills("flatnonzero", fill_value, 1),
                      batch_dims=0)[:, 0]


def _slots(truth: Node, size: int) -> tuple[Node, Node]:
    """The positions of the first ``size`` non-zero elements of 1-D ``truth`` (0 where there
    are fewer), and which of the ``size`` slots hold one."""
    positions = O.argwhere(truth, size=size, fill_value=(0,), batch_dims=0)[:, 0]
    count = R.sum_(E.cast(E.not_equal(truth, scalar(0, truth)), dtype=_INT), axes=(0,),
                   keepdims=False)
    return positions, E.less(constant(np.arange(size, dtype=np.int64)), count)


def _fill(function: str, fill_value: Any, dtype: np.dtype) -> Node:
    fill = np.asarray(fill_value)
    if fill.ndim:
        raise ShapeError(f"{function}: fill_value must be a scalar, got {fill_value!r} "
                         f"(at {user_location()})")
    return scalar(fill.item(), dtype)


def extract(condition: TensorLike, arr: TensorLike, *, size: int | None = None,
            fill_value: Any = 0) -> Node:
    """numpy.extract with a static ``size`` (as jax.numpy.extract): the elements of ``arr``
    where ``condition`` is non-zero, both flattened; what ``x[mask]`` means for a mask."""
    size = static_size("extract", size)
    truth, x = reshape(as_tensor(condition), (-1,)), as_tensor(arr)
    flat = reshape(x, (-1,))
    if isinstance(truth.shape[0], int) and isinstance(flat.shape[0], int) and \
            truth.shape[0] > flat.shape[0]:
        raise ShapeError(f"extract: a condition of {truth.shape[0]} elements for {x.type} "
                         f"(at {user_location()})")
    positions, filled = _slots(truth, size)
    return E.where(filled, I.take(flat, positions, axis=0),
                   _fill("extract", fill_value, x.dtype))


def compress(condition: TensorLike, a: TensorLike, axis: int | None = None, *,
             size: int | None = None, fill_value: Any = 0) -> Node:
    """numpy.compress with a static ``size`` (as jax.numpy.compress): the slices along ``axis``
    (None: the flattened tensor) where the 1-D ``condition`` is true."""
    size = static_size("compress", size)
    truth, x = as_tensor(condition), as_tensor(a)
    if truth.ndim != 1:
        raise ShapeError(f"compress: condition must be 1-D, got {truth.type} "
                         f"(at {user_location()})")
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = normalize_axis(axis, x.ndim)
    dim = x.shape[axis]
    if isinstance(dim, int) and isinstance(truth.shape[0], int) and truth.shape[0] > dim:
        raise ShapeError(f"compress: a condition of length {truth.shape[0]} for axis {axis} "
                         f"of size {dim} (at {user_location()})")
    positions, filled = _slots(truth, size)
    slots = reshape(filled, tuple(size if k == axis else 1 for k in range(x.ndim)))
    return E.where(slots, I.take(x, positions, axis=axis),
                   _fill("compress", fill_value, x.dtype))


def unique(ar: TensorLike, return_index: bool = False, return_inverse: bool = False,
           return_counts: bool = False, axis: int | None = None, *, equal_nan: bool = True,
           size: int | None = None, fill_value: Any = None) -> Node | tuple[Node, ...]:
    """numpy.unique of the flattened tensor with a static ``size`` (as jax.numpy.unique): the
    sorted distinct values, padded with ``fill_value`` (default: the smallest value); the first
    indices pad with the smallest value's, the counts with 0; the inverse has ar's shape."""
    size = static_size("unique", size)
    if axis is not None:
        raise GraphdiffError(f"unique: axis= is not supported (unique rows); flatten, or pass "
                             f"axis=None (at {user_location()})")
    if not equal_nan:
        raise GraphdiffError(f"unique: equal_nan=False is not supported "
                             f"(at {user_location()})")
    x = as_tensor(ar)
    if x.dtype.kind not in "biuf":
        raise DTypeError(f"unique: cannot order {x.type} (at {user_location()})")
    flat = reshape(x, (-1,))
    if isinstance(flat.shape[0], int) and not flat.shape[0] and size and fill_value is None:
        raise ShapeError(f"unique of an empty tensor with size={size} needs a fill_value "
                         f"(at {user_location()})")
    index = O.unique_info(flat, part="index", size=size, batch_dims=0)
    values = I.take(flat, index, axis=0)
    if fill_value is not None:
        counts = O.unique_info(flat, part="counts", size=size, batch_dims=0)
        values = E.where(E.greater(counts, scalar(0, counts)), values,
                         scalar(np.asarray(fill_value).item(), flat.dtype))
    results = [values]
    if return_index:
        results.append(index)
    if return_inverse:
        results.append(O.unique_info(flat, part="inverse", size=size, batch_dims=0))
        results[-1] = reshape(results[-1], x.shape)
    if return_counts:
        results.append(O.unique_info(flat, part="counts", size=size, batch_dims=0))
    return results[0] if len(results) == 1 else tuple(results)

