"""Candidate schedules: topological orders of the nodes a call computes.

Each order takes the nodes to schedule (``computed``, in the graph's topological order; every
other operand, a source or a value folded per signature, is given), the values handed back to
the caller, and the concrete types.

The memory a call needs depends on the order the nodes run in. The planner tries each order
here and keeps the one whose plan has the smallest peak (``runtime/program.py``):

- ``dfs``: the graph's own order (depth-first from the outputs, inputs in operand order);
- ``greedy``: list scheduling that, among the nodes whose operands are ready, runs the one that
  frees the most bytes net of what it allocates (ties: the earlier in ``dfs``), so a chain is
  consumed before a new one is started;
- ``dfs-reversed``: depth-first from the outputs taken in reverse order, which visits the
  last-requested results (variable updates) first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..ir.graph import topo_order
from ..ir.node import Node
from ..ir.types import TensorType
from .memory import nbytes, view_root

Order = Callable[[Sequence[Node], Sequence[Node], dict[Node, TensorType]], list[Node]]


def dfs(computed: Sequence[Node], outputs: Sequence[Node],
        types: dict[Node, TensorType]) -> list[Node]:
    return list(computed)


def dfs_reversed(computed: Sequence[Node], outputs: Sequence[Node],
                 types: dict[Node, TensorType]) -> list[Node]:
    wanted = set(computed)
    return [n for n in topo_order(reversed(outputs)) if n in wanted]


def greedy(computed: Sequence[Node], outputs: Sequence[Node],
           types: dict[Node, TensorType]) -> list[Node]:
    """Memory-greedy list scheduling (see the module docstring)."""
    rank = {node: i for i, node in enumerate(computed)}
    users: dict[Node, list[Node]] = {n: [] for n in computed}
    waiting: dict[Node, int] = {}
    for node in computed:
        operands = {v for v in node.inputs if v in rank}
        waiting[node] = len(operands)
        for value in operands:
            users[value].append(node)
    kept = {view_root(n) for n in outputs}
    remaining = {n: len(users[n]) for n in computed}  # unfinished users of each value

    def size(node: Node) -> int:
        return 0 if node.op.view or node in kept else nbytes(types[node])

    def gain(node: Node) -> int:
        freed = sum(size(v) for v in set(node.inputs) if v in rank and remaining[v] == 1)
        return freed - size(node)

    ready = [n for n in computed if waiting[n] == 0]
    order: list[Node] = []
    while ready:
        best = max(range(len(ready)), key=lambda i: (gain(ready[i]), -rank[ready[i]]))
        node = ready.pop(best)
        order.append(node)
        for value in set(node.inputs):
            if value in rank:
                remaining[value] -= 1
        for user in users[node]:
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    return order


ORDERS: dict[str, Order] = {"dfs": dfs, "greedy": greedy, "dfs-reversed": dfs_reversed}
