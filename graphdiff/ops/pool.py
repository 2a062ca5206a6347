"""2-D max and average pooling in NCHW (PyTorch semantics, ``ceil_mode=False``).

Attributes: ``kernel_hw=(kh, kw)``, ``stride=(sh, sw)`` and ``padding=(top, bottom, left, right)``,
each pad at most half the kernel (PyTorch's rule, so every window holds a real element). Max
pooling pads with -inf; average pooling pads with zeros and divides by ``kh*kw``, or by the number
of real elements in the window when ``count_include_pad`` is False.

Kernels loop over the ``kh*kw`` kernel taps, each one vectorized over the whole output, never
over pixels. The primitives and their derivatives:

- ``max_pool2d(x)``; its VJP is ``max_pool2d_grad(x, g)``, which routes each output's cotangent
  to the position of the first maximum of its window (PyTorch's choice on ties), and its JVP is
  ``max_pool2d_gather(x, t)``, which reads the tangent at those positions. The two are linear in
  their second operand and adjoint to each other, so each one's VJP is the other; their
  derivative in ``x`` is zero almost everywhere (the argmax positions are locally constant).
- ``avg_pool2d(x)`` is linear; its VJP is ``avg_pool2d_grad(g, input_hw)``, whose VJP is
  ``avg_pool2d`` again.

ONNX: ``max_pool2d`` is ``MaxPool`` and ``avg_pool2d`` is ``AveragePool`` (with
``count_include_pad``) with ``kernel_shape=kernel_hw``, ``strides=stride`` and
``pads=(top, left, bottom, right)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..ir.node import Node
from ..ir.types import TensorType
from .batching import batch_into_leading
from .conv import Pads, Pair, output_hw, pad_nchw, same_batch, static_dims, tap_slice, transposed
from .core import defop, jnp, lax, require_float, require_same_dtype

_NO_DILATION = (1, 1)


# --- shape-and-dtype rules ----------------------------------------------------------------------

def _pooled_type(x: TensorType, kernel_hw: Pair, stride: Pair, padding: Pads) -> TensorType:
    require_float(x, "pooling operand")
    if x.ndim != 4:
        raise ShapeError(f"pooling takes an NCHW tensor of rank 4, got rank {x.ndim}")
    if min(kernel_hw) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ShapeError(f"kernel {kernel_hw} and stride {stride} must be positive and padding "
                         f"{padding} non-negative")
    for axis in (0, 1):
        if max(padding[2 * axis:2 * axis + 2]) * 2 > kernel_hw[axis]:
            raise ShapeError(f"padding {padding} must be at most half the kernel {kernel_hw}")
    hw = static_dims(x.shape, (2, 3), "the pooled input")
    return x.with_shape(x.shape[:2] + output_hw(hw, kernel_hw, stride, padding, _NO_DILATION))


def _pool_type(types: Sequence[TensorType], *, kernel_hw: Pair, stride: Pair, padding: Pads,
               **_: bool) -> TensorType:
    return _pooled_type(types[0], kernel_hw, stride, padding)


def _check_pooled(pooled: TensorType, got: TensorType, what: str) -> None:
    same_batch(pooled.shape[0], got.shape[0])
    if tuple(got.shape[1:]) != tuple(pooled.shape[1:]) or got.ndim != 4:
        raise ShapeError(f"{what} has shape {got.shape}, but pooling gives {pooled.shape}")


def _max_grad_type(types: Sequence[TensorType], *, kernel_hw: Pair, stride: Pair,
                   padding: Pads) -> TensorType:
    x, g = types
    require_same_dtype(types)
    _check_pooled(_pooled_type(x, kernel_hw, stride, padding), g, "the output gradient")
    return x


def _max_gather_type(types: Sequence[TensorType], *, kernel_hw: Pair, stride: Pair,
                     padding: Pads) -> TensorType:
    x, t = types
    require_same_dtype(types)
    if tuple(t.shape[1:]) != tuple(x.shape[1:]) or t.ndim != 4:
        raise ShapeError(f"the gathered operand {t.shape} must have the input's shape {x.shape}")
    same_batch(x.shape[0], t.shape[0])
    return _pooled_type(x, kernel_hw, stride, padding)


def _avg_grad_type(types: Sequence[TensorType], *, input_hw: Pair, kernel_hw: Pair,
                   stride: Pair, padding: Pads, count_include_pad: bool) -> TensorType:
    (g,) = types
    x = g.with_shape(g.shape[:2] + tuple(input_hw))
    _check_pooled(_pooled_type(x, kernel_hw, stride, padding), g, "the output gradient")
    return x


# --- kernels ------------------------------------------------------------------------------------

def _taps(kernel_hw: Pair) -> list[tuple[int, int]]:
    return [(p, q) for p in range(kernel_hw[0]) for q in range(kernel_hw[1])]


def _out_hw(hw: Sequence[int], kernel_hw: Pair, stride: Pair, padding: Pads) -> Pair:
    return output_hw((hw[0], hw[1]), kernel_hw, stride, padding, _NO_DILATION)


def _maximum_of(arrays: Sequence[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """Elementwise maximum of equally shaped arrays, into ``out`` or a new array (NaN
    propagates)."""
    if len(arrays) == 1:
        if out is None:
            return arrays[0].copy()
        np.copyto(out, arrays[0])
        return out
    out = np.maximum(arrays[0], arrays[1], out=out)
    for array in arrays[2:]:
        np.maximum(out, array, out=out)
    return out


def _max_pool2d_kernel(x: np.ndarray, *, kernel_hw: Pair, stride: Pair, padding: Pads,
                       out: np.ndarray | None = None) -> np.ndarray:
    if _tiled(x.shape, kernel_hw, stride, padding):
        # windows tiling the input: first the maximum over the kernel's rows, reading whole
        # image rows (contiguous), then over the columns of the smaller result
        (n, c, h, w), (kh, kw) = x.shape, kernel_hw
        tiles = x.reshape(n, c, h // kh, kh, w // kw, kw)
        rows = _maximum_of([tiles[:, :, :, p] for p in range(kh)])
        return _maximum_of([rows[..., q] for q in range(kw)], out)
    out_hw = _out_hw(x.shape[2:], kernel_hw, stride, padding)
    return _maximum_of(_tap_views(x, out_hw, kernel_hw, stride, padding), out)


def _first_argmax_tap(tap_values: Sequence[np.ndarray]) -> np.ndarray:
    """For each output, the index (into ``tap_values``, one array per kernel tap, in ``_taps``
    order) of the first maximum of its window.

    Masked numpy writes (``copyto(where=)``, ``np.where``) cost ~30x plain arithmetic on random
    masks, so the scan is arithmetic: taps come in increasing order, hence the index of the last
    strict improvement is ``maximum(index, improved * position)``.
    """
    best = tap_values[0].copy()
    index_type = np.int8 if len(tap_values) <= 127 else np.int32
    index = np.zeros(best.shape, dtype=index_type)
    improved = np.empty(best.shape, dtype=bool)
    step = np.empty(best.shape, dtype=index_type)
    for position, values in enumerate(tap_values[1:], start=1):
        np.greater(values, best, out=improved)  # strict: a later tie keeps the first max
        np.maximum(best, values, out=best)
        np.multiply(improved, index_type(position), out=step)
        np.maximum(index, step, out=index)
    return index


def _tiled(shape: Sequence[int], kernel_hw: Pair, stride: Pair, padding: Pads) -> bool:
    """Do the windows tile the input exactly (stride = kernel, no padding, nothing left over)?"""
    return tuple(stride) == tuple(kernel_hw) and not any(padding) \
        and shape[2] % kernel_hw[0] == 0 and shape[3] % kernel_hw[1] == 0


def _tap_views(x: np.ndarray, out_hw: Pair, kernel_hw: Pair, stride: Pair,
               padding: Pads) -> list[np.ndarray]:
    """One strided view of the (padded) input per kernel tap, each shaped like the output."""
    xpad = pad_nchw(x, padding, -np.inf)
    return [xpad[tap_slice(*tap, out_hw, stride, _NO_DILATION)] for tap in _taps(kernel_hw)]


def _max_pool2d_grad_kernel(x: np.ndarray, g: np.ndarray, *, kernel_hw: Pair, stride: Pair,
                            padding: Pads, out: np.ndarray | None = None) -> np.ndarray:
    out_hw = g.shape[2:]
    # g times a 0/1 mask, not np.where (see _first_argmax_tap); a NaN in g spreads over its
    # window, where PyTorch keeps it at the maximum
    if _tiled(x.shape, kernel_hw, stride, padding):
        # every input element is in exactly one window: each tap writes its own elements of
        # dx once (no zero fill, no accumulation)
        (n, c, h, w), (kh, kw) = x.shape, kernel_hw
        tiles = (n, c, h // kh, kh, w // kw, kw)
        x_tiles = x.reshape(tiles)
        dx = np.empty(x.shape, dtype=g.dtype) if out is None else out
        dx_tiles = dx.reshape(tiles)
        index = _first_argmax_tap([x_tiles[:, :, :, p, :, q] for p, q in _taps(kernel_hw)])
        mask = np.empty(index.shape, dtype=bool)
        for position, (p, q) in enumerate(_taps(kernel_hw)):
            np.equal(index, position, out=mask)
            np.multiply(g, mask, out=dx_tiles[:, :, :, p, :, q])
        return dx
    index = _first_argmax_tap(_tap_views(x, out_hw, kernel_hw, stride, padding))
    top, bottom, left, right = padding
    dxpad = np.zeros(x.shape[:2] + (x.shape[2] + top + bottom, x.shape[3] + left + right),
                     dtype=g.dtype)
    for position, tap in enumerate(_taps(kernel_hw)):
        dxpad[tap_slice(*tap, out_hw, stride, _NO_DILATION)] += g * (index == position)
    dx = dxpad[:, :, top:top + x.shape[2], left:left + x.shape[3]]
    if out is None:
        return dx
    np.copyto(out, dx)
    return out


def _max_pool2d_gather_kernel(x: np.ndarray, t: np.ndarray, *, kernel_hw: Pair, stride: Pair,
                              padding: Pads) -> np.ndarray:
    out_hw = _out_hw(x.shape[2:], kernel_hw, stride, padding)
    index = _first_argmax_tap(_tap_views(x, out_hw, kernel_hw, stride, padding))
    tpad = pad_nchw(t, padding)
    out = np.zeros(index.shape, dtype=t.dtype)
    for position, tap in enumerate(_taps(kernel_hw)):
        out += tpad[tap_slice(*tap, out_hw, stride, _NO_DILATION)] * (index == position)
    return out


def _divisor(hw: Sequence[int], out_hw: Pair, kernel_hw: Pair, stride: Pair, padding: Pads,
             count_include_pad: bool, dtype: np.dtype) -> np.ndarray:
    """What each window's sum is divided by: kh*kw, or its count of non-padding elements."""
    if count_include_pad:
        return np.asarray(kernel_hw[0] * kernel_hw[1], dtype=dtype)
    counts = []
    for axis in (0, 1):
        start = np.arange(out_hw[axis]) * stride[axis] - padding[2 * axis]
        stop = np.minimum(start + kernel_hw[axis], hw[axis])
        counts.append(stop - np.maximum(start, 0))
    return np.outer(counts[0], counts[1]).astype(dtype)


