"""Cases for conv2d, max/avg pooling and einsum, against naive-loop numpy references.

The references loop over every output element and kernel tap, in float64, so they share no code
with the im2col kernels. Some cases differentiate inside ``fn`` (``*_2nd``): the registry's
gradient check then differentiates a gradient, which exercises the derivative rules of the
adjoint primitives (conv2d_input_grad, conv2d_weight_grad, max_pool2d_grad, avg_pool2d_grad).
"""

import itertools

import numpy as np

import graphdiff as gd

from . import Arg, Case

# --- naive references ---------------------------------------------------------------------------


def _pads(padding):
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    return tuple(padding)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, o, i, j] = sum_{c, p, q} xpad[n, g*Cg + c, i*sh + p*dh, j*sw + q*dw] w[o, c, p, q]."""
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    o_count, cg, kh, kw = w.shape
    if padding == "same":  # total dilation*(k-1), the odd pixel at the end (PyTorch)
        padding = (dh * (kh - 1) // 2, -(-dh * (kh - 1) // 2),
                   dw * (kw - 1) // 2, -(-dw * (kw - 1) // 2))
    top, bottom, left, right = _pads(padding)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, _, hp, wp = xp.shape
    og = o_count // groups
    ho = (hp - dh * (kh - 1) - 1) // sh + 1
    wo = (wp - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, o_count, ho, wo))
    for b_, o, i, j in itertools.product(range(n), range(o_count), range(ho), range(wo)):
        g = o // og
        total = 0.0
        for c, p, q in itertools.product(range(cg), range(kh), range(kw)):
            total += xp[b_, g * cg + c, i * sh + p * dh, j * sw + q * dw] * w[o, c, p, q]
        y[b_, o, i, j] = total + (0.0 if b is None else b[o])
    return y.astype(x.dtype)


def conv_input_grad_ref(gy, w, input_hw, stride=1, padding=0, dilation=1, groups=1):
    """The adjoint of conv_ref in x: every output's cotangent added back where it read."""
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    top, bottom, left, right = _pads(padding)
    n, o_count, ho, wo = gy.shape
    _, cg, kh, kw = w.shape
    og = o_count // groups
    dx = np.zeros((n, cg * groups, input_hw[0] + top + bottom, input_hw[1] + left + right))
    for b_, o, i, j in itertools.product(range(n), range(o_count), range(ho), range(wo)):
        g = o // og
        for c, p, q in itertools.product(range(cg), range(kh), range(kw)):
            dx[b_, g * cg + c, i * sh + p * dh, j * sw + q * dw] += gy[b_, o, i, j] * w[o, c, p, q]
    return dx[:, :, top:top + input_hw[0], left:left + input_hw[1]].astype(gy.dtype)


def conv_weight_grad_ref(x, gy, kernel_hw, stride=1, padding=0, dilation=1, groups=1):
    """The adjoint of conv_ref in w."""
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    top, bottom, left, right = _pads(padding)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, o_count, ho, wo = gy.shape
    cg = x.shape[1] // groups
    og = o_count // groups
    dw_ = np.zeros((o_count, cg) + tuple(kernel_hw))
    for b_, o, i, j in itertools.product(range(n), range(o_count), range(ho), range(wo)):
        g = o // og
        for c, p, q in itertools.product(range(cg), *map(range, kernel_hw)):
            dw_[o, c, p, q] += gy[b_, o, i, j] * xp[b_, g * cg + c, i * sh + p * dh,
                                                    j * sw + q * dw]
    return dw_.astype(x.dtype)


def _windows_ref(x, kernel, stride, padding, fill):
    """Yield (n, c, i, j, window values) over every pooling window."""
    (kh, kw) = _pair(kernel)
    (sh, sw) = _pair(kernel if stride is None else stride)
    top, bottom, left, right = _pads(padding)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)),
                constant_values=fill)
    ho = (xp.shape[2] - kh) // sh + 1
    wo = (xp.shape[3] - kw) // sw + 1
    for n, c, i, j in itertools.product(range(x.shape[0]), range(x.shape[1]), range(ho),
                                        range(wo)):
        yield n, c, i, j, (ho, wo), xp[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw], \
            (i * sh - top, j * sw - left)


def max_pool_ref(x, kernel, stride=None, padding=0):
    out = None
    for n, c, i, j, hw, window, _ in _windows_ref(x, kernel, stride, padding, -np.inf):
        out = np.zeros(x.shape[:2] + hw) if out is None else out
        out[n, c, i, j] = window.max()
    return out.astype(x.dtype)


def avg_pool_ref(x, kernel, stride=None, padding=0, count_include_pad=True):
    out = None
    h, w = x.shape[2:]
    for n, c, i, j, hw, window, (y0, x0) in _windows_ref(x, kernel, stride, padding, 0.0):
        out = np.zeros(x.shape[:2] + hw) if out is None else out
        kh, kw = window.shape
        real = (min(y0 + kh, h) - max(y0, 0)) * (min(x0 + kw, w) - max(x0, 0))
        out[n, c, i, j] = window.sum() / (kh * kw if count_include_pad else real)
    return out.astype(x.dtype)


