"""Small fused groups run as their primitive ops.

A fused kernel pays off only when its arrays do not fit in the cache: it then reads and writes
each block while it is still in cache. When every value of a group fits in one block, the
generated kernel runs the same numpy calls as the unfused ops, plus its own frame, its output
tuple and the ``result`` nodes reading it, and its scratch sits outside the memory planner (3-8%
slower at 64x64). Up to a few MB, whole arrays still stream from the caches about as fast as
numpy computes, so the blocks' extra calls are not paid back either. The size sweep of
``python tools/bench.py fusion`` (forward + gradient, float32, unfused time / fused time with
the kernels forced) measured, at 0.5 / 1 / 2 / 4 / 8 / 16 MB per array: GELU 0.88 / 0.99 /
1.07 / 1.24 / 1.34 / 1.68, LayerNorm 0.95 / 0.93 / 0.95 / 0.96 / 1.10 / 1.17, softmax
cross-entropy 0.88 / 0.88 / 0.90 / 0.85 / 0.85 / 0.89. So, per call signature, groups whose
largest value is at most ``UNFUSE_AT_MOST_BYTES`` (2 MB) are expanded back into their
primitives before the program is generated, in the compiled graph and in each loop body or
branch planned as a sub-program; the function's graph keeps them, as printed.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.types import TensorType
from ..ops.core import expand_derived
from ..ops.fused import fused
from ..ops.fused_codegen import value_bytes

UNFUSE_AT_MOST_BYTES = 2 << 20  # groups whose largest value is this small are expanded


def largest_value_bytes(group: Node, types: dict[Node, TensorType]) -> int:
    """Bytes of the largest value (operand, intermediate or output) of a fused group."""
    shapes = tuple(tuple(int(d) for d in types[v].shape) for v in group.inputs)
    return max(value_bytes(group.regions[0], shapes), default=0)


def small_groups(nodes: Sequence[Node], types: dict[Node, TensorType],
                 at_most: int | None = None) -> set[Node]:
    """The fused groups whose values all fit in ``at_most`` bytes (``UNFUSE_AT_MOST_BYTES``
    unless given) for these types."""
    limit = UNFUSE_AT_MOST_BYTES if at_most is None else at_most
    return {n for n in nodes if n.op is fused and largest_value_bytes(n, types) <= limit}


def expand_groups(outputs: Sequence[Node], groups: set[Node]) -> list[Node]:
    """``outputs`` rebuilt with each group in ``groups`` (and the ``result`` nodes reading it)
    replaced by the primitive ops it stands for."""
    mapped = expand_derived(outputs, groups.__contains__)
    return [mapped[o] for o in outputs]


def without_small_groups(graph: Graph, types: dict[Node, TensorType],
                         at_most: int | None = None) -> Graph:
    """``graph`` (a compiled graph or a region) with its groups of at most ``at_most`` bytes
    per value expanded for these concrete types (a backend with faster kernels passes a
    smaller threshold); ``graph`` itself when it has none. The expanded primitives are new
    nodes, to be specialized."""
    small = small_groups(graph.nodes, types, at_most)
    if not small:
        return graph
    return Graph(graph.inputs, expand_groups(graph.outputs, small))
