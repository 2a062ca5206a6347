"""Rounding and the division family: ``rint``, ``trunc``, ``floor_divide``, ``remainder``,
``fmod``, on floats and integers with numpy's semantics.

``remainder`` (numpy's ``mod`` and Python's ``%``) takes the sign of the divisor, ``fmod`` that of
the dividend (C's). An integer division by zero gives 0, as numpy's loops do (with a warning).

Derivatives: the rounding ops and ``floor_divide`` are piecewise constant, with derivative 0
(undefined at the jumps, where JAX and PyTorch also give 0). ``remainder`` and ``fmod`` are
``a - q b`` with ``q`` a piecewise-constant integer, so their partials are ``1`` and ``-q``.

ONNX has ``Round`` (half to even, as ``rint``) and ``Mod``; ``trunc`` and ``floor_divide`` are
built from ``Floor``, ``Ceil``, ``Div`` and ``Mod``, and float ``remainder`` from ``Mod(fmod=1)``
(ONNX allows only ``fmod=1`` on floats) moved into the divisor's sign.
"""

from __future__ import annotations

import numpy as np

from ..ir.node import Node
from .core import binary_same, scalar, unary_numeric
from .elementwise import binary, div, neg, sub, unary

rint = unary("rint", np.rint, None, jax="rint", onnx="Round", infer=unary_numeric,
             scalar="np.rint({0})")


def _trunc_onnx(ctx, node: Node, inputs: list[str]) -> str:
    negative = ctx.op("Less", [inputs[0], ctx.scalar(0, node)])
    return ctx.op("Where", [negative, ctx.op("Ceil", inputs), ctx.op("Floor", inputs)])


trunc = unary("trunc", np.trunc, None, jax="trunc", onnx=_trunc_onnx, scalar="np.trunc({0})")


def _not_bool(types):
    out = binary_same(types)
    return unary_numeric([out])


def _quotient(a: Node, b: Node, z: Node) -> Node:
    """The integer q with z = a - q b (exact: a - z is a multiple of b up to rounding)."""
    return rint(div(sub(a, z), b))


def _remainder_partials(a: Node, b: Node, z: Node) -> tuple[Node, Node]:
    return scalar(1, a), neg(_quotient(a, b, z))  # d(a - q b) = da - q db


def _zero_divisor(ctx, node: Node, inputs: list[str], value: str) -> str:
    """``value``, with 0 where an integer divisor is 0 (ONNX leaves that undefined)."""
    if node.dtype.kind == "f":
        return value
    zero = ctx.scalar(0, node)
    return ctx.op("Where", [ctx.op("Equal", [inputs[1], zero]), zero, value])


def _sign_differs(ctx, x: str, y: str, zero: str) -> str:
    return ctx.op("Xor", [ctx.op("Less", [x, zero]), ctx.op("Less", [y, zero])])


def _remainder_onnx(ctx, node: Node, inputs: list[str]) -> str:
    if node.dtype.kind != "f":
        return _zero_divisor(ctx, node, inputs, ctx.op("Mod", inputs, fmod=0))
    a, b = inputs
    zero = ctx.scalar(0, node)
    r = ctx.op("Mod", inputs, fmod=1)
    move = ctx.op("And", [ctx.op("Not", [ctx.op("Equal", [r, zero])]),
                          _sign_differs(ctx, r, b, zero)])
    return ctx.op("Where", [move, ctx.op("Add", [r, b]), r])


def _fmod_onnx(ctx, node: Node, inputs: list[str]) -> str:
    return _zero_divisor(ctx, node, inputs, ctx.op("Mod", inputs, fmod=1))


def _floor_divide_onnx(ctx, node: Node, inputs: list[str]) -> str:
    """numpy's loops: integers truncate with Div and step down where the remainder's sign
    differs from the divisor's; floats floor (a - fmod(a, b)) / b (1.0 // 0.1 is 9.0, not
    floor(10.0)), rounding up a quotient that ends above .5, and give a / b for b == 0."""
    a, b = inputs
    zero, one = ctx.scalar(0, node), ctx.scalar(1, node)
    mod = ctx.op("Mod", inputs, fmod=1)
    step = ctx.op("And", [ctx.op("Not", [ctx.op("Equal", [mod, zero])]),
                          _sign_differs(ctx, mod, b, zero)])
    if node.dtype.kind != "f":
        down = ctx.op("Sub", [ctx.op("Div", inputs), ctx.op("Cast", [step],
                                                             to=ctx.elem_type(node.dtype))])
        return _zero_divisor(ctx, node, inputs, down)
    quotient = ctx.op("Div", [ctx.op("Sub", [a, mod]), b])
    quotient = ctx.op("Where", [step, ctx.op("Sub", [quotient, one]), quotient])
    whole = ctx.op("Floor", [quotient])
    up = ctx.op("Greater", [ctx.op("Sub", [quotient, whole]), ctx.scalar(0.5, node)])
    whole = ctx.op("Where", [up, ctx.op("Add", [whole, one]), whole])
    exact = ctx.op("Div", inputs)
    special = ctx.op("Or", [ctx.op("Equal", [b, zero]), ctx.op("Equal", [quotient, zero])])
    signed_zero = ctx.op("Where", [ctx.op("Equal", [b, zero]), exact,
                                   ctx.op("Mul", [exact, zero])])
    return ctx.op("Where", [special, signed_zero, whole])


floor_divide = binary("floor_divide", np.floor_divide, jax="floor_divide", onnx=_floor_divide_onnx,
                      scalar="{T}(floor_divide({0}, {1}))", infer=_not_bool)
remainder = binary("remainder", np.remainder, jax="remainder", onnx=_remainder_onnx,
                   scalar="{T}(remainder({0}, {1}))", infer=_not_bool,
                   partials=_remainder_partials)
fmod = binary("fmod", np.fmod, onnx=_fmod_onnx, scalar="{T}(fmod({0}, {1}))", infer=_not_bool,
              jax="fmod",
              partials=_remainder_partials)
