"""numpy-named shape functions: reshape, transpose, expand_dims, squeeze, flips, rolls, axis
moves, atleast_nd, tile and repeat. All are composites of reshape, transpose, slice, broadcast,
concatenate and take, so their derivatives and ONNX export come from those primitives.

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
from ..ops import join as J
from ..ops import shape as S
from .convert import TensorLike, as_tensor

__all__ = [
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "expand_dims",
    "flip",
    "fliplr",
    "flipud",
    "moveaxis",
    "ravel",
    "repeat",
    "reshape",
    "roll",
    "rollaxis",
    "rot90",
    "squeeze",
    "swapaxes",
    "tile",
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


def axis_of(function: str, x: Node, axis: Any, ndim: int | None = None) -> int:
    """``axis`` normalized for ``x`` (rank ``ndim`` if given), or an error naming ``function``
    and x's type."""
    return normalize_axis(axis, x.ndim if ndim is None else ndim,
                          what=f"{function} of {x.type}: axis")


def axes_of(function: str, x: Node, axis: Any) -> tuple[int, ...]:
    """A sequence of axes (or one) normalized for ``x``, order kept, repeats refused."""
    axes = tuple(axis) if isinstance(axis, Sequence) else (axis,)
    result = tuple(axis_of(function, x, a) for a in axes)
    if len(set(result)) != len(result):
        raise ShapeError(f"{function} of {x.type}: repeated axis in {axes} "
                         f"(at {user_location()})")
    return result


def swapaxes(x: TensorLike, axis1: int, axis2: int) -> Node:
    """numpy.swapaxes: exchange two axes."""
    x = as_tensor(x)
    perm = list(range(x.ndim))
    a, b = axis_of("swapaxes", x, axis1), axis_of("swapaxes", x, axis2)
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


# --- flips, rolls and axis moves ----------------------------------------------------------------

def _reverse(x: Node, axes: Sequence[int]) -> Node:
    from .indexing import getitem

    return getitem(x, tuple(slice(None, None, -1) if a in axes else slice(None)
                            for a in range(x.ndim)))


def flip(x: TensorLike, axis: int | Sequence[int] | None = None) -> Node:
    """numpy.flip: reverse the order of elements along ``axis`` (None: every axis)."""
    x = as_tensor(x)
    axes = tuple(range(x.ndim)) if axis is None else axes_of("flip", x, axis)
    return _reverse(x, axes) if axes else x


def _flip_one(name: str, x: TensorLike, axis: int) -> Node:
    """Reverse ``axis`` of a tensor of rank greater than ``axis`` (fliplr, flipud)."""
    x = as_tensor(x)
    if x.ndim <= axis:
        raise ShapeError(f"{name} needs a tensor of rank >= {axis + 1}, got {x.type} "
                         f"(at {user_location()})")
    return _reverse(x, (axis,))


def fliplr(x: TensorLike) -> Node:
    """numpy.fliplr: reverse axis 1 (rank >= 2)."""
    return _flip_one("fliplr", x, 1)


def flipud(x: TensorLike) -> Node:
    """numpy.flipud: reverse axis 0 (rank >= 1)."""
    return _flip_one("flipud", x, 0)


def _shift_amount(shift: Any) -> int:
    if not isinstance(shift, int | np.integer) or isinstance(shift, bool):
        raise ShapeError(f"roll: shift must be an int or a sequence of ints, got {shift!r} "
                         f"(at {user_location()})")
    return int(shift)


