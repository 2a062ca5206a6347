"""Common-subexpression elimination for what interning alone does not merge.

Nodes are hash-consed: building ``mul(a, b)`` twice gives one node, so most duplicates never
exist. What slips through, this pass merges by value numbering in one walk:

- **commutative operand order**: ``a * b`` and ``b * a`` have different keys. For every
  commutative op (``OpDef.commutative``: add, mul, maximum, minimum, equal, ...) the pass keys
  the node by its operands as a set (sorted by creation id); a node whose key was seen before
  is replaced by the first one. Nodes without a twin are left as they are, so the pass changes
  nothing (and rebuilds nothing) when there is nothing to merge;
- **large constants**: only constants up to 64 elements are interned by value; equal larger
  constants (same dtype, shape and bytes) are merged here;
- **loops and branches**: their regions are cleaned first (the same pass inside them), then two
  nodes over the same operands whose regions are equal up to the order of commutative operands
  (interning compares regions exactly) become one;
- **a loop and its larger twin**: a loop whose results begin with another's
  (``passes/loops.py: twins``, as ``merge_loops``) is read from the larger one.

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
from ..ops.source import CONSTANT
from .merge import merge_twins
from .regions import region_pass
from .rewrite import rewrite_graph


@region_pass
def cse(graph: Graph) -> tuple[Graph, bool]:
    """Merge commutative permutations, equal large constants, loops and branches over equal
    regions (inside regions too), and loops into their larger twins."""
    seen: dict[tuple, Node] = {}
    numbers: dict[tuple, int] = {}  # canonical region keys, shared by the regions compared

    def first_equal(node: Node) -> Node | None:
        op = node.op
        if op is CONSTANT:
            data = node.data
            key: tuple = ("constant", data.dtype.str, data.shape, data.tobytes())
        elif node.regions and not op.effectful:
            key = (op.name, node.inputs, tuple(sorted(node.attrs.items())),
                   tuple(canonical(r, numbers) for r in node.regions))
        elif op.commutative and not op.effectful:
            operands = tuple(sorted(node.inputs, key=lambda value: value.uid))
            key = (op.name, operands, tuple(sorted(node.attrs.items())))
        else:
            return None
        first = seen.setdefault(key, node)
        return None if first is node else first

    new, changed = rewrite_graph(graph, first_equal, regions=cse)
    new, merged = merge_twins(new)
    return new, changed or merged


def canonical(region: Graph, numbers: dict[tuple, int]) -> tuple:
    """A key equal for two regions that compute the same up to the order of commutative
    operands (and the identity of their parameters): value numbers, bottom up, from one
    ``numbers`` table shared by every region compared."""
    number: dict[Node, int] = {}
    for position, param in enumerate(region.inputs):
        number.setdefault(param, numbers.setdefault(("param", position, param.type),
                                                    len(numbers)))
    for node in region.nodes:
        if node in number:
            continue
        op = node.op
        if op.source or op.effectful:
            key: tuple = ("node", node)  # by identity
        else:
            operands = [number[v] for v in node.inputs]
            if op.commutative:
                operands.sort()
            key = (op.name, tuple(operands), tuple(sorted(node.attrs.items())),
                   tuple(canonical(r, numbers) for r in node.regions))
        number[node] = numbers.setdefault(key, len(numbers))
    return (tuple(p.type for p in region.inputs), tuple(number[o] for o in region.outputs))
