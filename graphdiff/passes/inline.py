"""Inline functions with custom derivatives: a ``custom`` node becomes the function's nodes.

The ``custom`` op (``graphdiff/ops/custom.py``) keeps a function and its derivative rules as
regions, so differentiation applies the rules instead of looking inside. Once the derivatives
are built, which the pipeline runs after, the marker has no job left: replacing each node by
its function's nodes lets the later passes (folding, simplification, CSE, fusion) and the
memory planner see the primitives, and runs them without a sub-program call. The reference
(``passes="none"``) keeps the node, which runs its region.
"""

from __future__ import annotations

from ..ir.graph import Graph, region_walk
from ..ir.node import Node
from ..ops.custom import custom
from .regions import region_pass
from .rewrite import rewrite_graph


def _inline(node: Node) -> Node | None:
    return node.op.expand(node) if node.op is custom else None


@region_pass
def inline_custom(graph: Graph) -> tuple[Graph, bool]:
    """Replace every ``custom`` node by its function's nodes (in loop bodies and branches too:
    a checkpointed block inside a scan body)."""
    if not any(node.op is custom for node in region_walk(graph)):
        return graph, False
    return rewrite_graph(graph, _inline, regions=inline_custom)
