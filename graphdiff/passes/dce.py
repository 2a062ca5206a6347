"""Dead-code elimination: keep only the nodes the outputs depend on.

A :class:`~graphdiff.ir.graph.Graph` lists the topological order of what its outputs reach, so
a graph built by ``Graph(inputs, outputs)`` holds no dead node, and every other pass returns
such a graph: values a rewrite orphans (the forward value a gradient no longer needs, the
operands of a folded constant) disappear with it. This pass makes that step explicit and
checkable for any ``Graph`` whose node list was assembled another way (or went stale), and it
reports honestly whether it removed anything. Effectful nodes the outputs do not use are
removed too: in this IR an effect (drawing random numbers) matters only through its value.

>>> import graphdiff as gd
>>> from graphdiff.ir import Graph
>>> x = gd.placeholder((2,), name="x")
>>> graph = Graph([x], [gd.exp(x)])
>>> dce(graph)[1]
False
"""

from __future__ import annotations

from ..ir.graph import Graph, topo_order


def dce(graph: Graph) -> tuple[Graph, bool]:
    """Drop nodes no output depends on."""
    if topo_order(graph.outputs) == graph.nodes:  # list equality: node identity, in order
        return graph, False
    return graph.with_outputs(graph.outputs), True
