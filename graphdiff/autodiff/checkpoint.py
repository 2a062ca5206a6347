"""Gradient checkpointing: recompute a region's forward values in the backward pass.

``gd.checkpoint(fn)`` returns a function computing ``fn``'s value as usual, marked with one
``custom_call[rule='checkpoint']`` node whose operands are the region's output and its boundary:
the arguments, plus the values the region reads from outside (closed-over weights, random masks;
constants excepted). Reverse mode does not differentiate the original region. The rule instead
clones it on ``remat_input(boundary value, g)`` nodes, where ``g`` is the cotangent arriving at
the region, and differentiates the clone. So:

* the clone is new nodes (its leaves are effectful ``remat_input`` nodes, which interning and
  passes never merge), not the forward nodes again;
* it depends on ``g``, so the schedule computes it during the backward pass, after the later
  layers' backward steps; the forward intermediates die when the forward pass no longer needs
  them, and only the boundary stays alive until the backward pass;
* the values are bit-for-bit those of the forward pass (same ops on the same inputs), so
  gradients are identical to those without checkpointing.

Effectful nodes (random draws) inside the region are boundary values, never cloned: a second
draw would be a different mask.

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
from ..ir.types import is_float
from ..ops.custom import custom_call, register_rule, remat_input
from .reverse import vjp as reverse_vjp

RULE_ID = "checkpoint"


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


def _captured(region: Sequence[Node], args: Sequence[Node]) -> list[Node]:
    """Values the region reads from outside itself: effectful nodes, weights, earlier results.
    Constants are left out: the clone may share them."""
    members = set(region) | set(args)
    captured: dict[Node, None] = {}
    for node in region:
        for value in node.inputs:
            if value not in members and value.op.name != "constant":
                captured[value] = None
    return list(captured)


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
        clone[member] = make_node(member.op, inputs, dict(member.attrs), location=member.location)
    return clone


class _CheckpointRule:
    """The VJP of a checkpointed region: clone it on fresh inputs, differentiate the clone."""

    name = RULE_ID

    def vjp(self, node: Node, g: Node) -> list[Node | None]:
        out, boundary = node.inputs[0], node.inputs[1:]
        clone = clone_region(_region(out, set(boundary)), boundary, g)
        fresh = {value: clone[value] for value in boundary}
        targets = [fresh[value] for value in boundary if is_float(value.dtype)]
        cotangents = iter(reverse_vjp([clone[out]], targets, [g], unconnected="zero",
                                      leaves=set(fresh.values())))
        return [None] + [next(cotangents) if is_float(value.dtype) else None
                         for value in boundary]

    def jvp(self, node: Node, tangents: Sequence[Node | None]) -> Node | None:
        return tangents[0]  # forward mode keeps every value anyway: the original region's


register_rule(_CheckpointRule(), RULE_ID)


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
        region = _region(out, set(primals))
        if out not in region:
            return out  # the output does not depend on the arguments: nothing to recompute
        boundary = list(dict.fromkeys(primals)) + _captured(region, primals)
        return custom_call(out, *boundary, rule=RULE_ID, n_args=len(boundary))

    return wrapped