def _avg_pool2d_kernel(x: np.ndarray, *, kernel_hw: Pair, stride: Pair, padding: Pads,
                       count_include_pad: bool) -> np.ndarray:
    out_hw = _out_hw(x.shape[2:], kernel_hw, stride, padding)
    xpad = pad_nchw(x, padding)
    taps = _taps(kernel_hw)
    out = xpad[tap_slice(*taps[0], out_hw, stride, _NO_DILATION)].copy()
    for tap in taps[1:]:
        out += xpad[tap_slice(*tap, out_hw, stride, _NO_DILATION)]
    out /= _divisor(x.shape[2:], out_hw, kernel_hw, stride, padding, count_include_pad, x.dtype)
    return out


def _avg_pool2d_grad_kernel(g: np.ndarray, *, input_hw: Pair, kernel_hw: Pair, stride: Pair,
                            padding: Pads, count_include_pad: bool) -> np.ndarray:
    out_hw = g.shape[2:]
    scaled = g / _divisor(input_hw, out_hw, kernel_hw, stride, padding, count_include_pad,
                          g.dtype)
    top, bottom, left, right = padding
    dxpad = np.zeros(g.shape[:2] + (input_hw[0] + top + bottom, input_hw[1] + left + right),
                     dtype=g.dtype)
    for tap in _taps(kernel_hw):
        dxpad[tap_slice(*tap, out_hw, stride, _NO_DILATION)] += scaled
    return dxpad[:, :, top:top + input_hw[0], left:left + input_hw[1]]


