"""Closing a region over the values it uses from outside.

A loop body or branch is built by calling user code on fresh parameters; that code may use any
tensor in scope (a weight, an input, a value of an enclosing body). A region must be closed (its
graph may reach nothing but its parameters and constants), so :func:`close_region` finds the
values it reads from outside and turns each into an extra parameter; the node that owns the
region takes them as operands. A value computed inside that depends on no parameter (a weight's
transpose) moves out with them, so loop-invariant work is done once, outside the loop.

Values built before the region began (``start``, a node uid) are outside by definition, so the
walk never descends into the enclosing graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .graph import Graph, topo_order
from .node import Node, Source, _unique, with_inputs


def next_uid() -> int:
    """A mark: nodes created after it have larger uids (pass it as ``start``)."""
    return next(_unique)


def close_region(params: Sequence[Node], outputs: Sequence[Node], start: int,
                 make_param: Callable[[Node], Node], *,
                 hoist_effectful: bool = False) -> tuple[Graph, list[Node]]:
    """The closed region computing ``outputs`` from ``params``, and the outside values it reads
    (in the order its extra parameters follow ``params``).

    ``make_param(node)`` makes the fresh parameter standing for the outside value ``node``.
    An effectful node (a random draw) that depends on no parameter stays inside, so a loop
    draws afresh at every step, unless ``hoist_effectful``: a checkpointed function recomputed
    in the backward pass must see the draws of its forward pass.
    """
    param_set = set(params)
    inside: dict[Node, bool] = {}  # node -> depends on a parameter (or must stay inside)
    order: list[Node] = []
    stack = [(o, False) for o in reversed(outputs)]
    while stack:
        node, expanded = stack.pop()
        if node in inside and not expanded:
            continue
        if node in param_set:
            inside[node] = True
            continue
        if node.uid < start or node.op.source:
            inside[node] = node.op.source is Source.CONSTANT  # a constant stays a constant
            continue
        if not expanded:
            stack.append((node, True))
            stack.extend((v, False) for v in node.inputs if v not in inside)
            continue
        if node in inside:
            continue
        inside[node] = (node.op.effectful and not hoist_effectful) or any(
            inside[v] and not _is_constant(v) for v in node.inputs)
        order.append(node)

    mapping: dict[Node, Node] = {p: p for p in params}
    free: list[Node] = []

    def value_of(node: Node) -> Node:
        if node not in mapping:
            if inside.get(node):  # a constant (inside nodes are mapped before their users)
                mapping[node] = node
            else:
                free.append(node)
                mapping[node] = make_param(node)
        return mapping[node]

    for node in order:
        if inside[node]:
            mapping[node] = with_inputs(node, tuple(value_of(v) for v in node.inputs))
    new_outputs = [value_of(o) for o in outputs]
    extra = [mapping[f] for f in free]
    return Graph(list(params) + extra, new_outputs), free



def close_regions(traces: Sequence[tuple[Sequence[Node], Sequence[Node], Sequence[Node], int]],
                  make_param: Callable[[Node], Node], *,
                  hoist_effectful: bool = False) -> tuple[list[Graph], list[Node]]:
    """Several regions over one shared list of outside values (the branches of a ``switch``,
    the rules of a ``custom`` node), so that one operand list feeds them all.

    Each trace ``(lead, tail, outputs, start)`` closes (see :func:`close_region`) into a region
    whose parameters are its ``lead`` ones, then one per value that any of the regions reads
    from outside (the same list, in the same order, for every region), then its ``tail`` ones.
    Returns the regions and those outside values.
    """
    closed = [close_region([*lead, *tail], outputs, start, make_param,
                           hoist_effectful=hoist_effectful)
              for lead, tail, outputs, start in traces]
    outside = list(dict.fromkeys(v for _, free in closed for v in free))
    regions = []
    for (region, free), (lead, tail, _, _) in zip(closed, traces):
        own = len(lead) + len(tail)
        found = dict(zip(free, region.inputs[own:]))
        shared = [found[v] if v in found else make_param(v) for v in outside]
        regions.append(Graph([*region.inputs[:len(lead)], *shared,
                              *region.inputs[len(lead):own]], region.outputs))
    return regions, outside


def _is_constant(node: Node) -> bool:
    return node.op.source is Source.CONSTANT


def substitute(outputs: Sequence[Node], mapping: dict[Node, Node]) -> list[Node]:
    """``outputs`` rebuilt with every key of ``mapping`` replaced by its value (the walk stops at
    the keys). A node whose operands did not change is kept; pure nodes over new operands
    intern; an effectful node over new operands is a new node."""
    memo = dict(mapping)
    for node in topo_order(outputs, set(mapping)):
        if node not in memo:
            inputs = tuple(memo[v] for v in node.inputs)
            unchanged = all(new is old for new, old in zip(inputs, node.inputs))
            memo[node] = node if unchanged else with_inputs(node, inputs)
    return [memo[o] for o in outputs]


def inline(region: Graph, values: Sequence[Node]) -> list[Node]:
    """The region's outputs computed outside it, from ``values`` in place of its parameters."""
    return substitute(region.outputs, dict(zip(region.inputs, values)))