# --- cases --------------------------------------------------------------------------------------

def _conv(**kw):
    return (lambda x, w: gd.conv2d(x, w, **kw)), (lambda x, w: conv_ref(x, w, **kw))


def _conv_case(name, x_shape, w_shape, **kw):
    fn, ref = _conv(**kw)
    return Case(name, fn, ref, [Arg(x_shape), Arg(w_shape)], rtol32=1e-4, atol32=1e-5)


def _square_grad_x(x, w, **kw):
    """d/dx sum(conv(x, w)^2) = conv_input_grad(2 conv(x, w), w)."""
    return gd.grad(gd.sum(gd.square(gd.conv2d(x, w, **kw))), x)


def _square_grad_w(x, w, **kw):
    return gd.grad(gd.sum(gd.square(gd.conv2d(x, w, **kw))), w)


FIXED_W = np.random.default_rng(7).standard_normal((3, 2, 2, 2))
CONV_2ND = {"stride": 2, "padding": 1, "groups": 2}


def _pool_case(name, kind, x_shape, *args, **kw):
    api = getattr(gd, kind)
    ref = {"max_pool2d": max_pool_ref, "avg_pool2d": avg_pool_ref}[kind]
    return Case(name, lambda x: api(x, *args, **kw), lambda x: ref(x, *args, **kw),
                [Arg(x_shape)])


def _pool_2nd(kind, *args, **kw):
    """d/dx sum(pool(x)^2) = pool_grad(2 pool(x)); its reference by the naive adjoint."""
    api = getattr(gd, kind)
    return lambda x: gd.grad(gd.sum(gd.square(api(x, *args, **kw))), x)


def _max_pool_2nd_ref(x, kernel, stride=None, padding=0):
    dx = np.zeros(x.shape)
    for n, c, _, _, _, window, (y0, x0) in _windows_ref(x, kernel, stride, padding, -np.inf):
        p, q = np.unravel_index(np.argmax(window), window.shape)  # first max, as PyTorch
        dx[n, c, y0 + p, x0 + q] += 2 * window.max()
    return dx.astype(x.dtype)


def _avg_pool_2nd_ref(x, kernel, stride=None, padding=0, count_include_pad=True):
    y = avg_pool_ref(x.astype(np.float64), kernel, stride, padding, count_include_pad)
    dx = np.zeros(x.shape)
    h, w = x.shape[2:]
    for n, c, i, j, _, window, (y0, x0) in _windows_ref(x, kernel, stride, padding, 0.0):
        kh, kw = window.shape
        rows = range(max(y0, 0), min(y0 + kh, h))
        cols = range(max(x0, 0), min(x0 + kw, w))
        divisor = kh * kw if count_include_pad else len(rows) * len(cols)
        for r, s in itertools.product(rows, cols):
            dx[n, c, r, s] += 2 * y[n, c, i, j] / divisor
    return dx.astype(x.dtype)


def _einsum_case(name, subscripts, *shapes, **kw):
    return Case(name, lambda *ops: gd.einsum(subscripts, *ops),
                lambda *ops: np.einsum(subscripts, *ops), [Arg(s) for s in shapes],
                rtol32=1e-4, atol32=1e-5, **kw)


