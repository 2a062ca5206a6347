"""Cumulative ops along one axis: cumsum and cumprod.

``cumsum`` is linear: its transpose is the cumulative sum run the other way, so its VJP is one
more ``cumsum`` (``reverse`` flipped, ``exclusive`` kept) and its derivatives of every order come
for free. ``exclusive`` and ``reverse`` are ONNX CumSum's attributes (numpy's cumsum is
``exclusive=False, reverse=False``).

``cumprod`` runs numpy's kernel; its JVP and its ONNX lowering go through its expansion, an
associative scan of multiplications (Hillis and Steele: ``ceil(log2 n)`` rounds of
``y = y * shift(y, 2**k)``, the shifted-in elements ones). The expansion holds only products, so
its derivatives are exact at zeros in the input, one or several, and to every order (the
familiar ``reverse_cumsum(g * y) / x`` divides by zero there; a log/exp lowering is wrong for
zeros and negatives). Its VJP is ``cumprod_vjp``, whose kernel takes that familiar formula where
it is exact and the scan's transpose elsewhere, and whose own derivatives go through the
transpose. Unrolling the scan needs the axis's length when the graph is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..ir.node import Node
from ..ir.types import TensorType
from . import elementwise as E
from .batching import batch_along_axis, materialize
from .core import defop, jnp
from .index import slice_
from .join import pad


def _along_axis_type(types: Sequence[TensorType], *, axis: int, **flags: bool) -> TensorType:
    (x,) = types
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"axis {axis} is out of range for rank {x.ndim}")
    if x.dtype == np.bool_:
        raise ShapeError("a cumulative op of bool values needs a numeric dtype (the API casts)")
    return x


def _cumsum_with(xp: Any, x: Any, axis: int, reverse: bool, exclusive: bool) -> Any:
    """The running sum computed with ``xp``: numpy for the kernel, jax.numpy for the JAX
    lowering (the same calls)."""
    if reverse:
        x = xp.flip(x, axis)
    y = xp.cumsum(x, axis=axis, dtype=x.dtype)
    if exclusive:  # shift by one: a zero first, the last running total dropped
        y = xp.concatenate([xp.zeros_like(y[_at(axis, slice(0, 1), y.ndim)]),
                            y[_at(axis, slice(0, -1), y.ndim)]], axis=axis)
    return xp.flip(y, axis) if reverse else y


def _cumsum_kernel(x: np.ndarray, *, axis: int, reverse: bool, exclusive: bool) -> np.ndarray:
    return _cumsum_with(np, x, axis, reverse, exclusive)


def _at(axis: int, part: slice, ndim: int) -> tuple[slice, ...]:
    return (slice(None),) * axis + (part,) + (slice(None),) * (ndim - axis - 1)


def _cumsum_onnx(ctx, node: Node, inputs: Sequence[str]) -> str:
    axis = ctx.constant(np.asarray(node.attrs["axis"], np.int64))
    return ctx.op("CumSum", [inputs[0], axis], exclusive=int(node.attrs["exclusive"]),
                  reverse=int(node.attrs["reverse"]))


cumsum = defop(
    "cumsum", _along_axis_type, _cumsum_kernel, onnx=_cumsum_onnx,
    jax=lambda x, *, axis, reverse, exclusive: _cumsum_with(jnp(), x, axis, reverse, exclusive),
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


def _unshifted(g: Node, axis: int, distance: int) -> Node:
    """The transpose of ``_shifted`` in its operand: ``g`` moved ``distance`` places back
    along ``axis``, zeros shifted in at the end."""
    spec = [(None, None, 1)] * g.ndim
    spec[axis] = (distance, None, 1)
    widths = [(0, 0)] * g.ndim
    widths[axis] = (0, distance)
    return pad(slice_(g, slices=tuple(spec)), pad_width=tuple(widths), value=0.0)


def _distances(node: Node) -> list[int]:
    """The shifts of the scan's rounds: 1, 2, 4, ... below the axis's length."""
    x, axis = node.inputs[0], node.attrs["axis"]
    length = x.shape[axis]
    if not isinstance(length, int):
        raise ShapeError(f"cumprod's derivatives and ONNX lowering unroll a scan over the axis, "
                         f"whose length {length} is symbolic: give axis {axis} a static length "
                         f"(node from {node.location})")
    return [1 << k for k in range(max(length - 1, 0).bit_length())]


def _scan_rounds(x: Node, axis: int, distances: list[int]) -> list[Node]:
    """The values of the scan's rounds, x first: round k multiplies in the value ``2**k``
    places before (y[i] then holds the product of x[i - 2**(k+1) + 1 .. i])."""
    rounds = [x]
    for distance in distances:
        rounds.append(E.mul(rounds[-1], _shifted(rounds[-1], axis, distance)))
    return rounds


def _cumprod_scan(node: Node) -> Node:
    """The running product as log2(n) rounds of multiplications (Hillis-Steele)."""
    return _scan_rounds(node.inputs[0], node.attrs["axis"], _distances(node))[-1]


def _cumprod_vjp_scan(node: Node) -> Node:
    """cumprod's VJP as the transpose of its scan, round by round from the last: a round
    ``z = y * shift(y)`` sends back ``g * shift(y) + unshift(g * y)``."""
    x, g = node.inputs
    axis, distances = node.attrs["axis"], _distances(node)
    rounds = _scan_rounds(x, axis, distances)
    for y, distance in zip(reversed(rounds[:-1]), reversed(distances), strict=True):
        g = E.add(E.mul(g, _shifted(y, axis, distance)), _unshifted(E.mul(g, y), axis, distance))
    return g


def _reverse_cumsum(a: np.ndarray, axis: int) -> np.ndarray:
    return np.flip(np.cumsum(np.flip(a, axis), axis=axis), axis)


def _cumprod_vjp_kernel(x: np.ndarray, g: np.ndarray, *, axis: int) -> np.ndarray:
    """``reverse_cumsum(g * y) / x`` where that is exact (every x and every running product
    finite and non-zero), else the scan's transpose run in numpy."""
    y = np.cumprod(x, axis=axis)
    with np.errstate(all="ignore"):
        if np.all(np.isfinite(y)) and np.all(y != 0) and np.all(np.isfinite(x)):
            return _reverse_cumsum(g * y, axis) / x
    rounds, distance = [x], 1
    while distance < x.shape[axis]:
        rounds.append(rounds[-1] * _shifted_array(rounds[-1], axis, distance, 1))
        distance *= 2
    with np.errstate(all="ignore"):
        for y in reversed(rounds[:-1]):
            distance //= 2
            g = g * _shifted_array(y, axis, distance, 1) + \
                _shifted_array(g * y, axis, -distance, 0)
    return g


