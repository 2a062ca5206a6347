"""Dead-code elimination: keep only the nodes the outputs depend on, in regions too.

A :class:`~graphdiff.ir.graph.Graph` lists the topological order of what its outputs reach, so
a graph built by ``Graph(inputs, outputs)`` holds no dead node, and every other pass returns
such a graph: values a rewrite orphans (the forward value a gradient no longer needs, the
operands of a folded constant) disappear with it. This pass makes that step explicit and
checkable for any ``Graph`` whose node list was assembled another way (or went stale), and it
reports honestly whether it removed anything. Effectful nodes the outputs do not use are
removed too: in this IR an effect (drawing random numbers) matters only through its value.

Inside a node that owns regions, dead code is what the node computes and nobody reads
(``passes/loops.py: prune``): a loop's result no ``result`` node reads, when the loop itself
does not need it either (a carry read by the body only to compute its own next value, a ys
output, a stack), a branch output nobody reads, and the operands whose parameters no region
reads (or that repeat another operand). A carry the body passes through unchanged is a
constant: its result is its initial value. The pruned regions are cleaned the same way,
recursively, so a loop nested in a body loses what the outer loop no longer asks of it.

>>> import graphdiff as gd
>>> from graphdiff.ir import Graph
>>> x = gd.placeholder((2,), name="x")
>>> graph = Graph([x], [gd.exp(x)])
>>> dce(graph)[1]
False
>>> xs = gd.placeholder((5, 2), "float64", name="xs")
>>> (total, count), ys = gd.scan(lambda c, x: ((c[0] + x, c[1] + 1.0), x * 2.0),
...                              (gd.zeros(2, "float64"), gd.constant(0.0)), xs)
>>> pruned, changed = dce(Graph([xs], [total]))
>>> changed, len(pruned.nodes[-2].type)       # one carry left: no count, no ys
(True, 1)
"""

from __future__ import annotations

from ..ir.graph import Graph, topo_order
from ..ir.node import Node, same_nodes
from ..ops.core import result
from .loops import prune
from .regions import region_pass, result_readers
from .rewrite import build, rebuild


@region_pass
def dce(graph: Graph) -> tuple[Graph, bool]:
    """Drop nodes no output depends on, and the unused parts of loops and branches."""
    order = topo_order(graph.outputs)
    stale = not same_nodes(order, graph.nodes)
    if not any(node.regions for node in order):
        return (graph.with_outputs(graph.outputs), True) if stale else (graph, False)
    read = result_readers(order, graph.outputs)
    mapped: dict[Node, Node] = {}
    moved: dict[Node, dict] = {}  # old node with several results -> where its results went
    for node in order:
        inputs = tuple(mapped[v] for v in node.inputs)
        if node.regions:
            new, index_map = prune(rebuild(node, inputs), read.get(node), dce)
            mapped[node] = new
            if index_map is not None:
                moved[node] = index_map
        elif node.op is result and node.inputs[0] in moved:
            value = moved[node.inputs[0]][node.attrs["index"]]
            mapped[node] = value if isinstance(value, Node) else \
                build(result, inputs, {"index": value}, like=node)
        else:
            mapped[node] = rebuild(node, inputs)
    outputs = [mapped[o] for o in graph.outputs]
    if all(new is old for new, old in zip(outputs, graph.outputs)):
        return (graph.with_outputs(graph.outputs), True) if stale else (graph, False)
    return graph.with_outputs(outputs), True