# --- derivative rules ---------------------------------------------------------------------------

def _window_attrs(node: Node) -> dict:
    return {k: node.attrs[k] for k in ("kernel_hw", "stride", "padding")}


# --- JAX: the pools are lax.reduce_window, the max-pool gather computes the first maximum as the
# kernel does, and the two gradients are linear transposes (of the gather, of the average) -----

def _window(kernel_hw: Pair, stride: Pair, padding: Pads) -> dict:
    top, bottom, left, right = padding
    return {"window_dimensions": (1, 1, *kernel_hw), "window_strides": (1, 1, *stride),
            "padding": ((0, 0), (0, 0), (top, bottom), (left, right))}


def _max_pool2d_jax(x: Any, *, kernel_hw: Pair, stride: Pair, padding: Pads) -> Any:
    lowest = np.array(-np.inf, x.dtype)
    return lax().reduce_window(x, lowest, lax().max, **_window(kernel_hw, stride, padding))


def _tap_slices_jax(x: Any, out_hw: Pair, kernel_hw: Pair, stride: Pair, padding: Pads,
                    value: float) -> list:
    """``_tap_views`` in JAX: one strided slice of the padded input per kernel tap."""
    top, bottom, left, right = padding
    xpad = jnp().pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)
    n, c = x.shape[:2]
    return [lax().slice(xpad, (0, 0, p, q), (n, c, p + stride[0] * (out_hw[0] - 1) + 1,
                                             q + stride[1] * (out_hw[1] - 1) + 1),
                        (1, 1, *stride)) for p, q in _taps(kernel_hw)]


