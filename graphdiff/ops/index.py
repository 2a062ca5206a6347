"""Indexing ops: basic slicing, gathering by integer indices, and their scatter transposes.

Each gathering op is paired with the op that places a cotangent back, and the two are each
other's VJP, so derivatives of any order stay inside the pair:

    slice             x[start:stop:step, ...]       VJP: unslice (zeros with g placed)
    unslice           zeros(shape)[slices] = g      VJP: slice
    take              np.take(x, i, axis)           VJP: scatter_add (np.add.at into zeros)
    scatter_add       np.add.at(zeros, i, g)        VJP w.r.t. g: take
    take_along_axis   np.take_along_axis(x, i, a)   VJP: scatter_add_along_axis
    scatter_add_along_axis                          VJP w.r.t. g: take_along_axis

All of them are linear in their float operand, so each JVP is the op itself applied to the
tangent. Integer index operands get no derivative.

A slice keeps a symbolic dimension when it takes the whole axis, gets a static length when the
length does not depend on the dimension's size (``x[:3]``, ``x[-2:]``, an integer index), and
otherwise gets a derived symbol named by the slice (``n[1:]``, see ``graphdiff/ir/dims.py``). A
static length on a symbolic dimension is checked at run time.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import ShapeError
from ..ir.dims import slice_dim
from ..ir.node import Node, OpDef
from ..ir.types import Dim, Shape, TensorType, format_shape
from .batching import materialize, merged
from .core import defop, jnp, require_integer

SliceSpec = tuple[int | None, int | None, int]  # (start, stop, step), numpy meaning


# --- shapes ---------------------------------------------------------------------------------------

def sliced_shape(shape: Shape, slices: Sequence[SliceSpec]) -> Shape:
    if len(slices) != len(shape):
        raise ShapeError(f"{len(slices)} slices for a rank-{len(shape)} tensor")
    return tuple(slice_dim(d, *s) for d, s in zip(shape, slices, strict=True))


def as_index(slices: Sequence[SliceSpec]) -> tuple[slice, ...]:
    return tuple(slice(*s) for s in slices)


def same_dim(a: Dim, b: Dim) -> Dim:
    """Two dims that must be equal: the static one wins; two different ints raise."""
    if a == b or not isinstance(b, int):
        return a
    if not isinstance(a, int):
        return b
    raise ShapeError(f"dimensions {a} and {b} differ")


# --- slice and unslice ----------------------------------------------------------------------------

def _slice_type(types: Sequence[TensorType], *, slices: tuple[SliceSpec, ...]) -> TensorType:
    (x,) = types
    return x.with_shape(sliced_shape(x.shape, slices))


def _slice_kernel(x: np.ndarray, *, slices: tuple[SliceSpec, ...]) -> np.ndarray:
    return x[as_index(slices)]


def _unslice_type(types: Sequence[TensorType], *, slices: tuple[SliceSpec, ...],
                  shape: Shape) -> TensorType:
    (g,) = types
    if -1 in shape:
        raise ShapeError(f"the shape {format_shape(shape)} to place a slice into is unknown "
                         "here (a derived dimension was never computed in this graph)")
    expected = sliced_shape(shape, slices)
    try:
        for a, b in zip(expected, g.shape, strict=True):
            same_dim(a, b)
    except (ShapeError, ValueError):
        raise ShapeError(f"a {format_shape(g.shape)} slice does not fit {format_shape(shape)} "
                         f"sliced as {format_shape(expected)}") from None
    return g.with_shape(tuple(shape))


def _unslice_kernel(g: np.ndarray, *, slices: tuple[SliceSpec, ...],
                    shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=g.dtype)
    out[as_index(slices)] = g
    return out


slice_ = defop(
    "slice", _slice_type, _slice_kernel, view=True, jax=_slice_kernel,  # x[slices] in jax too
    onnx=lambda ctx, n, i: ctx.slice(i[0], n.attrs["slices"]),
    doc="Basic slicing with static start/stop/step per axis (a numpy view).",
    vjp=lambda node, g: [unslice(g, slices=node.attrs["slices"], shape=node.inputs[0].shape)],
    jvp=lambda node, t: slice_(t[0], **node.attrs),
    batch=lambda node, i, b, size: slice_(i[0], slices=((None, None, 1), *node.attrs["slices"])))

unslice = defop(
    "unslice", _unslice_type, _unslice_kernel, shape_attrs=("shape",),
    jax=lambda g, *, slices, shape: jnp().zeros(shape, g.dtype).at[as_index(slices)].set(g),
    onnx=lambda ctx, n, i: ctx.unslice(i[0], n),
    doc="Zeros of ``shape`` with the operand written at ``slices``: the transpose of slice.",
    vjp=lambda node, g: [slice_(g, slices=node.attrs["slices"])],
    jvp=lambda node, t: unslice(t[0], **node.attrs),
    batch=lambda node, i, b, size: unslice(i[0], slices=((None, None, 1), *node.attrs["slices"]),
                                           shape=(size, *node.attrs["shape"])))


# --- gathers and their scatter transposes ---------------------------------------------------------

# --- batching: indices shared by the batch keep the op; batched ones go along an axis ---------

def _flat_indices(i: Node, rank: int, axis: int, size) -> tuple[Node, tuple]:
    """Batched indices ``(B, *I)`` as ``(B, 1.., F, 1..)`` (F = the product of I) with ``axis``
    ones before F and the rest after, for the along-axis pair; and I."""
    from .shape import reshape

    flat = 1
    for d in i.shape[1:]:
        flat = merged(flat, d)
    shape = (size,) + (1,) * axis + (flat,) + (1,) * (rank - axis - 1)
    return reshape(i, shape=shape), tuple(i.shape[1:])


def _take_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool], size) -> Node:
    from .shape import broadcast_to, reshape, transpose

    (x, i), axis = inputs, node.attrs["axis"]
    if not batched[1]:
        return take(x, i, axis=axis + 1)
    if not batched[0]:  # the batch axis lands where the indices go: move it first
        y = take(x, i, axis=axis)
        order = (axis, *(a for a in range(y.ndim) if a != axis))
        return transpose(y, perm=order)
    idx, index_shape = _flat_indices(i, x.ndim - 1, axis, size)
    idx = broadcast_to(idx, shape=(*x.shape[:axis + 1], idx.shape[axis + 1], *x.shape[axis + 2:]))
    y = take_along_axis(x, idx, axis=axis + 1)
    return reshape(y, shape=(*x.shape[:axis + 1], *index_shape, *x.shape[axis + 2:]))


def _scatter_add_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool],
                       size) -> Node:
    from .shape import broadcast_to, reshape

    (g, i), axis, shape = inputs, node.attrs["axis"], (size, *node.attrs["shape"])
    if not batched[1]:
        return scatter_add(g, i, axis=axis + 1, shape=shape)
    g = materialize(g, batched[0], size)
    idx, _ = _flat_indices(i, len(shape) - 1, axis, size)
    flat_shape = (*g.shape[:axis + 1], idx.shape[axis + 1], *shape[axis + 2:])
    return scatter_add_along_axis(reshape(g, shape=flat_shape),
                                  broadcast_to(idx, shape=flat_shape), axis=axis + 1,
                                  shape=shape)


def _along_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool], size) -> Node:
    """take_along_axis and its scatter need indices shaped like the operand: both batched."""
    extra = {"shape": (size, *node.attrs["shape"])} if "shape" in node.attrs else {}
    return node.op(*(materialize(v, b, size) for v, b in zip(inputs, batched)),
                   axis=node.attrs["axis"] + 1, **extra)


def _gather_pair(name: str, gathered_shape: Callable[[Shape, Shape, int], Shape],
                 kernel: Callable, scatter_name: str, scatter_kernel: Callable, *, onnx: Callable,
                 scatter_onnx: Callable, doc: str, scatter_doc: str,
                 gather_batch: Callable, scatter_batch: Callable,
                 jax: Callable, scatter_jax: Callable, fast_kernel: Callable | None = None,
                 scatter_fast_kernel: Callable | None = None,
                 assigns_distinct: bool = False) -> tuple[OpDef, OpDef]:
    """Declare ``y = gather(x, i, axis)`` and ``scatter(g, i, axis, shape)``, its transpose.

    ``gathered_shape(x_shape, i_shape, axis)`` is the shape of y, which is also the shape the
    scatter's updates must have. Both ops are linear in their first operand and transposes of
    each other, so each one's VJP is the other and each one's JVP is itself on the tangent.
    ``assigns_distinct``: the scatter takes ``distinct=True`` (indices that never repeat along
    the axis, placed rather than accumulated), which the gather's VJP sets for such indices.
    """

    def gather_type(types: Sequence[TensorType], *, axis: int) -> TensorType:
        x, indices = types
        require_integer(indices, "indices")
        return x.with_shape(gathered_shape(x.shape, indices.shape, axis))

    def scatter_type(types: Sequence[TensorType], *, axis: int, shape: Shape,
                     distinct: bool = False) -> TensorType:
        g, indices = types
        require_integer(indices, "indices")
        expected = gathered_shape(shape, indices.shape, axis)
        if len(expected) != g.ndim:
            raise ShapeError(f"updates of rank {g.ndim} do not fit {format_shape(expected)}")
        for a, b in zip(expected, g.shape, strict=True):
            same_dim(a, b)
        return g.with_shape(tuple(shape))

    def gather_vjp(node: Node, g: Node) -> list[Node | None]:
        distinct = {"distinct": True} if assigns_distinct and \
            distinct_along(node.inputs[1], node.attrs["axis"]) else {}
        return [scatter(g, node.inputs[1], axis=node.attrs["axis"],
                        shape=node.inputs[0].shape, **distinct), None]

    def scatter_vjp(node: Node, g: Node) -> list[Node | None]:
        return [gather(g, node.inputs[1], axis=node.attrs["axis"]), None]

    def linear_jvp(node: Node, tangents: Sequence[Node | None]) -> Node | None:
        return None if tangents[0] is None else node.op(tangents[0], node.inputs[1],
                                                        **node.attrs)

    gather = defop(name, gather_type, kernel, onnx=onnx, doc=doc, vjp=gather_vjp,
                   jvp=linear_jvp, fast_kernel=fast_kernel, batch=gather_batch, jax=jax)
    scatter = defop(scatter_name, scatter_type, scatter_kernel, shape_attrs=("shape",),
                    out_arg=True, onnx=scatter_onnx, doc=scatter_doc, vjp=scatter_vjp,
                    jvp=linear_jvp, fast_kernel=scatter_fast_kernel, batch=scatter_batch,
                    jax=scatter_jax)
    return gather, scatter


# --- take and scatter_add -------------------------------------------------------------------------

def _check_axis(axis: int, ndim: int) -> None:
    if not 0 <= axis < ndim:
        raise ShapeError(f"axis {axis} is out of range for a rank-{ndim} tensor")


def taken_shape(shape: Shape, indices: Shape, axis: int) -> Shape:
    _check_axis(axis, len(shape))
    return tuple(shape[:axis]) + tuple(indices) + tuple(shape[axis + 1:])


def _take_kernel(x: np.ndarray, indices: np.ndarray, *, axis: int) -> np.ndarray:
    return np.take(x, indices, axis=axis)


def _zeros_into(out: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Zeros in the planned buffer ``out`` if there is one (a fresh large array costs page
    faults on every call), else new ones. Scatters write all of out: it may not alias g."""
    if out is None:
        return np.zeros(shape, dtype=dtype)
    out.fill(0)
    return out


