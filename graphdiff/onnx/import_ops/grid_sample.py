"""Import of ONNX GridSample (and the opset-16 form PyTorch's ``F.grid_sample`` exports): sample
X at the normalized coordinates of a grid, nearest, (bi/tri)linear or bicubic, with zeros,
border or reflection padding, for any number of spatial axes.

Each output position gathers its taps (1, 2 or 4 per axis) from X flattened over its spatial
axes and sums them with the interpolation weights, all as graph ops, so the result
differentiates with respect to X and to the grid. The coordinate arithmetic follows PyTorch's
GridSampler.h, as onnx's reference and onnxruntime do: denormalize, then (but for bicubic) clamp
or reflect a coordinate that falls outside, then fetch each tap with the padding mode.
"""

from __future__ import annotations

import itertools

import numpy as np

import graphdiff as gd

from ...ir.node import Node
from ...ops import elementwise as E
from ..importer import ImportContext, OnnxNode, onnx_import
from .tensor import round_half_even

_CUBIC_ALPHA = -0.75
_MODES = {"bilinear": "linear", "linear": "linear", "nearest": "nearest", "bicubic": "cubic",
          "cubic": "cubic"}


def _c(value: float, like: Node) -> Node:
    return gd.constant(np.asarray(value, like.dtype))


def _reflect(v: Node, low: float, high: float) -> Node:
    """Reflect ``v`` by the near border until it lies in [low, high]."""
    span = high - low
    if span <= 0:
        return E.where(E.logical_or(E.less(v, _c(low, v)), E.greater(v, _c(high, v))),
                       _c(low, v), v)
    below, above = E.sub(_c(low, v), v), E.sub(v, _c(high, v))
    out = v
    for distance, near, far, side in ((below, low, high, E.less(v, _c(low, v))),
                                      (above, high, low, E.greater(v, _c(high, v)))):
        times = E.floor(E.div(distance, _c(span, v)))
        rest = E.sub(distance, E.mul(times, _c(span, v)))
        even = E.equal(E.sub(times, E.mul(_c(2, v), E.floor(E.div(times, _c(2, v))))),
                       _c(0, v))
        toward = 1.0 if near == low else -1.0  # low + rest, or high - rest
        reflected = E.where(even, E.add(_c(near, v), E.mul(_c(toward, v), rest)),
                            E.sub(_c(far, v), E.mul(_c(toward, v), rest)))
        out = E.where(side, reflected, out)
    return out


def _keys_weights(t: Node) -> list[Node]:
    """Keys' cubic convolution weights (alpha -0.75) of the taps at -1, 0, 1, 2 from floor."""
    a = _CUBIC_ALPHA

    def far(d: Node) -> Node:  # 1 < |d| < 2
        return E.sub(E.mul(E.add(E.mul(E.sub(E.mul(_c(a, d), d), _c(5 * a, d)), d),
                                 _c(8 * a, d)), d), _c(4 * a, d))

    def near(d: Node) -> Node:  # |d| <= 1
        return E.add(E.mul(E.mul(E.sub(E.mul(_c(a + 2, d), d), _c(a + 3, d)), d), d),
                     _c(1, d))

    one = _c(1, t)
    return [far(E.add(t, one)), near(t), near(E.sub(one, t)), far(E.sub(_c(2, t), t))]


def _trunc(v: Node) -> Node:
    return E.where(E.less(v, _c(0, v)), E.ceil(v), E.floor(v))


