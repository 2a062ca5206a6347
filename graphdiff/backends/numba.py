"""The numba backend: the numpy backend's planned executor, with fused groups as numba loops.

``gd.function(..., backend="numba")`` (``pip install graphdiff[numba]``) runs the fusion pass by
default (``passes="default"`` means the fused pipeline here) and compiles each fused group of a
signature into one loop nest over rows, run by every core (``numba_fused.py``; kernels are
cached on disk, so a second process compiles nothing already compiled). Everything else is the
numpy backend: memory planning, the generated Python program, the numpy kernels of the other
ops; groups the generator does not handle keep their numpy kernels, and loop bodies and
branches run as numpy sub-programs.

Groups whose largest value is at most ``UNFUSE_AT_MOST_BYTES`` run as their primitives, as the
numpy backend does with its own, larger threshold: below it, a kernel call (argument checks,
allocating its outputs) costs more than the ops it replaces (table 4 of ``python tools/bench.py
numba_backend``; docs/backends.md).

An op needs what the numpy backend needs, and an elementwise op its scalar expression
(``OpDef.scalar``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..ir.node import Node, OpDef
from ..ir.types import TensorType
from ..ops.fused import fused
from . import numba_call, numba_fused
from .numpy import NumpyBackend

UNFUSE_AT_MOST_BYTES = 16 << 10


class NumbaBackend(NumpyBackend):
    name = "numba"
    default_passes = "fused"
    unfuse_at_most = UNFUSE_AT_MOST_BYTES

    def kernel_for(self, node: Node, operand_types: list[TensorType]
                   ) -> Callable[..., Any] | None:
        """The numba kernel of a fused group for these operand types, or None (another op, or
        a group the generator does not handle: its numpy kernel runs it)."""
        if node.op is not fused:
            return None
        shapes = tuple(tuple(int(d) for d in t.shape) for t in operand_types)
        try:
            return numba_call.compiled(node.regions[0], shapes)
        except numba_fused.Unsupported:
            return None

    def missing(self, op: OpDef) -> str | None:
        lacks = super().missing(op)
        if lacks is None and op.elementwise and op.scalar is None:
            return "scalar= (the value on one element, for the loop generator)"
        return lacks


BACKEND = NumbaBackend()