def _scatter_add_kernel(g: np.ndarray, indices: np.ndarray, *, axis: int,
                        shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
    out = _zeros_into(out, shape, g.dtype)
    # add.at accumulates repeated indices, which a plain fancy assignment would overwrite
    np.add.at(out, (slice(None),) * axis + (indices,), g)
    return out


take, scatter_add = _gather_pair(
    "take", taken_shape, _take_kernel, "scatter_add", _scatter_add_kernel,
    onnx=lambda ctx, n, i: ctx.op("Gather", i, axis=n.attrs["axis"]),
    scatter_onnx=lambda ctx, n, i: ctx.scatter_add(i[0], i[1], n),
    gather_batch=_take_batch, scatter_batch=_scatter_add_batch,
    jax=lambda x, indices, *, axis: jnp().take(x, indices, axis=axis),
    scatter_jax=lambda g, indices, *, axis, shape: jnp().zeros(shape, g.dtype).at[
        (slice(None),) * axis + (indices,)].add(g),
    doc="numpy.take along one axis: integer indices of any rank (negative ones count back).",
    scatter_doc="Zeros of ``shape`` with the updates added at the indices along ``axis``: the "
                "transpose of take (repeated indices accumulate).")


# --- take_along_axis and its transpose ------------------------------------------------------------

def _along_shape(shape: Shape, indices: Shape, axis: int) -> Shape:
    """Indices must match ``shape`` except along ``axis`` (the API broadcasts them first)."""
    if len(shape) != len(indices):
        raise ShapeError(f"indices of rank {len(indices)} for a rank-{len(shape)} tensor")
    _check_axis(axis, len(shape))
    return tuple(i if a == axis else same_dim(d, i)
                 for a, (d, i) in enumerate(zip(shape, indices, strict=True)))


def _take_along_kernel(x: np.ndarray, indices: np.ndarray, *, axis: int) -> np.ndarray:
    return np.take_along_axis(x, indices, axis=axis)


def distinct_along(indices: Node, axis: int) -> bool:
    """Whether ``indices`` never repeat along ``axis``: an order from argsort (a sort's or a
    top_k's), whose scatter back is then an assignment (np.add.at costs ~18x as much: 15 ms
    against 0.8 ms for 256x1024)."""
    from .sort import argsort

    return indices.op is argsort and indices.attrs["axis"] == axis


def _scatter_along_jax(g, indices, *, axis: int, shape: tuple[int, ...],
                       distinct: bool = False):
    grid = list(np.ogrid[tuple(slice(n) for n in g.shape)])
    grid[axis] = indices
    zeros = jnp().zeros(shape, g.dtype).at[tuple(grid)]
    return zeros.set(g) if distinct else zeros.add(g)  # distinct: an assignment


def _scatter_along_kernel(g: np.ndarray, indices: np.ndarray, *, axis: int,
                          shape: tuple[int, ...], distinct: bool = False,
                          out: np.ndarray | None = None) -> np.ndarray:
    out = _zeros_into(out, shape, g.dtype)
    if distinct:  # nothing repeats, so placing adds (+ 0 turns -0.0 into 0.0 as adding does)
        np.put_along_axis(out, indices, np.add(g, 0), axis=axis)
        return out
    # out[i0, .., indices[i0, .., ik], .., in] += g[i0, .., in], with repeats accumulating
    grid = list(np.ogrid[tuple(slice(n) for n in g.shape)])
    grid[axis] = indices
    np.add.at(out, tuple(grid), g)
    return out


def _one_per_row(attrs: dict, indices: TensorType) -> int | None:
    """The number of rows when ``indices`` pick one element from each row of the last axis
    (a class label per example), else None."""
    if indices.ndim == 0 or attrs["axis"] != indices.ndim - 1 or int(indices.shape[-1]) != 1:
        return None
    return math.prod(int(d) for d in indices.shape[:-1])


def _bind_take_along(attrs: dict, types: Sequence[TensorType]) -> Callable:
    """For one index per row: ``x2d[rows, i]``, one advanced-indexing call (np.take_along_axis
    costs ~3 us at batch 1). Negative indices count back and out-of-range ones raise, the same."""
    x, indices = types
    rows = _one_per_row(attrs, indices)
    if rows is None:
        return functools.partial(_take_along_kernel, **attrs)
    row_index, row_size, shape = np.arange(rows), int(x.shape[-1]), tuple(indices.shape)

    def take_one_per_row(x: np.ndarray, indices: np.ndarray) -> np.ndarray:
        return x.reshape(-1, row_size)[row_index, indices.reshape(-1)].reshape(shape)
    return take_one_per_row


def _bind_scatter_along(attrs: dict, types: Sequence[TensorType]) -> Callable:
    """For one index per row: zeros, then ``out2d[rows, i] = g + 0``. A row gets one update
    only, so nothing can repeat and the assignment adds like np.add.at (~7 us at batch 1); the
    + 0 makes a -0.0 update land as 0.0, as 0.0 + -0.0 does."""
    _, indices = types
    rows = _one_per_row(attrs, indices)
    if rows is None:
        return functools.partial(_scatter_along_kernel, **attrs)
    row_index, shape = np.arange(rows), tuple(int(d) for d in attrs["shape"])

    def scatter_one_per_row(g: np.ndarray, indices: np.ndarray,
                            out: np.ndarray | None = None) -> np.ndarray:
        out = _zeros_into(out, shape, g.dtype)
        out.reshape(-1, shape[-1])[row_index, indices.reshape(-1)] = np.add(g.reshape(-1), 0)
        return out
    return scatter_one_per_row


take_along_axis, scatter_add_along_axis = _gather_pair(
    "take_along_axis", _along_shape, _take_along_kernel,
    "scatter_add_along_axis", _scatter_along_kernel,
    fast_kernel=_bind_take_along, scatter_fast_kernel=_bind_scatter_along, assigns_distinct=True,
    gather_batch=_along_batch, scatter_batch=_along_batch,
    jax=lambda x, indices, *, axis: jnp().take_along_axis(x, indices, axis=axis),
    scatter_jax=_scatter_along_jax,
    onnx=lambda ctx, n, i: ctx.op("GatherElements", i, axis=n.attrs["axis"]),
    scatter_onnx=lambda ctx, n, i: ctx.scatter_add_along(i[0], i[1], n),
    doc="numpy.take_along_axis with indices shaped like the operand except along ``axis``.",
    scatter_doc="Zeros of ``shape`` with the updates added where take_along_axis reads: its "
                "transpose.")
