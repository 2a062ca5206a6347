"""``vmap``: the batching transform, with JAX's semantics, as a pass over the traced graph.

``vmap(fn)`` traces ``fn`` once on unbatched placeholders (one example's shapes), then batches
the traced graph in one topological sweep, the mirror of forward mode's driver: every value is
either unbatched (it depends on no mapped argument: a weight, a constant) and kept as it is, or
batched, with its batch axis first. Each op's ``batch`` rule (declared with the op) turns a node
with some batched operands into its batched value; the outputs then get their batch axis moved
to ``out_axes``. Nothing is unrolled: the graph grows by the size of ``fn``'s, whatever the batch
size, and the batch size may be symbolic. ``vmap`` nests, and composes with ``grad`` and
``jvp`` both ways, since the batched graph is an ordinary graph.

>>> import numpy as np, graphdiff as gd
>>> W = gd.variable(np.array([[1.0, 2.0], [3.0, 4.0]]), name="W")
>>> x = gd.placeholder((None, 2), "float64", name="x")
>>> per_example = gd.vmap(lambda r: gd.grad(gd.sum(gd.tanh(r @ W)), W))(x)
>>> per_example.shape[1:]
(2, 2)
>>> f = gd.function([x], per_example)
>>> f(np.zeros((3, 2))).shape
(3, 2, 2)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..api.pytree import TreeDef, flatten, unflatten
from ..errors import GraphdiffError, user_location
from ..ir.graph import Graph, topo_order
from ..ir.node import Node, collector_paused
from ..ir.types import Dim
from ..ops.batching import materialize
from ..ops.shape import transpose
from ..ops.source import placeholder


class BatchingError(GraphdiffError, ValueError):
    """vmap was given axes or sizes that do not fit its arguments, or met an op it cannot batch."""


def batch_values(outputs: Sequence[Node], seeds: dict[Node, Node], size: Dim,
                 leaves: Sequence[Node] = ()) -> dict:
    """The batched value of every node the outputs depend on that depends on a seed (a node
    mapped to its batched value); nodes that depend on none are absent (they stay unbatched).
    A node with several results maps to a list of batched results. The walk does not go
    below ``leaves``."""
    values: dict[Node, Any] = dict(seeds)
    for node in topo_order(outputs, set(seeds).union(leaves)):
        if node in values or not any(v in values for v in node.inputs):
            continue
        rule = node.op.batch
        if rule is None:
            raise BatchingError(f"op {node.op.name} has no batching rule, so vmap cannot go "
                                f"through it (node created at {node.location})")
        inputs = [values.get(v, v) for v in node.inputs]
        batched = [v in values for v in node.inputs]
        values[node] = rule(node, inputs, batched, size)
    return values


def batch_region(region: Graph, batched: Sequence[bool], size: Dim,
                 outputs: Sequence[bool] | None = None) -> tuple[Graph, list[bool]]:
    """``region`` batched: parameters where ``batched`` get a batch axis 0. Returns the new
    region and which outputs are batched; ``outputs`` forces some to be batched (an unbatched
    one is broadcast), all of them when None."""
    params = [placeholder((size, *p.shape), p.dtype) if b else p
              for p, b in zip(region.inputs, batched, strict=True)]
    seeds = {p: q for p, q, b in zip(region.inputs, params, batched) if b}
    values = batch_values(region.outputs, seeds, size)
    wanted = [True] * len(region.outputs) if outputs is None else list(outputs)
    new_outputs, out_batched = [], []
    for o, want in zip(region.outputs, wanted, strict=True):
        is_batched = o in values
        value = values[o] if is_batched else o
        if want and not is_batched:
            value, is_batched = materialize(o, False, size), True
        new_outputs.append(value)
        out_batched.append(is_batched)
    return Graph(params, new_outputs), out_batched


def move_axis(x: Node, source: int, destination: int) -> Node:
    """``np.moveaxis`` as a transpose (nothing when the axis stays)."""
    if source == destination:
        return x
    order = [a for a in range(x.ndim) if a != source]
    order.insert(destination, source)
    return transpose(x, perm=tuple(order))


def _axes_for(axes: Any, tree: TreeDef, what: str) -> list[int | None]:
    """One axis (or None) per leaf of ``tree``: ``axes`` is an int or None for all, or a
    pytree prefix of the arguments (a tuple with an entry per argument)."""
    if axes is None or isinstance(axes, int | np.integer):
        return [None if axes is None else int(axes)] * tree.num_leaves
    if tree.kind in ("tuple", "list") and isinstance(axes, tuple | list) \
            and len(axes) == len(tree.children):
        return [a for sub, child in zip(axes, tree.children) for a in _axes_for(sub, child, what)]
    if tree.kind == "dict" and isinstance(axes, dict) and sorted(axes) == list(tree.keys):
        return [a for k, child in zip(tree.keys, tree.children)
                for a in _axes_for(axes[k], child, what)]
    raise BatchingError(f"vmap: {what} {axes!r} does not match the structure {tree} "
                        f"(at {user_location()})")


def _normalized(axis: int, ndim: int, what: str) -> int:
    if not -ndim <= axis < ndim:
        raise BatchingError(f"vmap: {what} {axis} is out of range for rank {ndim} "
                            f"(at {user_location()})")
    return axis % ndim


def _batch_size(leaves: list[Node], axes: list[int | None], axis_size: Dim | None) -> Dim:
    sizes = [x.shape[a] for x, a in zip(leaves, axes) if a is not None]
    if not sizes:
        if axis_size is None:
            raise BatchingError(f"vmap: no argument is mapped (every in_axes is None), so the "
                                f"batch size must be given as axis_size (at {user_location()})")
        return axis_size
    static = {s for s in sizes if isinstance(s, int)}
    if axis_size is not None and isinstance(axis_size, int):
        static.add(axis_size)
    if len(static) > 1:
        raise BatchingError(f"vmap: the mapped axes have different sizes {sorted(static)} "
                            f"(at {user_location()})")
    return next(iter(static)) if static else sizes[0]


def vmap(fn: Callable[..., Any], in_axes: Any = 0, out_axes: Any = 0,
         axis_size: Dim | None = None) -> Callable[..., Any]:
    """``fn`` mapped over an axis of its arguments, as ``jax.vmap``: the result takes pytrees
    of tensors (arrays become constants) and returns ``fn``'s pytree with a batch axis at
    ``out_axes``. ``in_axes`` (and ``out_axes``) is an int or None for every leaf, or a tuple
    with an entry per argument (a pytree prefix); None leaves are not mapped and stay shared.
    """

    @functools.wraps(fn)
    @collector_paused()
    def batched_fn(*args: Any) -> Any:
        from ..api.convert import as_tensor

        leaves, tree = flatten(tuple(args))
        leaves = [v if isinstance(v, Node) else as_tensor(v) for v in leaves]
        axes_tree = tuple(in_axes) if isinstance(in_axes, list) else in_axes
        if isinstance(axes_tree, tuple) and len(axes_tree) != len(args):
            raise BatchingError(f"vmap: in_axes has {len(axes_tree)} entries for "
                                f"{len(args)} arguments (at {user_location()})")
        axes = [a if a is None else _normalized(a, x.ndim, "in_axes")
                for a, x in zip(_axes_for(axes_tree, tree, "in_axes"), leaves)]
        size = _batch_size(leaves, axes, axis_size)
        stand_ins = [x if a is None else
                     placeholder(tuple(d for i, d in enumerate(x.shape) if i != a), x.dtype)
                     for x, a in zip(leaves, axes)]
        out = fn(*unflatten(tree, stand_ins))
        out_leaves, out_tree = flatten(out)
        for value in out_leaves:
            if not isinstance(value, Node):
                raise BatchingError(f"vmap: {fn.__name__} returned {type(value).__name__}, "
                                    f"not a tensor (at {user_location()})")
        seeds = {s: move_axis(x, a, 0) for s, x, a in zip(stand_ins, leaves, axes)
                 if a is not None}
        values = batch_values(out_leaves, seeds, size)
        results = []
        for value, axis in zip(out_leaves, _axes_for(out_axes, out_tree, "out_axes")):
            if axis is None:
                if value in values:
                    raise BatchingError(f"vmap: out_axes is None for an output that depends "
                                        f"on a mapped argument (at {user_location()})")
                results.append(value)
                continue
            batched = materialize(values.get(value, value), value in values, size)
            results.append(move_axis(batched, 0, _normalized(axis, batched.ndim, "out_axes")))
        return unflatten(out_tree, results)

    return batched_fn

