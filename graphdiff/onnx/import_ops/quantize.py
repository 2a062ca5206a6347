"""Import of ONNX quantization: QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear, and
the integer products MatMulInteger, ConvInteger, QLinearMatMul and QLinearConv.

Per tensor (a scalar scale), per axis (a 1-D scale along ``axis``) or blocked (a scale of x's
rank, one entry per ``block_size`` elements along ``axis``), to and from int8, uint8, int16 and
uint16. Quantizing divides by the scale in x's precision, rounds half to even, adds the zero
point and saturates to the type's range, as the ONNX reference does; dequantizing subtracts
the zero point in float32 and multiplies by the scale, giving the scale's dtype. Integer
products subtract the zero points and multiply exactly (int32 matmul; convolution in float64,
exact below 2^53), then QLinear ops rescale by ``a_scale * b_scale / y_scale`` and saturate.
"""

from __future__ import annotations

import numpy as np

import graphdiff as gd

from ...ir.node import Node
from ...ir.types import normalize_axis
from ...ops import elementwise as E
from ..dtypes import numpy_dtype
from ..importer import ImportContext, OnnxNode, onnx_import
from .tensor import round_half_even

_QUANTIZED = tuple(np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.uint16))


def _along_x(node: OnnxNode, value: Node, x: Node, axis: int, block_size: int) -> Node:
    """A scale or zero point shaped to broadcast against ``x`` (``axis`` as ONNX gives it)."""
    if value.ndim == 0 or (value.ndim == 1 and value.shape[0] == 1 and block_size == 0):
        return gd.reshape(value, ())
    axis = normalize_axis(axis, x.ndim)
    if block_size == 0:
        if value.ndim != 1 or value.shape[0] != x.shape[axis]:
            raise node.fail(f"a per-axis scale or zero point must be 1-D with x.shape[{axis}] "
                            f"= {x.shape[axis]} entries, got {value.type}")
        return gd.reshape(value, tuple(value.shape[0] if a == axis else 1
                                       for a in range(x.ndim)))
    if block_size < 0 or value.ndim != x.ndim:
        raise node.fail(f"blocked quantization needs a positive block_size and a scale of x's "
                        f"rank {x.ndim}, got block_size {block_size} and {value.type}")
    blocks, size = value.shape[axis], x.shape[axis]
    if not isinstance(size, int) or not (blocks - 1) * block_size < size <= blocks * block_size:
        raise node.fail(f"{blocks} blocks of {block_size} do not cover axis {axis} of "
                        f"{x.shape}")
    # repeat each entry block_size times along the axis, then cut to the axis' length
    spread = gd.reshape(value, value.shape[:axis + 1] + (1,) + value.shape[axis + 1:])
    spread = gd.broadcast_to(spread, value.shape[:axis + 1] + (block_size,) +
                             value.shape[axis + 1:])
    spread = gd.reshape(spread, value.shape[:axis] + (blocks * block_size,) +
                        value.shape[axis + 1:])
    if blocks * block_size != size:
        spread = spread[(slice(None),) * axis + (slice(0, size),)]
    return spread


def _quantized_dtype(node: OnnxNode, zero_point: Node | None) -> np.dtype:
    attr = node.int("output_dtype", 0)
    dtype = zero_point.dtype if zero_point is not None else \
        numpy_dtype(attr, node.label) if attr else np.dtype(np.uint8)
    if attr and zero_point is not None and numpy_dtype(attr, node.label) != zero_point.dtype:
        raise node.fail(f"output_dtype {numpy_dtype(attr, node.label)} differs from the zero "
                        f"point's {zero_point.dtype}")
    if dtype not in _QUANTIZED:
        raise node.fail(f"quantizing to {dtype} is not supported (int8, uint8, int16, uint16)")
    return dtype


def quantize(x: Node, scale: Node, zero_point: Node | None, dtype: np.dtype) -> Node:
    """saturate(round_half_even(x / scale) + zero_point) as ``dtype`` (operands broadcast)."""
    if x.dtype.kind != "f":
        x = gd.astype(x, np.result_type(x.dtype, scale.dtype))
    return saturate(round_half_even(x / scale), zero_point, dtype)


def saturate(q: Node, zero_point: Node | None, dtype: np.dtype) -> Node:
    """``q + zero_point`` (q rounded, floating) clipped to ``dtype``'s range, as ``dtype``."""
    if zero_point is not None:
        q = E.add(q, gd.astype(zero_point, q.dtype))
    info = np.iinfo(dtype)
    q = E.minimum(E.maximum(q, gd.constant(np.asarray(info.min, q.dtype))),
                  gd.constant(np.asarray(info.max, q.dtype)))
    return gd.astype(q, dtype)


