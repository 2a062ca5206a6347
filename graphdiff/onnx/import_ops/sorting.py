"""Import of ONNX sorting and selection ops: TopK, ReverseSequence, Compress, NonZero, Unique.

TopK and ReverseSequence have static result shapes and become gathers (differentiable in the
operand). Compress, NonZero and Unique give as many results as the data says, and a graphdiff
graph's shapes are fixed when it is built: Compress needs its condition known when the model is
imported, NonZero and Unique their operand (a constant, or a graph input bound with
``import_onnx(bind=...)``), and are then computed at import. Otherwise the error says so, and
that ``gd.nonzero`` / ``gd.unique`` / ``gd.compress`` with ``size=`` select a static number.
"""

from __future__ import annotations

import numpy as np

import graphdiff as gd

from ...ir.node import Node
from ...ir.types import normalize_axis
from ...ops import index as I
from ...ops import sort as O
from ...ops.source import CONSTANT
from ..importer import ImportContext, OnnxNode, onnx_import


@onnx_import("TopK", known=(1,))
def _top_k(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    """The k largest (or smallest) along ``axis``, sorted, ties to the lower index (both
    directions, as the spec says); unsorted output is allowed any order, so it is sorted too."""
    x = ctx.tensor(node, 0)
    k = np.asarray(ctx.array(node, 1)).reshape(-1)
    if k.size != 1 or k.dtype.kind not in "iu":
        raise node.fail(f"K must hold one integer, got {k!r}")
    axis = normalize_axis(node.int("axis", -1), x.ndim)
    dim = x.shape[axis]
    if k[0] < 0 or (isinstance(dim, int) and k[0] > dim):
        raise node.fail(f"K={int(k[0])} is out of range for axis {axis} of size {dim}")
    indices = O.argsort(x, axis=axis, descending=bool(node.int("largest", 1)), k=int(k[0]))
    return [I.take_along_axis(x, indices, axis=axis), indices]


@onnx_import("ReverseSequence")
def _reverse_sequence(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    """Each batch entry's first ``sequence_lens[b]`` steps reversed, the rest kept: a gather
    along the time axis from ``t' = len - 1 - t`` where ``t < len``, else ``t`` (a symbolic
    time axis is fine)."""
    x = ctx.tensor(node, 0)
    lengths = gd.astype(ctx.tensor(node, 1), np.int64)
    time, batch = node.int("time_axis", 0), node.int("batch_axis", 1)
    if x.ndim < 2 or {time, batch} != {0, 1}:
        raise node.fail(f"time_axis {time} and batch_axis {batch} must be 0 and 1 of a tensor "
                        f"of rank >= 2, got rank {x.ndim}")
    line = [1] * x.ndim
    line[time] = x.shape[time]
    if isinstance(x.shape[time], int):
        t = gd.constant(np.arange(x.shape[time], dtype=np.int64).reshape(line))
    else:  # the positions of a symbolic axis: a running count of ones, less one
        ones = gd.broadcast_to(gd.constant(np.ones((1,) * x.ndim, np.int64)), line)
        t = gd.cumsum(ones, axis=time) - 1
    line[time], line[batch] = 1, lengths.shape[0]
    lengths = gd.reshape(lengths, line)
    source = gd.where(gd.less(t, lengths), lengths - 1 - t, t)
    return [gd.take_along_axis(x, gd.broadcast_to(source, x.shape), axis=time)]


@onnx_import("Compress", known=(1,))
def _compress(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    """The slices where the known condition is true: a take of constant positions."""
    x = ctx.tensor(node, 0)
    condition = _known(ctx, node, 1, "Compress", "gd.compress(condition, x, axis, size=...)")
    if condition.ndim != 1:
        raise node.fail(f"the condition must be 1-D, got shape {list(condition.shape)}")
    axis = node.int("axis")
    if axis is None:
        x, axis = gd.reshape(x, (-1,)), 0
    axis = normalize_axis(axis, x.ndim)
    dim = x.shape[axis]
    if isinstance(dim, int) and len(condition) > dim:
        raise node.fail(f"a condition of length {len(condition)} for axis {axis} of size {dim}")
    return [gd.take(x, np.flatnonzero(condition).astype(np.int64), axis=axis)]


@onnx_import("NonZero")
def _nonzero(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = _known(ctx, node, 0, "NonZero", "gd.nonzero(x, size=...)")
    return [gd.constant(np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1))]


@onnx_import("Unique")
def _unique(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    """np.unique on the known operand; ``sorted=0`` orders by first occurrence instead."""
    x = _known(ctx, node, 0, "Unique", "gd.unique(x, size=...)")
    axis = node.int("axis")
    if axis is not None:
        axis = normalize_axis(axis, x.ndim)
    values, index, inverse, counts = np.unique(
        x, return_index=True, return_inverse=True, return_counts=True, axis=axis,
        equal_nan=False)
    inverse = inverse.reshape(-1)
    if not node.int("sorted", 1):
        order = np.argsort(index, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        values = np.take(values, order, axis=0 if axis is None else axis)
        index, counts, inverse = index[order], counts[order], rank[inverse]
    return [gd.constant(values)] + [gd.constant(a.astype(np.int64))
                                    for a in (index, inverse, counts)]


def _known(ctx: ImportContext, node: OnnxNode, index: int, op_type: str,
           alternative: str) -> np.ndarray:
    """A data-dependent-size op's operand, which must be known: the result's size is."""
    value = node.inputs[index] if index < len(node.inputs) else None
    if isinstance(value, Node) and value.op is not CONSTANT:
        raise node.fail(
            f"the number of results depends on the values of input {index}, which must be "
            f"known when the model is imported (a constant, or a graph input bound with "
            f"import_onnx(bind=...)): graphdiff fixes shapes when the graph is built; "
            f"{alternative} selects a static number of results")
    array = np.asarray(ctx.array(node, index))
    node.check_size(array.size)
    return array