def _shifted_array(a: np.ndarray, axis: int, distance: int, fill: float) -> np.ndarray:
    """``a`` moved ``distance`` places along ``axis`` (back when negative), ``fill`` shifted
    in."""
    out = np.full_like(a, fill)
    size = a.shape[axis]
    step = min(abs(distance), size)
    if distance > 0:
        out[_at(axis, slice(step, None), a.ndim)] = a[_at(axis, slice(0, size - step), a.ndim)]
    else:
        out[_at(axis, slice(0, size - step), a.ndim)] = a[_at(axis, slice(step, None), a.ndim)]
    return out


def _cumprod_vjp_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool],
                       size) -> Node:
    x, g = (materialize(v, b, size) for v, b in zip(inputs, batched, strict=True))
    return cumprod_vjp(x, g, axis=node.attrs["axis"] + 1)


def _cumprod_vjp_type(types: Sequence[TensorType], *, axis: int) -> TensorType:
    x, g = types
    if g != x:
        raise ShapeError(f"cumprod_vjp: the cotangent {g} must have the operand's type {x}")
    return _along_axis_type([x], axis=axis)


def _cumprod_vjp_jax(x, g, *, axis: int):
    """JAX's own VJP of its cumprod: the transpose of an associative scan of products, exact
    with zeros as the scan's transpose here is."""
    import jax

    return jax.vjp(lambda t: jax.lax.cumprod(t, axis=axis), x)[1](g)[0]


cumprod_vjp = defop(
    "cumprod_vjp", _cumprod_vjp_type,
    _cumprod_vjp_kernel, expand=_cumprod_vjp_scan, onnx=lambda ctx, n, i: ctx.expand(n),
    jax=_cumprod_vjp_jax,
    batch=_cumprod_vjp_batch,
    doc="cumprod's VJP (operand, cotangent): numpy's division formula where it is exact, the "
        "scan's transpose where it is not (zeros, infinities); differentiated and exported "
        "through that transpose, so higher derivatives stay exact.")


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
    jax=lambda x, *, axis: jnp().cumprod(x, axis=axis, dtype=x.dtype),
    vjp=lambda node, g: [cumprod_vjp(node.inputs[0], g, **node.attrs)],
    doc="Running product along ``axis``; its JVP and ONNX lowering go through its expansion as "
        "an associative scan of multiplications, its VJP is ``cumprod_vjp``: exact with zeros, "
        "to every order.",
    batch=batch_along_axis("axis"))