def roll(x: TensorLike, shift: int | Sequence[int], axis: int | Sequence[int] | None = None
         ) -> Node:
    """numpy.roll: shift elements along ``axis`` cyclically (None: of the flattened tensor).

    ``shift`` and ``axis`` may be sequences, broadcast together; an axis listed twice is shifted
    by the sum. A shifted axis must be static (the cut point is ``shift % size``).
    """
    from .indexing import getitem

    x = as_tensor(x)
    if axis is None:
        return reshape(roll(ravel(x), shift, 0), x.shape)
    shifts = list(shift) if isinstance(shift, Sequence) else [shift]
    axes = list(axis) if isinstance(axis, Sequence) else [axis]
    if len(shifts) != len(axes) and 1 not in (len(shifts), len(axes)):
        raise ShapeError(f"roll of {x.type}: shift {shift!r} and axis {axis!r} do not broadcast "
                         f"(at {user_location()})")
    total: dict[int, int] = {}
    for s, a in zip(shifts * (len(axes) if len(shifts) == 1 else 1),
                    axes * (len(shifts) if len(axes) == 1 else 1), strict=True):
        a = axis_of("roll", x, a)
        total[a] = total.get(a, 0) + _shift_amount(s)
    for a, s in sorted(total.items()):
        dim = x.shape[a]
        if not isinstance(dim, int):
            if s == 0:
                continue
            raise ShapeError(f"roll of {x.type}: axis {a} is symbolic ({dim}), the shift "
                             f"{s} needs a static size (at {user_location()})")
        if dim == 0 or s % dim == 0:
            continue
        cut = dim - s % dim
        lead = (slice(None),) * a
        x = J.concatenate(getitem(x, lead + (slice(cut, None),)),
                          getitem(x, lead + (slice(None, cut),)), axis=a)
    return x


