"""Algebraic simplification: the rule table of ``passes/rules.py`` applied to a fixed point.

For each node (operands first, in one linear walk) the pass tries, in order: constant folding
(a rewrite can expose new constant subexpressions), the rules registered for the node's op,
then the rules for every elementwise op. The first rule that returns a replacement wins and
the replacement is walked again, so ``x * 1 * 1`` or ``transpose(transpose(transpose(x)))``
simplify completely in one pass.

The regions of a loop or branch are simplified first (the same pass, on each region, with the
region's own use counts), then the node's own rules run: a loop's invariant values move out of
its body, a constant index chooses its branch. Before its walk the pass merges each loop into a
larger twin (``passes/merge.py``), while their bodies are still copies of each other.

>>> import graphdiff as gd
>>> from graphdiff.ir import Graph
>>> x = gd.placeholder((2, 3), "float64", name="x")
>>> new, changed = simplify(Graph([x], [gd.transpose(gd.transpose(x)) * 1.0]))
>>> changed, new.outputs[0] is x
(True, True)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container

from ..ir.graph import Graph
from ..ir.node import Node, OpDef
from .constant_folding import fold
from .merge import merge_twins
from .regions import region_pass, symbols
from .rewrite import rewrite_graph
from .rules import ELEMENTWISE, Rule, table


def resolvable(node: Node, input_symbols: set[str], known: Container[Node],
               depth: int = 3) -> bool:
    """True if the run time can resolve the symbolic shape attributes of a replacement.

    Shape attributes are resolved from symbols bound before the node runs: those of the
    graph's inputs and those in its operands' types. A rule may move a shape (``n*4``) to where
    no earlier node binds it; such a replacement is refused. Nodes in ``known`` (already in the
    graph) are fine; rules build at most a few levels, so the check looks ``depth`` levels down.
    """
    if node in known:
        return True
    for name in node.op.shape_attrs:
        bound = input_symbols.union(*(symbols(v) for v in node.inputs))
        if any(isinstance(d, str) and d not in bound for d in node.attrs[name]):
            return False
    return depth == 0 or all(resolvable(v, input_symbols, known, depth - 1)
                             for v in node.inputs)


@region_pass
def simplify(graph: Graph) -> tuple[Graph, bool]:
    """Apply constant folding and the algebraic rules until none applies (in regions too:
    a region is simplified with its own use counts and parameters as inputs). Loops are
    merged into their larger twins first (``passes/merge.py``)."""
    graph, merged = merge_twins(graph)
    uses: Counter[Node] = Counter(graph.outputs)
    for node in graph.nodes:
        uses.update(node.inputs)

    def single_use(node: Node) -> bool:
        return uses.get(node, 0) == 1  # nodes made by rules have no count: never assumed

    def carry_uses(original: Node, final: Node) -> None:
        # The users of a rewritten node use its replacement: counts follow (and add up when
        # two nodes become one).
        if final is not original:
            uses[final] += uses[original]

    by_op: dict[OpDef | None, list[Rule]] = {}
    for op, rule in table(single_use):
        by_op.setdefault(op, []).append(rule)
    elementwise_rules = by_op.pop(ELEMENTWISE, [])
    no_rules: list[Rule] = []

    input_symbols = set().union(*(symbols(p) for p in graph.inputs))

    def rewrite_node(node: Node) -> Node | None:
        folded = fold(node)
        if folded is not None:
            return folded
        rules = by_op.get(node.op, no_rules)
        if node.op.elementwise:
            rules = rules + elementwise_rules
        for rule in rules:
            replacement = rule(node)
            if replacement is not None and resolvable(replacement, input_symbols, uses):
                return replacement
        return None

    new, changed = rewrite_graph(graph, rewrite_node, carry_uses, regions=simplify)
    return new, changed or merged
