"""Import of ONNX pooling and convolution in general: any rank, dilations, ``ceil_mode``, pads
of any size, and ``LpPool``.

graphdiff's 2-D conv and pooling primitives cover the common case (``nn.py`` uses them).
Everything else is written from slices: pad the input explicitly, take one strided slice per
kernel tap, and combine the taps (maximum; a sum divided by each window's count of counted
positions; a p-norm; or, for a convolution, a sum of per-tap channel contractions). With
static spatial sizes every count is a constant.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

import graphdiff as gd

from ...ir.node import Node
from ...ops import elementwise as E
from ..importer import OnnxNode

MAX_TAPS = 16384  # kernel positions one window may have (one slice node each)


def _output_size(size: int, k: int, s: int, d: int, lo: int, hi: int, ceil: bool) -> int:
    span = (k - 1) * d + 1
    out = (size + lo + hi - span) // s + 1
    if ceil and (size + lo + hi - span) % s:
        out += 1
        if (out - 1) * s >= size + lo:  # the last window would start in the end padding
            out -= 1
    return out


def _counts(size: int, k: int, s: int, d: int, lo: int, hi: int, out: int,
            include_pad: bool) -> np.ndarray:
    """How many taps of each window fall on counted positions along one axis."""
    low, high = (-lo, size + hi) if include_pad else (0, size)
    starts = np.arange(out) * s - lo
    taps = starts[:, None] + np.arange(k)[None, :] * d
    return ((taps >= low) & (taps < high)).sum(axis=1)


def _geometry(node: OnnxNode, x: Node, kernel: Sequence[int], strides: Sequence[int],
              dilations: Sequence[int], pads: Sequence[int]) -> tuple[list[int], list[int]]:
    """Output sizes and end paddings (ceil_mode may need more than ``pads`` holds)."""
    rank = len(kernel)
    sizes = x.shape[2:]
    if int(np.prod(kernel, dtype=np.float64)) > MAX_TAPS or min(kernel, default=1) < 1:
        raise node.fail(f"kernel {list(kernel)} must be positive with at most {MAX_TAPS} taps")
    if min(strides, default=1) < 1 or min(dilations, default=1) < 1:
        raise node.fail("strides and dilations must be positive")
    if not all(isinstance(d, int) for d in sizes):
        raise node.fail("needs static spatial sizes")
    ceil = bool(node.int("ceil_mode", 0))
    outs = [_output_size(n, k, s, d, lo, hi, ceil) for n, k, s, d, lo, hi in
            zip(sizes, kernel, strides, dilations, pads[:rank], pads[rank:], strict=True)]
    ends = [max(hi, (o - 1) * s + (k - 1) * d + 1 - n - lo) for n, k, s, d, lo, hi, o in
            zip(sizes, kernel, strides, dilations, pads[:rank], pads[rank:], outs, strict=True)]
    return outs, ends


def _taps(padded: Node, kernel: Sequence[int], strides: Sequence[int],
          dilations: Sequence[int], outs: Sequence[int]):
    """(offsets, strided slice) for every kernel tap of a padded (N, C, spatial...) tensor."""
    for offsets in itertools.product(*(range(k) for k in kernel)):
        key = [slice(None), slice(None)]
        for offset, d, s, o in zip(offsets, dilations, strides, outs, strict=True):
            key.append(slice(offset * d, offset * d + (o - 1) * s + 1, s))
        yield offsets, gd.api.indexing.getitem(padded, tuple(key))


def window_conv(node: OnnxNode, x: Node, w: Node, b: Node | None, strides: Sequence[int],
                dilations: Sequence[int], pads: Sequence[int], groups: int) -> Node:
    """y[n, o] = sum over taps and the group's channels of w[o, c, tap] x[n, c, tap + ...]."""
    rank = x.ndim - 2
    kernel = [int(k) for k in w.shape[2:]]
    outs, ends = _geometry(node, x, kernel, strides, dilations, pads)
    padded = gd.pad(x, [(0, 0), (0, 0)] + list(zip(pads[:rank], ends, strict=True)))
    if not 0 < groups <= x.shape[1] or x.shape[1] % groups or w.shape[0] % groups:
        raise node.fail(f"group {groups} does not divide the channels")
    c_in, c_out = x.shape[1] // groups, w.shape[0] // groups
    letters = "defghijk"[:rank]
    total = None
    for offsets, tap in _taps(padded, kernel, strides, dilations, outs):
        weights = gd.api.indexing.getitem(w, (slice(None), slice(None)) + tuple(offsets))
        parts = []
        for g in range(groups):
            x_g = gd.api.indexing.getitem(tap, (slice(None), slice(g * c_in, (g + 1) * c_in)))
            w_g = gd.api.indexing.getitem(weights, slice(g * c_out, (g + 1) * c_out))
            parts.append(gd.einsum(f"nc{letters},oc->no{letters}", x_g, w_g))
        term = parts[0] if groups == 1 else gd.concatenate(parts, axis=1)
        total = term if total is None else E.add(total, term)
    if b is not None:
        total = total + gd.reshape(b, (b.shape[0],) + (1,) * rank)
    return total