CASES = [
    _conv_case("conv2d", (2, 3, 5, 5), (4, 3, 3, 3)),
    _conv_case("conv2d_stride_pad", (1, 2, 6, 5), (3, 2, 3, 2), stride=2, padding=1),
    _conv_case("conv2d_remainder_rows", (1, 2, 7, 6), (2, 2, 2, 3), stride=(3, 2)),
    _conv_case("conv2d_per_side_pad", (1, 2, 4, 4), (2, 2, 3, 3), padding=(0, 1, 2, 1)),
    _conv_case("conv2d_dilation", (1, 2, 7, 6), (2, 2, 2, 2), dilation=(2, 3), padding=(2, 1)),
    _conv_case("conv2d_groups", (1, 4, 5, 4), (6, 2, 2, 2), groups=2, stride=(1, 2)),
    # maps of 64+ output pixels take the per-sample ("sample"/"group") im2col layouts
    _conv_case("conv2d_large_map", (2, 2, 9, 10), (3, 2, 2, 2), padding=(0, 1, 0, 0)),
    _conv_case("conv2d_large_map_groups", (1, 4, 17, 19), (4, 2, 2, 3), stride=(2, 1),
               dilation=(1, 2), groups=2, padding=1),
    _conv_case("conv2d_depthwise", (2, 3, 5, 5), (3, 1, 3, 3), groups=3, padding="same"),
    Case("conv2d_symbolic_batch",
         lambda x: gd.conv2d(x, gd.constant(FIXED_W.astype(x.dtype)), stride=2),
         lambda x: conv_ref(x, FIXED_W.astype(x.dtype), stride=2), [Arg((2, 2, 4, 4))],
         symbolic=True, rtol32=1e-4, atol32=1e-5),
    Case("conv2d_bias", lambda x, w, b: gd.conv2d(x, w, b, padding=1),
         lambda x, w, b: conv_ref(x, w, b, padding=1), [Arg((2, 2, 4, 4)), Arg((3, 2, 3, 3)),
                                                        Arg((3,))], rtol32=1e-4, atol32=1e-5),
    Case("conv_transpose2d",
         lambda x, w, b: gd.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                             groups=2),
         lambda x, w, b: conv_input_grad_ref(x, w, (6, 6), stride=2, padding=1, groups=2)
         + b[:, None, None], [Arg((1, 4, 3, 3)), Arg((4, 1, 3, 3)), Arg((2,))],
         rtol32=1e-4, atol32=1e-5),
    Case("conv2d_input_grad_2nd", lambda x, w: _square_grad_x(x, w, **CONV_2ND),
         lambda x, w: conv_input_grad_ref(2 * conv_ref(x, w, **CONV_2ND), w, x.shape[2:],
                                          **CONV_2ND),
         [Arg((1, 4, 5, 5)), Arg((2, 2, 3, 3))], rtol32=1e-4, atol32=1e-4),
    Case("conv2d_weight_grad_2nd", lambda x, w: _square_grad_w(x, w, **CONV_2ND),
         lambda x, w: conv_weight_grad_ref(x, 2 * conv_ref(x, w, **CONV_2ND), w.shape[2:],
                                           **CONV_2ND),
         [Arg((2, 4, 5, 5)), Arg((2, 2, 3, 3))], rtol32=1e-4, atol32=1e-4),

    _pool_case("max_pool2d", "max_pool2d", (2, 2, 4, 6), 2),
    _pool_case("max_pool2d_overlap_pad", "max_pool2d", (1, 2, 5, 6), 3, 2, 1),
    _pool_case("max_pool2d_rect", "max_pool2d", (1, 2, 5, 7), (2, 3), (1, 2), (1, 0)),
    Case("max_pool2d_ties", lambda x: gd.max_pool2d(x, 2, 1), lambda x: max_pool_ref(x, 2, 1),
         [Arg((1, 1, 3, 3), kind="fixed", value=np.ones((1, 1, 3, 3)))], grad=False),
    Case("max_pool2d_grad_2nd", _pool_2nd("max_pool2d", 3, 2, 1),
         lambda x: _max_pool_2nd_ref(x, 3, 2, 1), [Arg((1, 2, 5, 6))]),
    _pool_case("avg_pool2d", "avg_pool2d", (2, 2, 4, 6), 2),
    _pool_case("avg_pool2d_overlap_pad", "avg_pool2d", (1, 2, 5, 6), 3, 2, 1),
    _pool_case("avg_pool2d_exclude_pad", "avg_pool2d", (1, 2, 5, 6), (3, 2), (2, 1), (1, 1),
               count_include_pad=False),
    Case("avg_pool2d_grad_2nd", _pool_2nd("avg_pool2d", 3, 2, 1, count_include_pad=False),
         lambda x: _avg_pool_2nd_ref(x, 3, 2, 1, count_include_pad=False),
         [Arg((1, 2, 5, 6))]),

    _einsum_case("einsum_matmul", "ij,jk->ik", (3, 4), (4, 5)),
    _einsum_case("einsum_batch_matmul", "bij,bjk->bik", (2, 3, 4), (2, 4, 2)),
    _einsum_case("einsum_outer", "i,j->ij", (3,), (4,)),
    _einsum_case("einsum_trace", "ii->", (4, 4)),
    _einsum_case("einsum_diagonal", "ii->i", (4, 4)),
    _einsum_case("einsum_transpose", "ijk->kij", (2, 3, 4)),
    _einsum_case("einsum_sum_out", "ijk->j", (2, 3, 4)),
    _einsum_case("einsum_implicit", "ij,jk", (3, 4), (4, 2)),
    _einsum_case("einsum_three", "ij,jk,kl->il", (2, 3), (3, 4), (4, 2)),
    _einsum_case("einsum_ellipsis", "...ij,...jk->...ik", (2, 3, 4), (4, 2)),
    _einsum_case("einsum_broadcast_one", "ij,ij->i", (3, 4), (1, 4)),
    _einsum_case("einsum_bilinear", "i,ij,j->", (3,), (3, 4), (4,)),
    _einsum_case("einsum_symbolic", "nij,jk->nik", (2, 3, 4), (4, 2), symbolic=True),
]
