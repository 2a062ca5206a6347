"""Graph walks that stop at given nodes, so work stays proportional to a region's size."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from ..ir.node import Node


def topo_order_until(outputs: Iterable[Node], leaves: Collection[Node]) -> list[Node]:
    """The nodes the outputs depend on, each after its inputs, not descending below ``leaves``
    (which are included when reached). Iterative: no recursion limit."""
    order: list[Node] = []
    seen: set[Node] = set()
    for root in outputs:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(() if root in leaves else root.inputs))]
        while stack:
            node, pending = stack[-1]
            for child in pending:
                if child not in seen:
                    seen.add(child)
                    stack.append((child, iter(() if child in leaves else child.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order
