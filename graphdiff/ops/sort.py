"""Sorting and searching ops: the orders and positions behind sort, top_k, searchsorted, and the
data-dependent-size selections (nonzero, unique) cut to a static ``size``.

Every op here returns int64 positions and has no derivative: the values are gathered with
``take_along_axis`` / ``take`` by the API, so gradients flow through the gather's scatter VJP.

    argsort        stable order along an axis (descending: ties keep their order), first k
    searchsorted   np.searchsorted of values into a sorted 1-D tensor
    argwhere       np.argwhere cut or padded to ``size`` rows
    unique_info    np.unique's index / inverse / counts of a 1-D tensor, cut or padded to size

The selections take ``batch_dims``: that many leading axes are independent examples (vmap's
rule adds one), each selected on its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import OnnxError, ShapeError
from ..ir.node import Node
from ..ir.types import Dim, TensorType
from .batching import materialize
from .core import defop, jnp

_INT = np.dtype(np.int64)


# --- argsort ----------------------------------------------------------------------------------

def _argsort_type(types: Sequence[TensorType], *, axis: int, descending: bool,
                  k: int | None) -> TensorType:
    (x,) = types
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"axis {axis} is out of range for rank {x.ndim}")
    if x.dtype.kind not in "biuf":
        raise ShapeError(f"cannot sort {x.dtype.name}")
    dim = x.shape[axis]
    if k is None:
        return TensorType(_INT, x.shape)
    if k < 0 or (isinstance(dim, int) and k > dim):
        raise ShapeError(f"k={k} is out of range for an axis of size {dim}")
    return TensorType(_INT, x.shape[:axis] + (k,) + x.shape[axis + 1:])


def stable_argsort(x: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """numpy's stable argsort; descending keeps equal elements in their order (as JAX): the
    ascending order of the reversed array, reversed, counted from the front. NaN sorts last
    ascending, first descending."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return x.shape[axis] - 1 - np.flip(order, axis)


def _argsort_kernel(x: np.ndarray, *, axis: int, descending: bool,
                    k: int | None) -> np.ndarray:
    if k is None:
        return stable_argsort(x, axis, descending)
    if k > x.shape[axis]:
        raise ShapeError(f"top_k: k={k} is larger than the axis ({x.shape[axis]})")
    if descending and 0 < 4 * k <= x.shape[axis]:
        return np.moveaxis(_largest_first(np.moveaxis(x, axis, -1), k), -1, axis)
    return stable_argsort(x, axis, descending)[(slice(None),) * axis + (slice(0, k),)]


def _largest_first(x: np.ndarray, k: int) -> np.ndarray:
    """The first k of the stable descending order along the last axis, by selection (O(n) per
    row, then O(k log k)): top_k(8) of 256x1024 float32 with its gradient takes 5.6 ms against
    46 ms through a full sort (``tools/bench.py sorting``, one thread).

    The k-th largest value t splits each row: every element above t is in, and of those equal
    to t the first ones in index order, as many as are still missing (ties to the lower index).
    NaN, which the order puts first, compares false: a tensor holding one takes the full sort."""
    if np.isnan(x).any() if x.dtype.kind == "f" else False:
        return stable_argsort(x, -1, True)[..., :k]
    n = x.shape[-1]
    t = np.partition(x, n - k, axis=-1)[..., n - k:n - k + 1]
    chosen = x >= t
    surplus = chosen.sum(axis=-1, keepdims=True) - k  # ties at t beyond the k wanted
    if surplus.any():  # keep the first ones: drop the last `surplus` equal to t in each row
        tie = x == t
        chosen &= ~tie | (np.cumsum(tie, axis=-1) <= tie.sum(axis=-1, keepdims=True) - surplus)
    index = np.nonzero(chosen.reshape(-1, n))[1].reshape(x.shape[:-1] + (k,))
    order = stable_argsort(np.take_along_axis(x, index, axis=-1), -1, True)
    return np.take_along_axis(index, order, axis=-1)


