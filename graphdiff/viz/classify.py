"""What each node of a drawn graph is: the kind decides its colour and border.

Kinds: ``input`` (placeholders), ``variable``, ``constant`` (constants and fills), ``forward``,
``gradient``, ``update`` (optimizer arithmetic), ``fused`` (a node standing for a fused group) and
``parameter`` (a region's parameter: what a loop body or branch receives).

How forward, gradient and update nodes are told apart, given the graph's forward outputs (a
compiled function's declared outputs; the rest of its outputs are update values):

- forward: everything a forward output depends on;
- update: the update values themselves and the nodes between them and the optimizer's own state
  (variables that are written by the updates but read by no forward node: momentum, Adam's
  moments, step counters);
- gradient: everything else an update value needs.

When the caller knows the gradients (``gradients=`` the nodes ``gd.grad`` returned), the split is
exact instead: gradient = what the gradients depend on and the forward outputs do not.

Inside a region (:func:`region_kinds`) a node takes the kind of the node that owns the region: the
body of a scan that computes a gradient is gradient.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..ir.graph import Graph, topo_order
from ..ir.node import Node
from ..ops.fused import fused
from ..ops.source import CONSTANT, FILL, PLACEHOLDER, VARIABLE

KINDS = ("input", "variable", "constant", "forward", "gradient", "update", "fused",
         "parameter")


def is_fused(node: Node) -> bool:
    """A node standing for a fused group (its region holds the group's ops)."""
    return node.op is fused


def _is_constant(node: Node) -> bool:
    return node.op in (CONSTANT, FILL) or (not node.inputs and not node.op.effectful)


def _ancestors(roots: Iterable[Node]) -> set[Node]:
    return set(topo_order(list(roots)))


def _descendants(graph: Graph, roots: set[Node]) -> set[Node]:
    reached = set(roots)
    for node in graph.nodes:
        if any(value in reached for value in node.inputs):
            reached.add(node)
    return reached


def classify(graph: Graph, forward_outputs: Sequence[Node] | None = None,
             gradients: Sequence[Node] | None = None) -> dict[Node, str]:
    """The kind of every node of ``graph`` (see the module docstring)."""
    forward_roots = list(graph.outputs if forward_outputs is None else forward_outputs)
    if gradients is not None:
        grads = set(gradients)
        forward_roots = [o for o in forward_roots if o not in grads]
    forward = _ancestors(forward_roots)
    rest = [o for o in graph.outputs if o not in set(forward_roots)]
    later = _ancestors(rest) - forward
    if gradients is not None:
        gradient = _ancestors(gradients) - forward
        update = later - gradient
    else:
        state = {n for n in later if n.op is VARIABLE}
        update = (_descendants(graph, state) & later) | (set(rest) - forward)
        gradient = later - update
    kinds: dict[Node, str] = {}
    for node in graph.nodes:
        if node.op is PLACEHOLDER:
            kinds[node] = "input"
        elif node.op is VARIABLE:
            kinds[node] = "variable"
        elif _is_constant(node):
            kinds[node] = "constant"
        elif is_fused(node):
            kinds[node] = "fused"
        elif node in gradient:
            kinds[node] = "gradient"
        elif node in update:
            kinds[node] = "update"
        else:
            kinds[node] = "forward"
    return kinds


def region_kinds(region: Graph, owner_kind: str) -> dict[Node, str]:
    """The kind of every node of a region whose owner has ``owner_kind``."""
    params = set(region.inputs)
    kinds: dict[Node, str] = {}
    for node in [*region.inputs, *region.nodes]:
        if node in params:
            kinds[node] = "parameter"
        elif _is_constant(node):
            kinds[node] = "constant"
        else:
            kinds[node] = "fused" if is_fused(node) else owner_kind
    return kinds
