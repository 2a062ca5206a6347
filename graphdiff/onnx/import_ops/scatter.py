"""Import of ONNX scatters (ScatterElements, ScatterND) onto graphdiff's scatter ops.

Both become a scatter along axis 0 of the data with its indexed axes flattened. A reduction
combines the data with the updates scattered by the same reduction: ``add`` the data plus
scatter_add, ``mul`` times scatter_mul, ``max`` / ``min`` the maximum / minimum with
scatter_max / scatter_min (whose rows nothing reaches hold the reduction's identity). Without
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
from ...ops import scatter as SC
from ..importer import ImportContext, OnnxNode, onnx_import


def _wrap(indices: Node, sizes) -> Node:
    """Negative indices count from the end of their axis."""
    indices = gd.astype(indices, "int64")
    zero = gd.constant(np.asarray(0, np.int64))
    return E.where(E.less(indices, zero), indices + gd.constant(np.asarray(sizes, np.int64)),
                   indices)


_REDUCTIONS = {"mul": (SC.scatter_mul, E.mul), "max": (SC.scatter_max, E.maximum),
               "min": (SC.scatter_min, E.minimum)}


def _scatter_rows(node: OnnxNode, data: Node, offsets: Node, updates: Node) -> Node:
    """``data`` (indexed along axis 0) with ``updates`` scattered into rows ``offsets`` by the
    node's reduction."""
    reduction = node.string("reduction", "none")
    if reduction in _REDUCTIONS:
        scatter, combine = _REDUCTIONS[reduction]
        return combine(data, scatter(updates, offsets, shape=data.shape))
    added = I.scatter_add(updates, offsets, axis=0, shape=data.shape)
    if reduction == "add":
        return E.add(data, added)
    if reduction != "none":
        raise node.fail(f"reduction {reduction!r} is not supported")
    ones = gd.constant(np.ones(updates.shape, np.float32))
    hits = I.scatter_add(ones, offsets, axis=0, shape=data.shape)
    zero = gd.constant(np.zeros((), data.dtype))
    hit = E.greater(hits, gd.constant(np.zeros((), hits.dtype)))
    return E.add(E.where(hit, zero, data), added)


@onnx_import("ScatterElements", "Scatter")
def _scatter_elements(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    """Flat offsets into the data: the indices along ``axis``, each other axis's position in
    the updates (a constant) elsewhere."""
    data, indices, updates = (ctx.tensor(node, i) for i in range(3))
    axis = normalize_axis(node.int("axis", 0), data.ndim)
    if not all(isinstance(d, int) for d in (*data.shape, *updates.shape)):
        raise node.fail("needs static shapes of the data and the updates")
    strides = np.cumprod((1,) + tuple(data.shape[:0:-1]))[::-1].astype(np.int64)
    grid = np.indices(updates.shape, dtype=np.int64)
    fixed = sum(grid[a] * strides[a] for a in range(data.ndim) if a != axis)
    offsets = _wrap(indices, data.shape[axis]) * gd.constant(np.asarray(strides[axis]))
    offsets = gd.reshape(offsets + gd.constant(np.asarray(fixed, np.int64)), (-1,))
    flat = gd.reshape(data, (int(np.prod(data.shape)),))
    merged = _scatter_rows(node, flat, offsets, gd.reshape(updates, (-1,)))
    return [gd.reshape(merged, data.shape)]


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
    merged = _scatter_rows(node, gd.reshape(data, flat_shape), offsets, updates)
    return [gd.reshape(merged, data.shape)]