def rot90(x: TensorLike, k: int = 1, axes: Sequence[int] = (0, 1)) -> Node:
    """numpy.rot90: rotate by 90 degrees ``k`` times in the plane of ``axes`` (first towards
    second)."""
    x = as_tensor(x)
    axes = tuple(axes)
    if len(axes) != 2:
        raise ShapeError(f"rot90 of {x.type}: axes must be two axes, got {axes!r} "
                         f"(at {user_location()})")
    if not isinstance(k, int | np.integer) or isinstance(k, bool):
        raise ShapeError(f"rot90: k must be an int, got {k!r} (at {user_location()})")
    a, b = axis_of("rot90", x, axes[0]), axis_of("rot90", x, axes[1])
    if a == b:
        raise ShapeError(f"rot90 of {x.type}: the axes must differ, got {axes!r} "
                         f"(at {user_location()})")
    k = int(k) % 4
    if k == 0:
        return x
    if k == 2:
        return _reverse(x, (a, b))
    perm = list(range(x.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    if k == 1:
        return transpose(_reverse(x, (b,)), perm)
    return _reverse(transpose(x, perm), (b,))


def moveaxis(x: TensorLike, source: int | Sequence[int], destination: int | Sequence[int]
             ) -> Node:
    """numpy.moveaxis: move axes to new positions, the others keep their order."""
    x = as_tensor(x)
    src, dst = axes_of("moveaxis", x, source), axes_of("moveaxis", x, destination)
    if len(src) != len(dst):
        raise ShapeError(f"moveaxis of {x.type}: source {source!r} and destination "
                         f"{destination!r} must have the same number of elements "
                         f"(at {user_location()})")
    order = [a for a in range(x.ndim) if a not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return transpose(x, order)


def rollaxis(x: TensorLike, axis: int, start: int = 0) -> Node:
    """numpy.rollaxis: move ``axis`` to be before position ``start``."""
    x = as_tensor(x)
    axis = axis_of("rollaxis", x, axis)
    n = x.ndim
    if not isinstance(start, int | np.integer) or not -n <= start <= n:
        raise ShapeError(f"rollaxis of {x.type}: start {start!r} must be in [{-n}, {n}] "
                         f"(at {user_location()})")
    start = int(start) + n if start < 0 else int(start)
    if axis < start:
        start -= 1
    if axis == start:
        return x
    order = [a for a in range(n) if a != axis]
    order.insert(start, axis)
    return transpose(x, order)


# --- atleast_nd -----------------------------------------------------------------------------------

def _atleast(arys: tuple, lift) -> Node | tuple[Node, ...]:
    results = tuple(lift(as_tensor(a)) for a in arys)
    return results[0] if len(results) == 1 else results


def atleast_1d(*arys: TensorLike) -> Node | tuple[Node, ...]:
    """numpy.atleast_1d: a 0-d tensor becomes shape (1,); one result or a tuple."""
    return _atleast(arys, lambda x: reshape(x, (1,)) if x.ndim == 0 else x)


def atleast_2d(*arys: TensorLike) -> Node | tuple[Node, ...]:
    """numpy.atleast_2d: () -> (1, 1), (n,) -> (1, n)."""
    return _atleast(arys, lambda x: reshape(x, (1,) * (2 - x.ndim) + x.shape)
                    if x.ndim < 2 else x)


def _lift_3d(x: Node) -> Node:
    if x.ndim == 0:
        return reshape(x, (1, 1, 1))
    if x.ndim == 1:
        return reshape(x, (1, x.shape[0], 1))
    if x.ndim == 2:
        return reshape(x, x.shape + (1,))
    return x


def atleast_3d(*arys: TensorLike) -> Node | tuple[Node, ...]:
    """numpy.atleast_3d: () -> (1, 1, 1), (n,) -> (1, n, 1), (m, n) -> (m, n, 1)."""
    return _atleast(arys, _lift_3d)


# --- tile and repeat ------------------------------------------------------------------------------

def _count(function: str, value: Any, what: str) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 0:
        raise ShapeError(f"{function}: {what} must be non-negative ints, got {value!r} "
                         f"(at {user_location()})")
    return int(value)


def _interleave_broadcast(x: Node, counts: Sequence[int], before: bool) -> Node:
    """Each axis d of x becomes (count, d) (before) or (d, count), then merged into one."""
    from .math import broadcast_to

    pairs = [((1, d) if before else (d, 1)) for d in x.shape]
    spread = reshape(x, tuple(d for pair in pairs for d in pair))
    wide = tuple(d for c, dim in zip(counts, x.shape, strict=True)
                 for d in ((c, dim) if before else (dim, c)))
    out = broadcast_to(spread, wide)
    return reshape(out, tuple(product_dims((c, d)) for c, d in zip(counts, x.shape,
                                                                    strict=True)))


def tile(x: TensorLike, reps: int | Sequence[int]) -> Node:
    """numpy.tile: repeat the whole tensor ``reps`` times along each axis (missing axes of the
    shorter of x and reps are 1)."""
    x = as_tensor(x)
    reps = tuple(reps) if isinstance(reps, Sequence) else (reps,)
    reps = tuple(_count("tile", r, "reps") for r in reps)
    rank = max(len(reps), x.ndim)
    reps = (1,) * (rank - len(reps)) + reps
    x = reshape(x, (1,) * (rank - x.ndim) + x.shape)
    if all(r == 1 for r in reps):
        return x
    return _interleave_broadcast(x, reps, before=True)


def repeat(x: TensorLike, repeats: int | Sequence[int], axis: int | None = None) -> Node:
    """numpy.repeat: repeat each element ``repeats`` times along ``axis`` (None: flattened).

    ``repeats`` is an int or one count per element along the axis (a static axis then).
    """
    from .indexing import take

    x = as_tensor(x)
    if axis is None:
        x, axis = ravel(x), 0
    axis = axis_of("repeat", x, axis)
    counts = np.asarray(repeats)
    if counts.dtype.kind not in "iu" or counts.ndim > 1 or (counts < 0).any():
        raise ShapeError(f"repeat: repeats must be non-negative ints (one, or one per element "
                         f"of axis {axis} of {x.type}), got {repeats!r} (at {user_location()})")
    if counts.ndim == 0 or counts.size == 1:
        count = int(counts.reshape(-1)[0])
        ones = [1] * x.ndim
        ones[axis] = count
        return _interleave_broadcast(x, ones, before=False)
    dim = x.shape[axis]
    if counts.size != dim:
        raise ShapeError(f"repeat: {counts.size} repeats for axis {axis} of {x.type} "
                         f"(at {user_location()})")
    return take(x, np.repeat(np.arange(counts.size), counts), axis=axis)

