"""Import of ONNX scatters (ScatterElements, ScatterND) onto graphdiff's scatter-add ops.

A scatter with ``reduction="add"`` is the data plus the updates added at the indices. Without
a reduction, positions hit by an index take the update: the data is zeroed there first (ONNX
leaves repeated indices undefined in that case; here their updates add up).
"""

from __future__ import annotations

import numpy as np

import graphdiff as gd

from ...ir.node import Node
from ...ir.types import normalize_axis
from ...ops import elementwise as E
from ...ops import index as I
from ..importer import ImportContext, OnnxNode, onnx_import


def _wrap(indices: Node, sizes) -> Node:
    """Negative indices count from the end of their axis."""
    indices = gd.astype(indices, "int64")
    zero = gd.constant(np.asarray(0, np.int64))
    return E.where(E.less(indices, zero), indices + gd.constant(np.asarray(sizes, np.int64)),
                   indices)


def _combine(node: OnnxNode, data: Node, added: Node, hits: Node) -> Node:
    reduction = node.string("reduction", "none")
    if reduction == "add":
        return E.add(data, added)
    if reduction != "none":
        raise node.fail(f"reduction {reduction!r} is not supported")
    zero = gd.constant(np.zeros((), data.dtype))
    hit = E.greater(hits, gd.constant(np.zeros((), hits.dtype)))
    return E.add(E.where(hit, zero, data), added)


@onnx_import("ScatterElements", "Scatter")
def _scatter_elements(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    data, indices, updates = (ctx.tensor(node, i) for i in range(3))
    axis = normalize_axis(node.int("axis", 0), data.ndim)
    indices = _wrap(indices, data.shape[axis])
    added = I.scatter_add_along_axis(updates, indices, axis=axis, shape=data.shape)
    ones = gd.constant(np.ones(updates.shape, np.float32))
    hits = I.scatter_add_along_axis(ones, indices, axis=axis, shape=data.shape)
    return [_combine(node, data, added, hits)]


@onnx_import("ScatterND")
def _scatter_nd(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    """The first k axes flattened into one, scattered with flat offsets."""
    data, indices, updates = (ctx.tensor(node, i) for i in range(3))
    depth = indices.shape[-1]
    lead = data.shape[:depth]
    if not all(isinstance(d, int) for d in (depth, *lead)):
        raise node.fail("needs a static index depth and indexed axes")
    strides = np.cumprod((1,) + tuple(lead[:0:-1]))[::-1].astype(np.int64)
    offsets = gd.sum(_wrap(indices, lead) * gd.constant(strides), axis=-1)
    flat_shape = (int(np.prod(lead)),) + tuple(data.shape[depth:])
    added = I.scatter_add(updates, offsets, axis=0, shape=flat_shape)
    ones = gd.constant(np.ones(updates.shape, np.float32))
    hits = I.scatter_add(ones, offsets, axis=0, shape=flat_shape)
    merged = _combine(node, gd.reshape(data, flat_shape), added, hits)
    return [gd.reshape(merged, data.shape)]
