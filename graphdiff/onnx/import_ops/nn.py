"""Import of ONNX neural-network ops: softmax, convolution, pooling, normalizations.

Convolution and pooling map onto graphdiff's 2-D ops; 1-D ones gain a unit height axis.
Normalizations are composites of primitives, as graphdiff's own ``layer_norm`` is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import graphdiff as gd

from ...api.reductions import sqrt_of_spread
from ...ir.dims import product_dims
from ...ir.node import Node
from ...ir.types import normalize_axis
from ...ops import elementwise as E
from ...ops.core import scalar
from ..importer import ImportContext, OnnxNode, onnx_import
from .windows import window_argmax, window_conv, window_pool


@onnx_import("Softmax", "LogSoftmax")
def _softmax(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    function = gd.softmax if node.proto.op_type == "Softmax" else gd.log_softmax
    if node.opset >= 13:
        return [function(x, axis=node.int("axis", -1))]
    # before opset 13 the input is seen as a matrix: axes before ``axis`` and from it on
    axis = normalize_axis(node.int("axis", 1), x.ndim)
    matrix = gd.reshape(x, (product_dims(x.shape[:axis]), -1))
    return [gd.reshape(function(matrix, axis=1), x.shape)]


def _spatial(node: OnnxNode, name: str, default: int, rank: int) -> tuple[int, ...]:
    values = node.ints(name)
    if values is None:
        return (default,) * rank
    if len(values) != rank:
        raise node.fail(f"{name} {values} must have {rank} entries")
    return tuple(values)


def _pads(node: OnnxNode, spatial: Sequence[int], kernel: Sequence[int],
          strides: Sequence[int], dilations: Sequence[int]) -> tuple[int, ...]:
    """(begin..., end...) padding per spatial axis, from ``pads`` or ``auto_pad``."""
    rank = len(kernel)
    auto_pad = node.string("auto_pad", "NOTSET")
    if auto_pad in ("NOTSET", ""):
        pads = node.ints("pads") or [0] * (2 * rank)
        if len(pads) != 2 * rank or min(pads) < 0:
            raise node.fail(f"pads {pads} must be {2 * rank} non-negative ints")
        return tuple(pads)
    if auto_pad == "VALID":
        return (0,) * (2 * rank)
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise node.fail(f"auto_pad {auto_pad!r} is not supported")
    begin, end = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
        if not isinstance(size, int):
            raise node.fail("auto_pad SAME needs static spatial dims")
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else large)
        end.append(large if auto_pad == "SAME_UPPER" else small)
    return tuple(begin + end)


def _as_2d(x: Node, node: OnnxNode) -> tuple[Node, bool]:
    if x.ndim == 3:
        return gd.expand_dims(x, 2), True
    if x.ndim != 4:
        raise node.fail(f"only 1-D and 2-D {node.proto.op_type} are supported, got an input "
                        f"of rank {x.ndim}")
    return x, False


def _pair_pads(pads: tuple[int, ...], one_d: bool) -> tuple[int, int, int, int]:
    """ONNX (begin..., end...) to graphdiff's (top, bottom, left, right)."""
    if one_d:
        return 0, 0, pads[0], pads[1]
    return pads[0], pads[2], pads[1], pads[3]


