"""Functional index updates with JAX's semantics: ``x.at[idx].set(v)``, ``.add``, ``.multiply``,
``.min``, ``.max`` and ``.get()`` return a new tensor; ``x`` is unchanged (graph values are
immutable). ``idx`` is any index ``x[idx]`` takes; ``v`` broadcasts to ``x[idx].shape`` and is
cast to x's dtype.

Every update works on x flattened: the index picks the flat positions of the elements
``x[idx]`` reads (computed when the graph is built when the index is known and the shape
static, else in the graph by indexing an ``iota`` over x), then one scatter along them:

    add        x + scatter_add(v, positions)            repeated positions accumulate
    multiply   x * scatter_mul(v, positions)            repeated positions multiply
    max / min  maximum(x, scatter_max(v, positions))    ties share the derivative
    set        where(hit, v[last update of each position], x)

With repeated positions, ``set`` keeps the **last** update in the index's row-major order (what
numpy's ``x[idx] = v`` does in practice; JAX leaves it unspecified). Gradients flow to both x
and v: ``set`` sends none to the overwritten elements of x, nor to updates another one
overwrites.

>>> import numpy as np, graphdiff as gd
>>> x = gd.placeholder((5,), "float64", name="x")
>>> y = x.at[[0, 2, 0]].add(1.0).at[1:3].set(-1.0).at[4].max(10.0)
>>> gd.function([x], y)(np.zeros(5))
array([ 2., -1., -1.,  0., 10.])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError, user_location
from ..ir.dims import product_dims
from ..ir.node import Node
from ..ops import elementwise as E
from ..ops import index as I
from ..ops import scatter as SC
from ..ops.source import IOTA
from .convert import TensorLike, as_tensor, cast_to, holds_tensor
from .indexing import getitem
from .math import broadcast_to
from .shape import reshape

__all__: list[str] = []


class IndexUpdates:
    """``x.at``: ``x.at[idx]`` names the elements an update replaces or combines with."""

    __slots__ = ("_x",)

    def __init__(self, x: Node) -> None:
        self._x = x

    def __getitem__(self, index: Any) -> IndexUpdate:
        return IndexUpdate(self._x, index)


class IndexUpdate:
    """``x.at[idx]``: each method returns a new tensor shaped like ``x``."""

    __slots__ = ("_index", "_x")

    def __init__(self, x: Node, index: Any) -> None:
        self._x, self._index = x, index

    def get(self) -> Node:
        """``x[idx]``."""
        return getitem(self._x, self._index)

    def set(self, values: TensorLike) -> Node:
        """x with ``x[idx]`` replaced by ``values`` (the last of repeated positions wins)."""
        return _update(self._x, self._index, values, "set")

    def add(self, values: TensorLike) -> Node:
        """x with ``values`` added at ``idx`` (repeated positions accumulate)."""
        return _update(self._x, self._index, values, "add")

    def multiply(self, values: TensorLike) -> Node:
        """x with ``x[idx]`` multiplied by ``values`` (repeated positions multiply)."""
        return _update(self._x, self._index, values, "multiply")

    def mul(self, values: TensorLike) -> Node:
        """The same as :meth:`multiply` (JAX's older name)."""
        return self.multiply(values)

    def min(self, values: TensorLike) -> Node:
        """x with ``x[idx]`` replaced by its minimum with ``values``."""
        return _update(self._x, self._index, values, "min")

    def max(self, values: TensorLike) -> Node:
        """x with ``x[idx]`` replaced by its maximum with ``values``."""
        return _update(self._x, self._index, values, "max")


def _positions(x: Node, index: Any) -> tuple[Node, np.ndarray | None]:
    """The flat positions ``x[index]`` reads, and their values when known now: numpy indexes
    an ``arange`` when the shape is static and the index holds no tensor, else the graph
    indexes an ``iota`` (symbolic dims resolve per call)."""
    if holds_tensor(index) or not all(isinstance(d, int) for d in x.shape):
        return getitem(IOTA(dtype=np.dtype(np.int64), shape=x.shape), index), None
    flat = np.arange(int(np.prod(x.shape, dtype=np.int64)), dtype=np.int64).reshape(x.shape)
    try:
        known = np.asarray(flat[index])
    except (IndexError, TypeError, ValueError) as exc:
        raise ShapeError(f"x.at[{index!r}] for {x.type}: {exc} (at {user_location()})") from None
    return as_tensor(known), known


def _last_writers(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For known positions: each distinct position, and the index of its last update."""
    order = positions.reshape(-1)
    distinct, first_from_end = np.unique(order[::-1], return_index=True)
    return distinct, order.size - 1 - first_from_end


def _update(x: Node, index: Any, values: TensorLike, how: str) -> Node:
    positions, known = _positions(x, index)
    values = as_tensor(values)
    if values.dtype != x.dtype:
        values = cast_to(values, x.dtype)
    try:
        values = broadcast_to(values, positions.shape)
    except ShapeError:
        raise ShapeError(f"x.at[...].{how}: values of shape {values.shape} do not broadcast to "
                         f"the indexed shape {positions.shape} (at {user_location()})") from None
    size = product_dims(x.shape)
    flat = reshape(x, (size,))
    if how == "add":
        out = E.add(flat, I.scatter_add(values, positions, axis=0, shape=(size,)))
    elif how == "multiply":
        out = E.mul(flat, SC.scatter_mul(values, positions, shape=(size,)))
    elif how == "max":
        out = E.maximum(flat, SC.scatter_max(values, positions, shape=(size,)))
    elif how == "min":
        out = E.minimum(flat, SC.scatter_min(values, positions, shape=(size,)))
    else:
        out = _set(flat, positions, known, reshape(values, (-1,)))
    return reshape(out, x.shape)


def _set(flat: Node, positions: Node, known: np.ndarray | None, values: Node) -> Node:
    size = flat.shape[0]
    if known is not None:
        distinct, last = _last_writers(known)
        hit = np.zeros(size, np.bool_)
        hit[distinct] = True
        placed = I.scatter_add(I.take(values, as_tensor(last), axis=0), as_tensor(distinct),
                               axis=0, shape=(size,))
        return E.where(as_tensor(hit), placed, flat)
    # the last update of each position: the largest update number scattered there by maximum
    count = product_dims(positions.shape)
    order = IOTA(dtype=np.dtype(np.int64), shape=(count,))
    last = SC.scatter_max(order, reshape(positions, (count,)), shape=(size,))
    hit = E.greater_equal(last, as_tensor(np.int64(0)))
    chosen = I.take(values, E.maximum(last, as_tensor(np.int64(0))), axis=0)
    return E.where(hit, chosen, flat)
