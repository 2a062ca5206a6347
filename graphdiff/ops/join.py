"""Joining ops: concatenate, its transpose narrow, and constant padding.

    concatenate   np.concatenate(xs, axis)        VJP: one piece of g per operand
    narrow        the piece ``index`` of an axis cut into ``sizes``   VJP: concatenate with zeros
    pad           np.pad(x, widths, "constant")   VJP: the slice that drops the padding

A joined symbolic axis gets a derived dimension named by its sum (``a+b``, ``n+2``); sums are
normalized (symbols sorted, constants added) so the same sum always gets the same name.
``narrow`` holds the piece sizes as a shape attribute, resolved per call, so the VJP of a
concatenation along a symbolic axis works for any sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ShapeError
from ..ir.dims import sum_dims
from ..ir.node import Node
from ..ir.types import Shape, TensorType, format_shape
from .batching import batch_along_axis, materialize
from .core import defop, jnp, require_same_dtype
from .index import same_dim, slice_
from .shape import reshape
from .source import fill

# --- concatenate and narrow ----------------------------------------------------------------------

def _concatenate_type(types: Sequence[TensorType], *, axis: int) -> TensorType:
    if not types:
        raise ShapeError("concatenate needs at least one operand")
    dtype = require_same_dtype(types)
    first = types[0]
    if first.ndim == 0 or not 0 <= axis < first.ndim:
        raise ShapeError(f"axis {axis} is out of range for rank {first.ndim}")
    shape = list(first.shape)
    for t in types[1:]:
        if t.ndim != first.ndim:
            raise ShapeError(f"operands have ranks {first.ndim} and {t.ndim}")
        for a in range(first.ndim):
            if a != axis:
                try:
                    shape[a] = same_dim(shape[a], t.shape[a])
                except ShapeError:
                    raise ShapeError(f"operand shapes {format_shape(first.shape)} and "
                                     f"{format_shape(t.shape)} differ off axis {axis}") from None
    shape[axis] = sum_dims([t.shape[axis] for t in types])
    return TensorType(dtype, tuple(shape))


def _concatenate_kernel(*xs: np.ndarray, axis: int, out: np.ndarray | None = None) -> np.ndarray:
    return np.concatenate(xs, axis=axis, out=out)


def _concatenate_vjp(node: Node, g: Node) -> list[Node]:
    axis = node.attrs["axis"]
    sizes = tuple(x.shape[axis] for x in node.inputs)
    if all(isinstance(s, int) for s in sizes):  # static pieces are plain slices
        starts = np.cumsum((0,) + sizes[:-1])
        pieces = [slice_(g, slices=tuple((int(start), int(start) + size, 1) if a == axis
                                         else (None, None, 1) for a in range(g.ndim)))
                  for start, size in zip(starts, sizes, strict=True)]
    else:
        pieces = [narrow(g, axis=axis, sizes=sizes, index=k) for k in range(len(sizes))]
    # An operand whose symbols were unified with another's gets its own names back
    return [p if p.shape == x.shape else reshape(p, shape=x.shape)
            for p, x in zip(pieces, node.inputs, strict=True)]


def _concatenate_jvp(node: Node, tangents: Sequence[Node | None]) -> Node | None:
    if all(t is None for t in tangents):
        return None
    parts = [fill(0.0, x.type) if t is None else t
             for x, t in zip(node.inputs, tangents, strict=True)]
    return concatenate(*parts, **node.attrs)


concatenate = defop("concatenate", _concatenate_type, _concatenate_kernel, out_arg=True,
                    jax=lambda *xs, axis: jnp().concatenate(xs, axis=axis),
                    onnx=lambda ctx, n, i: ctx.op("Concat", i, axis=n.attrs["axis"]),
                    vjp=_concatenate_vjp, jvp=_concatenate_jvp,
                    batch=lambda node, i, b, size: concatenate(
                        *(materialize(x, f, size) for x, f in zip(i, b)),
                        axis=node.attrs["axis"] + 1),
                    doc="Join operands of one dtype along an existing axis.")


def _known_sizes(sizes: Sequence[int], total: int) -> list[int]:
    """Piece sizes with the one size the runtime could not resolve (-1) inferred from the total."""
    if -1 not in sizes:
        return list(sizes)
    rest = sum(s for s in sizes if s != -1)
    return [total - rest if s == -1 else s for s in sizes]


def _narrow_type(types: Sequence[TensorType], *, axis: int, sizes: Shape,
                 index: int) -> TensorType:
    (x,) = types
    if not 0 <= axis < x.ndim or not 0 <= index < len(sizes):
        raise ShapeError(f"piece {index} of {len(sizes)} along axis {axis} does not exist for "
                         f"rank {x.ndim}")
    total = x.shape[axis]
    if isinstance(total, int) and all(isinstance(s, int) for s in sizes):
        sizes = _known_sizes(sizes, total)  # type: ignore[arg-type]
        if sum(sizes) != total:  # type: ignore[arg-type]
            raise ShapeError(f"pieces of sizes {tuple(sizes)} do not add up to axis {axis} of "
                             f"{format_shape(x.shape)}")
    shape = list(x.shape)
    shape[axis] = sizes[index]
    return x.with_shape(tuple(shape))


def _narrow_kernel(x: np.ndarray, *, axis: int, sizes: tuple[int, ...],
                   index: int) -> np.ndarray:
    known = _known_sizes(sizes, x.shape[axis])
    start = sum(known[:index])
    return x[(slice(None),) * axis + (slice(start, start + known[index]),)]


def _narrow_vjp(node: Node, g: Node) -> list[Node]:
    # The transpose of taking one piece: the cotangent in its place, zeros in the others.
    axis, sizes, index = node.attrs["axis"], node.attrs["sizes"], node.attrs["index"]
    parts = []
    for k, size in enumerate(sizes):
        if k == index:
            parts.append(g)
        elif size != 0:
            shape = tuple(size if a == axis else d for a, d in enumerate(g.shape))
            parts.append(fill(0.0, g.type.with_shape(shape)))
    return [parts[0] if len(parts) == 1 else concatenate(*parts, axis=axis)]


narrow = defop("narrow", _narrow_type, _narrow_kernel, view=True, shape_attrs=("sizes",),
               jax=_narrow_kernel,  # shapes and basic slicing only: the same in jax
               onnx=lambda ctx, n, i: ctx.narrow(i[0], n),
               vjp=_narrow_vjp, jvp=lambda node, t: narrow(t[0], **node.attrs),
               batch=batch_along_axis("axis"),
               doc="Piece ``index`` of an axis cut into pieces of ``sizes`` (possibly "
                   "symbolic): the transpose of concatenate.")


# --- pad ------------------------------------------------------------------------------------------

PadWidth = tuple[tuple[int, int], ...]


def _pad_type(types: Sequence[TensorType], *, pad_width: PadWidth, value: float) -> TensorType:
    (x,) = types
    if len(pad_width) != x.ndim:
        raise ShapeError(f"{len(pad_width)} pad widths for a rank-{x.ndim} tensor")
    if any(w < 0 for pair in pad_width for w in pair):
        raise ShapeError(f"pad widths must be >= 0, got {pad_width}")
    return x.with_shape(tuple(d if lo == hi == 0 else sum_dims([lo, d, hi])
                              for d, (lo, hi) in zip(x.shape, pad_width, strict=True)))


def _pad_kernel(x: np.ndarray, *, pad_width: PadWidth, value: float) -> np.ndarray:
    return np.pad(x, pad_width, mode="constant", constant_values=value)


def _unpad(g: Node, x: Node, pad_width: PadWidth) -> Node:
    """The part of a padded tensor's cotangent that lies over the original ``x``."""
    if x.type.is_static:
        spec = tuple((lo, lo + d, 1) for d, (lo, _) in zip(x.shape, pad_width, strict=True))
        return slice_(g, slices=spec)
    for axis, (lo, hi) in enumerate(pad_width):
        if lo or hi:  # a symbolic length: cut the axis into (lo, d, hi) and keep the middle
            g = narrow(g, axis=axis, sizes=(lo, x.shape[axis], hi), index=1)
    return g


pad = defop("pad", _pad_type, _pad_kernel,
            jax=lambda x, *, pad_width, value: jnp().pad(x, pad_width, constant_values=value),
            onnx=lambda ctx, n, i: ctx.pad(i[0], n.attrs["pad_width"], n.attrs["value"], n.dtype),
            doc="numpy.pad in constant mode: ``pad_width`` holds (before, after) per axis.",
            vjp=lambda node, g: [_unpad(g, node.inputs[0], node.attrs["pad_width"])],
            jvp=lambda node, t: pad(t[0], pad_width=node.attrs["pad_width"], value=0.0),
            batch=lambda node, i, b, size: pad(i[0], pad_width=((0, 0), *node.attrs["pad_width"]),
                                               value=node.attrs["value"]))
