"""Trigonometric and hyperbolic ops, and the two-operand ``arctan2`` and ``hypot``.

Each op is declared by its derivative as graph nodes (``unary``/``binary`` in elementwise.py),
so both modes and every higher order follow. Where a derivative's formula breaks down (the
origin for ``arctan2`` and ``hypot``), ``guarded`` picks the value without computing an inf
that a second derivative would turn into NaN.

ONNX has ``Tan``, ``Asin``, ... one to one; ``arctan2`` and ``hypot`` have no ONNX op and are
lowered to ``Atan`` with quadrant corrections, and to a scaled ``Sqrt`` that cannot overflow.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir.node import Node
from .core import binary_float, scalar
from .elementwise import (
    add,
    binary,
    equal,
    guarded,
    logical_and,
    mul,
    neg,
    reciprocal,
    sqrt,
    square,
    sub,
    unary,
)


def _rsqrt_one_minus_square(x: Node) -> Node:
    return reciprocal(sqrt(sub(scalar(1, x), square(x))))


tan = unary("tan", np.tan, lambda x, y: add(scalar(1, y), square(y)),           # 1 + y^2
            jax="tan", onnx="Tan", scalar="math.tan({0})")
arcsin = unary("arcsin", np.arcsin, lambda x, y: _rsqrt_one_minus_square(x),     # 1/sqrt(1-x^2)
               jax="arcsin", onnx="Asin", scalar="math.asin({0})")
arccos = unary("arccos", np.arccos,                                              # -1/sqrt(1-x^2)
               lambda x, y: neg(_rsqrt_one_minus_square(x)), jax="arccos", onnx="Acos",
               scalar="math.acos({0})")
arctan = unary("arctan", np.arctan,                                              # 1/(1+x^2)
               lambda x, y: reciprocal(add(scalar(1, x), square(x))), jax="arctan", onnx="Atan",
               scalar="math.atan({0})")
sinh = unary("sinh", np.sinh, lambda x, y: cosh(x), onnx="Sinh",
             jax="sinh",  # cosh x
             scalar="math.sinh({0})")
cosh = unary("cosh", np.cosh, lambda x, y: sinh(x), onnx="Cosh",
             jax="cosh",  # sinh x
             scalar="math.cosh({0})")
arcsinh = unary("arcsinh", np.arcsinh,                                           # 1/sqrt(x^2+1)
                lambda x, y: reciprocal(sqrt(add(square(x), scalar(1, x)))), onnx="Asinh",
                                        jax="arcsinh",
                scalar="math.asinh({0})")
# 1/sqrt(x^2-1), as 1/(sqrt(x-1) sqrt(x+1)): no cancellation in x^2 - 1 near x = 1
arccosh = unary("arccosh", np.arccosh,
                lambda x, y: reciprocal(mul(sqrt(sub(x, scalar(1, x))),
                                            sqrt(add(x, scalar(1, x))))),
                jax="arccosh", onnx="Acosh", scalar="math.acosh({0})")
arctanh = unary("arctanh", np.arctanh,                                           # 1/(1-x^2)
                lambda x, y: reciprocal(sub(scalar(1, x), square(x))), jax="arctanh", onnx="Atanh",
                scalar="math.atanh({0})")


def _at_origin(a: Node, b: Node) -> Node:
    zero = scalar(0, a)
    return logical_and(equal(a, zero), equal(b, zero))


def _arctan2_partials(a: Node, b: Node, z: Node) -> tuple[Node, Node]:
    # z = atan2(a, b): dz/da = b / (a^2 + b^2), dz/db = -a / (a^2 + b^2); taken as 0 at the origin
    origin = _at_origin(a, b)
    inverse = guarded(origin, scalar(0, a), add(square(a), square(b)), 1, reciprocal)
    return mul(b, inverse), neg(mul(a, inverse))


def _arctan2_onnx(ctx, node: Node, inputs: list[str]) -> str:
    """atan(a / b), moved by +-pi into the left half plane (b < 0, by the sign of a); 0 at
    the origin, +-pi/2 on the a axis (a / 0 is +-inf). Signed zeros and the four infinite
    corners are not distinguished as numpy does."""
    a, b = inputs
    zero, pi = ctx.scalar(0, node), ctx.scalar(math.pi, node)
    angle = ctx.op("Atan", [ctx.op("Div", [a, b])])
    turn = ctx.op("Where", [ctx.op("Less", [a, zero]), ctx.op("Neg", [pi]), pi])
    shifted = ctx.op("Where", [ctx.op("Less", [b, zero]), ctx.op("Add", [angle, turn]), angle])
    origin = ctx.op("And", [ctx.op("Equal", [a, zero]), ctx.op("Equal", [b, zero])])
    return ctx.op("Where", [origin, ctx.op("Mul", [a, zero]), shifted])


arctan2 = binary("arctan2", np.arctan2, onnx=_arctan2_onnx, scalar="math.atan2({0}, {1})",
                 jax="arctan2",
                 infer=binary_float, partials=_arctan2_partials)


def _hypot_partials(a: Node, b: Node, z: Node) -> tuple[Node, Node]:
    # z = sqrt(a^2 + b^2): dz/da = a / z, dz/db = b / z; taken as 0 at the origin
    inverse = guarded(equal(z, scalar(0, z)), scalar(0, z), z, 1, reciprocal)
    return mul(a, inverse), mul(b, inverse)


def _hypot_onnx(ctx, node: Node, inputs: list[str]) -> str:
    """m sqrt(1 + (s / m)^2) with m = max(|a|, |b|) and s the other: no overflow of a^2 + b^2;
    0 where m is 0, inf where m is inf (numpy's hypot(inf, nan) is inf too)."""
    large = ctx.op("Max", [ctx.op("Abs", [inputs[0]]), ctx.op("Abs", [inputs[1]])])
    small = ctx.op("Min", [ctx.op("Abs", [inputs[0]]), ctx.op("Abs", [inputs[1]])])
    zero, one = ctx.scalar(0, node), ctx.scalar(1, node)
    special = ctx.op("Or", [ctx.op("Equal", [large, zero]), ctx.op("IsInf", [large])])
    safe = ctx.op("Where", [special, one, large])
    ratio = ctx.op("Div", [small, safe])
    scaled = ctx.op("Mul", [safe, ctx.op("Sqrt", [ctx.op("Add", [one, ctx.op("Mul", [ratio,
                                                                                 ratio])])])])
    return ctx.op("Where", [special, large, scaled])


hypot = binary("hypot", np.hypot, jax="hypot", onnx=_hypot_onnx, scalar="math.hypot({0}, {1})",
               infer=binary_float, partials=_hypot_partials)
