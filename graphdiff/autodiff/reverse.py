"""Reverse mode: ``vjp`` and ``grad`` append cotangent nodes to the graph.

The driver is small on purpose (compare needle's ``compute_gradient_of_variables``):

1. keep only nodes that lie on a differentiable path from a ``wrt`` input to an output;
2. walk them in reverse topological order;
3. for each node, sum its cotangent contributions once, then apply its op's VJP rule.

Zeros stay symbolic: a missing cotangent is ``None`` and rules are never called on it. Integer and
bool values carry no cotangent. The result is ordinary graph nodes, so a gradient can be printed,
optimized, exported and differentiated again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from ..errors import GradientError, ShapeError, user_location
from ..ir.graph import topo_order
from ..ir.node import Node, collector_paused
from ..ir.types import TensorType
from ..ops import elementwise as E
from ..ops.core import expand_derived
from ..ops.shape import sum_to
from ..ops.source import zeros_like
from .trees import flatten, leaves_like, unflatten

Unconnected = Literal["raise", "zero"]


def carries_derivative(node: Node) -> bool:
    if node.is_tuple:  # a node with several results: if any of them does
        return any(t.dtype.kind == "f" for t in node.type.types if isinstance(t, TensorType))
    return node.dtype.kind == "f"


def path_nodes(outputs: Sequence[Node], wrt: Sequence[Node],
               leaves: Collection[Node] = ()) -> tuple[list[Node], set[Node]]:
    """Nodes the outputs depend on (not looking below ``leaves``), in order, and the subset that
    depends on ``wrt`` through ops that carry a derivative."""
    order = topo_order(outputs, leaves)
    wrt_set = set(wrt)
    depends: set[Node] = set()
    for node in order:
        if node in wrt_set:
            depends.add(node)
        elif (node.op.differentiable and carries_derivative(node)
              and any(value in depends for value in node.inputs)):
            depends.add(node)
    return order, depends


def add_all(terms: list[Node]) -> Node:
    """Sum cotangent contributions as a balanced tree of adds (short dependency chains).

    A node with several results receives one list per contribution (a cotangent or None per
    result, from its ``result`` nodes); they are summed result by result."""
    if isinstance(terms[0], list):
        return [None if not parts else add_all(parts)
                for parts in ([t for t in column if t is not None] for column in zip(*terms))]
    while len(terms) > 1:
        paired = [E.add(terms[i], terms[i + 1]) for i in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            paired.append(terms[-1])
        terms = paired
    return terms[0]


def _fit_to(cotangent: Node, value: Node, node: Node) -> Node:
    """Make a rule's cotangent match its operand: undo broadcasting, keep the dtype."""
    if value.is_tuple:
        return cotangent
    if cotangent.shape != value.shape:
        if not node.op.elementwise:
            raise GradientError(
                f"VJP rule of {node.op.name} returned shape {cotangent.shape} for an operand of "
                f"type {value.type} (node created at {node.location})")
        cotangent = sum_to(cotangent, value.shape)
    if cotangent.dtype != value.dtype:
        cotangent = E.cast(cotangent, dtype=value.dtype)
    return cotangent


@collector_paused()
def vjp(outputs: Any, inputs: Any, cotangents: Any, *, unconnected: Unconnected = "raise",
        leaves: Collection[Node] = ()) -> Any:
    """Cotangents of ``inputs`` given cotangents of ``outputs`` (J^T v), as graph nodes.

    ``outputs`` and ``inputs`` are tensors or pytrees of them (nested lists, tuples, dicts);
    ``cotangents`` has the structure of ``outputs`` and the result that of ``inputs`` (a single
    tensor gives a single cotangent, a list a list). Cotangents may be arrays or scalars; they
    become constants of their output's dtype. ``leaves`` are nodes the driver does not look
    below (a rule differentiating a region, as checkpointing does, passes the region's inputs so
    the work stays proportional to the region).
    """
    require_tensors(inputs, "vjp")
    out_leaves, out_tree = flatten(outputs)
    in_leaves, in_tree = flatten(inputs)
    ct_leaves = leaves_like("vjp", out_tree, cotangents, "cotangents", "outputs")
    result = _vjp_lists(out_leaves, in_leaves, ct_leaves, unconnected=unconnected, leaves=leaves)
    return unflatten(in_tree, result)


