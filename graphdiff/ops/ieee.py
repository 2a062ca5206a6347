"""IEEE-754 functions: ``fmax``/``fmin`` (NaN ignored), ``copysign``, ``signbit``, ``isinf``.

``fmax(a, b)`` is ``a`` where ``a >= b`` or ``b`` is NaN, else ``b``: a NaN operand loses unless
both are NaN (``maximum`` propagates it). Its derivative goes to the chosen operand, split on
ties, as ``maximum``'s does. ``copysign(a, b)`` is ``|a|`` with the sign bit of ``b``: its
derivative is +-1 in ``a`` and 0 in ``b``.

ONNX has ``IsInf`` but no sign-bit test: ``signbit`` is exported as ``x < 0 or (x == 0 and
1/x < 0)``, which reads -0.0 right but a NaN's sign bit as False (numpy reads the bit).
"""

from __future__ import annotations

import numpy as np

from ..ir.node import Node
from .core import binary_float, defop, float_predicate, scalar
from .elementwise import (
    binary,
    choice_partials,
    greater,
    isnan,
    less,
    logical_or,
    not_equal,
    where,
)


def _nan_ignoring(op_type: str):
    def lower(ctx, node: Node, inputs: list[str]) -> str:
        chosen = ctx.op(op_type, inputs)
        if node.dtype.kind != "f":
            return chosen
        a, b = inputs
        chosen = ctx.op("Where", [ctx.op("IsNaN", [a]), b, chosen])
        return ctx.op("Where", [ctx.op("IsNaN", [b]), a, chosen])

    return lower


fmax = binary("fmax", np.fmax, jax="fmax", onnx=_nan_ignoring("Max"), commutative=True,
              scalar="({0} if {0} >= {1} or {1} != {1} else {1})",
              partials=choice_partials(lambda a, b: logical_or(greater(a, b), isnan(b))))
fmin = binary("fmin", np.fmin, jax="fmin", onnx=_nan_ignoring("Min"), commutative=True,
              scalar="({0} if {0} <= {1} or {1} != {1} else {1})",
              partials=choice_partials(lambda a, b: logical_or(less(a, b), isnan(b))))


def signbit_onnx(ctx, x: str, like: Node) -> str:
    """The ONNX value ``x < 0 or (x == 0 and 1 / x < 0)`` (-0.0 too; NaN gives False)."""
    zero = ctx.scalar(0, like)
    negative_zero = ctx.op("And", [ctx.op("Equal", [x, zero]),
                                   ctx.op("Less", [ctx.op("Reciprocal", [x]), zero])])
    return ctx.op("Or", [ctx.op("Less", [x, zero]), negative_zero])


signbit = defop("signbit", float_predicate, np.signbit, elementwise=True, out_arg=True,
                jax="signbit",
                differentiable=False, scalar="np.signbit({0})",
                onnx=lambda ctx, n, i: signbit_onnx(ctx, i[0], n.inputs[0]))
isinf = defop("isinf", float_predicate, np.isinf, jax="isinf", elementwise=True, out_arg=True,
              differentiable=False, onnx="IsInf", scalar="np.isinf({0})")


def _copysign_partials(a: Node, b: Node, z: Node) -> tuple[Node, None]:
    flipped = not_equal(signbit(a), signbit(b))  # d copysign(a, b) = +-da, 0 db
    return where(flipped, scalar(-1, a), scalar(1, a)), None


def _copysign_onnx(ctx, node: Node, inputs: list[str]) -> str:
    magnitude = ctx.op("Abs", [inputs[0]])
    return ctx.op("Where", [signbit_onnx(ctx, inputs[1], node), ctx.op("Neg", [magnitude]),
                            magnitude])


copysign = binary("copysign", np.copysign, onnx=_copysign_onnx, scalar="np.copysign({0}, {1})",
                  jax="copysign",
                  infer=binary_float, partials=_copysign_partials)
