"""A graph: the nodes between some inputs and some outputs, in topological order.

Nodes are immutable and shared, so a Graph is only a view: its inputs (placeholders), its
outputs, and the topological order of everything the outputs depend on. Passes build new nodes
and return a new Graph; the old one stays valid.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from .node import Node

if TYPE_CHECKING:
    import networkx


def topo_order(outputs: Iterable[Node], leaves: Collection[Node] = ()) -> list[Node]:
    """Every node the outputs depend on, each after its inputs (iterative: no recursion limit).

    The walk does not descend below ``leaves`` (included when reached), so a region's walk
    costs the region's size, not the whole graph's (checkpointed blocks, custom rules).
    """
    if not isinstance(leaves, set | frozenset):
        leaves = set(leaves)  # a region's parameters come as a tuple (a fused group has 1000s)
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


class StructureKey:
    """A region's structure as a hashable value with its hash computed once (node interning
    hashes a loop's key at every lookup)."""

    __slots__ = ("value", "_hash")

    def __init__(self, value: tuple) -> None:
        self.value = value
        self._hash = hash(value)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StructureKey) and self._hash == other._hash \
            and self.value == other.value


class Graph:
    """Inputs, outputs and the topological order of the nodes between them.

    A graph is also what a node owns as a region (a loop body, a branch, a fused group): its
    inputs are the region's parameters and its outputs the region's results.
    ``print(graph)`` gives the typed SSA text form; ``graph.to_networkx()`` a networkx DiGraph.
    """

    __slots__ = ("inputs", "outputs", "nodes", "_structure")

    def __init__(self, inputs: Sequence[Node], outputs: Sequence[Node]) -> None:
        self.inputs: tuple[Node, ...] = tuple(inputs)
        self.outputs: tuple[Node, ...] = tuple(outputs)
        self.nodes: list[Node] = topo_order(self.outputs, self.inputs)
        self._structure: StructureKey | None = None

    def structure(self) -> StructureKey:
        """The graph up to the identity of its parameters: equal for two regions built from
        equal code over fresh parameters of the same types (interning and CSE compare it)."""
        if self._structure is None:
            index: dict[Node, int] = {}
            entries: list[tuple] = [("param", p.type) for p in self.inputs]
            for position, p in enumerate(self.inputs):
                index.setdefault(p, position)
            for node in self.nodes:
                if node in index:
                    continue
                index[node] = len(entries)
                if node.op.source or node.op.effectful:
                    entries.append(("source", node.uid))  # compared by identity
                else:
                    entries.append((node.op.name, tuple(index[v] for v in node.inputs))
                                   + node._key[2:])
            outputs = tuple(index[o] for o in self.outputs)
            self._structure = StructureKey((tuple(entries), outputs))
        return self._structure

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
        """How many nodes of each op, regions included."""
        counts: dict[str, int] = {}
        for node in region_walk(self):
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


def region_walk(graph: Graph) -> Iterator[Node]:
    """Every node of ``graph`` and, depth first, of the regions its nodes own: the one helper
    through which walks step into loop bodies, branches and fused groups."""
    stack: list[Iterator[Node]] = [iter(graph.nodes)]
    while stack:
        for node in stack[-1]:
            yield node
            if node.regions:
                stack.extend(iter(r.nodes) for r in reversed(node.regions))
                break
        else:
            stack.pop()
