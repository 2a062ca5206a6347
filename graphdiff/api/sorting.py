"""numpy-named sorting and searching: sort, argsort, top_k, partition, argpartition,
searchsorted.

Orders are ``argsort`` nodes (int64, no derivative); sorted values are a ``take_along_axis`` of
the operand by its order, so their gradient is the gather's scatter: each cotangent goes back to
the element that landed there. Sorts are stable; ``descending=True`` (as JAX's) keeps equal
elements in their order, so ``top_k`` breaks ties by the lower index, as ``lax.top_k`` does.

>>> import numpy as np, graphdiff as gd
>>> x = gd.placeholder(("n", 5), "float64", name="x")
>>> values, indices = gd.top_k(x, 2)
>>> values.shape, indices.dtype.name
(('n', 2), 'int64')
>>> f = gd.function([x], [gd.sort(x), gd.argsort(x, descending=True), values])
>>> [a.tolist() for a in f(np.array([[3.0, 1.0, 4.0, 1.0, 5.0]]))]
[[[1.0, 1.0, 3.0, 4.0, 5.0]], [[4, 2, 0, 1, 3]], [[5.0, 4.0]]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DTypeError, GraphdiffError, ShapeError, user_location
from ..ir.node import Node
from ..ir.types import normalize_axis
from ..ops import index as I
from ..ops import sort as O
from .convert import TensorLike, as_tensor, promote
from .shape import reshape

__all__ = ["argpartition", "argsort", "partition", "searchsorted", "sort", "top_k"]


def _sortable(x: TensorLike, function: str) -> Node:
    x = as_tensor(x)
    if x.dtype.kind not in "biuf":
        raise DTypeError(f"{function}: cannot sort {x.type} (at {user_location()})")
    return x


def _check_kind(function: str, kind: Any, order: Any, stable: Any) -> None:
    if order is not None:
        raise GraphdiffError(f"{function}: order= sorts structured arrays, which graphdiff does "
                             f"not have (at {user_location()})")
    if kind not in (None, "stable", "mergesort", "quicksort", "heapsort") or stable is False:
        raise GraphdiffError(f"{function}: kind={kind!r}, stable={stable!r}: every graphdiff "
                             f"sort is stable; pass kind=None (at {user_location()})")


def _order(x: Node, axis: int | None, descending: bool) -> tuple[Node, Node, int]:
    """The operand (flattened for axis=None), its sorting order and the axis sorted."""
    if axis is None:
        x = reshape(x, (-1,))
        axis = 0
    axis = normalize_axis(axis, x.ndim)
    return x, O.argsort(x, axis=axis, descending=bool(descending), k=None), axis


def argsort(a: TensorLike, axis: int | None = -1, kind: str | None = None, order: Any = None,
            *, stable: bool | None = True, descending: bool = False) -> Node:
    """numpy.argsort, always stable (int64, no derivative); axis=None orders the flattened
    tensor; ``descending`` keeps equal elements in their order (as jax.numpy.argsort)."""
    _check_kind("argsort", kind, order, stable)
    return _order(_sortable(a, "argsort"), axis, descending)[1]


def sort(a: TensorLike, axis: int | None = -1, kind: str | None = None, order: Any = None,
         *, stable: bool | None = True, descending: bool = False) -> Node:
    """numpy.sort (stable); the gradient goes back to where each element came from.

    NaN sorts to the end (the front when descending), as in numpy."""
    _check_kind("sort", kind, order, stable)
    x, order_, axis = _order(_sortable(a, "sort"), axis, descending)
    return I.take_along_axis(x, order_, axis=axis)


def top_k(operand: TensorLike, k: int) -> tuple[Node, Node]:
    """jax.lax.top_k: the ``k`` largest entries along the last axis, largest first, and their
    indices (int64); ties go to the lower index. The values' gradient goes to the entries taken.
    """
    x = _sortable(operand, "top_k")
    if x.ndim == 0:
        raise ShapeError(f"top_k of a 0-d tensor (at {user_location()})")
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ShapeError(f"top_k: k must be a static int, got {k!r} (at {user_location()})")
    axis, dim = x.ndim - 1, x.shape[-1]
    if k < 0 or (isinstance(dim, int) and k > dim):
        raise ShapeError(f"top_k: k={k} is out of range for a last axis of size {dim} "
                         f"(operand {x.type}; at {user_location()})")
    indices = O.argsort(x, axis=axis, descending=True, k=int(k))
    return I.take_along_axis(x, indices, axis=axis), indices


def _kth(function: str, kth: Any, dim: Any) -> None:
    """numpy's kth: an int or a sequence of ints, each within the axis."""
    values = np.asarray(kth)
    if values.dtype.kind not in "iu" or values.ndim > 1:
        raise ShapeError(f"{function}: kth must be an int or a sequence of ints, got {kth!r} "
                         f"(at {user_location()})")
    if isinstance(dim, int) and values.size and \
            (values.min() < -dim or values.max() >= dim):
        raise ShapeError(f"{function}: kth {kth!r} is out of bounds for an axis of size {dim} "
                         f"(at {user_location()})")


def argpartition(a: TensorLike, kth: int | Sequence[int], axis: int | None = -1,
                 kind: str = "introselect", order: Any = None) -> Node:
    """numpy.argpartition: an order that puts the element of sorted position ``kth`` there,
    smaller ones before and larger ones after. numpy leaves the order within each side
    unspecified; graphdiff returns the stable sorting order, which meets that for every kth."""
    _check_kind("argpartition", None, order, None)
    x, order_, axis = _order(_sortable(a, "argpartition"), axis, False)
    _kth("argpartition", kth, x.shape[axis])
    return order_


def partition(a: TensorLike, kth: int | Sequence[int], axis: int | None = -1,
              kind: str = "introselect", order: Any = None) -> Node:
    """numpy.partition (see :func:`argpartition`: the values come fully sorted, which is one
    of the partitions numpy allows); differentiable as sort."""
    _check_kind("partition", None, order, None)
    x, order_, axis = _order(_sortable(a, "partition"), axis, False)
    _kth("partition", kth, x.shape[axis])
    return I.take_along_axis(x, order_, axis=axis)


def searchsorted(a: TensorLike, v: TensorLike, side: str = "left",
                 sorter: TensorLike | None = None) -> Node:
    """numpy.searchsorted: the indices (int64) at which the values ``v`` would be inserted into
    the sorted 1-D ``a`` to keep it sorted; ``sorter`` holds the order that sorts ``a``."""
    a = _sortable(a, "searchsorted")
    if a.ndim != 1:
        raise ShapeError(f"searchsorted: the sorted operand must be 1-D, got {a.type} "
                         f"(at {user_location()})")
    if side not in ("left", "right"):
        raise GraphdiffError(f"searchsorted: side must be 'left' or 'right', got {side!r} "
                             f"(at {user_location()})")
    if sorter is not None:
        from .indexing import take

        a = take(a, sorter)
    a, v = promote(a, _sortable(v, "searchsorted"))
    return O.searchsorted(a, v, side=side)

