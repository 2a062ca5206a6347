"""Import of ONNX elementwise math, casts, matrix products and reductions.

ONNX requires one dtype for both operands of a binary op, as graphdiff's IR does, so most ops
map one to one. Where ONNX and numpy differ (integer ``Div`` truncates, integer ``Pow`` stays
integer, reductions take axes as an input from some opset on) the mapping says so.
"""

from __future__ import annotations

import numpy as np

import graphdiff as gd

from ...api.reductions import sqrt_of_spread
from ...ir.dims import product_dims
from ...ir.node import Node
from ...ops import elementwise as E
from ...ops import ieee as F
from ...ops import rounding as R
from ...ops import trig as T
from ...ops.core import scalar
from ..dtypes import numpy_dtype
from ..importer import DimsValue, ImportContext, OnnxNode, onnx_import
from .shape import dims_arithmetic, dims_equal, dims_where


def _same(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    tensors = [ctx.tensor(node, i) for i in range(len(node.inputs))]
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        raise node.fail(f"operands have different dtypes {sorted(d.name for d in dtypes)}")
    if node.opset < 7 and node.int("broadcast", 0) and len(tensors) == 2:
        tensors[1] = _legacy_broadcast(node, tensors[0], tensors[1])
    return tensors


def _legacy_broadcast(node: OnnxNode, a: Node, b: Node) -> Node:
    """Before opset 7, ``broadcast=1`` aligns b with a's axes from ``axis`` on (default: the
    trailing axes), not numpy-style from the right."""
    axis = node.int("axis", a.ndim - b.ndim)
    axis = axis + a.ndim if axis < 0 else axis
    trailing = a.ndim - axis - b.ndim
    if trailing < 0:
        raise node.fail(f"cannot broadcast {b.shape} into {a.shape} at axis {axis}")
    return gd.reshape(b, tuple(b.shape) + (1,) * trailing) if trailing else b


_UNARY = {
    "Abs": E.abs_, "Neg": E.neg, "Exp": E.exp, "Log": E.log, "Sqrt": E.sqrt,
    "Reciprocal": E.reciprocal, "Sin": E.sin, "Cos": E.cos, "Tanh": E.tanh,
    "Sigmoid": E.sigmoid, "Relu": E.relu, "Erf": E.erf, "Floor": E.floor, "Ceil": E.ceil,
    "Sign": E.sign, "IsNaN": E.isnan, "Not": E.logical_not, "Identity": E.stop_gradient,
    "Tan": T.tan, "Asin": T.arcsin, "Acos": T.arccos, "Atan": T.arctan, "Sinh": T.sinh,
    "Cosh": T.cosh, "Asinh": T.arcsinh, "Acosh": T.arccosh, "Atanh": T.arctanh,
    "Round": R.rint,  # half to even, as ONNX's Round
}


@onnx_import(*_UNARY)
def _unary(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    if node.proto.op_type == "Identity":
        return [x]  # no node at all: Identity is the identity in graphdiff too
    return [_UNARY[node.proto.op_type](x)]


_BINARY = {
    "Add": E.add, "Sub": E.sub, "Mul": E.mul, "Equal": E.equal, "Less": E.less,
    "LessOrEqual": E.less_equal, "Greater": E.greater, "GreaterOrEqual": E.greater_equal,
    "And": E.logical_and, "Or": E.logical_or, "Xor": E.logical_xor,
}


@onnx_import(*_BINARY)
def _binary(ctx: ImportContext, node: OnnxNode) -> list[Node | DimsValue]:
    shape = dims_equal(ctx, node) if node.proto.op_type == "Equal" else \
        dims_arithmetic(ctx, node)
    if shape is not None:
        return [shape]
    a, b = _same(ctx, node)
    if a.dtype == np.bool_ and node.proto.op_type in ("Add", "Sub", "Mul"):
        raise node.fail("arithmetic on bool tensors is not defined")
    return [_BINARY[node.proto.op_type](a, b)]


def _truncated_quotient(a: Node, b: Node) -> Node:
    """Integer division rounding toward zero (C's), exactly: the floor quotient, one up where
    the remainder is not 0 and the signs differ."""
    zero = scalar(0, a)
    inexact = E.not_equal(R.fmod(a, b), zero)
    signs_differ = E.not_equal(E.less(a, zero), E.less(b, zero))
    step = E.cast(E.logical_and(inexact, signs_differ), dtype=a.dtype)
    return E.add(R.floor_divide(a, b), step)


@onnx_import("Div")
def _div(ctx: ImportContext, node: OnnxNode) -> list[Node | DimsValue]:
    shape = dims_arithmetic(ctx, node)
    if shape is not None:
        return [shape]
    a, b = _same(ctx, node)
    return [E.div(a, b) if a.dtype.kind == "f" else _truncated_quotient(a, b)]


@onnx_import("Mod")
def _mod(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    # fmod=1: C's fmod (the sign of the dividend); fmod=0: the sign of the divisor (numpy's mod)
    a, b = _same(ctx, node)
    return [(R.fmod if node.int("fmod", 0) else R.remainder)(a, b)]


@onnx_import("Pow")
def _pow(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    base, exponent = ctx.tensor(node, 0), ctx.tensor(node, 1)
    if base.dtype.kind == "f" or exponent.dtype.kind in "iu":
        return [E.pow_(base, gd.astype(exponent, base.dtype))]  # integer powers are exact
    wide = np.dtype(np.float64)
    return [gd.astype(E.pow_(gd.astype(base, wide), gd.astype(exponent, wide)), base.dtype)]


@onnx_import("Max", "Min", "Sum", "Mean")
def _variadic(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    tensors = _same(ctx, node)
    combine = {"Max": E.maximum, "Min": E.minimum, "Sum": E.add, "Mean": E.add}
    result = tensors[0]
    for other in tensors[1:]:
        result = combine[node.proto.op_type](result, other)
    if node.proto.op_type == "Mean":
        result = E.div(result, scalar(len(tensors), result))
    if len(tensors) == 1:
        result = gd.broadcast_to(result, result.shape)
    return [result]


@onnx_import("IsInf")
def _isinf(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    infinite = F.isinf(x)
    zero = gd.constant(np.zeros((), x.dtype))
    if not node.int("detect_positive", 1):
        infinite = E.logical_and(infinite, E.less(x, zero))
    if not node.int("detect_negative", 1):
        infinite = E.logical_and(infinite, E.greater(x, zero))
    return [infinite]


@onnx_import("Where")
def _where(ctx: ImportContext, node: OnnxNode) -> list[Node | DimsValue]:
    picked = dims_where(ctx, node)
    if picked is not None:
        return [picked]
    condition = ctx.tensor(node, 0)
    a, b = ctx.tensor(node, 1), ctx.tensor(node, 2)
    if a.dtype != b.dtype:
        raise node.fail(f"operands have different dtypes {a.dtype.name}, {b.dtype.name}")
    return [E.where(condition, a, b)]


_SATURATING = ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz")


def _cast(ctx: ImportContext, node: OnnxNode, x: Node, to: np.dtype) -> Node:
    """x as ``to``; into a float8 with ``saturate`` (the default), out-of-range values and
    infinities become the largest finite value of their sign, as the ONNX reference does."""
    if to.name in _SATURATING and node.int("saturate", 1) and x.dtype.kind == "f":
        import ml_dtypes

        largest = float(ml_dtypes.finfo(to).max)
        if largest < np.finfo(x.dtype).max:
            x = E.minimum(E.maximum(x, scalar(-largest, x)), scalar(largest, x))
    return gd.astype(x, to)


@onnx_import("Cast")
def _cast_node(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    to = node.int("to")
    if to is None:
        raise node.fail("attribute 'to' is required")
    if isinstance(node.inputs[0], DimsValue) and numpy_dtype(to, node.label) == np.int64:
        return [node.inputs[0]]
    return [_cast(ctx, node, ctx.tensor(node, 0), numpy_dtype(to, node.label))]


@onnx_import("CastLike")
def _cast_like(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    return [_cast(ctx, node, ctx.tensor(node, 0), ctx.tensor(node, 1).dtype)]


@onnx_import("Clip")
def _clip(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    if node.opset < 11:
        low, high = node.float("min"), node.float("max")
        low = None if low is None else scalar(low, x)
        high = None if high is None else scalar(high, x)
    else:
        low, high = ctx.tensor(node, 1, optional=True), ctx.tensor(node, 2, optional=True)
    if low is not None:
        x = E.maximum(x, low)
    if high is not None:
        x = E.minimum(x, high)
    return [x]


# --- activations (composites of primitives) ------------------------------------------------------

@onnx_import("LeakyRelu", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish", "Softsign",
             "Softplus", "ThresholdedRelu", "Mish", "Gelu", "Swish", "PRelu", "Shrink")
def _activation(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    op = node.proto.op_type
    zero, one = scalar(0, x), scalar(1, x)
    if op == "LeakyRelu":
        return [E.where(E.less(x, zero), E.mul(x, scalar(node.float("alpha", 0.01), x)), x)]
    if op == "PRelu":
        slope = ctx.tensor(node, 1)
        if node.opset < 7 and slope.ndim == 1 and x.ndim > 2:  # one slope per channel
            slope = gd.reshape(slope, (slope.shape[0],) + (1,) * (x.ndim - 2))
        return [E.where(E.less(x, zero), x * slope, x)]
    if op in ("Elu", "Celu", "Selu"):
        alpha = node.float("alpha", {"Elu": 1.0, "Celu": 1.0,
                                     "Selu": 1.67326319217681884765625}[op])
        gamma = node.float("gamma", 1.05070102214813232421875) if op == "Selu" else 1.0
        inner = E.div(x, scalar(alpha, x)) if op == "Celu" else x
        negative = E.mul(scalar(alpha, x), E.expm1(inner))
        return [E.mul(scalar(gamma, x), E.where(E.less(x, zero), negative, x))]
    if op == "HardSigmoid":
        line = x * node.float("alpha", 0.2) + node.float("beta", 0.5)
        return [E.minimum(E.maximum(line, zero), one)]
    if op == "HardSwish":
        return [x * E.minimum(E.maximum(x * (1 / 6) + 0.5, zero), one)]
    if op == "Softsign":
        return [E.div(x, E.add(one, E.abs_(x)))]
    if op == "Softplus":
        return [gd.softplus(x)]
    if op == "ThresholdedRelu":
        return [E.where(E.greater(x, scalar(node.float("alpha", 1.0), x)), x, zero)]
    if op == "Mish":
        return [x * E.tanh(gd.softplus(x))]
    if op == "Swish":
        return [x * E.sigmoid(x * node.float("alpha", 1.0))]
    if op == "Gelu":
        return [gd.gelu(x, approximate=node.string("approximate", "none"))]
    # Shrink
    bias, lambd = scalar(node.float("bias", 0.0), x), scalar(node.float("lambd", 0.5), x)
    return [E.where(E.less(x, E.neg(lambd)), E.add(x, bias),
                    E.where(E.greater(x, lambd), E.sub(x, bias), zero))]


# --- matrix products -----------------------------------------------------------------------------

@onnx_import("MatMul")
def _matmul(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    a, b = _same(ctx, node)
    return [gd.matmul(a, b)]


@onnx_import("Det")
def _det(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    return [gd.linalg.det(ctx.tensor(node, 0))]


@onnx_import("Gemm")
def _gemm(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    a, b = ctx.tensor(node, 0), ctx.tensor(node, 1)
    c = ctx.tensor(node, 2, optional=True)
    if node.int("transA", 0):
        a = gd.transpose(a)
    if node.int("transB", 0):
        b = gd.transpose(b)
    y = gd.matmul(a, b)
    alpha, beta = node.float("alpha", 1.0), node.float("beta", 1.0)
    if alpha != 1.0:
        y = E.mul(y, scalar(alpha, y))
    if c is not None:
        y = E.add(y, c if beta == 1.0 else E.mul(c, scalar(beta, c)))
    return [y]


@onnx_import("Einsum")
def _einsum(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    equation = node.string("equation")
    if equation is None:
        raise node.fail("attribute 'equation' is required")
    return [gd.einsum(equation, *_same(ctx, node))]


# --- reductions ----------------------------------------------------------------------------------

def _axes(ctx: ImportContext, node: OnnxNode, axes_input_from: int) -> tuple[int, ...] | None:
    """The reduction axes (None: all), from the attribute or, from ``axes_input_from`` on, the
    optional second input; empty axes mean all unless ``noop_with_empty_axes``."""
    if node.opset >= axes_input_from:
        array = ctx.array(node, 1, optional=True)
        axes = None if array is None else [int(a) for a in np.asarray(array).reshape(-1)]
    else:
        axes = node.ints("axes")
    if not axes:
        return () if node.int("noop_with_empty_axes", 0) else None
    return tuple(axes)


_REDUCTIONS = {
    "ReduceSum": (13, lambda x, axes, keep: gd.sum(x, axes, keepdims=keep)),
    "ReduceMean": (18, lambda x, axes, keep: gd.mean(x, axes, keepdims=keep)),
    "ReduceMax": (18, lambda x, axes, keep: gd.max(x, axes, keepdims=keep)),
    "ReduceMin": (18, lambda x, axes, keep: gd.min(x, axes, keepdims=keep)),
    "ReduceProd": (18, lambda x, axes, keep: gd.prod(x, axes, keepdims=keep)),
    "ReduceSumSquare": (18, lambda x, axes, keep: gd.sum(E.mul(x, x), axes, keepdims=keep)),
    "ReduceL1": (18, lambda x, axes, keep: gd.sum(gd.abs(x), axes, keepdims=keep)),
    "ReduceL2": (18, lambda x, axes, keep: sqrt_of_spread(gd.sum(E.mul(x, x), axes,
                                                                 keepdims=keep))),
    "ReduceLogSum": (18, lambda x, axes, keep: E.log(gd.sum(x, axes, keepdims=keep))),
    "ReduceLogSumExp": (18, lambda x, axes, keep: gd.logsumexp(x, axes, keepdims=keep)),
}


def _lowest(dtype: np.dtype) -> object:
    return False if dtype.kind == "b" else -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _highest(dtype: np.dtype) -> object:
    return True if dtype.kind == "b" else np.inf if dtype.kind == "f" else np.iinfo(dtype).max


_EMPTY_IDENTITY = {"ReduceMax": _lowest, "ReduceMin": _highest, "ReduceLogSumExp": _lowest}


@onnx_import(*_REDUCTIONS)
def _reduce(ctx: ImportContext, node: OnnxNode) -> list[Node | DimsValue]:
    value = node.inputs[0]
    if isinstance(value, DimsValue) and node.proto.op_type == "ReduceProd" and \
            _axes(ctx, node, 18) in (None, (0,)):
        keep = bool(node.int("keepdims", 1))
        return [DimsValue((product_dims(value.dims),), scalar=not keep)]
    x = ctx.tensor(node, 0)
    since, reduce = _REDUCTIONS[node.proto.op_type]
    axes = _axes(ctx, node, since)
    keepdims = bool(node.int("keepdims", 1))
    if axes == ():
        return [x]
    reduced = range(x.ndim) if axes is None else [a % x.ndim for a in axes]
    if any(x.shape[a] == 0 for a in reduced) and node.proto.op_type in _EMPTY_IDENTITY:
        # over an empty set: the reduction's identity (ONNX's -inf for max, +inf for min)
        shape = tuple(1 if a in reduced else d for a, d in enumerate(x.shape)
                      if keepdims or a not in reduced)
        return [gd.full(shape, _EMPTY_IDENTITY[node.proto.op_type](x.dtype), dtype=x.dtype)]
    result = reduce(x, axes, keepdims)
    if result.dtype != x.dtype:  # numpy sums small ints in int64, means ints in float64
        result = gd.astype(result, x.dtype)
    return [result]


@onnx_import("ArgMax", "ArgMin")
def _arg(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    axis = node.int("axis", 0)
    keepdims = bool(node.int("keepdims", 1))
    if node.int("select_last_index", 0):
        # the last extremum is the first one of the reversed axis
        size = x.shape[axis]
        if not isinstance(size, int):
            raise node.fail("select_last_index needs a static axis")
        flipped = gd.take(x, gd.constant(np.arange(size - 1, -1, -1)), axis=axis)
        index = _arg_first(node, flipped, axis, keepdims)
        return [E.sub(gd.constant(np.asarray(size - 1, np.int64)), index)]
    return [_arg_first(node, x, axis, keepdims)]


def _arg_first(node: OnnxNode, x: Node, axis: int, keepdims: bool) -> Node:
    if node.proto.op_type == "ArgMax":
        return gd.argmax(x, axis, keepdims=keepdims)
    return gd.argmin(x, axis, keepdims=keepdims)


@onnx_import("Hardmax")
def _hardmax(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    if node.opset < 13:
        raise node.fail("Hardmax before opset 13 is not supported")
    axis = node.int("axis", -1)
    axis = axis % x.ndim
    depth = x.shape[axis]
    if not isinstance(depth, int):
        raise node.fail("Hardmax needs a static axis")
    index = gd.argmax(x, axis)
    hot = gd.one_hot(index, depth, dtype=x.dtype)
    return [gd.transpose(hot, _move_last_to(axis, x.ndim))]


def _move_last_to(axis: int, ndim: int) -> list[int]:
    order = list(range(ndim - 1))
    order.insert(axis, ndim - 1)
    return order

