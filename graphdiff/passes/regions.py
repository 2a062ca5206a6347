"""Passes inside regions: the one helper through which every pass rewrites loop bodies and
branches, and the small pieces of region surgery the passes share.

A node that owns regions (``switch``, ``while_loop``, ``scan``; ``node.regions``) is rebuilt,
like any node, from its rewritten operands; :func:`rewrite_regions` also runs the pass on each
of its regions and rebuilds the node around the results. The pass is the same function that
walks the enclosing graph, so nested regions (a loop in a loop body) are rewritten by the same
recursion. Within one run of a pass, a region is rewritten once per structure
(``Graph.structure()``): equal bodies (the two segments of a checkpointed scan, the primal scan
and its copy with residuals) cost one rewrite and come out as the same graph.

>>> import numpy as np, graphdiff as gd
>>> from graphdiff.ir import Graph
>>> from graphdiff.passes.simplify import simplify
>>> xs = gd.placeholder((4, 3), "float64", name="xs")
>>> total, _ = gd.scan(lambda c, x: (c + x * 1.0, None), gd.zeros(3, "float64"), xs)
>>> new, changed = simplify(Graph([xs], [total]))
>>> changed, new.op_counts().get("mul", 0)
(True, 0)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..ir.graph import Graph
from ..ir.node import Node, make_node, same_nodes
from ..ir.types import TensorType, TupleType
from ..ops.core import result
from .rewrite import rebuild

Pass = Callable[[Graph], tuple[Graph, bool]]

# Rewritten regions of the passes running now: (id(pass), structure) -> (pass, graph, result).
# A scope is opened by the outermost region pass and closed when it returns.
_scopes: list[dict[tuple, tuple[Any, Graph, Graph]]] = []


def region_pass(fn: Pass) -> Pass:
    """Decorate a pass that rewrites regions: one cache of rewritten regions per outermost call
    (nested calls, on the regions themselves, share it)."""
    @functools.wraps(fn)
    def run(graph: Graph) -> tuple[Graph, bool]:
        if _scopes:
            return fn(graph)
        _scopes.append({})
        try:
            return fn(graph)
        finally:
            _scopes.pop()
    return run


def rewrite_region(region: Graph, pass_fn: Pass) -> Graph:
    """``pass_fn(region)``'s graph, or ``region`` itself when the pass changed nothing."""
    cache = _scopes[-1] if _scopes else None
    key = (id(pass_fn), region.structure())
    if cache is not None and key in cache:
        return cache[key][2]
    new, changed = pass_fn(region)
    if not changed and same_nodes(new.inputs, region.inputs):
        new = region
    if cache is not None:
        cache[key] = (pass_fn, region, new)
    return new


def rewrite_regions(node: Node, pass_fn: Pass, inputs: Sequence[Node] | None = None) -> Node:
    """``node`` (with new ``inputs``, when given) with every region rewritten by ``pass_fn``:
    the same node when nothing changed. The one helper every pass uses to step into loop bodies
    and branches; the pass itself recurses into nested regions."""
    inputs = node.inputs if inputs is None else tuple(inputs)
    regions = tuple(rewrite_region(r, pass_fn) for r in node.regions)
    if all(new is old for new, old in zip(regions, node.regions)):
        return rebuild(node, inputs)
    return remake(node, inputs, regions)


def remake(node: Node, inputs: Sequence[Node], regions: Sequence[Graph], **attrs: Any) -> Node:
    """A node of ``node``'s op over new ``inputs`` and ``regions``, with ``attrs`` changed (the
    rest kept, so attributes the passes do not know survive), at the user's line of ``node``."""
    return make_node(node.op, tuple(inputs), {**node.attrs, **attrs}, regions=tuple(regions),
                     name=node.name, location=node.location)


def has_regions(graph: Graph) -> bool:
    return any(node.regions for node in graph.nodes)


def params_used(graph: Graph) -> set[Node]:
    """The parameters of ``graph`` its outputs read."""
    params = set(graph.inputs)
    return {node for node in graph.nodes if node in params}


def result_readers(nodes: Iterable[Node], outputs: Iterable[Node]) -> dict[Node, set[int] | None]:
    """For each node with several results: the indices ``result`` nodes read (None: all of
    them, when something else reads the node whole or returns it)."""
    read: dict[Node, set[int] | None] = {}
    for node in nodes:
        for value in node.inputs:
            if type(value.type) is TupleType:
                if node.op is result and read.get(value, set()) is not None:
                    read.setdefault(value, set()).add(node.attrs["index"])
                else:
                    read[value] = None
    for value in outputs:
        if type(value.type) is TupleType:
            read[value] = None
    return read


def is_tensor(node: Node) -> bool:
    return type(node.type) is TensorType


def symbols(node: Node) -> set[str]:
    """The symbolic dims of a value of any type (a tensor, several results, a stack)."""
    found: set[str] = set()
    stack = [node.type]
    while stack:
        t = stack.pop()
        if isinstance(t, TensorType):
            found.update(d for d in t.shape if isinstance(d, str))
        else:
            stack.extend(getattr(t, "types", ()))
    return found
