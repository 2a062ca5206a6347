"""Forward mode: ``jvp`` appends tangent nodes to the graph, one per differentiable node.

The driver mirrors reverse mode's in one sweep the other way: walk the outputs' ancestors in
topological order and, for each node with at least one input tangent, apply its op's JVP rule.
It is not two reverse passes: every tangent is built directly from the op's ``jvp`` rule, so the
cost is one pass over the graph, linear in its size.

Zeros stay symbolic: a missing tangent is ``None``, and a node whose inputs all have ``None``
gets no rule call. Integer and bool values carry no tangent. Elementwise ops broadcast
implicitly, so a rule may return a tangent smaller than its output (``add`` with a tangent only on
the broadcast operand); the driver broadcasts it up with one ``broadcast_to``, the mirror of
reverse mode's ``sum_to``.

>>> import numpy as np, graphdiff as gd
>>> x = gd.placeholder((3,), "float64", name="x")
>>> t = gd.jvp(x * x + 1.0, x, np.ones(3))   # d(x^2 + 1) along u = 2 x u
>>> gd.function([x], t)(np.array([0.0, 1.0, 2.0]))
array([0., 2., 4.])
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Literal

from ..errors import GradientError, ShapeError, user_location
from ..ir.graph import topo_order
from ..ir.node import Node, collector_paused
from ..ir.types import is_float
from ..ops import elementwise as E
from ..ops.shape import broadcast_to
from ..ops.source import zeros_like
from .reverse import carries_derivative
from .trees import flatten, leaves_like, unflatten

Unconnected = Literal["raise", "zero"]


def _as_tangent(value: Any, x: Node) -> Node:
    """A tangent for input ``x``: a tensor of x's type (arrays are converted to x's dtype)."""
    from ..api.convert import as_tensor

    tangent = value if isinstance(value, Node) else as_tensor(value, dtype=x.dtype)
    if tangent.shape != x.shape or tangent.dtype != x.dtype:
        raise ShapeError(f"jvp: tangent {tangent.type} does not match input "
                         f"{x.name or x.op.name} of type {x.type} (at {user_location()})")
    return tangent


def _fit_to(tangent: Node, node: Node) -> Node:
    """Make a rule's tangent match its node: broadcast up (elementwise ops), keep the dtype."""
    if tangent.shape != node.shape:
        if not node.op.elementwise:
            raise GradientError(
                f"JVP rule of {node.op.name} returned shape {tangent.shape} for an output of "
                f"shape {node.shape} (node created at {node.location})")
        tangent = broadcast_to(tangent, shape=node.shape)
    if tangent.dtype != node.dtype:
        tangent = E.cast(tangent, dtype=node.dtype)
    return tangent


def push_tangents(outputs: Sequence[Node], seeds: dict[Node, Node],
                  leaves: Collection[Node] = ()) -> dict[Node, Node]:
    """Tangents of every node the outputs depend on, given tangents of some nodes (``seeds``).

    A seed on a computed node adds to the tangent flowing into it from other seeds, the mirror of
    reverse mode, where a ``wrt`` node's cotangent also flows on to its inputs. The walk does not
    go below ``leaves``.
    """
    tangents: dict[Node, Node] = {}
    for node in topo_order(outputs, leaves):
        tangent = None
        if not node.op.source and node.op.differentiable and carries_derivative(node):
            incoming = [tangents.get(value) for value in node.inputs]
            if any(t is not None for t in incoming):
                tangent = _apply_rule(node, incoming)
        seed = seeds.get(node)
        if seed is not None:
            tangent = seed if tangent is None else E.add(tangent, seed)
        if tangent is not None:
            tangents[node] = tangent
    return tangents


def _apply_rule(node: Node, incoming: list[Node | None]) -> Node | None:
    """The node's tangent from its op's JVP rule, or, for an op with no rules of its own (a
    fused group), from the tangents of its expansion into primitives."""
    if node.op.jvp is not None:
        tangent = node.op.jvp(node, incoming)
    elif node.op.expand is not None:
        expanded = node.op.expand(node)  # a list of results for a node with several
        parts = expanded if node.is_tuple else [expanded]
        seeds = {value: t for value, t in zip(node.inputs, incoming, strict=True) if t is not None}
        pushed = push_tangents(parts, seeds, leaves=node.inputs)
        tangent = [pushed.get(p) for p in parts] if node.is_tuple else pushed.get(expanded)
    else:
        raise GradientError(f"op {node.op.name} has no JVP rule (node created at "
                            f"{node.location})")
    if tangent is None or node.is_tuple:  # several results: a list, a tangent or None each
        return tangent
    return _fit_to(tangent, node)


@collector_paused()
def jvp(outputs: Any, inputs: Any, tangents: Any, *, unconnected: Unconnected = "raise") -> Any:
    """Tangents of ``outputs`` given tangents of ``inputs`` (J u), as graph nodes.

    ``outputs`` and ``inputs`` are tensors or pytrees of them (nested lists, tuples, dicts);
    ``tangents`` has the structure of ``inputs`` and the result that of ``outputs`` (a single
    tensor gives a single tangent, a list a list). A tangent may be an array (converted to the
    input's dtype). An output that depends on the inputs only through ops with a zero derivative
    (floor, comparisons) gets a materialized zero; one that does not depend on them at all
    raises, unless ``unconnected="zero"``.
    """
    output_list, out_tree = flatten(outputs)
    input_list, in_tree = flatten(inputs)
    tangent_list = leaves_like("jvp", in_tree, tangents, "tangents", "inputs")
    return unflatten(out_tree, _jvp_lists(output_list, input_list, tangent_list, unconnected))


def _jvp_lists(output_list: list[Node], input_list: list[Node], tangent_list: list[Any],
               unconnected: Unconnected) -> list[Node]:
    """``jvp`` on flat lists."""
    if unconnected not in ("raise", "zero"):
        raise GradientError(f"unconnected must be 'raise' or 'zero', got {unconnected!r} "
                            f"(at {user_location()})")
    if len(input_list) != len(tangent_list):
        raise GradientError(f"jvp: {len(input_list)} inputs but {len(tangent_list)} tangents "
                            f"(at {user_location()})")
    for y in output_list:
        if not isinstance(y, Node):
            raise GradientError(f"jvp: outputs must be tensors, got {type(y).__name__} "
                                f"(at {user_location()})")
        if not is_float(y.dtype):
            raise GradientError(f"jvp: output {y.name or y.op.name} has dtype {y.dtype.name}; "
                                f"integer and bool values carry no tangent (at {user_location()})")
    seeds: dict[Node, Node] = {}
    for x, value in zip(input_list, tangent_list, strict=True):
        if not isinstance(x, Node) or not is_float(x.dtype):
            label = x.type if isinstance(x, Node) else type(x).__name__
            raise GradientError(f"jvp: cannot differentiate with respect to {label}: only float "
                                f"tensors carry a tangent (at {user_location()})")
        tangent = _as_tangent(value, x)
        seeds[x] = tangent if x not in seeds else E.add(seeds[x], tangent)

    pushed = push_tangents(output_list, seeds)
    results = []
    for y in output_list:
        tangent = pushed.get(y)
        if tangent is None:
            if unconnected == "raise" and not set(input_list) & set(topo_order([y])):
                raise GradientError(
                    f"jvp: output {y.name or y.op.name} ({y.type}, created at {y.location}) does "
                    f"not depend on the inputs; pass unconnected='zero' to get zeros "
                    f"(at {user_location()})")
            tangent = zeros_like(y)
        results.append(tangent)
    return results
