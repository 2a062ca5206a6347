"""Common-subexpression elimination for what interning alone does not merge.

Nodes are hash-consed: building ``mul(a, b)`` twice gives one node, so most duplicates never
exist. Two kinds slip through, and this pass merges both by value numbering in one walk:

- **commutative operand order**: ``a * b`` and ``b * a`` have different keys. For every
  commutative op (``OpDef.commutative``: add, mul, maximum, minimum, equal, ...) the pass keys
  the node by its operands as a set (sorted by creation id); a node whose key was seen before
  is replaced by the first one. Nodes without a twin are left as they are, so the pass changes
  nothing (and rebuilds nothing) when there is nothing to merge;
- **large constants**: only constants up to 64 elements are interned by value; equal larger
  constants (same dtype, shape and bytes) are merged here.

Effectful nodes (random numbers) are never merged: two draws are two values even when they
look alike. Placeholders and variables are never merged either: each is its own value.

>>> import graphdiff as gd
>>> from graphdiff.ir import Graph
>>> a, b = gd.placeholder((2,), name="a"), gd.placeholder((2,), name="b")
>>> graph = Graph([a, b], [a * b + b * a])
>>> len(graph), len(cse(graph)[0])
(5, 4)
"""

from __future__ import annotations

from ..ir.graph import Graph
from ..ir.node import Node
from .rewrite import rewrite_graph


def cse(graph: Graph) -> tuple[Graph, bool]:
    """Merge commutative permutations and equal large constants."""
    seen: dict[tuple, Node] = {}

    def first_equal(node: Node) -> Node | None:
        op = node.op
        if op.name == "constant":
            data = node.data
            key: tuple = ("constant", data.dtype.str, data.shape, data.tobytes())
        elif op.commutative and not op.effectful:
            operands = tuple(sorted(node.inputs, key=lambda value: value.uid))
            key = (op.name, operands, tuple(sorted(node.attrs.items())))
        else:
            return None
        first = seen.setdefault(key, node)
        return None if first is node else first

    return rewrite_graph(graph, first_equal)
