"""Import of ONNX ops that place values into images: Col2Im (blocks summed back into an image,
the inverse of im2col) and MaxUnpool (values put back at MaxPool's indices), as scatter-adds
at constant positions; and LRN (local response normalization across channels).
"""

from __future__ import annotations

import itertools

import numpy as np

import graphdiff as gd

from ...ir.node import Node
from ...ops import elementwise as E
from ...ops import index as I
from ..importer import ImportContext, OnnxNode, onnx_import


def _spatial(node: OnnxNode, name: str, default: int, rank: int) -> list[int]:
    values = node.ints(name) or [default] * rank
    if len(values) != rank:
        raise node.fail(f"{name} {values} must have {rank} entries")
    return values


@onnx_import("Col2Im", known=(1, 2))
def _col2im(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    image = [int(v) for v in ctx.array(node, 1).reshape(-1)]
    block = [int(v) for v in ctx.array(node, 2).reshape(-1)]
    rank = len(image)
    dilations, strides = _spatial(node, "dilations", 1, rank), _spatial(node, "strides", 1, rank)
    pads = _spatial(node, "pads", 0, 2 * rank)
    padded = [n + pads[a] + pads[a + rank] for a, n in enumerate(image)]
    counts = [(p - (d * (b - 1) + 1)) // s + 1 for p, b, d, s in
              zip(padded, block, dilations, strides, strict=True)]
    taps, columns = int(np.prod(block)), int(np.prod(counts))
    batch, rows, length = x.shape
    if not isinstance(rows, int) or rows % taps or length != columns:
        raise node.fail(f"input {x.shape} does not hold C * {taps} rows of {columns} blocks")
    node.check_size(taps, columns)
    # the padded-image position of every (tap, block): sum over axes of (o * s + b * d) * stride
    position = np.zeros((taps, columns), np.int64)
    flat_stride = [int(np.prod(padded[a + 1:])) for a in range(rank)]
    for t, tap in enumerate(itertools.product(*(range(b) for b in block))):
        for o, out in enumerate(itertools.product(*(range(c) for c in counts))):
            position[t, o] = sum((out[a] * strides[a] + tap[a] * dilations[a]) * flat_stride[a]
                                 for a in range(rank))
    channels = rows // taps
    flat = gd.reshape(x, (batch, channels, taps * columns))
    summed = I.scatter_add(flat, gd.constant(position.reshape(-1)), axis=2,
                           shape=(batch, channels, int(np.prod(padded))))
    summed = gd.reshape(summed, (batch, channels, *padded))
    crop = tuple(slice(pads[a], pads[a] + image[a]) for a in range(rank))
    return [summed[(slice(None), slice(None)) + crop]]


@onnx_import("MaxUnpool", known=(2,))
def _max_unpool(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x, indices = ctx.tensor(node, 0), ctx.tensor(node, 1)
    rank = x.ndim - 2
    kernel = node.ints("kernel_shape")
    if kernel is None or len(kernel) != rank:
        raise node.fail("kernel_shape is required, one entry per spatial axis")
    strides, pads = _spatial(node, "strides", 1, rank), _spatial(node, "pads", 0, 2 * rank)
    if not all(isinstance(d, int) for d in x.shape):
        raise node.fail("MaxUnpool needs a static input shape")
    out = [(n - 1) * s - pads[a] - pads[a + rank] + k for a, (n, s, k) in
           enumerate(zip(x.shape[2:], strides, kernel, strict=True))]
    total = int(np.prod(x.shape[:2])) * int(np.prod(out))
    node.check_size(total)
    # MaxPool's indices are flat over the whole (N, C, spatial...) unpooled tensor
    placed = I.scatter_add(gd.reshape(x, (-1,)), gd.reshape(gd.astype(indices, np.int64), (-1,)),
                           axis=0, shape=(total,))
    placed = gd.reshape(placed, tuple(x.shape[:2]) + tuple(out))
    shape = ctx.array(node, 2, optional=True)
    if shape is None:
        return [placed]
    # a larger output_shape holds the unpooled values at its start, zeros after them
    wanted = [int(v) for v in shape.reshape(-1)][2:]
    if len(wanted) != rank or any(w < o for w, o in zip(wanted, out, strict=True)):
        raise node.fail(f"output_shape {shape.tolist()} is smaller than the unpooled "
                        f"{list(x.shape[:2]) + out}")
    return [gd.pad(placed, [(0, 0), (0, 0)] + [(0, w - o) for w, o in zip(wanted, out,
                                                                         strict=True)])]


@onnx_import("LRN")
def _lrn(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    """x / (bias + alpha / size * sum of x^2 over the size channels around each) ** beta."""
    x = ctx.tensor(node, 0)
    size = node.int("size")
    if size is None or size < 1:
        raise node.fail("size is required and positive")
    alpha, beta = node.float("alpha", 1e-4), node.float("beta", 0.75)
    bias = node.float("bias", 1.0)
    channels = x.shape[1]
    if not isinstance(channels, int):
        raise node.fail("LRN needs a static channel count")
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    squares = gd.pad(E.mul(x, x), [(0, 0), (lo, hi)] + [(0, 0)] * (x.ndim - 2))
    window = None
    for k in range(size):
        part = squares[:, k:k + channels]
        window = part if window is None else E.add(window, part)
    scale = E.add(gd.constant(np.asarray(bias, x.dtype)),
                  E.mul(gd.constant(np.asarray(alpha / size, x.dtype)), window))
    return [E.div(x, E.pow_(scale, gd.constant(np.asarray(beta, x.dtype))))]