def _argsort_jax(x, *, axis: int, descending: bool, k: int | None):
    np_ = jnp()
    if not descending:
        order = np_.argsort(x, axis=axis, stable=True)
    else:  # as stable_argsort: equal elements keep their order
        order = x.shape[axis] - 1 - np_.flip(np_.argsort(np_.flip(x, axis), axis=axis,
                                                          stable=True), axis)
    return order if k is None else order[(slice(None),) * axis + (slice(0, k),)]


def _argsort_onnx(ctx, node: Node, inputs: list[str]) -> str:
    """TopK returns values and indices; ties go to the lower index, which is a stable order in
    both directions (the ONNX spec). Sorting everything is TopK with k = the axis length."""
    axis, k = node.attrs["axis"], node.attrs["k"]
    count = ctx.dim(node.inputs[0].shape[axis] if k is None else k)
    x = inputs[0]
    if node.inputs[0].dtype == np.bool_:  # TopK takes numbers
        x = ctx.op("Cast", [x], to=ctx.elem_type(np.dtype(np.uint8)))
    _, indices = ctx.op("TopK", [x, count], outputs=2, axis=axis,
                        largest=int(node.attrs["descending"]), sorted=1)
    return indices


argsort = defop(
    "argsort", _argsort_type, _argsort_kernel, differentiable=False, jax=_argsort_jax,
    batch=lambda node, i, b, size: argsort(i[0], **{**node.attrs,
                                                    "axis": node.attrs["axis"] + 1}),
    onnx=_argsort_onnx,
    doc="Stable sorting order along ``axis`` (int64), descending keeping ties in order; the "
        "first ``k`` positions when ``k`` is given (top_k).")


# --- searchsorted -----------------------------------------------------------------------------

def _searchsorted_type(types: Sequence[TensorType], *, side: str) -> TensorType:
    a, v = types
    if a.ndim != 1:
        raise ShapeError(f"the sorted operand must be 1-D, got rank {a.ndim}")
    if side not in ("left", "right"):
        raise ShapeError(f"side must be 'left' or 'right', got {side!r}")
    return TensorType(_INT, v.shape)


def _searchsorted_kernel(a: np.ndarray, v: np.ndarray, *, side: str) -> np.ndarray:
    return np.asarray(np.searchsorted(a, v, side=side), dtype=np.int64)


def _counted_below(a: Node, v: Node, side: str) -> Node:
    """searchsorted as a count: the elements of sorted ``a`` (last axis) before each ``v``
    are those below it (left) or not above it (right)."""
    from . import elementwise as E
    from .reduce import sum_
    from .shape import reshape

    column = reshape(v, shape=(*v.shape, 1))
    before = E.less(a, column) if side == "left" else E.less_equal(a, column)
    return sum_(E.cast(before, dtype=_INT), axes=(v.ndim,), keepdims=False)


def _searchsorted_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool],
                        size: Dim) -> Node:
    """Shared sorted operand: the op itself. A sorted row per example: a count of the elements
    below each value (O(n m), where the op is O(m log n))."""
    from .shape import reshape

    a, v = inputs
    if not batched[0]:
        return searchsorted(a, v, **node.attrs)
    v = materialize(v, batched[1], size)
    rows = reshape(a, shape=(size,) + (1,) * (v.ndim - 1) + (a.shape[1],))
    return _counted_below(rows, v, node.attrs["side"])


def _searchsorted_onnx(ctx, node: Node, inputs: list[str]) -> str:
    """No ONNX op searches: the count below each value, Less (or LessOrEqual) and a sum."""
    a, v = inputs
    column = ctx.op("Unsqueeze", [v, ctx.constant(np.array([-1], np.int64))])
    compare = "Less" if node.attrs["side"] == "left" else "LessOrEqual"
    before = ctx.op("Cast", [ctx.op(compare, [a, column])], to=ctx.elem_type(_INT))
    return ctx.op("ReduceSum", [before, ctx.constant(np.array([-1], np.int64))], keepdims=0)


searchsorted = defop(
    "searchsorted", _searchsorted_type, _searchsorted_kernel, differentiable=False,
    jax=lambda a, v, *, side: jnp().searchsorted(a, v, side=side),
    batch=_searchsorted_batch, onnx=_searchsorted_onnx,
    doc="numpy.searchsorted: where each value goes in a sorted 1-D tensor (int64).")


