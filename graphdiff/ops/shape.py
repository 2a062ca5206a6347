"""Shape ops that move no arithmetic: reshape, transpose, broadcast_to, and ``sum_to``.

``broadcast_to`` is the one place broadcasting is undone: its VJP sums the cotangent over the
broadcast axes (``sum_to``). Elementwise ops broadcast implicitly for speed, and the reverse-mode
driver calls the same ``sum_to`` for them, so no derivative rule deals with broadcasting itself.

Shape attributes may hold symbolic dims; the runtime resolves them per call signature. The
runtime runs reshape and transpose as C-level method calls (``fast_kernel``): on small arrays
numpy's ``np.reshape``/``np.transpose`` wrappers cost more than the views themselves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from operator import methodcaller

import numpy as np

from ..errors import ShapeError
from ..ir.node import Node
from ..ir.types import Shape, TensorType, broadcast_axes, format_shape
from .batching import lift
from .core import defop, jnp

# --- reshape -------------------------------------------------------------------------------------


def _static_size(shape: Shape) -> int | None:
    if all(isinstance(d, int) for d in shape):
        return int(np.prod(shape, dtype=np.int64))
    return None


def _reshape_type(types: Sequence[TensorType], *, shape: Shape) -> TensorType:
    (x,) = types
    if -1 in shape:
        # Only reached with concrete shapes at run time (the API resolves -1 when building).
        known = _static_size(tuple(d for d in shape if d != -1))
        total = _static_size(x.shape)
        if known is None or total is None or shape.count(-1) != 1 or known == 0 \
                or total % known:
            raise ShapeError(f"cannot reshape {format_shape(x.shape)} to {format_shape(shape)}")
        shape = tuple(total // known if d == -1 else d for d in shape)
    before, after = _static_size(x.shape), _static_size(shape)
    if before is not None and after is not None and before != after:
        raise ShapeError(f"cannot reshape {format_shape(x.shape)} ({before} elements) to "
                         f"{format_shape(shape)} ({after} elements)")
    return x.with_shape(tuple(shape))


def _reshape_kernel(x: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
    return np.reshape(x, shape)


reshape = defop("reshape", _reshape_type, _reshape_kernel, view=True, shape_attrs=("shape",),
                jax=lambda x, *, shape: x.reshape(shape),
                fast_kernel=lambda attrs, types: methodcaller("reshape", attrs["shape"]),
                onnx=lambda ctx, n, i: ctx.op("Reshape", [i[0], ctx.shape(n.shape)], allowzero=1),
                doc="Same elements, new shape (a view when numpy can make one).",
                vjp=lambda node, g: [reshape(g, shape=node.inputs[0].shape)],
                jvp=lambda node, t: reshape(t[0], shape=node.shape),
                batch=lambda node, i, b, size: reshape(i[0], shape=(size, *node.shape)))


# --- transpose -----------------------------------------------------------------------------------

def _transpose_type(types: Sequence[TensorType], *, perm: tuple[int, ...]) -> TensorType:
    (x,) = types
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"perm {perm} is not a permutation of the {x.ndim} axes")
    return x.with_shape(tuple(x.shape[p] for p in perm))


def _transpose_kernel(x: np.ndarray, *, perm: tuple[int, ...]) -> np.ndarray:
    return np.transpose(x, perm)


def inverse_perm(perm: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argsort(perm))


transpose = defop("transpose", _transpose_type, _transpose_kernel, view=True,
                  jax=lambda x, *, perm: x.transpose(perm),
                  fast_kernel=lambda attrs, types: methodcaller("transpose", attrs["perm"]),
                  onnx=lambda ctx, n, i: ctx.op("Transpose", i, perm=list(n.attrs["perm"])),
                  doc="Permute axes (a view).",
                  vjp=lambda node, g: [transpose(g, perm=inverse_perm(node.attrs["perm"]))],
                  jvp=lambda node, t: transpose(t[0], perm=node.attrs["perm"]),
                  batch=lambda node, i, b, size: transpose(
                      i[0], perm=(0, *(p + 1 for p in node.attrs["perm"]))))


def swap_last_axes(x: Node) -> Node:
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return transpose(x, perm=perm)


# --- broadcast_to and its inverse, sum_to --------------------------------------------------------

def _broadcast_to_type(types: Sequence[TensorType], *, shape: Shape) -> TensorType:
    (x,) = types
    lead = len(shape) - x.ndim
    ok = lead >= 0 and all(d == 1 or d == shape[lead + i] or not isinstance(d, int)
                           or not isinstance(shape[lead + i], int) for i, d in enumerate(x.shape))
    if not ok:
        raise ShapeError(f"cannot broadcast {format_shape(x.shape)} to {format_shape(shape)}")
    return x.with_shape(tuple(shape))


def _broadcast_to_kernel(x: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(x, shape)


def _unchanged(x: np.ndarray) -> np.ndarray:
    return x


def _bind_broadcast_to(attrs: dict, types: Sequence[TensorType]) -> Callable:
    """No call at all when the shapes agree for these inputs (two symbols, ``?0`` and ``?1``,
    bound to one size: the graph broadcasts one to the other, numpy has nothing to do)."""
    shape = tuple(attrs["shape"])
    if tuple(types[0].shape) == shape:
        return _unchanged
    return functools.partial(np.broadcast_to, shape=shape)


def _broadcast_to_vjp(node: Node, g: Node) -> list[Node]:
    return [sum_to(g, node.inputs[0].shape)]


broadcast_to = defop("broadcast_to", _broadcast_to_type, _broadcast_to_kernel, view=True,
                     shape_attrs=("shape",), vjp=_broadcast_to_vjp, fast_kernel=_bind_broadcast_to,
                     jax=lambda x, *, shape: jnp().broadcast_to(x, shape),
                     onnx=lambda ctx, n, i: ctx.op("Expand", [i[0], ctx.shape(n.shape)]),
                     jvp=lambda node, t: broadcast_to(t[0], shape=node.shape),
                     batch=lambda node, i, b, size: broadcast_to(
                         lift(i[0], node.ndim), shape=(size, *node.shape)),
                     doc="Broadcast to a shape, numpy rules (a read-only view).")


def sum_to(x: Node, shape: Shape) -> Node:
    """Sum ``x`` down to ``shape``, undoing a numpy broadcast from ``shape`` to ``x.shape``."""
    if tuple(x.shape) == tuple(shape):
        return x
    from .reduce import sum_

    axes = broadcast_axes(tuple(shape), tuple(x.shape))
    summed = sum_(x, axes=axes, keepdims=True) if axes else x
    if tuple(summed.shape) == tuple(shape):
        return summed
    return reshape(summed, shape=tuple(shape))
