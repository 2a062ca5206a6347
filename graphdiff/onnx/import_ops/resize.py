"""Import of ONNX ``Resize`` (and the older ``Upsample``) as products with constant matrices.

Resizing is separable and linear: along each resized axis the output is ``M @ x`` for an
``(out, in)`` interpolation matrix that depends only on the static sizes and the attributes.
The matrix is the 1-D resize of the identity, computed with onnx's own reference resampler,
so every mode, coordinate transformation, nearest rounding, cubic coefficient, antialias and
exclude_outside setting means exactly what the specification says. ``tf_crop_and_resize``'s
extrapolated positions add a constant. The imported graph is matmuls (so it differentiates).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import graphdiff as gd

from ...ir.node import Node
from ...ir.types import Dim
from ..importer import DimsValue, ImportContext, OnnxNode, onnx_import


def _coefficients(node: OnnxNode, mode: str) -> Callable:
    from onnx.reference.ops import op_resize as R

    antialias = bool(node.int("antialias", 0))
    if mode == "nearest":
        rounding = node.string("nearest_mode", "round_prefer_floor")
        return lambda ratio, scale: R._nearest_coeffs(ratio, mode=rounding)
    if mode == "linear":
        return R._linear_coeffs_antialias if antialias else R._linear_coeffs
    if mode == "cubic":
        a = node.float("cubic_coeff_a", -0.75)
        cubic = R._cubic_coeffs_antialias if antialias else R._cubic_coeffs
        return lambda ratio, scale: cubic(ratio, scale, A=a)
    raise node.fail(f"mode {mode!r} is not supported")


def _axis_operator(node: OnnxNode, size: int, scale: float, out: int,
                   roi: list[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """(M, b) with resize(v) = M @ v + b along one axis of length ``size``."""
    from onnx.reference.ops import op_resize as R

    mode = node.string("mode", "nearest")
    options = {"roi": roi, "exclude_outside": bool(node.int("exclude_outside", 0)),
               "coordinate_transformation_mode": node.string(
                   "coordinate_transformation_mode", "half_pixel")}
    coefficients = _coefficients(node, mode)
    columns = R._interpolate_1d_along_axis(np.eye(size), 0, scale, out, coefficients,
                                           extrapolation_value=0.0, **options)
    offset = R._interpolate_1d_along_axis(np.zeros(size), 0, scale, out, coefficients,
                                          extrapolation_value=node.float(
                                              "extrapolation_value", 0.0), **options)
    return columns, offset  # column k of the (out, in) matrix is the resize of e_k


def _sizes_and_scales(ctx: ImportContext, node: OnnxNode, x: Node,
                      axes: list[int]) -> tuple[list[Dim], list[float]]:
    """Per-axis output sizes and scales, as onnx's reference computes them. An axis whose size
    is symbolic must keep it (scale 1, or a size input giving the same dim)."""
    shape = list(x.shape)
    if node.opset < 11:
        scales = [float(s) for s in ctx.array(node, 1).reshape(-1)]
        return [_scaled(node, s, d) for s, d in zip(scales, shape, strict=True)], scales
    sizes = node.inputs[3] if len(node.inputs) > 3 else None
    scale_input = ctx.array(node, 2, optional=True)
    scales = [1.0] * x.ndim
    if isinstance(sizes, DimsValue) or sizes is not None and np.size(ctx.array(node, 3)):
        out = list(shape)
        for axis, size in zip(axes, ctx.dims(node, 3), strict=True):
            out[axis] = size
        for axis, (o, d) in enumerate(zip(out, shape, strict=True)):
            if not (isinstance(o, int) and isinstance(d, int)) and o != d:
                raise node.fail(f"axis {axis} of {d} is resized to {o}; a symbolic axis can only "
                                "keep its size")
        scales = [1.0 if o == d else o / d for o, d in zip(out, shape, strict=True)]
        policy = node.string("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            pick = min if policy == "not_larger" else max
            scale = pick(scales[a] for a in axes)
            scales = [scale if a in axes else 1.0 for a in range(x.ndim)]
            out = [_scaled(node, scale, d, round_half=True) if a in axes else d
                   for a, d in enumerate(shape)]
        return out, scales
    if scale_input is None or not np.size(scale_input):
        raise node.fail("either scales or sizes is required")
    for axis, scale in zip(axes, np.asarray(scale_input).reshape(-1), strict=True):
        scales[axis] = float(scale)
    return [_scaled(node, s, d) for s, d in zip(scales, shape, strict=True)], scales


def _scaled(node: OnnxNode, scale: float, dim: Dim, round_half: bool = False) -> Dim:
    if isinstance(dim, int):
        return int(scale * dim + 0.5) if round_half else int(scale * dim)
    if scale == 1.0:
        return dim
    raise node.fail(f"a symbolic axis ({dim}) can only keep its size, not be scaled by {scale}")


@onnx_import("Resize", "Upsample", known=(1, 2, 3))
def _resize(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    if x.dtype.kind != "f":
        raise node.fail(f"Resize needs a float tensor, got {x.dtype.name}")
    axes = node.ints("axes") or list(range(x.ndim))
    axes = [a % x.ndim for a in axes]
    out, scales = _sizes_and_scales(ctx, node, x, axes)
    roi_input = ctx.array(node, 1, optional=True) if node.opset >= 11 else None
    roi = None
    if node.string("coordinate_transformation_mode", "") == "tf_crop_and_resize":
        values = [float(v) for v in np.asarray(roi_input).reshape(-1)]
        half = len(values) // 2
        roi = [0.0] * x.ndim + [1.0] * x.ndim
        for k, axis in enumerate(axes if half == len(axes) else range(x.ndim)):
            roi[axis], roi[axis + x.ndim] = values[k], values[half + k]
    y = x
    for axis in range(x.ndim):
        if out[axis] == x.shape[axis] and np.isclose(scales[axis], 1.0) and roi is None:
            continue  # the identity along this axis
        if not isinstance(x.shape[axis], int):
            raise node.fail(f"axis {axis} is symbolic ({x.shape[axis]}); it cannot be resized "
                            "or cropped")
        axis_roi = None if roi is None else [roi[axis], roi[axis + x.ndim]]
        node.check_size(x.shape[axis], out[axis])
        matrix, offset = _axis_operator(node, x.shape[axis], scales[axis], out[axis], axis_roi)
        moved = gd.swapaxes(y, axis, -1)
        resized = gd.matmul(moved, gd.constant(matrix.T.astype(x.dtype)))
        if np.any(offset):
            resized = resized + gd.constant(offset.astype(x.dtype))
        y = gd.swapaxes(resized, axis, -1)
    return [y]
