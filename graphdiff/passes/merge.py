"""Loop merging: a loop whose results begin with a larger twin's is read from the twin.

The reverse-mode rule of a loop (``graphdiff/autodiff/control_rules.py``) runs the forward loop
again, returning its residuals as extra outputs: a ``scan`` over the same operands, with the
same attributes and the same parameters, whose body returns the primal body's carries and ys
and then the residuals; for a ``while_loop``, the same loop with ``stack`` set, pushing the
residuals. Without this pass the forward loop runs twice. ``merge_loops`` finds each pair
(``passes/loops.py: twins``; the regions are compared by structure, so fresh parameters of the
same types match too) and redirects every ``result`` of the smaller loop to the same result of
the larger one, which then runs once for both. ``simplify`` merges first, while the two bodies
are still copies (each body is simplified with its own use counts, which may tell them apart),
and ``cse`` again, for twins that only became so after cleaning.

>>> import numpy as np, graphdiff as gd
>>> from graphdiff.ir import Graph
>>> xs = gd.placeholder((6, 3), "float64", name="xs")
>>> W = gd.variable(np.eye(3) * 0.5, name="W")
>>> last, _ = gd.scan(lambda h, x: (gd.tanh(h @ W + x), None), gd.zeros(3, "float64"), xs)
>>> loss = gd.sum(last)
>>> graph = Graph([xs], [loss, gd.grad(loss, W)])
>>> graph.op_counts()["scan"], merge_loops(graph)[0].op_counts()["scan"]
(3, 2)
"""

from __future__ import annotations

from ..ir.graph import Graph
from ..ir.node import Node
from ..ops.core import result
from .loops import twins
from .regions import has_regions, region_pass
from .rewrite import build, rewrite_graph


@region_pass
def merge_loops(graph: Graph) -> tuple[Graph, bool]:
    """Read every loop that a larger twin extends from the twin (in regions too)."""
    if not has_regions(graph):
        return graph, False
    graph, changed = rewrite_graph(graph, _no_rule, regions=merge_loops)
    graph, merged = merge_twins(graph)
    return graph, changed or merged


def merge_twins(graph: Graph) -> tuple[Graph, bool]:
    """``merge_loops`` on this graph's own nodes only (``simplify`` and ``cse`` call it at
    every level of their own walks into regions)."""
    changed = False
    while True:  # a merge may make the loops that read the merged ones twins in turn
        into = twins(graph.nodes) if has_regions(graph) else {}
        if not into:
            return graph, changed

        def redirect(n: Node, into: dict[Node, Node] = into) -> Node | None:
            if n.op is not result or n.inputs[0] not in into:
                return None
            return build(result, [into[n.inputs[0]]], dict(n.attrs), like=n)

        graph, _ = rewrite_graph(graph, redirect)
        changed = True


def _no_rule(node: Node) -> None:
    return None
