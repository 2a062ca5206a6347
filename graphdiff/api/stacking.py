"""numpy's stacking, splitting and differencing helpers, as composites of concatenate, slicing
and the atleast_nd reshapes (derivatives and ONNX export come from those).

>>> import graphdiff as gd
>>> a = gd.placeholder(("n", 3), "float64")
>>> gd.hstack([a, a]).shape, gd.vstack([a, a[0]]).shape, gd.dstack([a, a]).shape
(('n', 6), ('n+1', 3), ('n', 3, 2))
>>> [p.shape for p in gd.array_split(gd.placeholder((7,), "float64"), 3)]
[(3,), (2,), (2,)]
>>> gd.diff(a, axis=0).shape
('n[1:]', 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError, user_location
from ..ir.node import Node
from .convert import TensorLike, as_tensor, promote_arrays
from .indexing import concatenate, getitem, split
from .math import broadcast_to, not_equal, subtract
from .shape import atleast_1d, atleast_2d, atleast_3d, axis_of, ravel, reshape

__all__ = [
    "append",
    "array_split",
    "column_stack",
    "diff",
    "dsplit",
    "dstack",
    "hsplit",
    "hstack",
    "row_stack",
    "vsplit",
    "vstack",
]


def _tensors(function: str, tup: Sequence[TensorLike]) -> list[Node]:
    if isinstance(tup, Node) or not isinstance(tup, Sequence) or not len(tup):
        raise ShapeError(f"{function} needs a non-empty sequence of tensors, got {tup!r} "
                         f"(at {user_location()})")
    return promote_arrays(*tup)


def _join(function: str, parts: list[Node], axis: int) -> Node:
    ranks = {p.ndim for p in parts}
    if len(ranks) != 1:
        shapes = ", ".join(str(p.type) for p in parts)
        raise ShapeError(f"{function}: operands must have one rank after lifting, got {shapes} "
                         f"(at {user_location()})")
    return concatenate(parts, axis=axis)


def _lifted(lift, parts: list[Node]) -> list[Node]:
    return [lift(p) for p in parts]


def hstack(tup: Sequence[TensorLike]) -> Node:
    """numpy.hstack: join along axis 1 (axis 0 for 1-D operands); 0-d operands become 1-D."""
    parts = _lifted(atleast_1d, _tensors("hstack", tup))
    return _join("hstack", parts, 0 if parts[0].ndim == 1 else 1)


def vstack(tup: Sequence[TensorLike]) -> Node:
    """numpy.vstack: join along axis 0 after lifting to at least 2-D ((n,) becomes (1, n))."""
    return _join("vstack", _lifted(atleast_2d, _tensors("vstack", tup)), 0)


row_stack = vstack


def dstack(tup: Sequence[TensorLike]) -> Node:
    """numpy.dstack: join along axis 2 after lifting to at least 3-D."""
    return _join("dstack", _lifted(atleast_3d, _tensors("dstack", tup)), 2)


def column_stack(tup: Sequence[TensorLike]) -> Node:
    """numpy.column_stack: 1-D operands become columns, then join along axis 1."""
    parts = [reshape(p, (p.shape[0] if p.ndim else 1, 1)) if p.ndim < 2 else p
             for p in _tensors("column_stack", tup)]
    return _join("column_stack", parts, 1)


def array_split(x: TensorLike, indices_or_sections: int | Sequence[int], axis: int = 0
                ) -> list[Node]:
    """numpy.array_split: like split, but ``n`` sections need not divide the axis (the first
    ``size % n`` pieces are one longer)."""
    x = as_tensor(x)
    axis = axis_of("array_split", x, axis)
    if isinstance(indices_or_sections, Sequence | np.ndarray):
        return split(x, indices_or_sections, axis)
    sections = indices_or_sections
    if not isinstance(sections, int | np.integer) or isinstance(sections, bool) or sections <= 0:
        raise ShapeError(f"array_split of {x.type}: the number of sections must be a positive "
                         f"int, got {sections!r} (at {user_location()})")
    dim = x.shape[axis]
    if not isinstance(dim, int):
        raise ShapeError(f"array_split of {x.type} into {sections} sections needs a static "
                         f"axis {axis}; give split indices instead (at {user_location()})")
    each, extras = divmod(dim, int(sections))
    sizes = [each + 1] * extras + [each] * (int(sections) - extras)
    cuts = np.cumsum(sizes)[:-1].tolist()
    return split(x, cuts, axis)


def _split_on(function: str, x: TensorLike, sections: Any, min_rank: int, axis: int
              ) -> list[Node]:
    x = as_tensor(x)
    if x.ndim < min_rank:
        raise ShapeError(f"{function} needs a tensor of rank >= {min_rank}, got {x.type} "
                         f"(at {user_location()})")
    return split(x, sections, axis)


def hsplit(x: TensorLike, indices_or_sections: int | Sequence[int]) -> list[Node]:
    """numpy.hsplit: split along axis 1 (axis 0 for 1-D)."""
    x = as_tensor(x)
    return _split_on("hsplit", x, indices_or_sections, 1, 1 if x.ndim > 1 else 0)


def vsplit(x: TensorLike, indices_or_sections: int | Sequence[int]) -> list[Node]:
    """numpy.vsplit: split along axis 0 (rank >= 2)."""
    return _split_on("vsplit", x, indices_or_sections, 2, 0)


def dsplit(x: TensorLike, indices_or_sections: int | Sequence[int]) -> list[Node]:
    """numpy.dsplit: split along axis 2 (rank >= 3)."""
    return _split_on("dsplit", x, indices_or_sections, 3, 2)


def append(x: TensorLike, values: TensorLike, axis: int | None = None) -> Node:
    """numpy.append: ``values`` after ``x`` (both flattened when axis is None)."""
    x, values = promote_arrays(x, values)
    if axis is None:
        return concatenate([ravel(x), ravel(values)])
    if x.ndim != values.ndim:
        raise ShapeError(f"append along axis {axis}: {x.type} and {values.type} must have the "
                         f"same rank (at {user_location()})")
    return concatenate([x, values], axis=axis_of("append", x, axis))


def _edge(value: TensorLike, x: Node, axis: int) -> Node:
    """A prepend/append value: a scalar (or lower rank) broadcasts to x with size 1 on axis."""
    value = as_tensor(value)
    if value.ndim == 0:
        return broadcast_to(value, tuple(1 if a == axis else d for a, d in enumerate(x.shape)))
    return value


def diff(x: TensorLike, n: int = 1, axis: int = -1, prepend: TensorLike | None = None,
         append: TensorLike | None = None) -> Node:
    """numpy.diff: the ``n``-th discrete difference along ``axis``; bool uses not_equal."""
    x = as_tensor(x)
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 0:
        raise ShapeError(f"diff: order n must be a non-negative int, got {n!r} "
                         f"(at {user_location()})")
    if x.ndim == 0:
        raise ShapeError(f"diff requires a tensor of rank >= 1, got {x.type} "
                         f"(at {user_location()})")
    axis = axis_of("diff", x, axis)
    if n == 0:
        return x
    parts = [x]
    if prepend is not None:
        parts.insert(0, _edge(prepend, x, axis))
    if append is not None:
        parts.append(_edge(append, x, axis))
    if len(parts) > 1:
        x = concatenate(parts, axis=axis)
    lead = (slice(None),) * axis
    difference = not_equal if x.dtype == np.bool_ else subtract
    for _ in range(int(n)):
        x = difference(getitem(x, lead + (slice(1, None),)), getitem(x, lead + (slice(None, -1),)))
    return x
