"""numpy-named indexing and joining: ``x[...]``, take, take_along_axis, pad, concatenate, stack,
split.

Basic indexing (ints, slices with any step, ``None``, ``...``) becomes one ``slice`` node plus a
``reshape`` for dropped and inserted axes. Integer arrays (tensors, lists, numpy arrays) follow
numpy's advanced indexing: one array is a ``take``; several broadcast together and become
row-major offsets into their axes moved first and flattened, then one ``take`` (so derivatives
are take's: a scatter-add, repeated indices accumulating). Their broadcast dims stand where the
arrays stood when the arrays (and ints among them) are adjacent in the key, else first. A
boolean mask is refused: its result's shape would depend on the data.

>>> import graphdiff as gd
>>> x = gd.placeholder(("n", 4, 5), "float32")
>>> x[1:, None, ..., ::-2].shape
('n[1:]', 1, 4, 3)
>>> x[-1, 2].shape
(5,)
>>> x[3, 2:, [1, 3]].shape, x[:, [[0], [1]], [2, 3, 4]].shape
((2, 2), ('n', 2, 3))
>>> gd.concatenate([x, x[:2]]).shape
('n+2', 4, 5)
>>> [part.shape for part in gd.split(x, [1, 3], axis=1)]
[('n', 1, 5), ('n', 2, 5), ('n', 1, 5)]
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import DTypeError, GraphdiffError, ShapeError, user_location
from ..ir.dims import product_dims
from ..ir.node import Node
from ..ir.types import Dim, broadcast_shapes, normalize_axis
from ..ops import index as I
from ..ops import join as J
from ..ops import reduce as R
from ..ops import shape as S
from ..ops.source import CONSTANT
from . import math as M
from .convert import TensorLike, as_tensor, promote
from .math import broadcast_to
from .shape import reshape

__all__ = ["concatenate", "pad", "split", "stack", "take", "take_along_axis"]

_FULL: I.SliceSpec = (None, None, 1)


# --- x[key] ---------------------------------------------------------------------------------------

def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _int_index(index: int, dim: Dim, axis: int) -> I.SliceSpec:
    """An integer index as a length-1 slice; out of range on a static axis raises."""
    if isinstance(dim, int):
        if not -dim <= index < dim:
            raise ShapeError(f"index {index} is out of range for axis {axis} of size {dim} "
                             f"(at {user_location()})")
        index %= dim
    return (index, None if index == -1 else index + 1, 1)


def _slice_spec(item: slice, dim: Dim) -> I.SliceSpec:
    """A python slice with int bounds, normalized on a static axis so equal slices share a node."""
    for bound in (item.start, item.stop, item.step):
        if bound is not None and not _is_int(bound):
            raise GraphdiffError(f"slice bounds must be ints or None, got {bound!r} "
                                 f"(at {user_location()})")
    step = 1 if item.step is None else operator.index(item.step)
    if step == 0:
        raise ShapeError(f"slice step cannot be zero (at {user_location()})")
    start = None if item.start is None else operator.index(item.start)
    stop = None if item.stop is None else operator.index(item.stop)
    if not isinstance(dim, int):
        return (start, stop, step)
    # Canonical form: the first index taken and an exclusive end, None when the end runs off
    # the axis (a stop of -1 would read as "the last element").
    taken = range(dim)[start:stop:step]
    if not taken:
        return (0, 0, 1)
    if step == 1 and len(taken) == dim:
        return _FULL
    end = taken[-1] + step
    return (taken[0], None if end < 0 or end >= dim else end, step)


def _advanced(item: object) -> Node | None:
    """An integer-array index (a tensor, list, tuple or numpy array) as a tensor; None for a
    basic index; a mask raises."""
    if isinstance(item, Node):
        value = item
    elif isinstance(item, np.ndarray | list | tuple):
        value = as_tensor(item)
    else:
        return None
    if value.dtype == np.bool_:
        raise GraphdiffError(
            "indexing with a boolean mask is not supported: the result's shape would depend "
            "on the data; select with a static size, gd.extract(mask, x, size=k) (or "
            "gd.compress along one axis), or use gd.where(mask, x, 0) to keep the shape "
            f"(at {user_location()})")
    if value.dtype.kind not in "iu":
        raise DTypeError(f"index arrays must be integers, got {value.dtype.name} "
                         f"(at {user_location()})")
    return value


def _adjacent(positions: Sequence[int]) -> bool:
    """numpy's rule: advanced indices (integer arrays, and ints beside them) next to each other
    in the key put their broadcast dims where they stand; separated ones (by a slice, None or
    an ellipsis) put them first."""
    return positions[-1] - positions[0] == len(positions) - 1


def getitem(x: Node, key: Any) -> Node:
    """``x[key]`` with numpy's semantics: ints, slices, ``None``, ``...`` and integer arrays
    (broadcast together, placed by numpy's rule for advanced indices)."""
    items = list(key) if isinstance(key, tuple) else [key]
    arrays = {position: a for position, item in enumerate(items)
              if (a := _advanced(item)) is not None}
    ellipses = sum(item is Ellipsis for item in items)
    if ellipses > 1:
        raise GraphdiffError(f"an index can only have one ellipsis (at {user_location()})")
    consuming = sum(item is not None and item is not Ellipsis for item in items)
    if consuming > x.ndim:
        raise ShapeError(f"too many indices ({consuming}) for a tensor of rank {x.ndim} "
                         f"(at {user_location()})")
    adjacent = not arrays or _adjacent([p for p, item in enumerate(items)
                                        if p in arrays or _is_int(item)])
    if not ellipses:
        items.append(Ellipsis)

    slices: list[I.SliceSpec] = []
    kept: list[int] = []  # per output axis: its axis in the slice node, or -1 for a new one
    gathered: list[tuple[int, Node]] = []  # (output axis, indices) per integer array
    axis = 0
    for position, item in enumerate(items):
        if item is Ellipsis:
            for _ in range(x.ndim - consuming):
                slices.append(_FULL)
                kept.append(axis)
                axis += 1
        elif item is None:
            kept.append(-1)
        elif _is_int(item):
            slices.append(_int_index(operator.index(item), x.shape[axis], axis))
            axis += 1
        elif isinstance(item, slice):
            slices.append(_slice_spec(item, x.shape[axis]))
            kept.append(axis)
            axis += 1
        elif position in arrays:
            slices.append(_FULL)
            gathered.append((len(kept), arrays[position]))
            kept.append(axis)
            axis += 1
        else:
            raise GraphdiffError(f"unsupported index {item!r} of type {type(item).__name__} "
                                 f"(at {user_location()})")

    out = x if all(s == _FULL for s in slices) else I.slice_(x, slices=tuple(slices))
    shape = tuple(1 if a == -1 else out.shape[a] for a in kept)
    if shape != out.shape:
        out = S.reshape(out, shape=shape)
    return _gather(out, gathered, adjacent) if gathered else out


# --- integer-array indices ------------------------------------------------------------------------

def _gather(x: Node, arrays: Sequence[tuple[int, Node]], adjacent: bool) -> Node:
    """``x`` indexed by integer arrays on some axes (the others taken whole). One array is one
    take; several are broadcast together into offsets into their axes moved first and
    flattened, then one take. The broadcast dims then move to the first array's axis when the
    arrays were adjacent in the key."""
    axes = [a for a, _ in arrays]
    try:
        broadcast_shapes(*(i.shape for _, i in arrays))
    except ShapeError as exc:
        raise ShapeError(f"index arrays must broadcast together: {exc} "
                         f"(at {user_location()})") from None
    if len(arrays) == 1:
        ((axis, indices),) = arrays
        out, at = _take(x, indices, axis), axis
    else:
        rest = [a for a in range(x.ndim) if a not in axes]
        moved = S.transpose(x, perm=(*axes, *rest)) if axes != list(range(len(axes))) else x
        flat = reshape(moved, (product_dims([x.shape[a] for a in axes]),
                               *(x.shape[a] for a in rest)))
        out, at = I.take(flat, _offsets(arrays, x.shape), axis=0), 0
    index_rank = out.ndim - x.ndim + len(arrays)
    target = axes[0] if adjacent else 0
    if target == at or index_rank == 0:
        return out
    others = [a for a in range(out.ndim) if not at <= a < at + index_rank]
    index_axes = list(range(at, at + index_rank))
    return S.transpose(out, perm=(*others[:target], *index_axes, *others[target:]))


def _offsets(arrays: Sequence[tuple[int, Node]], shape: Sequence[Dim]) -> Node:
    """Row-major offsets of the index tuples into the indexed axes (int64, broadcast). Known
    indices on static axes are checked and combined now; otherwise in the graph, where an
    index out of range gives an offset past the end, so the take raises as numpy does."""
    dims = [shape[a] for a, _ in arrays]
    if all(i.op is CONSTANT for _, i in arrays) and all(isinstance(d, int) for d in dims):
        for axis, indices in arrays:
            _check_constant_indices(indices, shape[axis], axis)
        parts = np.broadcast_arrays(*(np.asarray(i.data, np.int64) for _, i in arrays))
        return as_tensor(np.ravel_multi_index(tuple(parts), dims, mode="wrap"))
    zero = as_tensor(np.int64(0))
    offset = bad = None
    for (axis, indices), dim in zip(arrays, dims, strict=True):
        _check_constant_indices(indices, dim, axis)
        size = _dim_scalar(dim)
        indices = M.astype(indices, np.int64)
        wrapped = M.where(M.less(indices, zero), M.add(indices, size), indices)
        outside = M.logical_or(M.less(wrapped, zero), M.greater_equal(wrapped, size))
        offset = wrapped if offset is None else M.add(M.multiply(offset, size), wrapped)
        bad = outside if bad is None else M.logical_or(bad, outside)
    return M.where(bad, _dim_scalar(product_dims(dims)), offset)


def _dim_scalar(dim: Dim) -> Node:
    """A dimension's size as an int64 scalar: a constant, or resolved per call when symbolic."""
    if isinstance(dim, int):
        return as_tensor(np.int64(dim))
    return R.dim_product(dims=(dim,), dtype=np.dtype(np.int64))


def iterate(x: Node) -> Iterator[Node]:
    """``for row in x``: the rows of a static first axis (numpy iterates the same way)."""
    if x.ndim == 0 or not isinstance(x.shape[0], int):
        what = "a 0-d tensor" if x.ndim == 0 else f"a symbolic axis ({x.shape[0]})"
        raise GraphdiffError(f"cannot iterate over {what}: the number of rows is unknown when "
                             f"the graph is built (at {user_location()})")
    return (getitem(x, i) for i in range(x.shape[0]))


def length(x: Node) -> int:
    """``len(x)``: the size of a static first axis."""
    if x.ndim == 0:
        raise GraphdiffError(f"len() of a 0-d tensor {x.type} (at {user_location()})")
    if not isinstance(x.shape[0], int):
        raise GraphdiffError(f"len() of {x.type}: the first axis is symbolic ({x.shape[0]}), "
                             f"its size is known only when the function runs; use x.shape[0] "
                             f"(at {user_location()})")
    return x.shape[0]


# --- take and take_along_axis ---------------------------------------------------------------------

def _indices(indices: TensorLike) -> Node:
    if isinstance(indices, Node):
        value = indices
    else:
        value = as_tensor(np.asarray(indices))
    if value.dtype.kind not in "iu":
        raise DTypeError(f"indices must be integers, got {value.dtype.name} "
                         f"(at {user_location()})")
    return value


def _check_constant_indices(indices: Node, dim: Dim, axis: int) -> None:
    """Indices known when the graph is built are range-checked then, not at run time."""
    if indices.op is not CONSTANT or not isinstance(dim, int) or indices.data.size == 0:
        return
    low, high = int(indices.data.min()), int(indices.data.max())
    if low < -dim or high >= dim:
        bad = low if low < -dim else high
        raise ShapeError(f"index {bad} is out of range for axis {axis} of size {dim} "
                         f"(at {user_location()})")


def _take(x: Node, indices: Node, axis: int) -> Node:
    _check_constant_indices(indices, x.shape[axis], axis)
    return I.take(x, indices, axis=axis)


def take(x: TensorLike, indices: TensorLike, axis: int | None = None) -> Node:
    """numpy.take: elements at integer ``indices`` (any rank) along ``axis`` (None: flattened).

    >>> import numpy as np, graphdiff as gd
    >>> x = gd.placeholder((3, 4), "float64", name="x")
    >>> gd.take(x, np.array([[0, 2], [2, 2]]), axis=1).shape
    (3, 2, 2)
    """
    x = as_tensor(x)
    indices = _indices(indices)
    if axis is None:
        return _take(reshape(x, (-1,)), indices, 0)
    return _take(x, indices, normalize_axis(axis, x.ndim))


def take_along_axis(x: TensorLike, indices: TensorLike, axis: int) -> Node:
    """numpy.take_along_axis: ``indices`` has x's rank; other axes broadcast against x.

    >>> import numpy as np, graphdiff as gd
    >>> logits = gd.placeholder((None, 10), "float32")
    >>> labels = gd.placeholder((None,), "int64")
    >>> gd.take_along_axis(logits, labels[:, None], axis=1).shape[1]
    1
    """
    x = as_tensor(x)
    indices = _indices(indices)
    if indices.ndim != x.ndim:
        raise ShapeError(f"take_along_axis: indices of rank {indices.ndim} for a tensor of rank "
                         f"{x.ndim} (at {user_location()})")
    axis = normalize_axis(axis, x.ndim)
    others = broadcast_shapes(tuple(1 if a == axis else d for a, d in enumerate(x.shape)),
                              tuple(1 if a == axis else d for a, d in enumerate(indices.shape)))
    x_shape = tuple(d if a == axis else others[a] for a, d in enumerate(x.shape))
    i_shape = tuple(d if a == axis else others[a] for a, d in enumerate(indices.shape))
    if x_shape != x.shape:
        x = broadcast_to(x, x_shape)
    if i_shape != indices.shape:
        indices = broadcast_to(indices, i_shape)
    _check_constant_indices(indices, x.shape[axis], axis)
    return I.take_along_axis(x, indices, axis=axis)


# --- pad ------------------------------------------------------------------------------------------

def _pad_widths(pad_width: Any, ndim: int) -> J.PadWidth:
    """numpy's pad_width forms (int, (n,), (before, after), per-axis pairs) as per-axis pairs."""
    array = np.asarray(pad_width)
    if array.dtype.kind not in "iu" or array.ndim > 2:
        raise ShapeError(f"pad_width must be ints: an int, a (before, after) pair, or one pair "
                         f"per axis; got {pad_width!r} (at {user_location()})")
    try:
        pairs = np.broadcast_to(array, (ndim, 2))
    except ValueError:
        raise ShapeError(f"pad_width {pad_width!r} does not fit a tensor of rank {ndim}: give "
                         f"an int, a pair, or {ndim} pairs (at {user_location()})") from None
    if (pairs < 0).any():
        raise ShapeError(f"pad_width must be >= 0, got {pad_width!r} (at {user_location()})")
    return tuple((int(lo), int(hi)) for lo, hi in pairs)


def _pad_axis_copies(x: Node, axis: int, lo: int, hi: int, mode: str) -> Node:
    """reflect / edge padding of one axis as slices joined by a concatenation."""
    dim = x.shape[axis]
    limit = 1 if mode == "edge" else 0
    if isinstance(dim, int) and (dim <= limit or (mode == "reflect" and max(lo, hi) >= dim)):
        raise ShapeError(f"pad mode {mode!r} with widths ({lo}, {hi}) needs axis {axis} to be "
                         f"longer than the widths, got size {dim} (at {user_location()})")

    def part(start: int | None, stop: int | None, step: int) -> Node:
        spec = tuple((start, stop, step) if a == axis else _FULL for a in range(x.ndim))
        return I.slice_(x, slices=spec)

    def edge(start: int | None, stop: int | None, width: int) -> Node:
        border = part(start, stop, 1)
        return broadcast_to(border, tuple(width if a == axis else d
                                          for a, d in enumerate(x.shape)))

    pieces = []
    if lo:
        pieces.append(edge(0, 1, lo) if mode == "edge" else part(lo, 0, -1))
    pieces.append(x)
    if hi:
        pieces.append(edge(-1, None, hi) if mode == "edge" else part(-2, -hi - 2, -1))
    return J.concatenate(*pieces, axis=axis)


_PAD_MODES = ("constant", "edge", "reflect")


def pad(x: TensorLike, pad_width: Any, mode: str = "constant",
        constant_values: float = 0) -> Node:
    """numpy.pad in "constant", "edge" or "reflect" mode.

    >>> import graphdiff as gd
    >>> x = gd.placeholder(("n", 3), "float32")
    >>> gd.pad(x, 1).shape, gd.pad(x, ((0, 0), (2, 1)), mode="reflect").shape
    (('n+2', 5), ('n', 6))
    """
    x = as_tensor(x)
    if mode not in _PAD_MODES:
        raise GraphdiffError(f"pad mode {mode!r} is not supported (supported: "
                             f"{', '.join(_PAD_MODES)}) (at {user_location()})")
    widths = _pad_widths(pad_width, x.ndim)
    if mode != "constant":
        for axis, (lo, hi) in enumerate(widths):
            if lo or hi:
                x = _pad_axis_copies(x, axis, lo, hi, mode)
        return x
    value = np.asarray(constant_values)
    if value.ndim:
        if not (value == value.flat[0]).all():
            raise GraphdiffError("pad: only one constant value for every side is supported, "
                                 f"got {constant_values!r} (at {user_location()})")
        value = value.flat[0]
    if not any(lo or hi for lo, hi in widths):
        return x
    return J.pad(x, pad_width=widths, value=float(value))


# --- concatenate, stack, split ------------------------------------------------------------------

def concatenate(xs: Sequence[TensorLike], axis: int | None = 0) -> Node:
    """numpy.concatenate: operands are promoted to one dtype (NEP 50); axis None flattens.

    >>> import numpy as np, graphdiff as gd
    >>> a = gd.placeholder((2, 3), "float32")
    >>> c = gd.concatenate([a, np.zeros((1, 3), np.float64)])
    >>> c.dtype.name, c.shape
    ('float64', (3, 3))
    """
    if isinstance(xs, Node) or not len(xs):
        raise ShapeError(f"concatenate needs a non-empty list of tensors (at {user_location()})")
    parts = promote(*xs)
    if axis is None:
        parts = [reshape(p, (-1,)) for p in parts]
        axis = 0
    if any(p.ndim == 0 for p in parts):
        raise ShapeError(f"concatenate: zero-dimensional operands cannot be concatenated "
                         f"(at {user_location()})")
    axis = normalize_axis(axis, parts[0].ndim)
    return parts[0] if len(parts) == 1 else J.concatenate(*parts, axis=axis)


def stack(xs: Sequence[TensorLike], axis: int = 0) -> Node:
    """numpy.stack: join equal-shaped tensors along a new axis.

    >>> import graphdiff as gd
    >>> a = gd.placeholder((None, 3), "float32")
    >>> gd.stack([a, a * 2], axis=-1).shape[1:]
    (3, 2)
    """
    if isinstance(xs, Node) or not len(xs):
        raise ShapeError(f"stack needs a non-empty list of tensors (at {user_location()})")
    parts = promote(*xs)
    if len({p.ndim for p in parts}) != 1:
        shapes = ", ".join(str(p.shape) for p in parts)
        raise ShapeError(f"stack: operands must have one shape, got {shapes} "
                         f"(at {user_location()})")
    axis = normalize_axis(axis, parts[0].ndim + 1)
    expanded = [S.reshape(p, shape=p.shape[:axis] + (1,) + p.shape[axis:]) for p in parts]
    return expanded[0] if len(expanded) == 1 else J.concatenate(*expanded, axis=axis)


def split(x: TensorLike, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Node]:
    """numpy.split: ``n`` equal sections (``n`` must divide the static axis), or pieces cut at
    the given indices."""
    x = as_tensor(x)
    axis = normalize_axis(axis, x.ndim)
    dim = x.shape[axis]
    if _is_int(indices_or_sections):
        sections = int(indices_or_sections)
        if not isinstance(dim, int):
            raise ShapeError(f"split into {sections} sections needs a static axis; axis {axis} "
                             f"is symbolic ({dim}): give split indices instead "
                             f"(at {user_location()})")
        if sections <= 0 or dim % sections:
            raise ShapeError(f"split: {sections} sections do not divide axis {axis} of size "
                             f"{dim} equally (at {user_location()})")
        cuts = [dim // sections * k for k in range(1, sections)]
    else:
        cuts = [operator.index(c) for c in indices_or_sections]
    bounds = [None, *cuts, None]
    lead = (slice(None),) * axis
    return [getitem(x, lead + (slice(start, stop),))
            for start, stop in zip(bounds, bounds[1:], strict=False)]
