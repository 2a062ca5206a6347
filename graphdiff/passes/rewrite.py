"""The rewrite driver: one linear walk that rebuilds a graph bottom-up, applying a rule per node.

Nodes are immutable, so a rewrite never edits a node: it rebuilds each node from its rewritten
inputs (interning merges the result with any equal node that already exists), then offers the
rebuilt node to ``rewrite_node``. If that returns a replacement, the replacement is itself
walked (its new sub-nodes are rewritten too) until no rule applies: a fixed point reached in
one pass over the graph. Every node is visited once and memoized, so the cost is linear in the
graph size plus the nodes the rules create; nothing is ever re-scanned.

Rules must terminate: a replacement may not contain the node it replaces, and no chain of
rules may lead back to a node it started from. The walk uses an explicit stack, so graph depth is
not limited by Python's recursion limit.

>>> import graphdiff as gd
>>> from graphdiff.ir import Graph
>>> from graphdiff.ops.elementwise import neg
>>> x = gd.placeholder((3,), "float64", name="x")
>>> graph = Graph([x], [gd.negative(gd.negative(x))])
>>> new, changed = rewrite_graph(graph, lambda n: n.inputs[0].inputs[0]
...                              if n.op is neg and n.inputs[0].op is neg else None)
>>> changed, new.outputs[0] is x
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..ir.graph import Graph
from ..ir.node import Node, OpDef, make_node, with_inputs

NodeRewrite = Callable[[Node], Node | None]


def rebuild(node: Node, inputs: tuple[Node, ...]) -> Node:
    """``node`` with new inputs (the same node when they are unchanged), keeping its name and
    the user's line it was created at."""
    if all(new is old for new, old in zip(inputs, node.inputs)):
        return node
    return with_inputs(node, inputs)


def build(op: OpDef, inputs: tuple[Node, ...] | list[Node], attrs: dict[str, Any],
          like: Node) -> Node:
    """A node made by a rewrite, attributed to the user's line of the node it replaces (and
    cheaper than ``op(...)``, which looks up the caller's line on the stack)."""
    return make_node(op, tuple(inputs), attrs, location=like.location)


def rewrite_graph(graph: Graph, rewrite_node: NodeRewrite,
                  on_final: Callable[[Node, Node], None] | None = None,
                  regions: Callable[[Graph], tuple[Graph, bool]] | None = None
                  ) -> tuple[Graph, bool]:
    """Rewrite every node of ``graph`` to a fixed point; return the new graph and whether any
    output changed. ``on_final(original, final)`` is called once per node of ``graph`` when
    its final replacement is known (``simplify`` uses it to carry use counts over).
    ``regions``: the pass to run inside the regions of a node that owns some (loop bodies,
    branches), before the node is offered to ``rewrite_node`` (usually the calling pass
    itself, which recurses into nested regions; ``passes/regions.py``)."""
    if regions is not None:
        from .regions import rewrite_regions
    originals = set(graph.nodes) if on_final is not None else ()
    memo: dict[Node, Node] = {}
    # Stack entries are nodes to rewrite, or (original, replacement) pairs: once the
    # replacement is final, the original maps to what the replacement became.
    stack: list[Any] = list(reversed(graph.outputs))
    while stack:
        item = stack[-1]
        if type(item) is tuple:
            stack.pop()
            original, replacement = item
            memo[original] = memo[replacement]
            if original in originals:
                on_final(original, memo[original])
            continue
        if item in memo:
            stack.pop()
            continue
        pending = [value for value in item.inputs if value not in memo]
        if pending:
            stack.extend(reversed(pending))  # operands left to right
            continue
        stack.pop()
        rebuilt = rebuild(item, tuple(memo[value] for value in item.inputs))
        if rebuilt.regions and regions is not None:
            rebuilt = rewrite_regions(rebuilt, regions)
        replacement = rewrite_node(rebuilt)
        if replacement is None or replacement is rebuilt:
            memo[item] = rebuilt
            memo[rebuilt] = rebuilt
            if item in originals:
                on_final(item, rebuilt)
        else:
            stack.append((item, replacement))
            stack.append(replacement)
    outputs = [memo[node] for node in graph.outputs]
    changed = any(new is not old for new, old in zip(outputs, graph.outputs))
    return (graph.with_outputs(outputs) if changed else graph), changed