def window_pool(node: OnnxNode, x: Node, kind: str, kernel: Sequence[int],
                strides: Sequence[int], dilations: Sequence[int], pads: Sequence[int]) -> Node:
    """``kind`` is "max", "avg" or "lp" over windows of the spatial axes (2 onward)."""
    rank = len(kernel)
    sizes = x.shape[2:]
    outs, ends = _geometry(node, x, kernel, strides, dilations, pads)
    if kind == "max":
        fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    else:
        fill = 0
    value = x if kind != "lp" else E.abs_(x)
    padded = gd.pad(value, [(0, 0), (0, 0)] + list(zip(pads[:rank], ends, strict=True)),
                    constant_values=fill)
    taps = []
    for _, tap in _taps(padded, kernel, strides, dilations, outs):
        if kind == "lp":
            tap = tap ** float(node.int("p", 2))
        taps.append(tap)
    combine = E.maximum if kind == "max" else E.add
    result = taps[0]
    for tap in taps[1:]:
        result = combine(result, tap)
    if kind == "lp":
        return result ** (1.0 / node.int("p", 2))
    if kind == "avg":
        include = bool(node.int("count_include_pad", 0))
        per_axis = [_counts(n, k, s, d, lo, hi, o, include) for n, k, s, d, lo, hi, o in
                    zip(sizes, kernel, strides, dilations, pads[:rank], pads[rank:], outs,
                        strict=True)]
        counts = per_axis[0]
        for more in per_axis[1:]:
            counts = np.multiply.outer(counts, more)
        result = E.div(result, gd.constant(np.maximum(counts, 1).astype(x.dtype)))
    return result


def window_argmax(node: OnnxNode, x: Node, kernel: Sequence[int], strides: Sequence[int],
                  dilations: Sequence[int], pads: Sequence[int], column_major: bool) -> Node:
    """MaxPool's Indices: where in ``x`` each window's maximum is, as an index into x
    flattened (row-major, or with the spatial axes column-major when ``column_major``; the
    first maximum in the window's row-major order, as onnx's reference takes it)."""
    rank = len(kernel)
    outs, ends = _geometry(node, x, kernel, strides, dilations, pads)  # static spatial sizes
    sizes = [int(n) for n in x.shape[2:]]
    batch, channels = x.shape[:2]
    if not isinstance(channels, int):
        raise node.fail("the Indices output of MaxPool needs a static channel count")
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    padded = gd.pad(x, [(0, 0), (0, 0)] + list(zip(pads[:rank], ends, strict=True)),
                    constant_values=fill)
    taps = [tap for _, tap in _taps(padded, kernel, strides, dilations, outs)]
    best = gd.argmax(gd.stack(taps, axis=-1), axis=-1)  # (N, C, out...): which tap
    # the flat spatial index of every tap of every window: (out..., taps)
    grids = np.meshgrid(*(np.arange(o) for o in outs), indexing="ij")
    offsets = list(itertools.product(*(range(k) for k in kernel)))
    spatial = np.zeros(tuple(outs) + (len(offsets),), np.int64)
    order = range(rank - 1, -1, -1) if not column_major else range(rank)
    for t, tap in enumerate(offsets):
        flat, stride = np.zeros(tuple(outs), np.int64), 1
        for axis in order:
            coordinate = grids[axis] * strides[axis] - pads[axis] + tap[axis] * dilations[axis]
            flat = flat + coordinate * stride
            stride *= sizes[axis]
        spatial[..., t] = flat
    window = np.arange(int(np.prod(outs)), dtype=np.int64).reshape(outs) * len(offsets)
    where = gd.take(gd.constant(spatial.reshape(-1)), E.add(best, gd.constant(window)))
    # plus the offset of each (example, channel) plane: (n * C + c) * H * W
    plane = int(np.prod(sizes))
    channel = np.arange(channels, dtype=np.int64).reshape((channels,) + (1,) * rank) * plane
    where = E.add(where, gd.constant(channel))
    int64 = np.dtype(np.int64)
    if isinstance(batch, int):
        example = gd.constant(np.arange(batch, dtype=np.int64) * channels * plane)
    else:  # the examples counted along the symbolic batch
        from ...ops.scan import cumsum

        example = cumsum(gd.full((batch,), channels * plane, dtype=int64), axis=0,
                         exclusive=True, reverse=False)
    return E.add(where, gd.reshape(example, (batch,) + (1,) * (rank + 1)))
