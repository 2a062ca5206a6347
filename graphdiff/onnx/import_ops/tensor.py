"""Import of ONNX ops built from constants, slices and reshapes: Trilu, CumSum, CumProd,
CenterCropPad, GatherND, OneHot, EyeLike, SpaceToDepth, DepthToSpace.

Masks and triangular matrices are constants of the static sizes involved; CumSum and CumProd
are graphdiff's own scans (graphdiff/ops/scan.py), any length.
"""

from __future__ import annotations

import numpy as np

import graphdiff as gd

from ...ir.node import Node
from ...ir.types import normalize_axis
from ...ops import elementwise as E
from ...ops import scan as C
from ..dtypes import numpy_dtype
from ..importer import ImportContext, OnnxNode, onnx_import


def _static(node: OnnxNode, *dims) -> None:
    if not all(isinstance(d, int) for d in dims):
        raise node.fail(f"needs static sizes, got {dims}")


@onnx_import("Trilu", known=(1,))
def _trilu(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    k = ctx.array(node, 1, optional=True)
    k = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
    rows, cols = x.shape[-2:]
    _static(node, rows, cols)
    node.check_size(rows, cols)
    band = np.triu if node.int("upper", 1) else np.tril
    mask = band(np.ones((rows, cols), bool), k)
    return [E.where(gd.constant(mask), x, gd.constant(np.zeros((), x.dtype)))]


@onnx_import("CumSum")
def _cumsum(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    """graphdiff's cumsum has CumSum's attributes (any length, symbolic too)."""
    x = ctx.tensor(node, 0)
    axis = _scan_axis(ctx, node, x)
    return [C.cumsum(x, axis=axis, exclusive=bool(node.int("exclusive", 0)),
                     reverse=bool(node.int("reverse", 0)))]


@onnx_import("CumProd")
def _cumprod(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    """graphdiff's cumprod, run from the end (``reverse``) and shifted by one (``exclusive``)."""
    x = ctx.tensor(node, 0)
    axis = _scan_axis(ctx, node, x)
    reverse = bool(node.int("reverse", 0))
    if node.int("exclusive", 0):
        return [C.exclusive_cumprod(x, axis, reverse=reverse)]
    if reverse:
        return [C.flipped(C.cumprod(C.flipped(x, axis), axis=axis), axis)]
    return [C.cumprod(x, axis=axis)]


def _scan_axis(ctx: ImportContext, node: OnnxNode, x: Node) -> int:
    return normalize_axis(int(np.asarray(ctx.array(node, 1)).reshape(-1)[0]), x.ndim)


@onnx_import("CenterCropPad", known=(1,))
def _center_crop_pad(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    """Crop or zero-pad each listed axis to the target size, centred (the extra element of an
    odd difference goes to the end when padding and to the start when cropping)."""
    x = ctx.tensor(node, 0)
    target = [int(s) for s in np.asarray(ctx.array(node, 1)).reshape(-1)]
    axes = node.ints("axes") or list(range(x.ndim))
    key = [slice(None)] * x.ndim
    widths = [(0, 0)] * x.ndim
    for axis, size in zip((normalize_axis(a, x.ndim) for a in axes), target, strict=True):
        current = x.shape[axis]
        _static(node, current)
        if size < current:
            start = (current - size) // 2
            key[axis] = slice(start, start + size)
        elif size > current:
            before = (size - current) // 2
            widths[axis] = (before, size - current - before)
    cropped = gd.api.indexing.getitem(x, tuple(key))
    return [gd.pad(cropped, widths) if any(w != (0, 0) for w in widths) else cropped]


@onnx_import("GatherND")
def _gather_nd(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    """Index the first k axes (after ``batch_dims``) by the last axis of the indices: a take
    from the flattened leading axes at the flat offsets."""
    x, indices = ctx.tensor(node, 0), ctx.tensor(node, 1)
    batch = node.int("batch_dims", 0)
    depth = indices.shape[-1]
    _static(node, depth, *x.shape)
    lead = x.shape[batch:batch + depth]
    strides = np.cumprod((1,) + tuple(lead[:0:-1]))[::-1].astype(np.int64)
    wrapped = E.where(E.less(gd.astype(indices, "int64"), gd.constant(np.asarray(0, np.int64))),
                      gd.astype(indices, "int64") + gd.constant(np.asarray(lead, np.int64)),
                      gd.astype(indices, "int64"))
    offsets = gd.sum(wrapped * gd.constant(strides), axis=-1)
    rest = x.shape[batch + depth:]
    flat = gd.reshape(x, x.shape[:batch] + (int(np.prod(lead)),) + rest)
    if batch == 0:
        return [gd.take(flat, offsets, axis=0)]
    batch_size = int(np.prod(x.shape[:batch]))
    merged = gd.reshape(flat, (batch_size * int(np.prod(lead)),) + rest)
    base = np.arange(batch_size).reshape(x.shape[:batch] + (1,) * (offsets.ndim - batch))
    picked = gd.take(merged, offsets + gd.constant(base * int(np.prod(lead))), axis=0)
    return [picked]


@onnx_import("OneHot", known=(1,))
def _one_hot(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    indices = ctx.tensor(node, 0)
    depth = int(np.asarray(ctx.array(node, 1)).reshape(-1)[0])
    node.check_size(depth)
    values = ctx.tensor(node, 2)
    axis = normalize_axis(node.int("axis", -1), indices.ndim + 1)
    indices = gd.astype(indices, "int64")  # float indices too, truncated as ONNX says
    indices = E.where(E.less(indices, gd.constant(np.asarray(0, np.int64))),
                      E.add(indices, gd.constant(np.asarray(depth, np.int64))), indices)
    shape = [1] * (indices.ndim + 1)
    shape[axis] = depth
    classes = gd.constant(np.arange(depth, dtype=np.int64).reshape(shape))
    hot = E.equal(gd.expand_dims(indices, axis), classes)
    off, on = gd.take(values, gd.constant(np.asarray(0)), 0), gd.take(values, gd.constant(
        np.asarray(1)), 0)
    return [gd.where(hot, on, off)]


@onnx_import("EyeLike")
def _eye_like(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    if x.ndim != 2:
        raise node.fail("the input must be a matrix")
    _static(node, *x.shape)
    node.check_size(*x.shape)
    dtype = x.dtype if not node.has("dtype") else numpy_dtype(node.int("dtype"), node.label)
    return [gd.constant(np.eye(x.shape[0], x.shape[1], node.int("k", 0), dtype=dtype))]


@onnx_import("SpaceToDepth")
def _space_to_depth(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    b = node.int("blocksize")
    n, c, h, w = x.shape
    _static(node, c, h, w)
    blocks = gd.reshape(x, (n, c, h // b, b, w // b, b))
    crd = node.string("mode", "DCR") == "CRD"  # channels stay outermost in CRD
    moved = gd.transpose(blocks, (0, 1, 3, 5, 2, 4) if crd else (0, 3, 5, 1, 2, 4))
    return [gd.reshape(moved, (n, c * b * b, h // b, w // b))]


@onnx_import("DepthToSpace")
def _depth_to_space(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    b = node.int("blocksize")
    n, c, h, w = x.shape
    _static(node, c, h, w)
    if node.string("mode", "DCR") == "DCR":
        blocks = gd.reshape(x, (n, b, b, c // (b * b), h, w))
        moved = gd.transpose(blocks, (0, 3, 4, 1, 5, 2))
    else:
        blocks = gd.reshape(x, (n, c // (b * b), b, b, h, w))
        moved = gd.transpose(blocks, (0, 1, 4, 2, 5, 3))
    return [gd.reshape(moved, (n, c // (b * b), h * b, w * b))]


def round_half_even(x: Node) -> Node:
    """Round half to even: floor, plus one above the half, plus the floor's parity at it; an
    integral x (the infinities, -0.0) is its own rounding, and a zero keeps x's sign."""
    half, one, two = (gd.constant(np.asarray(v, x.dtype)) for v in (0.5, 1.0, 2.0))
    low = E.floor(x)
    fraction = E.sub(x, low)
    odd = E.sub(low, E.mul(two, E.floor(E.div(low, two))))  # 1 when floor(x) is odd
    at_half = E.add(low, odd)
    rounded = E.where(E.greater(fraction, half), E.add(low, one),
                      E.where(E.less(fraction, half), low, at_half))
    zero = gd.constant(np.asarray(0.0, x.dtype))
    rounded = E.where(E.equal(rounded, zero), E.mul(x, zero), rounded)  # -0.4 -> -0.0
    return E.where(E.equal(low, x), x, rounded)
