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

import heapq
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
    """Memory-greedy list scheduling (see the module docstring).

    The ready nodes sit in a heap keyed by (-gain, dfs rank). A node's gain only grows, when
    one of its operands gets down to its last unfinished user; it is then pushed again, and
    stale entries are skipped when popped. So a step costs O(log n), not a scan of every ready
    node (which made planning quadratic on large graphs).
    """
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
    done: set[Node] = set()

    def size(node: Node) -> int:
        return 0 if node.op.view or node in kept else nbytes(types[node])

    def gain(node: Node) -> int:
        freed = sum(size(v) for v in set(node.inputs) if v in rank and remaining[v] == 1)
        return freed - size(node)

    heap = [(-gain(n), rank[n], n) for n in computed if waiting[n] == 0]
    heapq.heapify(heap)
    order: list[Node] = []
    while heap:
        negative_gain, _, node = heapq.heappop(heap)
        if node in done:
            continue
        current = gain(node)
        if -negative_gain != current:  # stale: its gain grew since it was pushed
            heapq.heappush(heap, (-current, rank[node], node))
            continue
        done.add(node)
        order.append(node)
        for value in set(node.inputs):
            if value in rank:
                remaining[value] -= 1
                if remaining[value] == 1:  # its last user now frees it: a better gain
                    last = next(u for u in users[value] if u not in done)
                    if waiting[last] == 0:
                        heapq.heappush(heap, (-gain(last), rank[last], last))
        for user in users[node]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(heap, (-gain(user), rank[user], user))
    return order


ORDERS: dict[str, Order] = {"dfs": dfs, "greedy": greedy, "dfs-reversed": dfs_reversed}
