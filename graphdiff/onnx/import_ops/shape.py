"""Import of ONNX shape and indexing ops: Shape, Reshape, Squeeze, Slice, Gather, Concat, ...

Shape, axes and index inputs must be known when the model is imported: constants, or computed
from constants (folded), or vectors of symbolic dims (``DimsValue``) for the shape inputs of
Reshape, Expand and ConstantOfShape.
"""

from __future__ import annotations

import numpy as np

import graphdiff as gd

from ...ir.dims import difference_dims, floor_quotient, product_dims, sum_dims
from ...ir.node import Node
from ...ir.types import Dim, broadcast_shapes, normalize_axis
from ...ops.source import CONSTANT
from ..importer import DimsValue, ImportContext, OnnxNode, onnx_import

_INT64_MAX = np.iinfo(np.int64).max


@onnx_import("Constant")
def _constant(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    value = node.tensor("value", ctx.folder)
    if value is not None:
        return [gd.constant(value)]
    for name, dtype in (("value_float", np.float32), ("value_int", np.int64)):
        if node.has(name):
            getter = node.float if dtype == np.float32 else node.int
            return [gd.constant(np.asarray(getter(name), dtype))]
    for name, dtype in (("value_floats", np.float32), ("value_ints", np.int64)):
        if node.has(name):
            getter = node.floats if dtype == np.float32 else node.ints
            return [gd.constant(np.asarray(getter(name), dtype))]
    raise node.fail("only tensor, float(s) and int(s) constants are supported")


@onnx_import("Shape")
def _shape(ctx: ImportContext, node: OnnxNode) -> list[Node | DimsValue]:
    x = ctx.tensor(node, 0)
    start, end = node.int("start", 0), node.int("end", None)
    dims = tuple(x.shape[slice(start, end)])
    if all(isinstance(d, int) for d in dims):
        return [gd.constant(np.array(dims, np.int64).reshape(len(dims)))]
    return [DimsValue(dims)]


@onnx_import("Size")
def _size(ctx: ImportContext, node: OnnxNode) -> list[Node | DimsValue]:
    x = ctx.tensor(node, 0)
    if x.type.is_static:
        return [gd.constant(np.asarray(x.type.static_size(), np.int64))]
    return [DimsValue((product_dims(x.shape),), scalar=True)]


@onnx_import("Reshape", known=(1,))
def _reshape(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    if node.opset < 5:
        raise node.fail("Reshape before opset 5 is not supported")
    value, target = node.inputs[0], list(ctx.dims(node, 1))
    if isinstance(value, DimsValue):  # a dim vector stays one (and a scalar of one dim)
        if target in ([-1], [len(value.dims)]):
            return [DimsValue(value.dims)]
        if not target and len(value.dims) == 1:
            return [DimsValue(value.dims, scalar=True)]
    x = ctx.tensor(node, 0)
    if not node.int("allowzero", 0):  # 0 copies the input's dim
        target = [x.shape[i] if d == 0 and i < x.ndim else d for i, d in enumerate(target)]
    return [gd.reshape(x, target)]


@onnx_import("Flatten")
def _flatten(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    axis = node.int("axis", 1)
    if not -x.ndim <= axis <= x.ndim:
        raise node.fail(f"axis {axis} is out of range for rank {x.ndim}")
    axis = axis + x.ndim if axis < 0 else axis
    return [gd.reshape(x, (product_dims(x.shape[:axis]), -1))]


def _dims_operand(ctx: ImportContext, node: OnnxNode, index: int) -> tuple[Dim, ...] | None:
    value = node.inputs[index] if index < len(node.inputs) else None
    if isinstance(value, DimsValue):
        return value.dims
    if isinstance(value, Node) and value.op is CONSTANT and value.dtype.kind in "iu" \
            and value.ndim <= 1:
        return tuple(int(v) for v in np.asarray(value.data).reshape(-1))
    return None


def _combine(op_type: str, a: Dim, b: Dim) -> Dim:
    """ONNX integer arithmetic on two dims (Div is floor division, as on int64 tensors)."""
    if op_type == "Add":
        return sum_dims([a, b])
    if op_type == "Sub":
        return difference_dims(a, b)
    if op_type == "Mul":
        return product_dims([a, b])
    if b == 0:
        return 0  # as before: ONNX leaves integer division by zero undefined
    return floor_quotient(a, b)


def dims_arithmetic(ctx: ImportContext, node: OnnxNode) -> DimsValue | None:
    """Add/Sub/Mul/Div of dim vectors (symbolic shape arithmetic), or None when the operands
    are not shapes."""
    if not any(isinstance(v, DimsValue) for v in node.inputs):
        return None
    a, b = _dims_operand(ctx, node, 0), _dims_operand(ctx, node, 1)
    if a is None or b is None or (len(a) != len(b) and 1 not in (len(a), len(b))):
        return None
    if len(a) == 1:
        a = a * len(b)
    if len(b) == 1:
        b = b * len(a)
    scalar = all(isinstance(v, DimsValue) and v.scalar or isinstance(v, Node) and v.ndim == 0
                 for v in node.inputs)
    combined = (_combine(node.proto.op_type, x, y) for x, y in zip(a, b, strict=True))
    return DimsValue(tuple(combined), scalar)


def dims_equal(ctx: ImportContext, node: OnnxNode) -> Node | None:
    """Equal on dim vectors, as a known bool vector when every entry is decidable: a symbolic
    dim is never negative (``Where(Equal(shape, -1), ...)`` from ``expand(n, -1)``) and equals
    itself. None when the operands are not shapes or an entry depends on the run."""
    if not any(isinstance(v, DimsValue) for v in node.inputs):
        return None
    a, b = _dims_operand(ctx, node, 0), _dims_operand(ctx, node, 1)
    if a is None or b is None or (len(a) != len(b) and 1 not in (len(a), len(b))):
        return None
    a, b = (a * len(b), b) if len(a) == 1 else (a, b * len(a) if len(b) == 1 else b)
    equal = []
    for x, y in zip(a, b, strict=True):
        if x == y:
            equal.append(True)
        elif isinstance(x, int) and isinstance(y, int) or min(
                (d for d in (x, y) if isinstance(d, int)), default=0) < 0:
            equal.append(False)
        else:
            return None
    scalar = all(isinstance(v, DimsValue) and v.scalar or isinstance(v, Node) and v.ndim == 0
                 for v in node.inputs)
    return gd.constant(np.array(equal, bool).reshape(() if scalar else -1))


def dims_where(ctx: ImportContext, node: OnnxNode) -> DimsValue | None:
    """Where with a known condition choosing between dim vectors, entry by entry."""
    if not any(isinstance(v, DimsValue) for v in node.inputs[1:]):
        return None
    condition = node.inputs[0]
    if not isinstance(condition, Node) or condition.op is not CONSTANT or condition.ndim > 1:
        return None
    a, b = _dims_operand(ctx, node, 1), _dims_operand(ctx, node, 2)
    choose = [bool(c) for c in np.asarray(condition.data).reshape(-1)]
    if a is None or b is None:
        return None
    length = max(len(choose), len(a), len(b))
    if any(len(v) not in (1, length) for v in (choose, a, b)):
        return None
    pick = [(a if len(a) > 1 else a * length)[i] if (choose if len(choose) > 1 else
            choose * length)[i] else (b if len(b) > 1 else b * length)[i] for i in range(length)]
    return DimsValue(tuple(pick), scalar=all(isinstance(v, DimsValue) and v.scalar or
                                             isinstance(v, Node) and v.ndim == 0
                                             for v in node.inputs))


@onnx_import("Transpose")
def _transpose(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    return [gd.transpose(x, node.ints("perm"))]


def _axes_input(ctx: ImportContext, node: OnnxNode, since: int) -> list[int] | None:
    if node.opset >= since:
        array = ctx.array(node, 1, optional=True)
        return None if array is None else [int(a) for a in np.asarray(array).reshape(-1)]
    return node.ints("axes")


@onnx_import("Squeeze", known=(1,))
def _squeeze(ctx: ImportContext, node: OnnxNode) -> list[Node | DimsValue]:
    value = node.inputs[0]
    axes = _axes_input(ctx, node, 13)
    if isinstance(value, DimsValue) and len(value.dims) == 1 and not value.scalar:
        return [DimsValue(value.dims, scalar=True)]
    x = ctx.tensor(node, 0)
    return [gd.squeeze(x, None if axes is None else tuple(axes))]


@onnx_import("Unsqueeze", known=(1,))
def _unsqueeze(ctx: ImportContext, node: OnnxNode) -> list[Node | DimsValue]:
    value = node.inputs[0]
    axes = _axes_input(ctx, node, 13)
    if axes is None:
        raise node.fail("axes are required")
    if isinstance(value, DimsValue) and value.scalar and len(axes) == 1:
        return [DimsValue(value.dims)]
    x = ctx.tensor(node, 0)
    rank = x.ndim + len(axes)
    axes = sorted(normalize_axis(a, rank) for a in axes)
    if len(set(axes)) != len(axes):
        raise node.fail(f"repeated axis in {axes}")
    return [gd.expand_dims(x, tuple(axes))]


@onnx_import("Expand", known=(1,))
def _expand(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    shape = broadcast_shapes(x.shape, ctx.dims(node, 1))  # ONNX Expand broadcasts both ways
    return [gd.broadcast_to(x, shape)]


@onnx_import("ConstantOfShape", known=(0,))
def _constant_of_shape(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    value = node.tensor("value", ctx.folder)
    value = np.zeros(1, np.float32) if value is None else value.reshape(-1)
    if value.size != 1:
        raise node.fail("value must hold one element")
    return [gd.full(ctx.dims(node, 0), value[0], dtype=value.dtype)]


@onnx_import("Concat")
def _concat(ctx: ImportContext, node: OnnxNode) -> list[Node | DimsValue]:
    axis = node.int("axis")
    if axis is None:
        raise node.fail("attribute 'axis' is required")
    values = [v for v in node.inputs if v is not None]
    if any(isinstance(v, DimsValue) for v in values):
        dims: list[Dim] = []
        for index in range(len(node.inputs)):
            dims.extend(ctx.dims(node, index))
        return [DimsValue(tuple(dims))]
    tensors = [ctx.tensor(node, i) for i in range(len(node.inputs))]
    return [gd.concatenate(tensors, axis=axis)]


@onnx_import("Split", known=(1,))
def _split(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    axis = normalize_axis(node.int("axis", 0), x.ndim)
    if node.opset >= 13:
        sizes = ctx.array(node, 1, optional=True)
    else:
        sizes = node.ints("split")
    outputs = len(node.proto.output)
    dim = x.shape[axis]
    if sizes is None or len(sizes) == 0:
        if not isinstance(dim, int):
            raise node.fail("splitting a symbolic axis needs explicit sizes")
        pieces = node.int("num_outputs", outputs)
        if pieces != outputs or not 0 < pieces <= max(dim, 1):
            raise node.fail(f"{pieces} pieces for {outputs} outputs of an axis of {dim}")
        chunk = -(-dim // pieces)  # the last piece is smaller when the axis does not divide
        sizes = [min(chunk, dim - chunk * i) for i in range(pieces)]
    cuts = np.cumsum([int(s) for s in sizes])[:-1].tolist()
    return gd.split(x, cuts, axis=axis)


@onnx_import("Slice", known=(1, 2, 3, 4))
def _slice(ctx: ImportContext, node: OnnxNode) -> list[Node | DimsValue]:
    if node.opset < 10:
        starts, ends, axes = node.ints("starts"), node.ints("ends"), node.ints("axes")
        steps = None
    else:
        starts, ends = ctx.array(node, 1), ctx.array(node, 2)
        axes, steps = ctx.array(node, 3, optional=True), ctx.array(node, 4, optional=True)
    value = node.inputs[0]
    rank = len(value.dims) if isinstance(value, DimsValue) else ctx.tensor(node, 0).ndim
    starts = [int(s) for s in np.asarray(starts).reshape(-1)]
    ends = [int(e) for e in np.asarray(ends).reshape(-1)]
    axes = list(range(len(starts))) if axes is None else \
        [normalize_axis(int(a), rank) for a in np.asarray(axes).reshape(-1)]
    steps = [1] * len(starts) if steps is None else [int(s) for s in np.asarray(steps).reshape(-1)]
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise node.fail("starts, ends, axes and steps must have one length")
    if any(step == 0 for step in steps):
        raise node.fail("a step of 0 is not allowed")
    key = [slice(None)] * rank
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        key[axis] = slice(_clip_index(start, step, True), _clip_index(end, step, False), step)
    if isinstance(value, DimsValue):
        return [DimsValue(value.dims[key[0]])]
    return [gd.api.indexing.getitem(ctx.tensor(node, 0), tuple(key))]


def _clip_index(index: int, step: int, is_start: bool) -> int | None:
    """ONNX uses INT64_MAX/MIN for "to the end" in either direction; Python slicing wants None
    for the end the step starts from or runs to, and an out-of-range index for an empty
    slice."""
    if -(_INT64_MAX // 2) < index < _INT64_MAX // 2:
        return index
    # the far end in the step's direction (a stop) or the near one (a start): the whole axis
    whole = (index > 0) == (step > 0) if not is_start else (index > 0) != (step > 0)
    if whole:
        return None
    return 2**62 if index > 0 else -(2**62)


@onnx_import("Gather")
def _gather(ctx: ImportContext, node: OnnxNode) -> list[Node | DimsValue]:
    value = node.inputs[0]
    axis = node.int("axis", 0)
    if isinstance(value, DimsValue) and axis == 0:
        indices = ctx.array(node, 1)
        picked = [value.dims[int(i)] for i in np.asarray(indices).reshape(-1)]
        return [DimsValue(tuple(picked), scalar=np.ndim(indices) == 0)]
    x = ctx.tensor(node, 0)
    # numpy's take counts negative indices back from the end, as ONNX does
    return [gd.take(x, ctx.tensor(node, 1), axis=normalize_axis(axis, x.ndim))]


@onnx_import("GatherElements")
def _gather_elements(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    axis = normalize_axis(node.int("axis", 0), x.ndim)
    return [gd.take_along_axis(x, ctx.tensor(node, 1), axis=axis)]


@onnx_import("Range", known=(0, 1, 2))
def _range(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    bounds = [_range_bound(ctx, node, i) for i in range(3)]
    if any(isinstance(b, str) for b in bounds):
        return [_symbolic_range(node, *bounds)]
    start, limit, delta = bounds
    if float(delta) == 0:
        raise node.fail("delta must not be 0")
    node.check_size(max(np.ceil((float(limit) - float(start)) / float(delta)), 0))
    return [gd.constant(np.arange(start, limit, delta, dtype=np.asarray(start).dtype))]


def _range_bound(ctx: ImportContext, node: OnnxNode, index: int) -> Dim | np.ndarray:
    """A bound of Range: a symbolic dim (from a Shape), else a known scalar; one-element
    vectors count as scalars, as onnxruntime accepts them (the AffineGrid function's)."""
    value = node.inputs[index]
    if isinstance(value, DimsValue) and len(value.dims) == 1 and \
            not isinstance(value.dims[0], int):
        return value.dims[0]
    array = ctx.array(node, index)
    if np.size(array) != 1:
        raise node.fail("start, limit and delta must hold one element each")
    return np.asarray(array).reshape(())


def _symbolic_range(node: OnnxNode, start: Dim | np.ndarray, limit: Dim | np.ndarray,
                    delta: Dim | np.ndarray) -> Node:
    """``start + delta * [0, 1, ...]`` over a symbolic length, for integer bounds of which some
    are symbolic dims; the length is a dim expression, assumed non-negative."""
    from ...ops.reduce import dim_product
    from ...ops.scan import cumsum

    if isinstance(delta, str) or np.asarray(delta).dtype.kind not in "iu" or int(delta) == 0:
        raise node.fail(f"a Range over symbolic bounds needs a known non-zero integer delta, "
                        f"got {delta}")
    for bound in (start, limit):
        if not isinstance(bound, str) and np.asarray(bound).dtype.kind not in "iu":
            raise node.fail("a Range over symbolic bounds needs integer bounds")
    start_dim, limit_dim = (b if isinstance(b, str) else int(b) for b in (start, limit))
    step = int(delta)
    span = difference_dims(limit_dim, start_dim) if step > 0 else \
        difference_dims(start_dim, limit_dim)
    length = floor_quotient(sum_dims([span, abs(step) - 1]), abs(step))
    int64 = np.dtype(np.int64)
    positions = cumsum(gd.full((length,), 1, dtype=int64), axis=0, exclusive=True,
                       reverse=False)
    first = dim_product(dims=(start_dim,), dtype=int64) if isinstance(start_dim, str) else \
        gd.constant(np.asarray(start_dim, int64))
    return positions * gd.constant(np.asarray(step, int64)) + first


@onnx_import("Tile", known=(1,))
def _tile(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    repeats = [int(r) for r in ctx.array(node, 1).reshape(-1)]
    if len(repeats) != x.ndim:
        raise node.fail(f"repeats {repeats} must have one entry per axis of {x.shape}")
    # tile = broadcast each axis to (repeat, dim), then merge the two
    expanded = gd.reshape(x, [d for dim in x.shape for d in (1, dim)])
    target = [d for r, dim in zip(repeats, x.shape, strict=True) for d in (r, dim)]
    tiled = gd.broadcast_to(expanded, target)
    return [gd.reshape(tiled, [_times(r, dim) for r, dim in zip(repeats, x.shape, strict=True)])]


def _times(factor: int, dim: Dim) -> Dim:
    return factor * dim if isinstance(dim, int) else -1


@onnx_import("Pad", known=(1, 2, 3))
def _pad(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    mode = node.string("mode", "constant")
    if node.opset < 11:
        pads, value = node.ints("pads"), node.float("value", 0.0)
        axes = None
    else:
        pads = [int(p) for p in ctx.array(node, 1).reshape(-1)]
        fill = ctx.array(node, 2, optional=True)
        value = 0 if fill is None or np.size(fill) == 0 else np.asarray(fill).reshape(-1)[0]
        axes_array = ctx.array(node, 3, optional=True)
        axes = None if axes_array is None else [normalize_axis(int(a), x.ndim)
                                                for a in axes_array.reshape(-1)]
    axes = list(range(x.ndim)) if axes is None else axes
    if len(pads) != 2 * len(axes):
        raise node.fail(f"pads {pads} must hold two entries per padded axis")
    if any(p < 0 for p in pads):
        raise node.fail("negative pads (cropping) are not supported")
    widths = [(0, 0)] * x.ndim
    for k, axis in enumerate(axes):
        widths[axis] = (pads[k], pads[k + len(axes)])
    if mode not in ("constant", "edge", "reflect", "wrap"):
        raise node.fail(f"pad mode {mode!r} is not supported")
    if mode == "constant":
        return [gd.pad(x, widths, constant_values=value)]
    if mode == "wrap":
        return [_wrap_pad(node, x, widths)]
    return [gd.pad(x, widths, mode=mode)]


def _wrap_pad(node: OnnxNode, x: Node, widths: list[tuple[int, int]]) -> Node:
    """numpy's ``wrap``: each axis continued by its other end (pads up to the axis' size)."""
    for axis, (lo, hi) in enumerate(widths):
        if not lo and not hi:
            continue
        size = x.shape[axis]
        if not isinstance(size, int) or lo > size or hi > size:
            raise node.fail(f"wrap pads {lo, hi} need a static axis at least as long, got "
                            f"{size}")
        parts = []
        if lo:
            parts.append(x[(slice(None),) * axis + (slice(size - lo, size),)])
        parts.append(x)
        if hi:
            parts.append(x[(slice(None),) * axis + (slice(0, hi),)])
        x = gd.concatenate(parts, axis=axis)
    return x


@onnx_import("Dropout", known=(1, 2))
def _dropout(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    training = ctx.array(node, 2, optional=True) if node.opset >= 12 else None
    if training is not None and bool(np.asarray(training).reshape(-1)[0]):
        ratio = ctx.array(node, 1, optional=True)
        if ratio is None or float(np.asarray(ratio).reshape(-1)[0]) != 0:
            raise node.fail("Dropout in training mode is not supported (it is random)")
        # a ratio of 0 drops nothing: training mode is the identity then
    return [x, gd.full(x.shape, True, dtype="bool")]
