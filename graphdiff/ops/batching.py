"""Helpers for batching rules (``vmap``): the rule of every elementwise op, and the moves most
other rules share.

A batched value carries its batch axis first, of length ``size`` (an int or a symbol). A rule
receives the node, its operands (some batched, the others as they were) and which ones are
batched; it returns the node's value batched. Unbatched operands are left alone wherever the op
broadcasts, so a weight shared by every example is never copied per example.

>>> import numpy as np, graphdiff as gd
>>> x = gd.placeholder((5, 3), "float64", name="x")
>>> row_norms = gd.vmap(lambda r: gd.sqrt(gd.sum(r * r)))(x)
>>> row_norms.shape
(5,)
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir.dims import product_dims
from ..ir.node import Node
from ..ir.types import Dim


def lift(x: Node, rank: int) -> Node:
    """A batched ``x`` with ones inserted after the batch axis until ``rank`` axes follow it, so
    numpy's right-aligned broadcasting lines the batch axis up with the output's."""
    from .shape import reshape

    missing = rank - (x.ndim - 1)
    if missing <= 0:
        return x
    return reshape(x, shape=(x.shape[0],) + (1,) * missing + tuple(x.shape[1:]))


def materialize(x: Node, batched: bool, size: Dim) -> Node:
    """``x`` with a batch axis: an unbatched value broadcast along a new axis 0 (for ops that
    need every operand batched, such as concatenate)."""
    from .shape import broadcast_to

    return x if batched else broadcast_to(x, shape=(size, *x.shape))


def merged(a: Dim, b: Dim) -> Dim:
    """The length of two axes merged into one (a product formula when one is symbolic)."""
    return product_dims([a, b])


def merge_leading(x: Node) -> Node:
    """A batched ``x`` with its batch axis merged into the next one: ``(B, N, ...) -> (B*N,
    ...)``, for ops with a batch axis of their own (convolution, pooling)."""
    from .shape import reshape

    return reshape(x, shape=(merged(x.shape[0], x.shape[1]), *x.shape[2:]))


def split_leading(x: Node, size: Dim, n: Dim) -> Node:
    """The inverse of :func:`merge_leading`: ``(B*N, ...) -> (B, N, ...)``."""
    from .shape import reshape

    return reshape(x, shape=(size, n, *x.shape[1:]))


def shifted(axes: Sequence[int]) -> tuple[int, ...]:
    """Axes of the unbatched value, counted in the batched one."""
    return tuple(a + 1 for a in axes)


def batch_elementwise(node: Node, inputs: Sequence[Node], batched: Sequence[bool],
                      size: Dim) -> Node:
    """Elementwise ops: the op itself, batched operands lifted to the output's rank."""
    rank = node.ndim
    lifted = [lift(x, rank) if b else x for x, b in zip(inputs, batched, strict=True)]
    return node.op(*lifted, **node.attrs)


def batch_along_axis(attr: str):
    """The rule of an op acting along the axis (or axes) ``attr`` of its one operand."""

    def rule(node: Node, inputs: Sequence[Node], batched: Sequence[bool], size: Dim) -> Node:
        value = node.attrs[attr]
        moved = shifted(value) if isinstance(value, tuple) else value + 1
        return node.op(*inputs, **{**node.attrs, attr: moved})

    return rule


def batch_into_leading(node: Node, inputs: Sequence[Node], batched: Sequence[bool],
                       size: Dim, images: int | None = None) -> Node:
    """Ops whose operands (the first ``images`` of them, else all) and result have a batch
    axis of their own (pooling, a convolution's image): the vmap axis merges into it and
    splits off again."""
    count = len(inputs) if images is None else images
    values = [merge_leading(materialize(x, b, size)) if k < count else x
              for k, (x, b) in enumerate(zip(inputs, batched))]
    return split_leading(node.op(*values, **node.attrs), size, node.shape[0])