def _vjp_lists(outputs: list[Node], inputs: list[Node], cotangents: list[Any], *,
               unconnected: Unconnected, leaves: Collection[Node]) -> list[Node]:
    """``vjp`` on flat lists."""
    from ..api.convert import as_tensor

    if unconnected not in ("raise", "zero"):
        raise GradientError(f"unconnected must be 'raise' or 'zero', got {unconnected!r} "
                            f"(at {user_location()})")
    if len(outputs) != len(cotangents):
        raise GradientError(f"vjp: {len(outputs)} outputs but {len(cotangents)} cotangents "
                            f"(at {user_location()})")
    cotangents = [v if isinstance(v, Node) else as_tensor(v, y.dtype)
                  for y, v in zip(outputs, cotangents)]
    for x in inputs:
        if not carries_derivative(x):
            raise GradientError(
                f"cannot differentiate with respect to {x.name or x.op.name} of dtype "
                f"{x.dtype.name}: integer and bool tensors have no gradient "
                f"(at {user_location()})")
    for y, v in zip(outputs, cotangents):
        if v.shape != y.shape or v.dtype != y.dtype:
            raise ShapeError(f"vjp: cotangent {v.type} does not match output {y.type} "
                             f"(at {user_location()})")

    scope = topo_order(outputs, leaves)
    if any(n.op.expand is not None and n.op.vjp is None for n in scope):
        # Fused groups differentiate through the primitives they stand for.
        expanded = expand_derived(outputs)
        outputs = [expanded[y] for y in outputs]
        inputs = [expanded.get(x, x) for x in inputs]
    order, depends = path_nodes(outputs, inputs, leaves)
    contributions: dict[Node, list[Node]] = {}
    for y, v in zip(outputs, cotangents):
        if y in depends:
            contributions.setdefault(y, []).append(v)

    wanted = set(inputs)
    results: dict[Node, Node] = {}
    for node in reversed(order):
        terms = contributions.pop(node, None)
        if terms is None:
            continue
        g = add_all(terms)
        if node in wanted:
            results[node] = g
        if node.op.source or not node.inputs:
            continue
        if node.op.vjp is None:
            raise GradientError(f"op {node.op.name} has no VJP rule (node created at "
                                f"{node.location})")
        for value, cotangent in zip(node.inputs, node.op.vjp(node, g)):
            if cotangent is None or value not in depends:
                continue
            contributions.setdefault(value, []).append(_fit_to(cotangent, value, node))

    gradients = []
    ancestors = set(order)
    for x in inputs:
        if x in results:
            gradients.append(results[x])
        elif unconnected == "zero" or x in ancestors:
            # In the graph but only through ops with a zero derivative (floor, comparisons):
            # the gradient is a true zero, not a disconnection.
            gradients.append(zeros_like(x))
        else:
            label = x.name or x.op.name
            raise GradientError(
                f"{label} ({x.type}, created at {x.location}) is not connected to the output "
                f"through differentiable ops; pass unconnected='zero' to get zeros "
                f"(at {user_location()})")
    return gradients


def require_tensors(wrt: Any, what: str, where: str = "") -> None:
    """Derivatives are taken with respect to tensors of the graph: name the first entry of
    ``wrt`` (a tensor, or a pytree of them: nested lists, tuples, dicts) that is something else."""
    if isinstance(wrt, Node):
        return
    if isinstance(wrt, Mapping):
        entries = [(f"[{key!r}]", value) for key, value in wrt.items()]
    elif isinstance(wrt, list | tuple):
        entries = [(f"[{i}]", value) for i, value in enumerate(wrt)]
    else:
        raise GradientError(
            f"{what}: wrt{where} is {type(wrt).__name__}, not a tensor: derivatives are "
            f"taken with respect to tensors of the graph (a gd.placeholder, gd.variable or "
            f"a node built from them), not values (at {user_location()})")
    for key, leaf in entries:
        require_tensors(leaf, what, where + key)


def grad(y: Node, wrt: Any, *, unconnected: Unconnected = "raise") -> Any:
    """Gradient of the scalar ``y`` with respect to ``wrt``: a tensor, or a pytree of them (a
    list, a dict of parameters, nested), answered in the same structure.

    >>> import numpy as np, graphdiff as gd
    >>> x = gd.placeholder((3,), "float64", name="x")
    >>> gx = gd.grad(gd.sum(x * x), x)
    >>> gd.function([x], gx)(np.array([1.0, 2.0, 3.0]))
    array([2., 4., 6.])
    """
    from ..ops.core import scalar

    if not isinstance(y, Node):
        raise GradientError(f"grad: the output must be a tensor, got {type(y).__name__} "
                            f"(at {user_location()})")
    if y.ndim != 0:
        raise GradientError(f"grad needs a scalar output, got shape {y.shape}; use gd.vjp or "
                            f"gd.jacobian for non-scalars (at {user_location()})")
    if not carries_derivative(y):
        raise GradientError(f"grad: the output is {y.type}; it must be a float "
                            f"(at {user_location()})")
    require_tensors(wrt, "grad")
    return vjp([y], wrt, [scalar(1, y)], unconnected=unconnected)
