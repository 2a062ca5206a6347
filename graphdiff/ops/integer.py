"""Bitwise ops on integers: and, or, xor, not, and the shifts, with numpy's semantics.

Shifts by a count at least the operand's width (or negative) give 0, and -1 for a negative
operand shifted right, as numpy's loops define them (C leaves them undefined). Bool operands
take the logical ops in the API (``True & False``), as numpy's loops for bool do.

No derivative: integers have none. ONNX has ``BitwiseAnd``/``Or``/``Xor``/``Not`` from opset 18
and ``BitShift`` on unsigned integers only: a shift is exported through uint64 (an arithmetic
right shift as ``~(~a >> n)`` for negative ``a``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import OnnxError
from ..ir.node import Node
from ..ir.types import TensorType
from .core import binary_same, defop, require_integer

_BITWISE_OPSET = 18


def _integers(types: Sequence[TensorType]) -> TensorType:
    out = binary_same(types) if len(types) > 1 else types[0]
    require_integer(out, "operand")
    return out


def _needs_bitwise(ctx, node: Node) -> None:
    if ctx.opset < _BITWISE_OPSET:
        raise OnnxError(f"{node.op.name} needs ONNX opset {_BITWISE_OPSET} or later (Bitwise ops); "
                        f"exporting at opset {ctx.opset}")


def _bitwise_onnx(op_type: str) -> Callable:
    def lower(ctx, node: Node, inputs: list[str]) -> str:
        _needs_bitwise(ctx, node)
        return ctx.op(op_type, inputs)

    return lower


def _bitwise(name: str, kernel: np.ufunc, onnx_type: str, symbol: str) -> object:
    return defop(name, _integers, kernel, jax=name, elementwise=True, out_arg=True,
                 commutative=True, differentiable=False, onnx=_bitwise_onnx(onnx_type),
                 scalar=f"{{T}}({{0}} {symbol} {{1}})")


bitwise_and = _bitwise("bitwise_and", np.bitwise_and, "BitwiseAnd", "&")
bitwise_or = _bitwise("bitwise_or", np.bitwise_or, "BitwiseOr", "|")
bitwise_xor = _bitwise("bitwise_xor", np.bitwise_xor, "BitwiseXor", "^")
bitwise_not = defop("bitwise_not", _integers, np.invert, elementwise=True, out_arg=True,
                    jax="invert",
                    differentiable=False, onnx=_bitwise_onnx("BitwiseNot"), scalar="{T}(~{0})")


def _shift_onnx(direction: str) -> Callable:
    """Computed in 64 bits (onnxruntime's Where and Less lack the small integer types, and
    BitShift takes unsigned operands): the operand widened by its sign, the count checked in
    int64, the result cut back to the operand's width by the final Cast."""

    def lower(ctx, node: Node, inputs: list[str]) -> str:
        _needs_bitwise(ctx, node)
        dtype = node.dtype
        int64, uint64 = np.dtype(np.int64), np.dtype(np.uint64)

        def cast(x: str, to: np.dtype) -> str:
            return ctx.op("Cast", [x], to=ctx.elem_type(to))

        count = cast(inputs[1], int64)
        zero = ctx.scalar(0, int64)
        valid = ctx.op("And", [ctx.op("GreaterOrEqual", [count, zero]),
                               ctx.op("Less", [count, ctx.scalar(dtype.itemsize * 8, int64)])])
        if direction == "LEFT" or dtype.kind == "u":
            count = cast(ctx.op("Where", [valid, count, zero]), uint64)
            shifted = ctx.op("BitShift", [cast(inputs[0], uint64), count], direction=direction)
            return cast(ctx.op("Where", [valid, cast(shifted, int64), zero]), dtype)
        # arithmetic right shift: ~(~a >> n) for negative a; a count beyond the width as 63
        a = cast(inputs[0], int64)
        negative = ctx.op("Less", [a, zero])
        magnitude = cast(ctx.op("Where", [negative, ctx.op("BitwiseNot", [a]), a]), uint64)
        count = cast(ctx.op("Where", [valid, count, ctx.scalar(63, int64)]), uint64)
        shifted = cast(ctx.op("BitShift", [magnitude, count], direction="RIGHT"), int64)
        return cast(ctx.op("Where", [negative, ctx.op("BitwiseNot", [shifted]), shifted]), dtype)

    return lower


_IN_RANGE = "0 <= {1} < np.iinfo(np.{t}).bits"
left_shift = defop("left_shift", _integers, np.left_shift, elementwise=True, out_arg=True,
                   jax="left_shift",
                   differentiable=False, onnx=_shift_onnx("LEFT"),
                   scalar=f"({{T}}({{0}} << {{1}}) if {_IN_RANGE} else {{T}}(0))")
right_shift = defop("right_shift", _integers, np.right_shift, elementwise=True, out_arg=True,
                    jax="right_shift",
                    differentiable=False, onnx=_shift_onnx("RIGHT"),
                    scalar=f"({{T}}({{0}} >> {{1}}) if {_IN_RANGE} "
                           f"else ({{T}}(-1) if {{0}} < 0 else {{T}}(0)))")