# --- selections of a static size --------------------------------------------------------------

def _per_example(select: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch_dims: int,
                 tail: tuple[int, ...]) -> np.ndarray:
    """``select`` applied to each example of the leading ``batch_dims`` axes."""
    lead = x.shape[:batch_dims]
    out = np.empty(lead + tail, dtype=np.int64)
    for index in itertools.product(*(range(n) for n in lead)):
        out[index] = select(x[index])
    return out


def _cut(values: np.ndarray, size: int, fill: np.ndarray) -> np.ndarray:
    """The first ``size`` rows of ``values``, padded with rows of ``fill``."""
    if len(values) >= size:
        return values[:size]
    padding = np.broadcast_to(fill, (size - len(values), *values.shape[1:]))
    return np.concatenate([values, padding.astype(values.dtype)])


def _check_batch_dims(x: TensorType, batch_dims: int) -> None:
    if not 0 <= batch_dims <= x.ndim:
        raise ShapeError(f"batch_dims={batch_dims} for a rank-{x.ndim} tensor")


def _argwhere_type(types: Sequence[TensorType], *, size: int, fill_value: tuple[int, ...],
                   batch_dims: int) -> TensorType:
    (x,) = types
    _check_batch_dims(x, batch_dims)
    rank = x.ndim - batch_dims
    if size < 0 or len(fill_value) != rank:
        raise ShapeError(f"argwhere: size={size} and {len(fill_value)} fill values for rank "
                         f"{rank}")
    return TensorType(_INT, x.shape[:batch_dims] + (size, rank))


def _argwhere_kernel(x: np.ndarray, *, size: int, fill_value: tuple[int, ...],
                     batch_dims: int) -> np.ndarray:
    fill = np.asarray(fill_value, np.int64)
    rank = x.ndim - batch_dims
    return _per_example(lambda e: _cut(np.argwhere(e).reshape(-1, rank), size, fill), x,
                        batch_dims, (size, rank))


def _per_example_jax(select: Callable, x, batch_dims: int):
    """``select`` on each example of the leading ``batch_dims`` axes (jax.vmap)."""
    import jax

    for _ in range(batch_dims):
        select = jax.vmap(select)
    return select(x)


def _argwhere_jax(x, *, size: int, fill_value: tuple[int, ...], batch_dims: int):
    np_ = jnp()

    def select(e):
        if e.ndim == 0:
            return np_.zeros((size, 0), "int64")
        return np_.stack(np_.nonzero(e, size=size, fill_value=fill_value), axis=-1)
    return _per_example_jax(select, x, batch_dims)


def _argwhere_onnx(ctx, node: Node, inputs: list[str]) -> str:
    """NonZero gives (rank, count): padded with the fill columns, cut to size, transposed."""
    size, fill, batch_dims = (node.attrs[a] for a in ("size", "fill_value", "batch_dims"))
    if batch_dims:
        raise OnnxError("argwhere of a batch (vmap of nonzero) has no ONNX form: NonZero "
                        "selects from one tensor")
    rank = len(fill)
    found = ctx.op("NonZero", [inputs[0]])
    padding = ctx.constant(np.broadcast_to(np.asarray(fill, np.int64)[:, None], (rank, size)))
    padded = ctx.op("Concat", [found, padding], axis=1)
    cut = ctx.op("Slice", [padded, ctx.constant(np.array([0], np.int64)),
                           ctx.constant(np.array([size], np.int64)),
                           ctx.constant(np.array([1], np.int64))])
    return ctx.op("Transpose", [cut], perm=[1, 0])


argwhere = defop(
    "argwhere", _argwhere_type, _argwhere_kernel, differentiable=False, jax=_argwhere_jax,
    batch=lambda node, i, b, size: argwhere(i[0], **{**node.attrs,
                                                     "batch_dims": node.attrs["batch_dims"] + 1}),
    onnx=_argwhere_onnx,
    doc="numpy.argwhere cut or padded to ``size`` rows (padding rows hold ``fill_value``).")


UNIQUE_PARTS = ("index", "inverse", "counts")


