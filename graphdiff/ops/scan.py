"""Cumulative ops along one axis: cumsum and cumprod.

``cumsum`` is linear: its transpose is the cumulative sum run the other way, so its VJP is one
more ``cumsum`` (``reverse`` flipped, ``exclusive`` kept) and its derivatives of every order come
for free. ``exclusive`` and ``reverse`` are ONNX CumSum's attributes (numpy's cumsum is
``exclusive=False, reverse=False``).

``cumprod`` runs numpy's kernel; its derivatives and its ONNX lowering go through its expansion,
an associative scan of multiplications (Hillis and Steele: ``ceil(log2 n)`` rounds of
``y = y * shift(y, 2**k)``, the shifted-in elements ones). The expansion holds only products, so
its derivatives are exact at zeros in the input, one or several, and to every order (the
familiar ``reverse_cumsum(g * y) / x`` divides by zero there; a log/exp lowering is wrong for
zeros and negatives). It needs the axis's length when the graph is built.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ShapeError
from ..ir.node import Node
from ..ir.types import TensorType
from . import elementwise as E
from .batching import batch_along_axis
from .core import defop
from .index import slice_
from .join import pad


def _along_axis_type(types: Sequence[TensorType], *, axis: int, **flags: bool) -> TensorType:
    (x,) = types
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"axis {axis} is out of range for rank {x.ndim}")
    if x.dtype == np.bool_:
        raise ShapeError("a cumulative op of bool values needs a numeric dtype (the API casts)")
    return x


def _cumsum_kernel(x: np.ndarray, *, axis: int, reverse: bool, exclusive: bool) -> np.ndarray:
    if reverse:
        x = np.flip(x, axis)
    y = np.cumsum(x, axis=axis, dtype=x.dtype)
    if exclusive:  # shift by one: a zero first, the last running total dropped
        y = np.concatenate([np.zeros_like(y[_at(axis, slice(0, 1), y.ndim)]),
                            y[_at(axis, slice(0, -1), y.ndim)]], axis=axis)
    return np.flip(y, axis) if reverse else y


def _at(axis: int, part: slice, ndim: int) -> tuple[slice, ...]:
    return (slice(None),) * axis + (part,) + (slice(None),) * (ndim - axis - 1)


def _cumsum_onnx(ctx, node: Node, inputs: Sequence[str]) -> str:
    axis = ctx.constant(np.asarray(node.attrs["axis"], np.int64))
    return ctx.op("CumSum", [inputs[0], axis], exclusive=int(node.attrs["exclusive"]),
                  reverse=int(node.attrs["reverse"]))


cumsum = defop(
    "cumsum", _along_axis_type, _cumsum_kernel, onnx=_cumsum_onnx,
    doc="Running sum along ``axis`` (``reverse``: from the end; ``exclusive``: each element "
        "left out of its own total), ONNX CumSum's semantics.",
    # the transpose of a running sum from the start is a running sum from the end
    vjp=lambda node, g: [cumsum(g, axis=node.attrs["axis"], exclusive=node.attrs["exclusive"],
                                reverse=not node.attrs["reverse"])],
    jvp=lambda node, t: cumsum(t[0], **node.attrs), batch=batch_along_axis("axis"))


def _shifted(y: Node, axis: int, distance: int) -> Node:
    """``y`` moved ``distance`` places along ``axis``, ones shifted in at the start."""
    spec = [(None, None, 1)] * y.ndim
    spec[axis] = (None, -distance, 1)
    widths = [(0, 0)] * y.ndim
    widths[axis] = (distance, 0)
    return pad(slice_(y, slices=tuple(spec)), pad_width=tuple(widths), value=1.0)


def _cumprod_scan(node: Node) -> Node:
    """The running product as log2(n) rounds of multiplications (Hillis-Steele)."""
    (x,) = node.inputs
    axis = node.attrs["axis"]
    length = x.shape[axis]
    if not isinstance(length, int):
        raise ShapeError(f"cumprod's derivative and ONNX lowering unroll a scan over the axis, "
                         f"whose length {length} is symbolic: give axis {axis} a static length "
                         f"(node from {node.location})")
    y, distance = x, 1
    while distance < length:  # y[i] holds the product of x[i - 2*distance + 1 .. i]
        y = E.mul(y, _shifted(y, axis, distance))
        distance *= 2
    return y


def flipped(x: Node, axis: int) -> Node:
    """``x`` reversed along ``axis`` (a slice with step -1)."""
    spec = [(None, None, 1)] * x.ndim
    spec[axis] = (None, None, -1)
    return slice_(x, slices=tuple(spec))


def exclusive_cumprod(x: Node, axis: int, reverse: bool = False) -> Node:
    """The product of the elements before each one along ``axis`` (after it when
    ``reverse``): 1 for the first."""
    if reverse:
        return flipped(exclusive_cumprod(flipped(x, axis), axis), axis)
    return _shifted(cumprod(x, axis=axis), axis, 1)


cumprod = defop(
    "cumprod", _along_axis_type,
    lambda x, *, axis: np.cumprod(x, axis=axis, dtype=x.dtype),
    expand=_cumprod_scan, onnx=lambda ctx, n, i: ctx.expand(n),
    doc="Running product along ``axis``; differentiated (exactly, zeros included) and exported "
        "through its expansion as an associative scan of multiplications.",
    batch=batch_along_axis("axis"))
