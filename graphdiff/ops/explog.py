"""Logarithms and exponentials in other bases, and the stable log-sum-exp of two operands.

``log2``, ``log10`` and ``exp2`` are primitives rather than ``log(x) / log(2)``: numpy's kernels
are exact where users test them (``log2(8) == 3``, ``exp2(10) == 1024``), the quotient is not.
ONNX has none of them; they are exported as ``Log``/``Exp`` with a scale.

``logaddexp(a, b) = log(e^a + e^b)`` is ``max + log1p(exp(-|a - b|))`` in numpy's kernel, exact at
+-inf (``logaddexp(inf, inf) = inf``, ``logaddexp(-inf, -inf) = -inf``). Its partials are
``sigmoid(a - b)`` and ``sigmoid(b - a)``: bounded, and taken as 1/2 where ``a == b`` (two equal
infinities, whose difference is NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..ir.node import Node
from .core import binary_float, scalar
from .elementwise import (
    binary,
    equal,
    guarded,
    mul,
    reciprocal,
    sigmoid,
    sub,
    unary,
)

_LN2, _LN10 = math.log(2), math.log(10)


def _scaled(op_type: str, factor: float, before: bool) -> Callable:
    """ONNX ``op_type`` of x * factor (before) or op_type(x) * factor (after)."""

    def lower(ctx, node: Node, inputs: list[str]) -> str:
        scale = ctx.scalar(factor, node)
        if before:
            return ctx.op(op_type, [ctx.op("Mul", [inputs[0], scale])])
        return ctx.op("Mul", [ctx.op(op_type, inputs), scale])

    return lower


log2 = unary("log2", np.log2, lambda x, y: reciprocal(mul(x, scalar(_LN2, x))),  # 1/(x ln 2)
             jax="log2", onnx=_scaled("Log", 1 / _LN2, before=False), scalar="math.log2({0})")
log10 = unary("log10", np.log10,                                                  # 1/(x ln 10)
              lambda x, y: reciprocal(mul(x, scalar(_LN10, x))),
              jax="log10", onnx=_scaled("Log", 1 / _LN10, before=False), scalar="math.log10({0})")
exp2 = unary("exp2", np.exp2, lambda x, y: mul(y, scalar(_LN2, y)),              # 2^x ln 2
             jax="exp2", onnx=_scaled("Exp", _LN2, before=True), scalar="np.exp2({0})")


def _share(a: Node, b: Node, scale: float) -> Node:
    """sigmoid(scale (a - b)): a's share of e^(scale a) + e^(scale b); 1/2 where a == b."""
    half = scalar(0.5, a)
    return guarded(equal(a, b), half, sub(a, b), 0,
                   lambda d: sigmoid(mul(d, scalar(scale, d)) if scale != 1 else d))


def _logaddexp_partials(scale: float):
    def partials(a: Node, b: Node, z: Node) -> tuple[Node, Node]:
        return _share(a, b, scale), _share(b, a, scale)

    return partials


def _logaddexp_onnx(base_log: float) -> Callable:
    """max + log(1 + e^(-|a - b|)) (in base 2: scaled by ln 2 inside and 1/ln 2 outside); where
    a == b (two equal infinities) a + log(2) in the base, so +-inf stays +-inf."""

    def lower(ctx, node: Node, inputs: list[str]) -> str:
        a, b = inputs
        one = ctx.scalar(1, node)
        larger = ctx.op("Max", [a, b])
        gap = ctx.op("Neg", [ctx.op("Abs", [ctx.op("Sub", [a, b])])])
        if base_log != 1:
            gap = ctx.op("Mul", [gap, ctx.scalar(base_log, node)])
        tail = ctx.op("Log", [ctx.op("Add", [one, ctx.op("Exp", [gap])])])
        if base_log != 1:
            tail = ctx.op("Div", [tail, ctx.scalar(base_log, node)])
        tie = ctx.op("Add", [a, ctx.scalar(math.log(2) / base_log, node)])
        return ctx.op("Where", [ctx.op("Equal", [a, b]), tie, ctx.op("Add", [larger, tail])])

    return lower


logaddexp = binary("logaddexp", np.logaddexp, onnx=_logaddexp_onnx(1.0), commutative=True,
                   jax="logaddexp",
                   scalar="np.logaddexp({0}, {1})", infer=binary_float,
                   partials=_logaddexp_partials(1.0))
logaddexp2 = binary("logaddexp2", np.logaddexp2, onnx=_logaddexp_onnx(_LN2), commutative=True,
                    jax="logaddexp2",
                    scalar="np.logaddexp2({0}, {1})", infer=binary_float,
                    partials=_logaddexp_partials(_LN2))