def grid_sample(node: OnnxNode, x: Node, grid: Node, mode: str, padding: str,
                align_corners: bool) -> Node:
    rank = x.ndim - 2
    sizes = x.shape[2:]
    if not all(isinstance(d, int) for d in sizes) or not all(isinstance(d, int)
                                                             for d in grid.shape[1:]):
        raise node.fail("GridSample needs static spatial sizes and a static grid")
    if grid.ndim != rank + 2 or grid.shape[-1] != rank:
        raise node.fail(f"the grid must be (N, out..., {rank}) for {rank} spatial axes, got "
                        f"{grid.shape}")
    coordinates = []
    for axis, size in enumerate(sizes):
        n = grid[(Ellipsis, rank - 1 - axis)]  # the grid's last entry is the last axis
        if align_corners:
            v = E.mul(E.add(n, _c(1, n)), _c((size - 1) / 2.0, n))
            low, high = 0.0, size - 1.0
        else:
            v = E.div(E.sub(E.mul(E.add(n, _c(1, n)), _c(size, n)), _c(1, n)), _c(2, n))
            low, high = -0.5, size - 0.5
        if mode == "nearest":
            v = round_half_even(v)
        # bicubic pads each tap, not the coordinate, as PyTorch and onnxruntime do (onnx's
        # reference clamps the coordinate too, which differs for border padding)
        outside = E.logical_or(E.less(v, _c(low, v)), E.greater(v, _c(high, v)))
        if padding == "border" and mode != "cubic":
            v = E.where(outside, E.minimum(E.maximum(v, _c(0, v)), _c(size - 1, v)), v)
        elif padding == "reflection" and mode != "cubic":
            v = _reflect(v, low, high)
        coordinates.append((v, low, high))
    # taps per axis: (integer position as a float, weight or None)
    taps_per_axis = []
    for v, _, _ in coordinates:
        if mode == "nearest":
            taps_per_axis.append([(v, None)])
            continue
        base = E.floor(v)
        t = E.sub(v, base)
        if mode == "linear":
            weights = [E.sub(_c(1, t), t), t]
            offsets = [0, 1]
        else:
            weights = _keys_weights(t)
            offsets = [-1, 0, 1, 2]
        taps_per_axis.append([(E.add(base, _c(o, base)), w) for o, w in
                              zip(offsets, weights, strict=True)])
    batch, channels = x.shape[:2]
    points = int(np.prod(grid.shape[1:-1]))
    flat = gd.reshape(x, (batch, channels, int(np.prod(sizes))))
    strides = [int(np.prod(sizes[a + 1:])) for a in range(rank)]
    total = None
    for combination in itertools.product(*taps_per_axis):
        index, valid, weight = None, None, None
        for axis, ((position, w), (_, low, high)) in enumerate(zip(combination, coordinates,
                                                                  strict=True)):
            size = sizes[axis]
            if padding == "zeros":
                inside = E.logical_and(E.greater_equal(position, _c(0, position)),
                                       E.less(position, _c(size, position)))
                valid = inside if valid is None else E.logical_and(valid, inside)
                position = E.minimum(E.maximum(position, _c(0, position)),
                                     _c(size - 1, position))
            elif padding == "border":
                position = E.minimum(E.maximum(position, _c(0, position)),
                                     _c(size - 1, position))
            else:
                position = _trunc(_reflect(position, low, high))
            term = E.mul(gd.astype(position, np.int64), gd.constant(np.int64(strides[axis])))
            index = term if index is None else E.add(index, term)
            if w is not None:
                weight = w if weight is None else E.mul(weight, w)
        picked = gd.take_along_axis(flat, gd.reshape(index, (batch, 1, points)), axis=2)
        scale = weight
        if valid is not None:
            mask = gd.astype(valid, x.dtype)
            scale = mask if scale is None else E.mul(gd.astype(scale, x.dtype), mask)
        if scale is not None:
            picked = E.mul(picked, gd.reshape(gd.astype(scale, x.dtype), (batch, 1, points)))
        total = picked if total is None else E.add(total, picked)
    return gd.reshape(total, (batch, channels) + tuple(grid.shape[1:-1]))


@onnx_import("GridSample")
def _grid_sample(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x, grid = ctx.tensor(node, 0), ctx.tensor(node, 1)
    mode = _MODES.get(node.string("mode", "linear" if node.opset >= 20 else "bilinear"))
    if mode is None:
        raise node.fail(f"mode {node.string('mode')!r} is not supported")
    padding = node.string("padding_mode", "zeros")
    if padding not in ("zeros", "border", "reflection"):
        raise node.fail(f"padding_mode {padding!r} is not supported")
    if mode == "cubic" and x.ndim != 4:
        raise node.fail("bicubic GridSample is 2-D only")
    return [grid_sample(node, x, grid, mode, padding, bool(node.int("align_corners", 0)))]
