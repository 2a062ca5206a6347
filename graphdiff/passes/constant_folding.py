"""Constant folding: a node whose operands are all constants becomes a constant.

The node's own numpy kernel runs at compile time, on the same arrays and with the same dtype
as at run time, so a folded value is bit-identical to the one the executor would compute
(NaN and Inf included: folding runs under ``np.errstate(all="ignore")`` like the executor).

Limits, so compiling stays cheap and a huge constant is never materialized:

- the result may hold at most ``MAX_FOLD_ELEMENTS`` elements;
- ``broadcast_to`` and ``fill`` are never folded: a broadcast is a free view of its operand, and
  ``broadcast_to(scalar, shape)`` is the canonical form of a uniform tensor (``simplify``
  rewrites a ``fill`` to it), so folding would only materialize copies;
- each operand may hold at most ``MAX_OPERAND_ELEMENTS`` elements (no compile-time matmul of
  large constant matrices);
- shape attributes must be static (a ``fill`` over a symbolic batch dimension waits for the
  run time);
- effectful ops (random numbers) and sources are never folded; an op with a per-signature fast
  path (``fast_kernel``: a sum, a maximum, a matmul) folds with its plain ``kernel``, which
  computes the same values;
- a kernel that raises is left in the graph, so the error is reported at run time with the
  node's context, as it would be without optimization;
- a node that owns regions (a loop, a branch) has no kernel of its own and is never run here;
  its bodies are folded inside (``passes/regions.py``), and ``simplify`` inlines the branch a
  constant index chooses.

>>> import graphdiff as gd
>>> from graphdiff.ir import Graph
>>> x = gd.placeholder((), "float64", name="x")
>>> folded, changed = constant_folding(Graph([x], [x * (gd.constant(2.0) + 1.0)]))
>>> changed, float(folded.outputs[0].inputs[1].data)
(True, 3.0)
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.types import TensorType
from ..ops.shape import broadcast_to
from ..ops.source import CONSTANT, FILL, constant
from .regions import region_pass
from .rewrite import rewrite_graph

MAX_FOLD_ELEMENTS = 4096
MAX_OPERAND_ELEMENTS = 1 << 16
_NOT_FOLDED = (broadcast_to, FILL)


def foldable(node: Node) -> bool:
    """True if ``node`` can be evaluated now: a pure kernel over constants, within the caps."""
    op = node.op
    if op.source or op.effectful or op.kernel is None \
            or op.regions or op in _NOT_FOLDED or type(node.type) is not TensorType:
        return False
    if any(value.op is not CONSTANT for value in node.inputs):
        return False
    size = node.type.static_size()
    if size is None or size > MAX_FOLD_ELEMENTS:
        return False
    if any(value.data.size > MAX_OPERAND_ELEMENTS for value in node.inputs):
        return False
    return all(isinstance(d, int) for name in op.shape_attrs for d in node.attrs[name])


def fold(node: Node) -> Node | None:
    """The constant ``node`` evaluates to, or None if it cannot be folded."""
    if not foldable(node):
        return None
    try:
        with np.errstate(all="ignore"):
            value = np.asarray(node.op.kernel(*[v.data for v in node.inputs], **node.attrs))
    except (ArithmeticError, ValueError, TypeError, IndexError):
        return None  # the executor raises the same error at run time, with context
    if value.dtype != node.dtype or value.shape != node.shape:
        return None  # a kernel disagreeing with its rule: leave it to the run time checks
    return constant(value)


@region_pass
def constant_folding(graph: Graph) -> tuple[Graph, bool]:
    """Replace every foldable node by the constant it evaluates to (in regions too)."""
    return rewrite_graph(graph, fold, regions=constant_folding)
