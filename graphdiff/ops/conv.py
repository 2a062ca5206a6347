"""2-D convolution in NCHW / OIHW layout (PyTorch semantics) and its two adjoints.

Three primitives share the attributes ``stride=(sh, sw)``, ``padding=(top, bottom, left, right)``,
``dilation=(dh, dw)`` and ``groups``:

- ``conv2d(x, w)``: ``y[n, o, i, j] = sum_{c, p, q} xpad[n, g*Cg + c, i*sh + p*dh, j*sw + q*dw]
  * w[o, c, p, q]`` where ``g`` is the group of output channel ``o``;
- ``conv2d_input_grad(g, w, input_hw)``: the transposed convolution, the adjoint of ``conv2d`` in
  ``x``, so that ``<conv2d(x, w), g> = <x, conv2d_input_grad(g, w)>``;
- ``conv2d_weight_grad(x, g, kernel_hw)``: the adjoint in ``w``, so that
  ``<conv2d(x, w), g> = <w, conv2d_weight_grad(x, g)>``.

All three are bilinear, so each one's derivatives are the other two (as JAX does with
``conv_general_dilated``), and derivatives of any order stay convolutions. ``input_hw`` is needed
because a strided convolution drops remainder rows: the output does not determine the input size.

Kernels are im2col: a strided view gathers every window (no copy), one reshape makes the column
matrix and one batched matmul per call contracts it with the weights; the input gradient
scatters the columns back with one strided add per kernel tap.

ONNX: ``conv2d`` is ``Conv`` with ``strides=stride``, ``dilations=dilation``, ``group=groups``
and ``pads=(top, left, bottom, right)`` (ONNX orders all begins, then all ends);
``conv2d_input_grad`` is ``ConvTranspose`` with the same attributes plus ``output_padding``
(the rows and columns the forward stride dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import ShapeError
from ..ir.node import Node
from ..ir.types import Dim, TensorType
from .batching import batch_into_leading, materialize
from .core import HIGHEST, defop, lax, require_float, require_same_dtype
from .elementwise import add

Pair = tuple[int, int]
Pads = tuple[int, int, int, int]


# --- shape arithmetic ---------------------------------------------------------------------------

def window_count(size: int, pad_before: int, pad_after: int, kernel: int, stride: int,
                 dilation: int) -> int:
    """Windows along one axis: floor((size + pads - dilation*(kernel-1) - 1) / stride) + 1."""
    span = dilation * (kernel - 1) + 1
    return (size + pad_before + pad_after - span) // stride + 1


def output_hw(hw: Pair, kernel_hw: Pair, stride: Pair, padding: Pads, dilation: Pair) -> Pair:
    """Output spatial size, or ShapeError when the (dilated) kernel exceeds the padded input."""
    out = []
    for axis, name in ((0, "height"), (1, "width")):
        before, after = padding[2 * axis], padding[2 * axis + 1]
        span = dilation[axis] * (kernel_hw[axis] - 1) + 1
        if hw[axis] + before + after < span:
            raise ShapeError(f"the kernel {name} {kernel_hw[axis]} (dilated to {span}) is larger "
                             f"than the padded input {name} {hw[axis] + before + after}")
        out.append(window_count(hw[axis], before, after, kernel_hw[axis], stride[axis],
                                dilation[axis]))
    return out[0], out[1]


def static_dims(shape: Sequence[Dim], axes: Sequence[int], what: str) -> tuple[int, ...]:
    """The given axes of ``shape`` as ints; ShapeError naming ``what`` when one is symbolic."""
    dims = tuple(shape[a] for a in axes)
    if not all(isinstance(d, int) for d in dims):
        raise ShapeError(f"{what} must have static channel and spatial sizes, got "
                         f"{tuple(shape)} (only the batch axis may be symbolic)")
    return dims  # type: ignore[return-value]


def same_batch(a: Dim, b: Dim) -> None:
    """Two batch axes must agree when both are known (a symbol matches anything)."""
    if isinstance(a, int) and isinstance(b, int) and a != b:
        raise ShapeError(f"batch sizes differ: {a} and {b}")


def _check_rank4(types: Sequence[TensorType]) -> None:
    dtype = require_same_dtype(types)
    require_float(types[0].with_dtype(dtype), "conv2d operand")
    for position, t in enumerate(types):
        if t.ndim != 4:
            raise ShapeError(f"operand {position} must have rank 4 (NCHW / OIHW), got rank "
                             f"{t.ndim}")


def _check_channels(c_in: int, weight_shape: Sequence[int], groups: int) -> None:
    c_out, c_per_group = weight_shape[0], weight_shape[1]
    if groups < 1 or c_in % groups or c_out % groups:
        raise ShapeError(f"groups={groups} must divide both the input channels ({c_in}) and the "
                         f"output channels ({c_out})")
    if c_in != c_per_group * groups:
        raise ShapeError(f"input has {c_in} channels but the weight expects {c_per_group} per "
                         f"group x {groups} groups = {c_per_group * groups}")


# --- kernels ------------------------------------------------------------------------------------

def pad_nchw(x: np.ndarray, padding: Pads, value: float = 0.0) -> np.ndarray:
    """x with its two spatial axes padded by ``value`` (no copy when there is no padding)."""
    top, bottom, left, right = padding
    if not any(padding):
        return x
    out = np.full(x.shape[:2] + (x.shape[2] + top + bottom, x.shape[3] + left + right), value,
                  dtype=x.dtype)
    out[:, :, top:top + x.shape[2], left:left + x.shape[3]] = x
    return out


def windows(xpad: np.ndarray, kernel_hw: Pair, out_hw: Pair, stride: Pair,
            dilation: Pair) -> np.ndarray:
    """A read-only view of shape (N, C, kh, kw, Ho, Wo): ``view[n, c, p, q, i, j] =
    xpad[n, c, i*sh + p*dh, j*sw + q*dw]``."""
    sn, sc, sy, sx = xpad.strides
    shape = xpad.shape[:2] + tuple(kernel_hw) + tuple(out_hw)
    strides = (sn, sc, sy * dilation[0], sx * dilation[1], sy * stride[0], sx * stride[1])
    return as_strided(xpad, shape, strides, writeable=False)


def tap_slice(p: int, q: int, out_hw: Pair, stride: Pair, dilation: Pair) -> tuple[slice, ...]:
    """The strided slice of the padded input that kernel tap (p, q) reads, over all outputs."""
    y0, x0 = p * dilation[0], q * dilation[1]
    return (slice(None), slice(None),
            slice(y0, y0 + stride[0] * (out_hw[0] - 1) + 1, stride[0]),
            slice(x0, x0 + stride[1] * (out_hw[1] - 1) + 1, stride[1]))


# Two memory layouts for the column matrix. "sample" keeps NCHW order, (N, G, K, Ho*Wo), and
# multiplies once per sample: best for large feature maps. With small maps those products are
# tiny and the strided copies run over rows of only Wo elements, so "batch_last" first copies the
# input to (C, H, W, N) order: columns are (G, K, Ho*Wo*N), one product per group, and every copy
# runs over contiguous rows of N. The input gradient always works batch-last, where its col2im
# adds run over long rows.
_SMALL_MAP = 64  # output pixels per map below which the batch-last layout wins (measured)
_DEEP_COLUMNS, _MID_MAP = 128, 256  # with K >= 128 rows, maps up to 256 pixels gain from it too


def _batch_last(k: int, pixels: int) -> bool:
    """Does the batch-last column layout win for K column rows over maps of ``pixels``?
    (measured with one-thread OpenBLAS: 10-20% on 3x3 convs with 16-32 input channels on
    14x14-16x16 maps, a loss of 1.5-3x on shallow columns such as 1-channel inputs)"""
    return pixels < _SMALL_MAP or (k >= _DEEP_COLUMNS and pixels <= _MID_MAP)


def _padded_chwn(x: np.ndarray, padding: Pads) -> np.ndarray:
    top, bottom, left, right = padding
    n, c, h, w = x.shape
    out = np.zeros((c, h + top + bottom, w + left + right, n), dtype=x.dtype)
    out[:, top:top + h, left:left + w, :] = x.transpose(1, 2, 3, 0)
    return out


def _columns(x: np.ndarray, kernel_hw: Pair, out_hw: Pair, stride: Pair, padding: Pads,
             dilation: Pair, groups: int, layout: str) -> np.ndarray:
    """im2col, one copy of a strided window view, K = Cg*kh*kw and L = Ho*Wo:
    "sample" (N, G, K, L); "group" (G, K, N*L); "batch_last" (G, K, L*N)."""
    n, c = x.shape[:2]
    k = (c // groups) * kernel_hw[0] * kernel_hw[1]
    if layout == "batch_last":
        xpad = _padded_chwn(x, padding)
        sc, sy, sx, sn = xpad.strides
        view = as_strided(xpad, (c, *kernel_hw, *out_hw, n),
                          (sc, sy * dilation[0], sx * dilation[1], sy * stride[0],
                           sx * stride[1], sn), writeable=False)
        return view.reshape(groups, k, -1)
    view = windows(pad_nchw(x, padding), kernel_hw, out_hw, stride, dilation)
    if layout == "group":
        return view.transpose(1, 2, 3, 0, 4, 5).reshape(groups, k, -1)
    return view.reshape(n, groups, k, out_hw[0] * out_hw[1])


def _rows_batch_last(g: np.ndarray, groups: int) -> np.ndarray:
    """An output-shaped (N, O, Ho, Wo) array as (G, Og, Ho*Wo*N)."""
    return g.transpose(1, 2, 3, 0).reshape(groups, g.shape[1] // groups, -1)


def _into(out: np.ndarray | None, value: np.ndarray) -> np.ndarray:
    """``value`` (often a transposed view) as a C-ordered array: copied into the planned buffer
    ``out`` when there is one, else into a new array."""
    if out is None:
        return np.ascontiguousarray(value)
    np.copyto(out, value)
    return out


def _conv2d_kernel(x: np.ndarray, w: np.ndarray, *, stride: Pair, padding: Pads,
                   dilation: Pair, groups: int, out: np.ndarray | None = None) -> np.ndarray:
    n, c_out, kernel_hw = x.shape[0], w.shape[0], w.shape[2:]
    out_hw = output_hw(x.shape[2:], kernel_hw, stride, padding, dilation)
    w_rows = w.reshape(groups, c_out // groups, -1)  # (G, Og, K)
    if _batch_last(w_rows.shape[2], out_hw[0] * out_hw[1]):
        cols = _columns(x, kernel_hw, out_hw, stride, padding, dilation, groups, "batch_last")
        y = np.matmul(w_rows, cols).reshape(c_out, *out_hw, n)
        return _into(out, y.transpose(3, 0, 1, 2))
    cols = _columns(x, kernel_hw, out_hw, stride, padding, dilation, groups, "sample")
    # (G, Og, K) @ (N, G, K, L) -> (N, G, Og, L): one BLAS product per (sample, group)
    if out is None:
        return np.matmul(w_rows, cols).reshape(n, c_out, *out_hw)
    np.matmul(w_rows, cols, out=out.reshape(n, groups, c_out // groups, -1))
    return out


def _conv2d_input_grad_kernel(g: np.ndarray, w: np.ndarray, *, input_hw: Pair, stride: Pair,
                              padding: Pads, dilation: Pair, groups: int,
                              out: np.ndarray | None = None) -> np.ndarray:
    n, c_out, out_hw = g.shape[0], w.shape[0], g.shape[2:]
    c_per_group, kh, kw = w.shape[1:]
    w_cols = w.reshape(groups, c_out // groups, -1).transpose(0, 2, 1)  # (G, K, Og)
    cols = np.matmul(w_cols, _rows_batch_last(g, groups))  # (G, K, Ho*Wo*N)
    cols = cols.reshape(groups * c_per_group, kh, kw, *out_hw, n)
    top, bottom, left, right = padding
    xpad = np.zeros((groups * c_per_group, input_hw[0] + top + bottom,
                     input_hw[1] + left + right, n), dtype=g.dtype)
    # col2im: each kernel tap adds its columns back where it read them (taps may overlap);
    # tap_slice's NCHW slices minus the batch axis are the CHWN slices
    for p in range(kh):
        for q in range(kw):
            xpad[tap_slice(p, q, out_hw, stride, dilation)[1:]] += cols[:, p, q]
    crop = xpad[:, top:top + input_hw[0], left:left + input_hw[1]]
    return _into(out, crop.transpose(3, 0, 1, 2))


def _conv2d_weight_grad_kernel(x: np.ndarray, g: np.ndarray, *, kernel_hw: Pair, stride: Pair,
                               padding: Pads, dilation: Pair, groups: int,
                               out: np.ndarray | None = None) -> np.ndarray:
    n, c_in = x.shape[:2]
    c_out, out_hw = g.shape[1], g.shape[2:]
    if _batch_last(c_in // groups * kernel_hw[0] * kernel_hw[1], out_hw[0] * out_hw[1]):
        cols = _columns(x, kernel_hw, out_hw, stride, padding, dilation, groups, "batch_last")
        g_rows = _rows_batch_last(g, groups)
    else:
        cols = _columns(x, kernel_hw, out_hw, stride, padding, dilation, groups, "group")
        g_rows = g.reshape(n, groups, c_out // groups, -1).transpose(1, 2, 0, 3)
    # dw[g, o, k] = sum over samples and pixels of g[g, o, .] cols[g, k, .]: one product/group
    products = (g_rows.reshape(groups, c_out // groups, -1), cols.transpose(0, 2, 1))
    if out is None:
        return np.matmul(*products).reshape(c_out, c_in // groups, *kernel_hw)
    np.matmul(*products, out=out.reshape(groups, c_out // groups, -1))
    return out


# --- shape-and-dtype rules ----------------------------------------------------------------------

def _conv2d_type(types: Sequence[TensorType], *, stride: Pair, padding: Pads, dilation: Pair,
                 groups: int) -> TensorType:
    _check_rank4(types)
    x, w = types
    c_in, h, wd = static_dims(x.shape, (1, 2, 3), "the input")
    w_shape = static_dims(w.shape, (0, 1, 2, 3), "the weight")
    _check_channels(c_in, w_shape, groups)
    out_hw = output_hw((h, wd), w_shape[2:], stride, padding, dilation)
    return x.with_shape((x.shape[0], w_shape[0]) + out_hw)


def _conv2d_input_grad_type(types: Sequence[TensorType], *, input_hw: Pair, stride: Pair,
                            padding: Pads, dilation: Pair, groups: int) -> TensorType:
    _check_rank4(types)
    g, w = types
    w_shape = static_dims(w.shape, (0, 1, 2, 3), "the weight")
    c_in = w_shape[1] * groups
    _check_channels(c_in, w_shape, groups)
    expected = (w_shape[0],) + output_hw(input_hw, w_shape[2:], stride, padding, dilation)
    if static_dims(g.shape, (1, 2, 3), "the output gradient") != expected:
        raise ShapeError(f"the output gradient has shape {g.shape[1:]} per sample, but "
                         f"convolving a {input_hw} input gives {expected}")
    return g.with_shape((g.shape[0], c_in) + tuple(input_hw))


def _conv2d_weight_grad_type(types: Sequence[TensorType], *, kernel_hw: Pair, stride: Pair,
                             padding: Pads, dilation: Pair, groups: int) -> TensorType:
    _check_rank4(types)
    x, g = types
    c_in, h, wd = static_dims(x.shape, (1, 2, 3), "the input")
    c_out, *g_hw = static_dims(g.shape, (1, 2, 3), "the output gradient")
    w_shape = (c_out, c_in // groups if groups else 0) + tuple(kernel_hw)
    _check_channels(c_in, w_shape, groups)
    same_batch(x.shape[0], g.shape[0])
    out_hw = output_hw((h, wd), kernel_hw, stride, padding, dilation)
    if tuple(g_hw) != out_hw:
        raise ShapeError(f"the output gradient is {tuple(g_hw)} spatially, but the convolution "
                         f"of this input gives {out_hw}")
    return x.with_shape(w_shape)


# --- derivative rules: each primitive is bilinear, its partials are the other two -------------

def _geometry(node: Node) -> dict:
    return {k: node.attrs[k] for k in ("stride", "padding", "dilation", "groups")}


def _sum_terms(first: Node | None, second: Node | None) -> Node | None:
    if first is None:
        return second
    return first if second is None else add(first, second)


def _conv2d_vjp(node: Node, g: Node) -> list[Node]:
    x, w = node.inputs
    geo = _geometry(node)
    return [conv2d_input_grad(g, w, input_hw=x.shape[2:], **geo),
            conv2d_weight_grad(x, g, kernel_hw=w.shape[2:], **geo)]


def _conv2d_jvp(node: Node, tangents: Sequence[Node | None]) -> Node | None:
    x, w = node.inputs
    tx, tw = tangents
    geo = _geometry(node)
    return _sum_terms(None if tx is None else conv2d(tx, w, **geo),
                      None if tw is None else conv2d(x, tw, **geo))


def _input_grad_vjp(node: Node, c: Node) -> list[Node]:
    g, w = node.inputs
    geo = _geometry(node)
    # z = A_w^T g: <c, z> = <conv(c, w), g>, so dz/dg^T c = conv(c, w), dz/dw^T c = W(c, g)
    return [conv2d(c, w, **geo), conv2d_weight_grad(c, g, kernel_hw=w.shape[2:], **geo)]


def _input_grad_jvp(node: Node, tangents: Sequence[Node | None]) -> Node | None:
    g, w = node.inputs
    tg, tw = tangents
    attrs = node.attrs
    return _sum_terms(None if tg is None else conv2d_input_grad(tg, w, **attrs),
                      None if tw is None else conv2d_input_grad(g, tw, **attrs))


def _weight_grad_vjp(node: Node, c: Node) -> list[Node]:
    x, g = node.inputs
    geo = _geometry(node)
    # z = W(x, g): <c, z> = <conv(x, c), g>, so dz/dx^T c = A_c^T g and dz/dg^T c = conv(x, c)
    return [conv2d_input_grad(g, c, input_hw=x.shape[2:], **geo), conv2d(x, c, **geo)]


def _weight_grad_jvp(node: Node, tangents: Sequence[Node | None]) -> Node | None:
    x, g = node.inputs
    tx, tg = tangents
    attrs = node.attrs
    return _sum_terms(None if tx is None else conv2d_weight_grad(tx, g, **attrs),
                      None if tg is None else conv2d_weight_grad(x, tg, **attrs))


# --- batching: images batched along N; a batched weight is a group per example ----------------

def _channels_per_example(x: Node) -> Node:
    """(B, N, C, H, W) -> (N, B*C, H, W): the examples side by side as channel groups."""
    from .shape import reshape, transpose

    b, n, c, h, w = x.shape
    return reshape(transpose(x, perm=(1, 0, 2, 3, 4)), shape=(n, b * c, h, w))


def _examples_from_channels(y: Node, size: int) -> Node:
    """(N, B*K, H, W) -> (B, N, K, H, W)."""
    from .shape import reshape, transpose

    n, bk, h, w = y.shape
    return transpose(reshape(y, shape=(n, size, bk // size, h, w)), perm=(1, 0, 2, 3, 4))


def _static_batch(node: Node, size: Dim) -> int:
    if not isinstance(size, int):
        raise ShapeError(f"vmap of {node.op.name} over a batched weight needs a static batch "
                         f"size (the examples become channel groups), got {size}")
    return size


def _image_weight_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool],
                        size: Dim) -> Node:
    """conv2d(x, w) and conv2d_input_grad(g, w): a shared weight merges the vmap axis into N;
    a batched one makes each example a group (JAX's rule for conv_general_dilated)."""
    from .shape import reshape

    if not batched[1]:
        return batch_into_leading(node, inputs, batched, size, images=1)
    b = _static_batch(node, size)
    image, w = _channels_per_example(materialize(inputs[0], batched[0], size)), inputs[1]
    weight = reshape(w, shape=(b * w.shape[1], *w.shape[2:]))
    y = node.op(image, weight, **{**node.attrs, "groups": b * node.attrs["groups"]})
    return _examples_from_channels(y, b)


def _weight_grad_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool],
                       size: Dim) -> Node:
    """Per-example weight gradients: each example a group, so no sum runs across them."""
    from .shape import reshape

    b = _static_batch(node, size)
    x, g = (_channels_per_example(materialize(v, f, size)) for v, f in zip(inputs, batched))
    y = conv2d_weight_grad(x, g, **{**node.attrs, "groups": b * node.attrs["groups"]})
    return reshape(y, shape=(b, y.shape[0] // b, *y.shape[1:]))


# --- JAX: conv2d is lax.conv_general_dilated; its adjoints are its linear transposes -----------

def _conv2d_jax(x: Any, w: Any, *, stride: Pair, padding: Pads, dilation: Pair,
                groups: int) -> Any:
    top, bottom, left, right = padding
    return lax().conv_general_dilated(
        x, w, window_strides=stride, padding=((top, bottom), (left, right)),
        rhs_dilation=dilation, dimension_numbers=("NCHW", "OIHW", "NCHW"),
        feature_group_count=groups, precision=HIGHEST)


def transposed(linear: Any, shape: tuple[int, ...], cotangent: Any) -> Any:
    """The adjoint of the linear map ``linear`` (on arrays of ``shape``) applied to
    ``cotangent``."""
    import jax

    spec = jax.ShapeDtypeStruct(tuple(shape), cotangent.dtype)
    return jax.linear_transpose(linear, spec)(cotangent)[0]


def _conv2d_input_grad_jax(g: Any, w: Any, *, input_hw: Pair, **attrs: Any) -> Any:
    shape = (g.shape[0], w.shape[1] * attrs["groups"], *input_hw)
    return transposed(lambda x: _conv2d_jax(x, w, **attrs), shape, g)


def _conv2d_weight_grad_jax(x: Any, g: Any, *, kernel_hw: Pair, **attrs: Any) -> Any:
    shape = (g.shape[1], x.shape[1] // attrs["groups"], *kernel_hw)
    return transposed(lambda w: _conv2d_jax(x, w, **attrs), shape, g)


conv2d = defop(
    "conv2d", _conv2d_type, _conv2d_kernel, out_arg=True, jax=_conv2d_jax,
    onnx=lambda ctx, n, i: ctx.op("Conv", i, **ctx.conv_attrs(n)), vjp=_conv2d_vjp, jvp=_conv2d_jvp,
    batch=_image_weight_batch,
    doc="2-D cross-correlation, NCHW input and OIHW weight (torch.nn.functional.conv2d "
        "without bias). ONNX Conv: strides, dilations, group; pads=(top, left, bottom, right).")
conv2d_input_grad = defop(
    "conv2d_input_grad", _conv2d_input_grad_type, _conv2d_input_grad_kernel, out_arg=True,
    jax=_conv2d_input_grad_jax,
    onnx=lambda ctx, n, i: ctx.conv_input_grad(i[0], i[1], n),
    vjp=_input_grad_vjp, jvp=_input_grad_jvp, batch=_image_weight_batch,
    doc="Transposed convolution: the adjoint of conv2d in its input, restoring ``input_hw``. "
        "ONNX ConvTranspose with output_shape=input_hw and conv2d's other attributes.")
conv2d_weight_grad = defop(
    "conv2d_weight_grad", _conv2d_weight_grad_type, _conv2d_weight_grad_kernel, out_arg=True,
    jax=_conv2d_weight_grad_jax,
    onnx=lambda ctx, n, i: ctx.conv_weight_grad(i[0], i[1], n),
    vjp=_weight_grad_vjp, jvp=_weight_grad_jvp, batch=_weight_grad_batch,
    doc="The adjoint of conv2d in its weight: correlation of the input with the output "
        "gradient, summed over the batch (no ONNX op; export as Conv over transposed axes).")