def _unique_type(types: Sequence[TensorType], *, part: str, size: int,
                 batch_dims: int) -> TensorType:
    (x,) = types
    _check_batch_dims(x, batch_dims)
    if x.ndim != batch_dims + 1:
        raise ShapeError(f"unique_info takes a 1-D tensor per example, got rank "
                         f"{x.ndim - batch_dims}")
    if part not in UNIQUE_PARTS:
        raise ShapeError(f"unique_info part {part!r} is not one of {UNIQUE_PARTS}")
    if part == "inverse":
        return TensorType(_INT, x.shape)
    return TensorType(_INT, x.shape[:batch_dims] + (size,))


def _unique_part(x: np.ndarray, part: str, size: int) -> np.ndarray:
    """One of np.unique's index / inverse / counts for a 1-D ``x``, cut or padded to size: the
    first-occurrence index pads with that of the smallest value (so the values pad with the
    smallest, as JAX's default), counts pad with 0."""
    _, index, inverse, counts = np.unique(x, return_index=True, return_inverse=True,
                                          return_counts=True)
    if part == "inverse":
        return inverse.reshape(x.shape)
    if part == "index":
        return _cut(index, size, index[:1] if len(index) else np.zeros(1, np.int64))
    return _cut(counts, size, np.zeros(1, np.int64))


def _unique_kernel(x: np.ndarray, *, part: str, size: int, batch_dims: int) -> np.ndarray:
    tail = x.shape[batch_dims:] if part == "inverse" else (size,)
    return _per_example(lambda e: _unique_part(e, part, size), x, batch_dims, tail)


def _unique_jax(x, *, part: str, size: int, batch_dims: int):
    """np.unique's parts by a stable sort: a new group where a sorted value differs from the
    one before (NaNs are one group, as numpy's equal_nan), the first index of each group its
    first occurrence."""
    np_ = jnp()

    def select(e):
        order = np_.argsort(e, stable=True)
        ordered = e[order]
        same = (ordered[1:] == ordered[:-1]) | (np_.isnan(ordered[1:]) & np_.isnan(ordered[:-1]))
        new = np_.concatenate([np_.ones(1, bool), ~same])
        group = np_.cumsum(new) - 1
        if part == "inverse":
            return np_.zeros(e.shape, group.dtype).at[order].set(group)
        if part == "index":
            return order[np_.nonzero(new, size=size, fill_value=0)[0]]
        return np_.zeros(size, group.dtype).at[group].add(1, mode="drop")
    return _per_example_jax(select, x, batch_dims)


def _unique_onnx(ctx, node: Node, inputs: list[str]) -> str:
    """ONNX Unique (sorted): outputs values, first indices, inverse, counts; index and counts
    are padded and cut to size as numpy's kernel does."""
    part, size, batch_dims = (node.attrs[a] for a in ("part", "size", "batch_dims"))
    if batch_dims:
        raise OnnxError("unique of a batch (vmap of unique) has no ONNX form: Unique reads "
                        "one tensor")
    _, index, inverse, counts = ctx.op("Unique", [inputs[0]], outputs=4, sorted=1)
    if part == "inverse":
        return inverse
    found = index if part == "index" else counts
    if part == "index":  # pad with the index of the smallest value
        start = ctx.constant(np.array([0], np.int64))
        first = ctx.op("Slice", [index, start, ctx.constant(np.array([1], np.int64))])
        padding = ctx.op("Expand", [first, ctx.constant(np.array([size], np.int64))])
    else:
        padding = ctx.constant(np.zeros(size, np.int64))
    padded = ctx.op("Concat", [found, padding], axis=0)
    return ctx.op("Slice", [padded, ctx.constant(np.array([0], np.int64)),
                            ctx.constant(np.array([size], np.int64))])


unique_info = defop(
    "unique_info", _unique_type, _unique_kernel, differentiable=False, jax=_unique_jax,
    batch=lambda node, i, b, size: unique_info(
        i[0], **{**node.attrs, "batch_dims": node.attrs["batch_dims"] + 1}),
    onnx=_unique_onnx,
    doc="np.unique's first-occurrence index, inverse or counts of a 1-D tensor (int64), index "
        "and counts cut or padded to ``size``.")