@onnx_import("Conv")
def _conv(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x, w = ctx.tensor(node, 0), ctx.tensor(node, 1)
    return [convolution(node, x, w, ctx.tensor(node, 2, optional=True))]


def convolution(node: OnnxNode, x: Node, w: Node, b: Node | None) -> Node:
    """ONNX Conv of ``x`` by ``w`` (plus ``b``) with the node's geometry attributes."""
    rank = x.ndim - 2
    kernel = tuple(w.shape[2:])
    strides = _spatial(node, "strides", 1, rank)
    dilations = _spatial(node, "dilations", 1, rank)
    pads = _pads(node, x.shape[2:], kernel, strides, dilations)
    if rank not in (1, 2):
        return window_conv(node, x, w, b, strides, dilations, pads, node.int("group", 1))
    x2, one_d = _as_2d(x, node)
    w2 = gd.expand_dims(w, 2) if one_d else w
    pair = (lambda v: (1, v[0])) if one_d else (lambda v: tuple(v))
    y = gd.conv2d(x2, w2, b, stride=pair(strides), padding=_pair_pads(pads, one_d),
                  dilation=pair(dilations), groups=node.int("group", 1))
    return gd.squeeze(y, 2) if one_d else y


@onnx_import("MaxPool", "AveragePool", "LpPool")
def _pool(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    rank = x.ndim - 2
    kernel = node.ints("kernel_shape")
    if kernel is None or len(kernel) != rank:
        raise node.fail("kernel_shape is required, one entry per spatial axis")
    strides = _spatial(node, "strides", 1, rank)
    dilations = _spatial(node, "dilations", 1, rank)
    pads = _pads(node, x.shape[2:], kernel, strides, dilations)
    kind = {"MaxPool": "max", "AveragePool": "avg", "LpPool": "lp"}[node.proto.op_type]
    indices = None
    if kind == "max" and len(node.proto.output) > 1 and node.proto.output[1]:
        indices = window_argmax(node, x, kernel, strides, dilations, pads,
                                column_major=bool(node.int("storage_order", 0)))
    return [_pooled(node, x, kind, kernel, strides, dilations, pads), indices]


def _pooled(node: OnnxNode, x: Node, kind: str, kernel: Sequence[int], strides: Sequence[int],
            dilations: Sequence[int], pads: Sequence[int]) -> Node:
    if not _primitive_fits(node, x, kernel, strides, dilations, pads) or kind == "lp":
        return window_pool(node, x, kind, kernel, strides, dilations, pads)
    x2, one_d = _as_2d(x, node)
    pair = (lambda v: (1, v[0])) if one_d else (lambda v: tuple(v))
    padding = _pair_pads(pads, one_d)
    if kind == "max":
        y = gd.max_pool2d(x2, pair(kernel), pair(strides), padding)
    else:
        include = bool(node.int("count_include_pad", 0))
        y = gd.avg_pool2d(x2, pair(kernel), pair(strides), padding, count_include_pad=include)
    y = gd.squeeze(y, 2) if one_d else y
    return gd.astype(y, x.dtype)  # graphdiff pools in floats; ONNX keeps integer dtypes


def _primitive_fits(node: OnnxNode, x: Node, kernel: Sequence[int], strides: Sequence[int],
                    dilations: Sequence[int], pads: Sequence[int]) -> bool:
    """Whether graphdiff's 2-D pooling ops compute this pooling: 1-D or 2-D, no dilation,
    pads at most half the kernel, and ceil_mode not changing the output size."""
    rank = len(kernel)
    if rank not in (1, 2) or any(d != 1 for d in dilations):
        return False
    if any(2 * max(lo, hi) > k for k, lo, hi in zip(kernel, pads[:rank], pads[rank:],
                                                     strict=True)):
        return False
    if node.int("ceil_mode", 0):
        windows = zip(x.shape[2:], kernel, strides, pads[:rank], pads[rank:], strict=True)
        return all(isinstance(n, int) and (n + lo + hi - k) % s == 0
                   for n, k, s, lo, hi in windows)
    return True


@onnx_import("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    axes = tuple(range(2, x.ndim))
    reduce = gd.mean if node.proto.op_type == "GlobalAveragePool" else gd.max
    return [reduce(x, axes, keepdims=True)]


def _per_channel(value: Node, ndim: int) -> Node:
    """A (C,) parameter shaped to broadcast over an (N, C, ...) tensor."""
    return gd.reshape(value, (value.shape[0],) + (1,) * (ndim - 2))


@onnx_import("BatchNormalization")
def _batch_norm(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    epsilon = node.float("epsilon", 1e-5)
    outputs = [o for o in node.proto.output[1:] if o]
    # before opset 14 extra outputs meant training (opsets 9-13 had no attribute for it)
    training = bool(node.int("training_mode", 0)) if node.opset >= 14 else bool(outputs)
    scale, bias, mean, var = (ctx.tensor(node, i) for i in range(1, 5))
    if not training:
        if outputs:
            raise node.fail("running mean and variance outputs need training_mode=1")
        inv = E.div(_per_channel(scale, x.ndim), E.sqrt(E.add(_per_channel(var, x.ndim),
                                                              scalar(epsilon, var))))
        return [E.add(E.mul(E.sub(x, _per_channel(mean, x.ndim)), inv),
                      _per_channel(bias, x.ndim))]
    if len(node.proto.output) > 3 and any(node.proto.output[3:]):
        raise node.fail("the saved mean and variance outputs (opsets 9-13) are not supported")
    # batch statistics over every axis but the channels; the variance is the population one
    axes = (0,) + tuple(range(2, x.ndim))
    batch_mean = gd.mean(x, axes, keepdims=True)
    centered = E.sub(x, batch_mean)
    batch_var = gd.mean(E.mul(centered, centered), axes, keepdims=True)
    inv_std = E.reciprocal(E.sqrt(E.add(batch_var, scalar(epsilon, batch_var))))
    y = E.add(E.mul(E.mul(centered, inv_std), _per_channel(scale, x.ndim)),
              _per_channel(bias, x.ndim))
    momentum = node.float("momentum", 0.9)
    running_mean = E.add(E.mul(mean, scalar(momentum, mean)),
                         E.mul(gd.reshape(batch_mean, mean.shape), scalar(1 - momentum, mean)))
    running_var = E.add(E.mul(var, scalar(momentum, var)),
                        E.mul(gd.reshape(batch_var, var.shape), scalar(1 - momentum, var)))
    for state, new in ((mean, running_mean), (var, running_var)):
        ctx.update(state, new)
    return [y, running_mean, running_var]


def _normalize(x: Node, axes: tuple[int, ...], epsilon: float) -> tuple[Node, Node, Node]:
    """(x - mean) / sqrt(var + eps) over ``axes``, with the mean and 1/sqrt(var + eps)."""
    mean = gd.mean(x, axes, keepdims=True)
    centered = E.sub(x, mean)
    var = gd.mean(E.mul(centered, centered), axes, keepdims=True)
    inv_std = E.reciprocal(E.sqrt(E.add(var, scalar(epsilon, var))))
    return E.mul(centered, inv_std), mean, inv_std


@onnx_import("LayerNormalization")
def _layer_norm(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    axis = normalize_axis(node.int("axis", -1), x.ndim)
    stash = np.dtype(np.float32) if node.int("stash_type", 1) == 1 and \
        x.dtype == np.float16 else x.dtype
    wide = gd.astype(x, stash)
    y, mean, inv_std = _normalize(wide, tuple(range(axis, x.ndim)), node.float("epsilon", 1e-5))
    y = gd.astype(y, x.dtype)
    y = y * ctx.tensor(node, 1)
    bias = ctx.tensor(node, 2, optional=True)
    if bias is not None:
        y = y + bias
    return [y, mean, inv_std]


@onnx_import("InstanceNormalization")
def _instance_norm(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    y, _, _ = _normalize(x, tuple(range(2, x.ndim)), node.float("epsilon", 1e-5))
    scale, bias = _per_channel(ctx.tensor(node, 1), x.ndim), _per_channel(ctx.tensor(node, 2),
                                                                          x.ndim)
    return [E.add(E.mul(y, scale), bias)]


@onnx_import("MeanVarianceNormalization")
def _mvn(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    axes = tuple(normalize_axis(a, x.ndim) for a in node.ints("axes", [0, 2, 3]))
    y, _, _ = _normalize(x, tuple(sorted(axes)), 1e-9)
    return [y]


@onnx_import("LpNormalization")
def _lp_norm(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    axis, p = node.int("axis", -1), node.int("p", 2)
    if p == 1:
        norm = gd.sum(gd.abs(x), axis, keepdims=True)
    elif p == 2:
        norm = sqrt_of_spread(gd.sum(E.mul(x, x), axis, keepdims=True))
    else:
        raise node.fail(f"p must be 1 or 2, got {p}")
    zero = scalar(0, norm)
    safe = E.where(E.equal(norm, zero), scalar(1, norm), norm)
    return [E.div(x, safe)]


@onnx_import("RMSNormalization")
def _rms_norm(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    axis = normalize_axis(node.int("axis", -1), x.ndim)
    wide = gd.astype(x, np.float32) if x.dtype == np.float16 else x
    mean_square = gd.mean(E.mul(wide, wide), tuple(range(axis, x.ndim)), keepdims=True)
    epsilon = scalar(node.float("epsilon", 1e-5), mean_square)
    y = E.div(wide, E.sqrt(E.add(mean_square, epsilon)))
    return [gd.astype(y, x.dtype) * ctx.tensor(node, 1)]


@onnx_import("GroupNormalization")
def _group_norm(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    groups = node.int("num_groups")
    if groups is None or x.ndim < 3 or not isinstance(x.shape[1], int):
        raise node.fail("num_groups and a static channel axis are required")
    grouped = gd.reshape(x, (x.shape[0], groups, -1))
    y, _, _ = _normalize(grouped, (2,), node.float("epsilon", 1e-5))
    y = gd.reshape(y, x.shape)
    scale, bias = ctx.tensor(node, 1), ctx.tensor(node, 2)
    if node.opset < 21:  # one scale and bias per group, repeated over its channels
        per_group = x.shape[1] // groups
        scale = gd.reshape(gd.broadcast_to(gd.expand_dims(scale, 1), (groups, per_group)), (-1,))
        bias = gd.reshape(gd.broadcast_to(gd.expand_dims(bias, 1), (groups, per_group)), (-1,))
    return [E.add(E.mul(y, _per_channel(scale, x.ndim)), _per_channel(bias, x.ndim))]


@onnx_import("ConvTranspose")
def _conv_transpose(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x, w = ctx.tensor(node, 0), ctx.tensor(node, 1)
    b = ctx.tensor(node, 2, optional=True)
    if x.ndim not in (3, 4):
        raise node.fail("only 1-D and 2-D ConvTranspose are supported")
    one_d = x.ndim == 3
    rank = x.ndim - 2
    strides = _spatial(node, "strides", 1, rank)
    dilations = _spatial(node, "dilations", 1, rank)
    extra = _spatial(node, "output_padding", 0, rank)
    output_shape = node.ints("output_shape")
    given_pads = node.ints("pads")
    if one_d:  # a 2-D transposed convolution over a unit height
        x, w = gd.expand_dims(x, 2), gd.expand_dims(w, 2)
        strides, dilations, extra = (1, *strides), (1, *dilations), (0, *extra)
        output_shape = None if output_shape is None else [1, output_shape[-1]]
        given_pads = None if given_pads is None else [0, given_pads[0], 0, given_pads[1]]
    kernel = tuple(w.shape[2:])
    groups = node.int("group", 1)
    full = [(size - 1) * s + (k - 1) * d + 1 for size, s, k, d in
            zip(x.shape[2:], strides, kernel, dilations, strict=True)]
    auto_pad = node.string("auto_pad", "NOTSET")
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = output_shape[-2:] if output_shape else [size * s for size, s in
                                                         zip(x.shape[2:], strides, strict=True)]
        totals = [f + e - t for f, e, t in zip(full, extra, target, strict=True)]
        upper = auto_pad == "SAME_UPPER"
        begins = [t // 2 if upper else t - t // 2 for t in totals]
        pads = begins + [t - bgn for t, bgn in zip(totals, begins, strict=True)]
    elif auto_pad == "VALID":
        pads = [0, 0, 0, 0]
    else:
        pads = given_pads or [0, 0, 0, 0]
    # the full transposed convolution, then each axis cut to [begin, full - end + extra)
    y = gd.conv_transpose2d(x, w, None, stride=strides, groups=groups, dilation=dilations)
    key = [slice(None), slice(None)]
    for axis in range(2):
        stop = full[axis] - pads[axis + 2] + extra[axis]
        if stop > full[axis]:
            widths = [(0, 0)] * 4
            widths[axis + 2] = (0, stop - full[axis])
            y = gd.pad(y, widths)
        key.append(slice(pads[axis], stop))
    y = gd.api.indexing.getitem(y, tuple(key))
    if b is not None:
        y = y + _per_channel(b, 4)
    return [gd.squeeze(y, 2) if one_d else y]
