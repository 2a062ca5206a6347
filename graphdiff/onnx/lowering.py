"""Shared lowerings for ops with no one-to-one ONNX op: slicing and its transpose, scatters,
padding, pieces of an axis, convolution and pooling geometry, and expansion of fused groups.

They are methods of the export context (``ExportContext`` inherits them), so an op's
``onnx=`` mapping calls ``ctx.unslice(...)`` without importing this layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.node import Node
from ..ir.types import Dim

_BIG = np.iinfo(np.int64).max
_SMALL = np.iinfo(np.int64).min


def _bounds(start: int | None, stop: int | None, step: int) -> tuple[int, int]:
    """Python slice ends as ONNX Slice ends (which clamp the same way numpy does)."""
    if start is None:
        start = 0 if step > 0 else _BIG
    if stop is None:
        stop = _BIG if step > 0 else _SMALL
    return start, stop


class Lowerings:
    """Mixin of :class:`ExportContext`, whose ``op``, ``constant``, ``dim``... it uses."""

    op: Any
    constant: Any
    shape: Any
    dim: Any
    fill: Any
    values: dict

    def slice(self, x: str, slices: Sequence[tuple[int | None, int | None, int]]) -> str:
        """``x[start:stop:step, ...]`` with one (start, stop, step) per axis."""
        axes = [a for a, s in enumerate(slices) if s != (None, None, 1)]
        if not axes:
            return self.op("Identity", [x])
        bounds = [_bounds(*slices[a]) for a in axes]
        return self.op("Slice", [x, self.constant(np.array([b[0] for b in bounds], np.int64)),
                                 self.constant(np.array([b[1] for b in bounds], np.int64)),
                                 self.constant(np.array(axes, np.int64)),
                                 self.constant(np.array([slices[a][2] for a in axes], np.int64))])

    def positions(self, dim: Dim, spec: tuple[int | None, int | None, int]) -> str:
        """The indices ``range(dim)[start:stop:step]`` as a 1-D int64 tensor."""
        return self.positions_of(self.dim(dim), spec)

    def positions_of(self, size: str, spec: tuple[int | None, int | None, int]) -> str:
        """``range(n)[start:stop:step]`` where ``size`` names an int64 [1] tensor holding n."""
        scalar = self.op("Squeeze", [size, self.constant(np.array([0], np.int64))])
        every = self.op("Range", [self.constant(np.asarray(0, np.int64)), scalar,
                                  self.constant(np.asarray(1, np.int64))])
        return self.slice(every, [spec])

    def _scatter_front(self, zeros: str, axis: int, rank: int, indices: str, updates: str,
                       reduction: str | None) -> str:
        """ScatterND along ``axis``: move it to the front, scatter rows, move it back."""
        perm = [axis] + [a for a in range(rank) if a != axis]
        inverse = [int(i) for i in np.argsort(perm)]
        front = self.op("Transpose", [zeros], perm=perm)
        attrs = {"reduction": reduction} if reduction else {}
        placed = self.op("ScatterND", [front, indices, updates], **attrs)
        return self.op("Transpose", [placed], perm=inverse)

    def unslice(self, g: str, node: Node) -> str:
        """Zeros of ``node.attrs['shape']`` with ``g`` placed at the slices, one axis at a time
        (each axis a ScatterND of whole rows)."""
        slices, shape = node.attrs["slices"], node.attrs["shape"]
        current = list(node.inputs[0].shape)
        value = g
        for axis, spec in enumerate(slices):
            if spec == (None, None, 1):
                continue
            current[axis] = shape[axis]
            zeros = self.fill(0.0, node.dtype, current)
            moved = [axis] + [a for a in range(len(shape)) if a != axis]
            rows = self.op("Transpose", [value], perm=moved)
            index = self.op("Unsqueeze", [self.positions(shape[axis], spec),
                                          self.constant(np.array([1], np.int64))])
            value = self._scatter_front(zeros, axis, len(shape), index, rows, None)
        return value if value != g else self.op("Identity", [g])

    def scatter_add(self, g: str, indices: str, node: Node) -> str:
        """Zeros of ``shape`` plus ``g`` added at ``indices`` along ``axis`` (np.add.at)."""
        axis, shape = node.attrs["axis"], node.attrs["shape"]
        index_rank = node.inputs[1].ndim
        rank = len(shape)
        # g is shape[:axis] + indices.shape + shape[axis+1:]; put the index axes first
        index_axes = list(range(axis, axis + index_rank))
        rest = [a for a in range(rank - 1 + index_rank) if a not in index_axes]
        perm = index_axes + rest
        # a 0-d g (one index into a 1-D tensor) has nothing to move; Transpose needs a perm
        rows = g if perm == sorted(perm) else self.op("Transpose", [g], perm=perm)
        index = self.op("Unsqueeze", [indices, self.constant(np.array([-1], np.int64))])
        zeros = self.fill(0.0, node.dtype, shape)
        return self._scatter_front(zeros, axis, rank, index, rows, "add")

    def scatter_add_along(self, g: str, indices: str, node: Node) -> str:
        zeros = self.fill(0.0, node.dtype, node.attrs["shape"])
        return self.op("ScatterElements", [zeros, indices, g], axis=node.attrs["axis"],
                       reduction="add")

    def pad(self, x: str, pad_width: Sequence[tuple[int, int]], value: float,
            dtype: np.dtype) -> str:
        pads = [lo for lo, _ in pad_width] + [hi for _, hi in pad_width]
        return self.op("Pad", [x, self.constant(np.array(pads, np.int64)),
                               self.constant(np.asarray(value, dtype))], mode="constant")

    def narrow(self, x: str, node: Node) -> str:
        """Piece ``index`` of an axis cut into ``sizes`` (symbolic sizes allowed)."""
        from ..ir.dims import sum_dims

        axis, sizes, index = node.attrs["axis"], node.attrs["sizes"], node.attrs["index"]
        start = sum_dims(list(sizes[:index]))
        stop = sum_dims(list(sizes[:index + 1]))
        return self.op("Slice", [x, self.dim(start), self.dim(stop),
                                 self.constant(np.array([axis], np.int64))])

    def conv_attrs(self, node: Node) -> dict[str, Any]:
        """Conv/ConvTranspose attributes from graphdiff's (top, bottom, left, right) padding."""
        top, bottom, left, right = node.attrs["padding"]
        return {"strides": list(node.attrs["stride"]), "pads": [top, left, bottom, right],
                "dilations": list(node.attrs["dilation"]), "group": node.attrs["groups"]}

    def pool_attrs(self, node: Node) -> dict[str, Any]:
        top, bottom, left, right = node.attrs["padding"]
        return {"kernel_shape": list(node.attrs["kernel_hw"]),
                "strides": list(node.attrs["stride"]), "pads": [top, left, bottom, right]}

    def conv_input_grad(self, g: str, w: str, node: Node) -> str:
        """The transpose of a convolution: ConvTranspose, with ``output_padding`` restoring the
        rows and columns the forward stride dropped."""
        attrs = self.conv_attrs(node)
        kernel = node.inputs[1].shape[2:]
        grad_hw = node.inputs[0].shape[2:]
        extra = []
        for axis, size in enumerate(node.attrs["input_hw"]):
            stride, dilation = attrs["strides"][axis], attrs["dilations"][axis]
            pads = attrs["pads"][axis] + attrs["pads"][axis + 2]
            natural = stride * (grad_hw[axis] - 1) + (kernel[axis] - 1) * dilation + 1 - pads
            extra.append(size - natural)
        return self.op("ConvTranspose", [g, w], output_padding=extra, **attrs)

    def conv_weight_grad(self, x: str, g: str, node: Node) -> str:
        """dW[o, c, p, q] = sum over n, h, w of g[n, o, h, w] x[n, c, h*s + p*d, w*s + q*d]: a
        convolution of x with g after swapping batch and channels (stride and dilation trade
        places), cut to the kernel size; with groups, the diagonal blocks of the full product."""
        attrs = self.conv_attrs(node)
        kh, kw = node.attrs["kernel_hw"]
        groups = attrs.pop("group")
        attrs["strides"], attrs["dilations"] = attrs["dilations"], attrs["strides"]
        swapped_x = self.op("Transpose", [x], perm=[1, 0, 2, 3])
        swapped_g = self.op("Transpose", [g], perm=[1, 0, 2, 3])
        full = self.op("Conv", [swapped_x, swapped_g], **attrs)  # (C_in, O, >= kh, >= kw)
        full = self.slice(full, [(None, None, 1), (None, None, 1), (0, kh, 1), (0, kw, 1)])
        c_in, c_out = node.inputs[0].shape[1], node.inputs[1].shape[1]
        if groups == 1:
            return self.op("Transpose", [full], perm=[1, 0, 2, 3])
        blocks = self.op("Reshape", [full, self.shape((groups, c_in // groups, groups,
                                                        c_out // groups, kh, kw))])
        diagonal = self.op("Einsum", [blocks], equation="acabij->abcij")
        return self.op("Reshape", [diagonal, self.shape((c_out, c_in // groups, kh, kw))])

    def max_pool_indices(self, x: str, node: Node) -> str:
        """Where each window's maximum is, as indices into the flattened input."""
        _, indices = self.op("MaxPool", [x], outputs=2, **self.pool_attrs(node))
        return indices

    def max_pool_grad(self, x: str, g: str, node: Node) -> str:
        """The cotangent of each window added at its maximum (a ScatterElements of the
        flattened input)."""
        flat_shape = self.constant(np.array([-1], np.int64))
        zeros = self.op("Reshape", [self.fill(0.0, node.dtype, node.inputs[0].shape), flat_shape])
        indices = self.op("Reshape", [self.max_pool_indices(x, node), flat_shape])
        updates = self.op("Reshape", [g, flat_shape])
        placed = self.op("ScatterElements", [zeros, indices, updates], axis=0, reduction="add")
        return self.op("Reshape", [placed, self.op("Shape", [x])])

    def max_pool_gather(self, x: str, t: str, node: Node) -> str:
        """The tangent at each window's maximum."""
        indices = self.max_pool_indices(x, node)
        flat = self.op("Reshape", [t, self.constant(np.array([-1], np.int64))])
        return self.op("Gather", [flat, indices])

    def avg_pool_grad(self, g: str, node: Node) -> str:
        """Each window's cotangent divided by its count, spread evenly over the window: a
        depthwise ConvTranspose with a kernel of ones."""
        channels = node.inputs[0].shape[1]
        kh, kw = node.attrs["kernel_hw"]
        out_hw = node.inputs[0].shape[2:]
        top, bottom, left, right = node.attrs["padding"]
        height, width = node.attrs["input_hw"]
        if node.attrs["count_include_pad"]:
            counts = np.full((1, 1) + tuple(out_hw), kh * kw)
        else:
            valid = np.zeros((height + top + bottom, width + left + right))
            valid[top:top + height, left:left + width] = 1
            sh, sw = node.attrs["stride"]
            counts = np.array([[valid[i * sh:i * sh + kh, j * sw:j * sw + kw].sum()
                                for j in range(out_hw[1])] for i in range(out_hw[0])])
            counts = counts.reshape((1, 1) + tuple(out_hw))
        scaled = self.op("Div", [g, self.constant(counts.astype(node.dtype))])
        ones = self.constant(np.ones((channels, 1, kh, kw), node.dtype))
        extra = [size - (s * (o - 1) + k - lo - hi) for size, s, o, k, lo, hi in
                 zip((height, width), node.attrs["stride"], out_hw, (kh, kw), (top, left),
                     (bottom, right), strict=True)]
        return self.op("ConvTranspose", [scaled, ones], group=channels,
                       strides=list(node.attrs["stride"]), pads=[top, left, bottom, right],
                       output_padding=extra)

    def expand(self, node: Node) -> str | list[str]:
        """Lower a node through the primitives it stands for (``op.expand``: a fused group, a
        custom function). A group with several outputs expands to one value per result: it
        maps to their names, which its ``result`` nodes pick."""
        from .export import emit_nodes

        expanded = node.op.expand(node)
        if isinstance(expanded, list):
            return emit_nodes(self, expanded)
        return emit_nodes(self, [expanded])[0]