@onnx_import("QuantizeLinear")
def _quantize_linear(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    zero_point = ctx.tensor(node, 2, optional=True)
    dtype = _quantized_dtype(node, zero_point)
    axis, block_size = node.int("axis", 1), node.int("block_size", 0)
    scale = _along_x(node, ctx.tensor(node, 1), x, axis, block_size)
    if zero_point is not None:
        zero_point = _along_x(node, zero_point, x, axis, block_size)
    return [quantize(x, scale, zero_point, dtype)]


@onnx_import("DequantizeLinear")
def _dequantize_linear(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    scale = ctx.tensor(node, 1)
    zero_point = ctx.tensor(node, 2, optional=True)
    if x.dtype not in _QUANTIZED + (np.dtype(np.int32),):
        raise node.fail(f"dequantizing {x.dtype} is not supported")
    if zero_point is not None and zero_point.dtype != x.dtype:
        raise node.fail(f"the zero point is {zero_point.dtype} but x is {x.dtype}")
    attr = node.int("output_dtype", 0)
    out = numpy_dtype(attr, node.label) if attr else scale.dtype
    axis, block_size = node.int("axis", 1), node.int("block_size", 0)
    wide = gd.astype(x, np.float32)
    if zero_point is not None:
        wide = E.sub(wide, gd.astype(_along_x(node, zero_point, x, axis, block_size),
                                     np.float32))
    y = wide * _along_x(node, scale, x, axis, block_size)
    return [gd.astype(y, out)]


@onnx_import("DynamicQuantizeLinear")
def _dynamic_quantize_linear(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    """uint8 with the scale and zero point that map [min(x, 0), max(x, 0)] onto [0, 255]."""
    x = ctx.tensor(node, 0)
    zero = gd.constant(np.asarray(0, x.dtype))
    low, high = E.minimum(gd.min(x), zero), E.maximum(gd.max(x), zero)
    scale = E.div(E.sub(high, low), gd.constant(np.asarray(255, x.dtype)))
    uint8 = np.dtype(np.uint8)
    zero_point = quantize(E.neg(low), scale, None, uint8)
    return [quantize(x, scale, zero_point, uint8), scale, zero_point]


def _centered(value: Node, zero_point: Node | None, dtype: np.dtype, axis: int,
              rank: int) -> Node:
    """``value - zero_point`` as ``dtype``; a 1-D zero point runs along ``axis``."""
    wide = gd.astype(value, dtype)
    if zero_point is None:
        return wide
    zero_point = gd.astype(zero_point, dtype)
    if zero_point.ndim == 1 and zero_point.shape[0] != 1:
        zero_point = gd.reshape(zero_point, tuple(zero_point.shape[0] if a == axis else 1
                                                  for a in range(rank)))
    else:
        zero_point = gd.reshape(zero_point, ())
    return E.sub(wide, zero_point)


def _integer_matmul(a: Node, a_zero: Node | None, b: Node, b_zero: Node | None) -> Node:
    int32 = np.dtype(np.int32)
    # a's zero point may be per row (axis -2), b's per column (axis -1)
    return gd.matmul(_centered(a, a_zero, int32, a.ndim - 2, a.ndim),
                     _centered(b, b_zero, int32, b.ndim - 1, b.ndim))


def _rescaled(product: Node, factor: Node, zero_point: Node | None, dtype: np.dtype) -> Node:
    """saturate(round(product * factor) + zero_point): the factor computed in the scales'
    precision, the product in float64, as onnx's reference does."""
    f64 = np.dtype(np.float64)
    return saturate(round_half_even(gd.astype(product, f64) * gd.astype(factor, f64)),
                    zero_point, dtype)


@onnx_import("MatMulInteger")
def _matmul_integer(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    return [_integer_matmul(ctx.tensor(node, 0), ctx.tensor(node, 2, optional=True),
                            ctx.tensor(node, 1), ctx.tensor(node, 3, optional=True))]


@onnx_import("QLinearMatMul")
def _qlinear_matmul(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    a, a_scale, a_zero, b, b_scale, b_zero, y_scale = (ctx.tensor(node, i) for i in range(7))
    y_zero = ctx.tensor(node, 7, optional=True)
    dtype = y_zero.dtype if y_zero is not None else a.dtype
    if dtype not in _QUANTIZED:
        raise node.fail(f"QLinearMatMul to {dtype} is not supported")
    factor = a_scale * b_scale / y_scale
    return [_rescaled(_integer_matmul(a, a_zero, b, b_zero), factor, y_zero, dtype)]


def _integer_conv(node: OnnxNode, x: Node, x_zero: Node | None, w: Node,
                  w_zero: Node | None) -> Node:
    from .nn import convolution

    f64 = np.dtype(np.float64)
    return convolution(node, _centered(x, x_zero, f64, 1, x.ndim),
                       _centered(w, w_zero, f64, 0, w.ndim), None)


@onnx_import("ConvInteger")
def _conv_integer(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    y = _integer_conv(node, ctx.tensor(node, 0), ctx.tensor(node, 2, optional=True),
                      ctx.tensor(node, 1), ctx.tensor(node, 3, optional=True))
    return [gd.astype(y, np.int32)]


@onnx_import("QLinearConv")
def _qlinear_conv(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x, x_scale, x_zero, w, w_scale, w_zero, y_scale = (ctx.tensor(node, i) for i in range(7))
    y_zero = ctx.tensor(node, 7, optional=True)
    bias = ctx.tensor(node, 8, optional=True)
    dtype = y_zero.dtype if y_zero is not None else x.dtype
    if dtype not in _QUANTIZED:
        raise node.fail(f"QLinearConv to {dtype} is not supported")
    y = _integer_conv(node, x, x_zero, w, w_zero)
    if bias is not None:
        y = y + gd.reshape(gd.astype(bias, y.dtype), (bias.shape[0],) + (1,) * (x.ndim - 2))
    if w_scale.ndim == 1 and w_scale.shape[0] != 1:  # per output channel
        w_scale = gd.reshape(w_scale, (w_scale.shape[0],) + (1,) * (x.ndim - 2))
    return [_rescaled(y, x_scale * w_scale / y_scale, y_zero, dtype)]