def _max_pool2d_gather_jax(x: Any, t: Any, *, kernel_hw: Pair, stride: Pair,
                           padding: Pads) -> Any:
    np_ = jnp()
    out_hw = _out_hw(x.shape[2:], kernel_hw, stride, padding)
    taps = _tap_slices_jax(x, out_hw, kernel_hw, stride, padding, -np.inf)
    best, index = taps[0], np_.zeros(taps[0].shape, "int32")
    for position, values in enumerate(taps[1:], start=1):  # as _first_argmax_tap
        index = np_.where(values > best, position, index)
        best = np_.maximum(best, values)
    t_taps = _tap_slices_jax(t, out_hw, kernel_hw, stride, padding, 0.0)
    return sum(values * (index == position) for position, values in enumerate(t_taps))


def _max_pool2d_grad_jax(x: Any, g: Any, **window: Any) -> Any:
    return transposed(lambda t: _max_pool2d_gather_jax(x, t, **window), x.shape, g)


def _avg_pool2d_jax(x: Any, *, kernel_hw: Pair, stride: Pair, padding: Pads,
                    count_include_pad: bool) -> Any:
    out_hw = _out_hw(x.shape[2:], kernel_hw, stride, padding)
    total = lax().reduce_window(x, np.array(0, x.dtype), lax().add,
                                **_window(kernel_hw, stride, padding))
    return total / _divisor(x.shape[2:], out_hw, kernel_hw, stride, padding, count_include_pad,
                            x.dtype)


