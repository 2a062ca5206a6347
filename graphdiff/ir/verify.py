"""The verifier: re-checks every node of a graph and reports the first problem in context.

It checks that each node's op is registered, that its inputs come before it, that its recorded
type is what the op's rule infers from its inputs today, and that every placeholder the outputs
depend on is a declared input. Regions are checked the same way, recursively: a region is closed
(its placeholders are its parameters), and the op's rule checks its signature against the
node's operands and results. Tests run it after every pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import GraphdiffError, GraphError
from .node import OPS, Node, Source
from .printer import format_node, node_names

if TYPE_CHECKING:
    from .graph import Graph

_CONTEXT_LINES = 3


def verify(graph: Graph) -> None:
    """Raise GraphError naming the bad node, with the lines around it, if the graph is wrong."""
    names = node_names(graph)
    position = {node: i for i, node in enumerate(graph.nodes)}
    declared = set(graph.inputs)
    for node in graph.inputs:
        if node.op.source is not Source.PLACEHOLDER:
            _fail(graph, names, node, f"graph input {names[node]} is a {node.op.name}, "
                                      "not a placeholder")
    for index, node in enumerate(graph.nodes):
        if OPS.get(node.op.name) is not node.op:
            _fail(graph, names, node, f"op {node.op.name!r} is not the registered op")
        for value in node.inputs:
            if position.get(value, index) >= index:
                _fail(graph, names, node, f"operand {names.get(value, value)} does not come "
                                          "before its use")
        if node.op.source is Source.PLACEHOLDER and node not in declared:
            _fail(graph, names, node, f"placeholder {names[node]} is used but is not an input")
        if node.op.source:
            continue
        if bool(node.regions) != node.op.regions:
            wanted = "needs" if node.op.regions else "takes no"
            _fail(graph, names, node, f"op {node.op.name} {wanted} regions")
        for k, region in enumerate(node.regions):
            try:
                verify(region)
            except GraphError as exc:
                _fail(graph, names, node, f"region {k}: {exc}")
        try:
            operands = [v.type for v in node.inputs]
            expected = node.op.infer(operands, regions=node.regions, **node.attrs) \
                if node.op.regions else node.op.infer(operands, **node.attrs)
        except GraphdiffError as exc:
            _fail(graph, names, node, f"the op's rule rejects its operands: {exc}")
        if expected != node.type:
            _fail(graph, names, node, f"recorded type {node.type} but the rule gives {expected}")


def _fail(graph: Graph, names: dict[Node, str], node: Node, message: str) -> None:
    index = next((i for i, n in enumerate(graph.nodes) if n is node), 0)
    lo, hi = max(0, index - _CONTEXT_LINES), index + _CONTEXT_LINES + 1
    context = []
    for other in graph.nodes[lo:hi]:
        marker = ">>" if other is node else "  "
        context.append(f"{marker} {format_node(other, names)}")
    raise GraphError(f"invalid graph at {names.get(node, node)} (created at {node.location}): "
                     f"{message}\n" + "\n".join(context))
