"""A graph: the nodes between some inputs and some outputs, in topological order.

Nodes are immutable and shared, so a Graph is only a view: its inputs (placeholders), its
outputs, and the topological order of everything the outputs depend on. Passes build new nodes
and return a new Graph; the old one stays valid.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from .node import Node

if TYPE_CHECKING:
    import networkx


def topo_order(outputs: Iterable[Node], leaves: Collection[Node] = ()) -> list[Node]:
    """Every node the outputs depend on, each after its inputs (iterative: no recursion limit).

    The walk does not descend below ``leaves`` (included when reached), so a region's walk
    costs the region's size, not the whole graph's (checkpointed blocks, custom rules).
    """
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


class Graph:
    """Inputs, outputs and the topological order of the nodes between them.

    ``print(graph)`` gives the typed SSA text form; ``graph.to_networkx()`` a networkx DiGraph.
    """

    __slots__ = ("inputs", "outputs", "nodes")

    def __init__(self, inputs: Sequence[Node], outputs: Sequence[Node]) -> None:
        self.inputs: tuple[Node, ...] = tuple(inputs)
        self.outputs: tuple[Node, ...] = tuple(outputs)
        self.nodes: list[Node] = topo_order(self.outputs)

    def with_outputs(self, outputs: Sequence[Node]) -> Graph:
        """The same inputs with new outputs (what a pass returns)."""
        return Graph(self.inputs, outputs)

    def users(self) -> dict[Node, list[Node]]:
        """For each node, the nodes that consume it (in order, with repeats for repeated use)."""
        result: dict[Node, list[Node]] = {node: [] for node in self.nodes}
        for node in self.nodes:
            for value in node.inputs:
                result[value].append(node)
        return result

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.op.name] = counts.get(node.op.name, 0) + 1
        return counts

    def __len__(self) -> int:
        return len(self.nodes)

    def __str__(self) -> str:
        from .printer import format_graph

        return format_graph(self)

    def __repr__(self) -> str:
        return f"<Graph: {len(self.inputs)} inputs, {len(self.nodes)} nodes, " \
               f"{len(self.outputs)} outputs>"

    def verify(self) -> None:
        """Raise GraphError if the graph is malformed (see ``graphdiff.ir.verify``)."""
        from .verify import verify

        verify(self)

    def to_networkx(self) -> networkx.MultiDiGraph:
        """A networkx MultiDiGraph with one vertex per node (keyed by the node's printed name)
        and one edge per operand use, for users who analyse graphs."""
        import networkx as nx

        from .printer import node_names

        names = node_names(self)
        result = nx.MultiDiGraph()
        for node in self.nodes:
            result.add_node(names[node], op=node.op.name, type=str(node.type),
                            location=node.location, attrs=dict(node.attrs))
            for position, value in enumerate(node.inputs):
                result.add_edge(names[value], names[node], operand=position)
        return result
