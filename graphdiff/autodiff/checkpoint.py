"""Gradient checkpointing: recompute a region's forward values in the backward pass.

``gd.checkpoint(fn)`` returns a function whose value is one ``custom[kind='checkpoint']`` node
owning ``fn``'s graph as a region; its operands are the arguments plus the values the function
reads from outside (closed-over weights, random masks; constants excepted). Reverse mode does not
differentiate the forward values. The rule (``custom_vjp_rule`` in ``autodiff/custom.py``)
instead inlines the region on ``remat_input(operand, g)`` nodes, where ``g`` is the cotangent
arriving at the node, and differentiates that copy. The optimizing pipeline inlines the forward
region like any custom function. So:

* the clone is new nodes (its leaves are effectful ``remat_input`` nodes, which interning and
  passes never merge), not the forward nodes again;
* it depends on ``g``, so the schedule computes it during the backward pass, after the later
  layers' backward steps; the forward intermediates die when the forward pass no longer needs
  them, and only the boundary stays alive until the backward pass;
* the values are bit-for-bit those of the forward pass (same ops on the same inputs), so
  gradients are identical to those without checkpointing.

Effectful nodes (random draws) inside the function are operands of the node, never recomputed:
a second draw would be a different mask.

>>> import numpy as np, graphdiff as gd
>>> x = gd.placeholder((3,), "float64", name="x")
>>> block = gd.checkpoint(lambda h: gd.tanh(gd.sin(h) * 2.0))
>>> gx = gd.grad(gd.sum(block(x)), x)
>>> "remat_input" in gd.Graph([x], [gx]).op_counts()
True
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..errors import GradientError, user_location
from ..ir.graph import topo_order
from ..ir.node import Node, make_node
from ..ops.custom import remat_input
from .custom import Traced, make_custom


def _region(out: Node, boundary: set[Node]) -> list[Node]:
    """The nodes between ``boundary`` and ``out`` (inclusive of out), in topological order.

    The walk stops at boundary nodes; a node belongs to the region when it is pure, computed,
    and reads a boundary or region value.
    """
    order = topo_order([out], boundary)
    inside = set(boundary)
    region = []
    for node in order:
        if node.op.source or node.op.effectful or node in boundary:
            continue
        if any(value in inside for value in node.inputs):
            inside.add(node)
            region.append(node)
    return region


def clone_region(region: Sequence[Node], boundary: Iterable[Node], after: Node,
                 leaves: dict[Node, Node] | None = None) -> dict[Node, Node]:
    """Copies of ``region`` (pure nodes, in topological order) that run once ``after`` has.

    Each ``boundary`` value (what the region reads from outside, constants excepted) is read
    through ``remat_input(value, after)``; the result maps every boundary value and region
    member to its copy. The copies are new nodes, never merged with the originals, and compute
    the same values with the same ops. ``leaves`` caches the ``remat_input`` nodes, so regions
    cloned after the same node share them (and interning then shares their common members).
    This is the one implementation behind ``gd.checkpoint`` and the rematerialization pass.
    """
    leaves = {} if leaves is None else leaves
    clone: dict[Node, Node] = {}
    for value in boundary:
        if value not in leaves:
            leaves[value] = remat_input(value, after)
        clone[value] = leaves[value]
    for member in region:
        inputs = [clone.get(value, value) for value in member.inputs]
        clone[member] = make_node(member.op, inputs, dict(member.attrs), location=member.location,
                                  regions=member.regions)
    return clone


def checkpoint(fn: Callable[..., Node]) -> Callable[..., Node]:
    """``fn``, with its forward values recomputed in the backward pass instead of kept.

    ``fn`` takes tensors and returns one tensor. Use it on blocks whose intermediates are large
    compared with their inputs (an MLP block, a transformer layer): the backward pass then holds
    only each block's inputs, at the cost of running each block's forward twice.
    """
    from ..api.convert import as_tensor

    @functools.wraps(fn)
    def wrapped(*args: Any) -> Node:
        primals = [as_tensor(a) for a in args]
        out = fn(*primals)
        if not isinstance(out, Node):
            raise GradientError(f"checkpoint: {getattr(fn, '__name__', 'the function')} must "
                                f"return one tensor, got {type(out).__name__} "
                                f"(at {user_location()})")
        if not any(n is out for n in _region(out, set(primals))):
            return out  # the output does not depend on the arguments: nothing to recompute
        body = Traced(primals, lambda p, _: [fn(*p)])
        return make_custom(primals, [body], "checkpoint", getattr(fn, "__name__", "block"))

    return wrapped