def _avg_pool2d_grad_jax(g: Any, *, input_hw: Pair, **attrs: Any) -> Any:
    return transposed(lambda x: _avg_pool2d_jax(x, **attrs), (*g.shape[:2], *input_hw), g)


max_pool2d = defop(
    "max_pool2d", _pool_type, _max_pool2d_kernel, out_arg=True, jax=_max_pool2d_jax,
    onnx=lambda ctx, n, i: ctx.op("MaxPool", i, **ctx.pool_attrs(n)),
    vjp=lambda node, g: [max_pool2d_grad(node.inputs[0], g, **node.attrs)],
    jvp=lambda node, t: max_pool2d_gather(node.inputs[0], t[0], **node.attrs),
    batch=batch_into_leading,
    doc="Maximum over each window, -inf padding. ONNX MaxPool: kernel_shape, strides, "
        "pads=(top, left, bottom, right).")
max_pool2d_grad = defop(
    "max_pool2d_grad", _max_grad_type, _max_pool2d_grad_kernel, out_arg=True,
    jax=_max_pool2d_grad_jax,
    onnx=lambda ctx, n, i: ctx.max_pool_grad(i[0], i[1], n),
    # linear in g with adjoint gather; zero derivative in x almost everywhere
    vjp=lambda node, c: [None, max_pool2d_gather(node.inputs[0], c, **node.attrs)],
    jvp=lambda node, t: None if t[1] is None else max_pool2d_grad(node.inputs[0], t[1],
                                                                   **node.attrs),
    batch=batch_into_leading,
    doc="Scatter of g to the first maximum of each window of x (max_pool2d's VJP).")
max_pool2d_gather = defop(
    "max_pool2d_gather", _max_gather_type, _max_pool2d_gather_kernel,
    jax=_max_pool2d_gather_jax,
    onnx=lambda ctx, n, i: ctx.max_pool_gather(i[0], i[1], n),
    vjp=lambda node, c: [None, max_pool2d_grad(node.inputs[0], c, **node.attrs)],
    jvp=lambda node, t: None if t[1] is None else max_pool2d_gather(node.inputs[0], t[1],
                                                                     **node.attrs),
    batch=batch_into_leading,
    doc="t read at the first maximum of each window of x (max_pool2d's JVP).")
avg_pool2d = defop(
    "avg_pool2d", _pool_type, _avg_pool2d_kernel, jax=_avg_pool2d_jax,
    onnx=lambda ctx, n, i: ctx.op("AveragePool", i, **ctx.pool_attrs(n),
                                  count_include_pad=int(n.attrs["count_include_pad"])),
    vjp=lambda node, g: [avg_pool2d_grad(g, input_hw=node.inputs[0].shape[2:], **node.attrs)],
    jvp=lambda node, t: avg_pool2d(t[0], **node.attrs),
    batch=batch_into_leading,
    doc="Mean over each window, zero padding. ONNX AveragePool: kernel_shape, strides, "
        "pads=(top, left, bottom, right), count_include_pad.")
avg_pool2d_grad = defop(
    "avg_pool2d_grad", _avg_grad_type, _avg_pool2d_grad_kernel, jax=_avg_pool2d_grad_jax,
    onnx=lambda ctx, n, i: ctx.avg_pool_grad(i[0], n),
    vjp=lambda node, c: [avg_pool2d(c, **_window_attrs(node),
                                    count_include_pad=node.attrs["count_include_pad"])],
    jvp=lambda node, t: avg_pool2d_grad(t[0], **node.attrs),
    batch=batch_into_leading,
    doc="The adjoint of avg_pool2d: each output's cotangent spread evenly over its window.")
