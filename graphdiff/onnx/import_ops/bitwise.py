"""Import of ONNX's bitwise ops: BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot and BitShift.

graphdiff's ops follow numpy, which defines what ONNX leaves open: a shift by at least the
width gives 0 (and -1 for a negative operand shifted right, an arithmetic shift).
"""

from __future__ import annotations

from ...ir.node import Node
from ...ops import integer as B
from ..importer import ImportContext, OnnxNode, onnx_import

_BINARY = {"BitwiseAnd": B.bitwise_and, "BitwiseOr": B.bitwise_or,
           "BitwiseXor": B.bitwise_xor}


def _integers(ctx: ImportContext, node: OnnxNode, count: int) -> list[Node]:
    tensors = [ctx.tensor(node, i) for i in range(count)]
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        raise node.fail(f"operands have different dtypes {sorted(d.name for d in dtypes)}")
    if tensors[0].dtype.kind not in "iu":
        raise node.fail(f"operands must be integers, got {tensors[0].dtype.name}")
    return tensors


@onnx_import(*_BINARY)
def _bitwise(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    return [_BINARY[node.proto.op_type](*_integers(ctx, node, 2))]


@onnx_import("BitwiseNot")
def _bitwise_not(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    return [B.bitwise_not(*_integers(ctx, node, 1))]


@onnx_import("BitShift")
def _bit_shift(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    direction = node.string("direction")
    shifts = {"LEFT": B.left_shift, "RIGHT": B.right_shift}
    if direction not in shifts:
        raise node.fail(f"attribute 'direction' must be LEFT or RIGHT, got {direction!r}")
    return [shifts[direction](*_integers(ctx, node, 2))]
