"""Common-subexpression elimination for what interning alone does not merge.

Nodes are hash-consed: building ``mul(a, b)`` twice gives one node, so most duplicates never
exist. Two kinds slip through, and this pass handles both:

- **commutative operand order**: ``a * b`` and ``b * a`` have different keys. Every commutative
  op (``OpDef.commutative``: add, mul, maximum, minimum, equal, ...) is rebuilt with its operands
  in a canonical order (by creation id), so both spellings become one interned node;
- **large constants**: only constants up to 64 elements are interned by value; equal larger
  constants (same dtype, shape and bytes) are merged here.

Effectful nodes (random numbers) are never merged: they are not interned, and this pass leaves
their identity alone (a rebuilt effectful node is a new, distinct node). Sources other than
constants (placeholders, variables) are never merged either: each is its own value.

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
from .rewrite import build, rewrite_graph


def cse(graph: Graph) -> tuple[Graph, bool]:
    """Merge commutative permutations and equal large constants."""
    constants: dict[tuple, Node] = {}

    def canonical(node: Node) -> Node | None:
        op = node.op
        if op.name == "constant":
            data = node.data
            key = (data.dtype.str, data.shape, data.tobytes())
            first = constants.setdefault(key, node)
            return None if first is node else first
        if op.commutative and not op.effectful:
            ordered = sorted(node.inputs, key=_canonical_key)
            if any(new is not old for new, old in zip(ordered, node.inputs)):
                return build(op, ordered, node.attrs, like=node)
        return None

    return rewrite_graph(graph, canonical)


def _canonical_key(value: Node) -> tuple[bool, int]:
    """Operand order of a commutative op: by creation id, constants last (``x * 2``)."""
    return value.op.name == "constant", value.uid
