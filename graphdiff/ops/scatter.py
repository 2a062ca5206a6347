"""Scatters that combine repeated indices by max, min or product (``np.maximum.at`` and friends).

``scatter_max(u, i, shape)`` is the tensor of ``shape`` filled with the reduction's identity
(-inf or the dtype's lowest value, +inf or its highest, 1) with each update ``u[k]`` combined
into row ``i[k]`` of axis 0; ``u`` has shape ``i.shape + shape[1:]``. They are what
``x.at[idx].max(v)`` / ``.min`` / ``.multiply`` and ONNX ``ScatterND(reduction=max|min|mul)``
are made of (scatter_add, the sum, lives with take in ``index.py``, whose transpose it is).

Derivatives, with ``picked = take(out, i)`` (each update's row of the result):

    max / min   d out[p] = mean of du[k] over the k with i[k] = p and u[k] = out[p]
                (ties share the derivative equally, as JAX and torch do)
    product     d out[p] = sum over i[k] = p of du[k] * (product of the other u[j] with
                i[j] = p), computed without dividing by a zero

Both are linear in ``du`` and built from take, scatter_add and elementwise ops, so the VJP is
the JVP's transpose and second derivatives come from those ops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import OnnxError, ShapeError
from ..ir.node import Node, OpDef
from ..ir.types import Shape, TensorType, format_shape
from . import elementwise as E
from .batching import materialize, merged
from .core import defop, require_integer, scalar
from .index import same_dim, scatter_add, take
from .reduce import dim_product
from .source import IOTA


def _identity(reduction: str, dtype: np.dtype) -> float | int:
    if reduction == "mul":
        return 1
    if dtype.kind == "f":
        return -np.inf if reduction == "max" else np.inf
    if dtype == np.bool_:
        return reduction == "min"
    info = np.iinfo(dtype)
    return info.min if reduction == "max" else info.max


def _scatter_type(types: Sequence[TensorType], *, shape: Shape) -> TensorType:
    updates, indices = types
    require_integer(indices, "indices")
    expected = (*indices.shape, *shape[1:])
    if not shape or len(expected) != updates.ndim:
        raise ShapeError(f"updates {format_shape(updates.shape)} do not fit indices "
                         f"{format_shape(indices.shape)} into {format_shape(shape)}")
    for a, b in zip(expected, updates.shape, strict=True):
        same_dim(a, b)
    return updates.with_shape(tuple(shape))


def _kernel(ufunc: np.ufunc, reduction: str) -> Callable:
    def scatter(updates: np.ndarray, indices: np.ndarray, *, shape: tuple[int, ...],
                out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            out = np.empty(shape, dtype=updates.dtype)
        out.fill(_identity(reduction, updates.dtype))
        ufunc.at(out, indices, updates)
        return out
    return scatter


def _scatter_jax(reduction: str) -> Callable:
    method = {"max": "max", "min": "min", "mul": "multiply"}[reduction]

    def scatter(updates, indices, *, shape: tuple[int, ...]):
        from .core import jnp

        filled = jnp().full(shape, _identity(reduction, updates.dtype), updates.dtype)
        return getattr(filled.at[indices], method)(updates)
    return scatter


def _onnx(reduction: str) -> Callable:
    def lower(ctx, node: Node, inputs: Sequence[str]) -> str:
        needed = 18 if reduction in ("max", "min") else 16
        if ctx.opset < needed:
            raise OnnxError(f"{node.op.name} exports as ScatterND(reduction={reduction!r}), "
                            f"which needs opset {needed}; this export uses {ctx.opset}")
        identity = ctx.fill(_identity(reduction, node.dtype), node.dtype, node.attrs["shape"])
        index = ctx.op("Unsqueeze", [inputs[1], ctx.constant(np.array([-1], np.int64))])
        return ctx.op("ScatterND", [identity, index, inputs[0]], reduction=reduction)
    return lower


def _batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool], size) -> Node:
    """Shared indices: the batch axis moves behind the index axes, into the scattered rows.
    Batched indices: each example's indices are offset by its block of rows (an iota over the
    batch), and all examples scatter at once into ``size`` blocks of rows."""
    from .shape import reshape, transpose

    (updates, indices), shape = inputs, node.attrs["shape"]
    updates = materialize(updates, batched[0], size)
    if not batched[1]:
        rank = indices.ndim
        moved = transpose(updates, perm=(*range(1, rank + 1), 0, *range(rank + 1, updates.ndim)))
        out = node.op(moved, indices, shape=(shape[0], size, *shape[1:]))
        return transpose(out, perm=(1, 0, *range(2, out.ndim)))
    rows = scalar(shape[0], indices.dtype) if isinstance(shape[0], int) else \
        dim_product(dims=(shape[0],), dtype=indices.dtype)
    blocks = IOTA(dtype=indices.dtype, shape=(size,) + (1,) * (indices.ndim - 1))
    wrapped = E.where(E.less(indices, scalar(0, indices.dtype)), E.add(indices, rows), indices)
    offsets = E.add(wrapped, E.mul(blocks, rows))
    count = size
    for d in indices.shape[1:]:
        count = merged(count, d)
    flat = node.op(reshape(updates, shape=(count, *updates.shape[indices.ndim:])),
                   reshape(offsets, shape=(count,)), shape=(merged(size, shape[0]), *shape[1:]))
    return reshape(flat, shape=(size, *shape))


# --- derivatives ----------------------------------------------------------------------------------

def _winners(node: Node) -> tuple[Node, Node]:
    """For max / min: which updates equal their row's result (as 0/1 in the dtype), and how
    many do per row (at least 1, so rows nothing reached divide safely)."""
    updates, indices = node.inputs
    hit = E.cast(E.equal(updates, take(node, indices, axis=0)), dtype=node.dtype)
    count = scatter_add(hit, indices, axis=0, shape=node.attrs["shape"])
    return hit, E.maximum(count, scalar(1, node.dtype))


def _extremal_jvp(node: Node, tangents: Sequence[Node | None]) -> Node | None:
    if tangents[0] is None:
        return None
    hit, count = _winners(node)
    total = scatter_add(E.mul(tangents[0], hit), node.inputs[1], axis=0,
                        shape=node.attrs["shape"])
    return E.div(total, count)


def _extremal_vjp(node: Node, g: Node) -> list[Node | None]:
    hit, count = _winners(node)
    return [E.mul(take(E.div(g, count), node.inputs[1], axis=0), hit), None]


def _others_product(node: Node) -> Node:
    """Per update, the product of the other updates into its row: the row's product of the
    nonzero updates, divided by this one when it is nonzero, and 0 when another one is 0."""
    updates, indices = node.inputs
    zero = scalar(0, node.dtype)
    is_zero = E.equal(updates, zero)
    nonzero = E.where(is_zero, scalar(1, node.dtype), updates)
    zeros = scatter_add(E.cast(is_zero, dtype=node.dtype), indices, axis=0,
                        shape=node.attrs["shape"])
    other_zeros = E.sub(take(zeros, indices, axis=0), E.cast(is_zero, dtype=node.dtype))
    row_product = take(scatter_mul(nonzero, indices, shape=node.attrs["shape"]), indices,
                       axis=0)
    return E.where(E.greater(other_zeros, zero), zero, E.div(row_product, nonzero))


def _product_jvp(node: Node, tangents: Sequence[Node | None]) -> Node | None:
    if tangents[0] is None:
        return None
    return scatter_add(E.mul(tangents[0], _others_product(node)), node.inputs[1], axis=0,
                       shape=node.attrs["shape"])


def _product_vjp(node: Node, g: Node) -> list[Node | None]:
    return [E.mul(take(g, node.inputs[1], axis=0), _others_product(node)), None]


def _declare(reduction: str, ufunc: np.ufunc, vjp: Callable, jvp: Callable,
             doc: str) -> OpDef:
    return defop(f"scatter_{reduction}", _scatter_type, _kernel(ufunc, reduction),
                 shape_attrs=("shape",), out_arg=True, onnx=_onnx(reduction), vjp=vjp, jvp=jvp,
                 jax=_scatter_jax(reduction),
                 batch=_batch, doc=doc)


scatter_max = _declare("max", np.maximum, _extremal_vjp, _extremal_jvp,
                       "The lowest value of the dtype (-inf) everywhere, with the updates "
                       "combined by maximum into rows ``indices`` of axis 0.")
scatter_min = _declare("min", np.minimum, _extremal_vjp, _extremal_jvp,
                       "The highest value of the dtype (+inf) everywhere, with the updates "
                       "combined by minimum into rows ``indices`` of axis 0.")
scatter_mul = _declare("mul", np.multiply, _product_vjp, _product_jvp,
                       "Ones everywhere, with the updates multiplied into rows ``indices`` of "
                       "axis 0.")
