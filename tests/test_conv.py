"""conv2d, pooling and einsum beyond the registry cases: second derivatives (Hessian-vector
products against finite differences of the gradient), the JVP rules against finite differences,
PyTorch agreement when torch is installed, symbolic batches, and every error message."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ops import conv as C
from graphdiff.ops import pool as P
from graphdiff.runtime import Function

RNG = np.random.default_rng(0)


def _randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


# --- Hessian-vector products: grad of <grad, v> against finite differences of the gradient ----

def _check_hvp(build: Callable[..., gd.Node], arrays: list[np.ndarray], eps: float = 1e-5,
               rtol: float = 1e-6) -> None:
    inputs = [gd.placeholder(a.shape, "float64", name=f"a{i}") for i, a in enumerate(arrays)]
    directions = [gd.placeholder(a.shape, "float64", name=f"v{i}") for i, a in enumerate(arrays)]
    grads = gd.grad(build(*inputs), inputs)
    inner = functools.reduce(operator.add, [gd.sum(g * v) for g, v in zip(grads, directions)])
    hvp = gd.function(inputs + directions, gd.grad(inner, inputs))
    grad_fn = gd.function(inputs, grads)
    vs = [_randn(*a.shape) for a in arrays]
    got = hvp(*arrays, *vs)
    plus = grad_fn(*[a + eps * v for a, v in zip(arrays, vs)])
    minus = grad_fn(*[a - eps * v for a, v in zip(arrays, vs)])
    for analytic, p, m in zip(got, plus, minus):
        numeric = (p - m) / (2 * eps)
        np.testing.assert_allclose(analytic, numeric, rtol=rtol,
                                   atol=1e-6 * max(1.0, np.abs(numeric).max()))


def test_conv2d_hvp() -> None:
    weights = _randn(2, 4, 3, 3)

    def loss(x, w, b):
        y = gd.conv2d(x, w, b, stride=2, padding=(1, 0), dilation=(1, 2), groups=2)
        return gd.sum(gd.tanh(y) * weights)

    _check_hvp(loss, [_randn(2, 4, 6, 7), _randn(4, 2, 3, 2), _randn(4)])


def test_conv2d_hvp_depthwise_symbolic_batch() -> None:
    x = gd.placeholder((None, 3, 5, 5), "float64")
    w = gd.placeholder((3, 1, 3, 3), "float64")
    loss = gd.sum(gd.sin(gd.conv2d(x, w, padding="same", groups=3)))
    (gw,) = gd.grad(loss, [w])
    v = gd.placeholder((3, 1, 3, 3), "float64")
    hv = gd.grad(gd.sum(gw * v), x)
    xs, ws, vs = _randn(4, 3, 5, 5), _randn(3, 1, 3, 3), _randn(3, 1, 3, 3)
    got = gd.function([x, w, v], hv)(xs, ws, vs)
    # d/dx <d loss/dw, v> is the mixed second derivative; check by differencing in x
    grad_w = gd.function([x, w], gw)
    u = _randn(*xs.shape)
    numeric = np.sum((grad_w(xs + 1e-5 * u, ws) - grad_w(xs - 1e-5 * u, ws)) * vs) / 2e-5
    np.testing.assert_allclose(np.sum(got * u), numeric, rtol=1e-6)
    assert gd.function([x, w, v], hv)(xs[:2], ws, vs).shape == (2, 3, 5, 5)


@pytest.mark.parametrize("kind", ["max_pool2d", "avg_pool2d"])
def test_pool_hvp(kind: str) -> None:
    weights = _randn(2, 3, 3, 3)
    pool = getattr(gd, kind)
    _check_hvp(lambda x: gd.sum(gd.tanh(pool(x, 3, 2, 1)) * weights), [_randn(2, 3, 6, 5)])


def test_avg_pool_exclude_pad_hvp() -> None:
    _check_hvp(lambda x: gd.sum(gd.tanh(gd.avg_pool2d(x, (2, 3), 1, (1, 1),
                                                      count_include_pad=False)) ** 2),
               [_randn(1, 2, 4, 5)])


@pytest.mark.parametrize("subscripts, shapes", [
    ("bij,jk->bik", [(2, 3, 4), (4, 2)]),
    ("ii->i", [(3, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("...ij,j->...i", [(3, 2, 2), (2,)]),
])
def test_einsum_hvp(subscripts: str, shapes: list[tuple[int, ...]]) -> None:
    _check_hvp(lambda *ops: gd.sum(gd.tanh(gd.einsum(subscripts, *ops))),
               [_randn(*s) for s in shapes])


# --- JVP rules of every primitive, against a finite difference of the forward --------------------

def _check_jvp(build: Callable[..., gd.Node], arrays: list[np.ndarray]) -> None:
    inputs = [gd.placeholder(a.shape, "float64") for a in arrays]
    tangents = [gd.placeholder(a.shape, "float64") for a in arrays]
    node = build(*inputs)
    jvp = node.op.jvp(node, tangents)
    ts = [_randn(*a.shape) for a in arrays]
    got = gd.function(inputs + tangents, jvp)(*arrays, *ts)
    forward = gd.function(inputs, node)
    eps = 1e-6
    numeric = (forward(*[a + eps * t for a, t in zip(arrays, ts)])
               - forward(*[a - eps * t for a, t in zip(arrays, ts)])) / (2 * eps)
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8)


GEOMETRY = {"stride": (2, 1), "padding": (1, 0, 2, 1), "dilation": (1, 2), "groups": 2}
POOL = {"kernel_hw": (3, 2), "stride": (2, 1), "padding": (1, 1, 0, 1)}


@pytest.mark.parametrize("name, build, shapes", [
    ("conv2d", lambda x, w: C.conv2d(x, w, **GEOMETRY), [(2, 4, 6, 5), (4, 2, 3, 2)]),
    ("conv2d_input_grad",
     lambda g, w: C.conv2d_input_grad(g, w, input_hw=(6, 5), **GEOMETRY),
     [(2, 4, 3, 6), (4, 2, 3, 2)]),
    ("conv2d_weight_grad",
     lambda x, g: C.conv2d_weight_grad(x, g, kernel_hw=(3, 2), **GEOMETRY),
     [(2, 4, 6, 5), (2, 4, 3, 6)]),
    ("max_pool2d", lambda x: P.max_pool2d(x, **POOL), [(2, 2, 5, 4)]),
    ("max_pool2d_grad", lambda x, g: P.max_pool2d_grad(x, g, **POOL),
     [(2, 2, 5, 4), (2, 2, 3, 4)]),
    ("max_pool2d_gather", lambda x, t: P.max_pool2d_gather(x, t, **POOL),
     [(2, 2, 5, 4), (2, 2, 5, 4)]),
    ("avg_pool2d", lambda x: P.avg_pool2d(x, **POOL, count_include_pad=False), [(2, 2, 5, 4)]),
    ("avg_pool2d_grad",
     lambda g: P.avg_pool2d_grad(g, input_hw=(5, 4), **POOL, count_include_pad=True),
     [(2, 2, 3, 4)]),
    ("einsum", lambda a, b, c: gd.einsum("ij,jkk,l->il", a, b, c), [(2, 3), (3, 4, 4), (2,)]),
])
def test_jvp_rule(name: str, build: Callable, shapes: list[tuple[int, ...]]) -> None:
    _check_jvp(build, [_randn(*s) for s in shapes])


def test_adjoint_identities() -> None:
    """<conv(x, w), g> = <x, input_grad(g, w)> = <w, weight_grad(x, g)>, and likewise for the
    pooling pairs: the grad primitives are exact adjoints, not just approximate gradients."""
    x, w, g = _randn(2, 4, 6, 5), _randn(4, 2, 3, 2), _randn(2, 4, 3, 6)
    X, W, G = (gd.constant(a) for a in (x, w, g))
    lhs = gd.sum(C.conv2d(X, W, **GEOMETRY) * G)
    via_x = gd.sum(X * C.conv2d_input_grad(G, W, input_hw=(6, 5), **GEOMETRY))
    via_w = gd.sum(W * C.conv2d_weight_grad(X, G, kernel_hw=(3, 2), **GEOMETRY))
    t = gd.constant(_randn(2, 2, 5, 4))
    gp = gd.constant(_randn(2, 2, 3, 4))
    xp = gd.constant(_randn(2, 2, 5, 4))
    pool_lhs = gd.sum(P.max_pool2d_gather(xp, t, **POOL) * gp)
    pool_rhs = gd.sum(t * P.max_pool2d_grad(xp, gp, **POOL))
    avg = {**POOL, "count_include_pad": False}
    avg_lhs = gd.sum(P.avg_pool2d(t, **avg) * gp)
    avg_rhs = gd.sum(t * P.avg_pool2d_grad(gp, input_hw=(5, 4), **avg))
    values = gd.function([], [lhs, via_x, via_w, pool_lhs, pool_rhs, avg_lhs, avg_rhs])()
    np.testing.assert_allclose(values[1:3], [values[0]] * 2, rtol=1e-12)
    np.testing.assert_allclose(values[4], values[3], rtol=1e-12)
    np.testing.assert_allclose(values[6], values[5], rtol=1e-12)


# --- symbolic batch, dtypes ----------------------------------------------------------------------

def test_symbolic_batch_pipeline_runs_at_several_sizes() -> None:
    x = gd.placeholder((None, 1, 8, 8), "float32", name="x")
    w = gd.variable(RNG.standard_normal((4, 1, 3, 3)).astype(np.float32), name="w")
    h = gd.max_pool2d(gd.relu(gd.conv2d(x, w, padding=1)), 2)
    loss = gd.mean(gd.avg_pool2d(h, 2))
    gw = gd.grad(loss, w)
    f = gd.function([x], [loss, gw])
    for batch in (1, 3):
        value, grad = f(RNG.standard_normal((batch, 1, 8, 8)).astype(np.float32))
        assert value.dtype == np.float32 and grad.shape == (4, 1, 3, 3)
    assert h.shape[0] == x.shape[0]


def test_integer_input_is_promoted_like_numpy() -> None:
    x = gd.placeholder((1, 1, 3, 3), "int64")
    y = gd.conv2d(x, np.ones((1, 1, 2, 2), np.float32))
    assert y.dtype == np.float64  # int64 with float32 promotes to float64, as numpy does
    out = gd.function([x], y)(np.arange(9).reshape(1, 1, 3, 3))
    np.testing.assert_array_equal(out[0, 0], [[8, 12], [20, 24]])


def test_einsum_promotes_and_broadcasts() -> None:
    a = gd.placeholder((3, 1), "float32")
    out = gd.einsum("ij,j->ij", a, np.arange(4.0))
    assert out.dtype == np.float64 and out.shape == (3, 4)
    value = gd.function([a], out)(np.ones((3, 1), np.float32))
    np.testing.assert_array_equal(value, np.einsum("ij,j->ij", np.ones((3, 1)), np.arange(4.0)))


def test_einsum_kernel_never_aliases_its_operand() -> None:
    """np.einsum returns writable views for transposes and diagonals; the kernel copies them."""
    kernel = gd.ir.OPS["einsum"].kernel
    a = _randn(3, 3)
    for subscripts in ("ij->ji", "ii->i", "ij->ij"):
        out = kernel(a, subscripts=subscripts)
        np.testing.assert_array_equal(out, np.einsum(subscripts, a))
        assert not np.shares_memory(out, a)


# --- PyTorch agreement ---------------------------------------------------------------------------

CONV_CONFIGS = [
    ({}, (2, 3, 7, 7), (4, 3, 3, 3)),
    ({"stride": 2, "padding": 1}, (2, 3, 8, 7), (4, 3, 3, 2)),
    ({"stride": (2, 3), "padding": (1, 2), "dilation": 2, "groups": 2}, (2, 4, 9, 8), (6, 2, 3, 3)),
    ({"groups": 4, "padding": "same"}, (2, 4, 9, 8), (4, 1, 3, 3)),
    ({"stride": 3, "dilation": (1, 2)}, (1, 2, 10, 10), (3, 2, 4, 4)),
    ({"padding": 2, "groups": 3}, (2, 3, 10, 12), (6, 1, 3, 3)),
]


@pytest.mark.parametrize("kwargs, x_shape, w_shape", CONV_CONFIGS)
def test_conv2d_matches_torch(kwargs: dict, x_shape: tuple, w_shape: tuple) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b = _randn(*x_shape), _randn(*w_shape), _randn(w_shape[0])
    X, W, B = (gd.placeholder(a.shape, "float64") for a in (x, w, b))
    y = gd.conv2d(X, W, B, **kwargs)
    weights = _randn(*y.shape)
    got = gd.function([X, W, B], [y, *gd.grad(gd.sum(y * weights), [X, W, B])])(x, w, b)
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = F.conv2d(*tensors, **kwargs)
    (ty * torch.tensor(weights)).sum().backward()
    for ours, theirs in zip(got, [ty.detach()] + [t.grad for t in tensors]):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-10)


def test_conv2d_random_geometries_match_torch() -> None:
    """Seeded random geometries (asymmetric pads, strides, dilations, groups, small and large
    maps) against torch, forward and both gradients; torch gets the asymmetric pads by F.pad."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(42)
    for _ in range(25):
        groups = int(rng.choice([1, 2, 3]))
        c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        kernel = tuple(int(k) for k in rng.integers(1, 4, 2))
        stride = tuple(int(s) for s in rng.integers(1, 4, 2))
        dilation = tuple(int(d) for d in rng.integers(1, 3, 2))
        pads = tuple(int(p) for p in rng.integers(0, 3, 4))
        hw = tuple(int(d) for d in rng.integers(6, 14, 2))
        x, w = _randn(2, c_in, *hw), _randn(c_out, c_in // groups, *kernel)
        X, W = gd.placeholder(x.shape, "float64"), gd.placeholder(w.shape, "float64")
        y = gd.conv2d(X, W, stride=stride, padding=pads, dilation=dilation, groups=groups)
        weights = _randn(*y.shape)
        got = gd.function([X, W], [y, *gd.grad(gd.sum(y * weights), [X, W])])(x, w)
        tx, tw = (torch.tensor(a, requires_grad=True) for a in (x, w))
        top, bottom, left, right = pads
        ty = F.conv2d(F.pad(tx, (left, right, top, bottom)), tw, stride=stride,
                      dilation=dilation, groups=groups)
        (ty * torch.tensor(weights)).sum().backward()
        for ours, theirs in zip(got, [ty.detach(), tx.grad, tw.grad]):
            np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-10)


def test_conv_transpose2d_random_geometries_match_torch() -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(44)
    for _ in range(20):
        groups = int(rng.choice([1, 2]))
        c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        kernel = tuple(int(k) for k in rng.integers(1, 4, 2))
        stride = tuple(int(s) for s in rng.integers(1, 4, 2))
        dilation = tuple(int(d) for d in rng.integers(1, 3, 2))
        extra = tuple(int(rng.integers(0, s)) for s in stride)
        padding = tuple(int(rng.integers(0, 2)) for _ in range(2))
        x = _randn(2, c_in, *(int(d) for d in rng.integers(3, 7, 2)))
        w, b = _randn(c_in, c_out // groups, *kernel), _randn(c_out)
        X, W, B = (gd.placeholder(a.shape, "float64") for a in (x, w, b))
        kwargs = {"stride": stride, "padding": padding, "output_padding": extra,
                  "groups": groups, "dilation": dilation}
        y = gd.conv_transpose2d(X, W, B, **kwargs)
        weights = _randn(*y.shape)
        got = gd.function([X, W, B], [y, *gd.grad(gd.sum(y * weights), [X, W, B])])(x, w, b)
        tensors = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
        ty = F.conv_transpose2d(*tensors, **kwargs)
        (ty * torch.tensor(weights)).sum().backward()
        for ours, theirs in zip(got, [ty.detach()] + [t.grad for t in tensors]):
            np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind, args, kwargs", [
    ("max_pool2d", (2,), {}),
    ("max_pool2d", (3, 2, 1), {}),
    ("max_pool2d", ((3, 2), (1, 2), (1, 1)), {}),
    ("avg_pool2d", (3, 2, 1), {}),
    ("avg_pool2d", ((3, 2), (1, 2), (1, 1)), {"count_include_pad": False}),
])
def test_pool_matches_torch(kind: str, args: tuple, kwargs: dict) -> None:
    torch = pytest.importorskip("torch")
    x = _randn(2, 3, 9, 7)
    X = gd.placeholder((None, 3, 9, 7), "float64")
    y = getattr(gd, kind)(X, *args, **kwargs)
    weights = _randn(*y.shape[1:])
    got = gd.function([X], [y, gd.grad(gd.sum(y * weights), X)])(x)
    tx = torch.tensor(x, requires_grad=True)
    ty = getattr(torch.nn.functional, kind)(tx, *args, **kwargs)
    (ty * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(got[0], ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(got[1], tx.grad.numpy(), rtol=1e-12)


def test_pool_random_geometries_match_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(43)
    for _ in range(25):
        kernel = tuple(int(k) for k in rng.integers(1, 5, 2))
        stride = tuple(int(s) for s in rng.integers(1, 4, 2))
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        x = _randn(2, 2, *(int(d) for d in rng.integers(5, 12, 2)))
        X = gd.placeholder(x.shape, "float64")
        kinds = [("max_pool2d", {}), ("avg_pool2d", {"count_include_pad": bool(rng.random() < .5)})]
        for kind, kwargs in kinds:
            y = getattr(gd, kind)(X, kernel, stride, padding, **kwargs)
            weights = _randn(*y.shape)
            got = gd.function([X], [y, gd.grad(gd.sum(y * weights), X)])(x)
            tx = torch.tensor(x, requires_grad=True)
            ty = getattr(torch.nn.functional, kind)(tx, kernel, stride, padding, **kwargs)
            (ty * torch.tensor(weights)).sum().backward()
            np.testing.assert_allclose(got[0], ty.detach().numpy(), rtol=1e-12)
            np.testing.assert_allclose(got[1], tx.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_max_pool_ties_route_to_the_first_maximum_like_torch() -> None:
    torch = pytest.importorskip("torch")
    x = np.zeros((1, 1, 4, 4))
    X = gd.placeholder(x.shape, "float64")
    got = gd.function([X], gd.grad(gd.sum(gd.max_pool2d(X, 3, 1)), X))(x)
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(tx, 3, 1).sum().backward()
    np.testing.assert_array_equal(got, tx.grad.numpy())


def _max_pool_grad_by_loops(x: np.ndarray, g: np.ndarray, k: int, s: int) -> np.ndarray:
    """Each output's cotangent goes to the first maximum of its window, in row-major order."""
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(*g.shape):
        window = x[n, c, i * s:i * s + k, j * s:j * s + k]
        p, q = np.unravel_index(np.argmax(window), window.shape)  # argmax: the first maximum
        dx[n, c, i * s + p, j * s + q] += g[n, c, i, j]
    return dx


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k, s, side", [(2, 2, 6), (3, 3, 6), (2, 2, 5), (3, 1, 5)])
def test_max_pool_grad_with_many_ties_against_loops(dtype: str, k: int, s: int,
                                                    side: int) -> None:
    # (2, 2, 6) and (3, 3, 6) tile the input exactly (the kernel's fast path); the others do not
    rng = np.random.default_rng(k + s + side)
    x = rng.integers(0, 3, (2, 3, side, side)).astype(dtype)  # three values: ties everywhere
    X = gd.placeholder(x.shape, dtype)
    pooled = gd.max_pool2d(X, k, s)
    g = rng.normal(size=pooled.shape).astype(dtype)
    got = gd.function([X], gd.grad(gd.sum(pooled * g), X))(x)
    # overlapping windows add several cotangents into one element, in another order than loops
    np.testing.assert_allclose(got, _max_pool_grad_by_loops(x, g, k, s), rtol=1e-6, atol=0)


# --- errors --------------------------------------------------------------------------------------

X4 = gd.placeholder((None, 4, 6, 6), "float32", name="x4")


@pytest.mark.parametrize("call, message", [
    (lambda: gd.conv2d(X4, np.ones((2, 3, 3, 3), np.float32)),
     "input has 4 channels but the weight expects 3 per group x 1 groups"),
    (lambda: gd.conv2d(X4, np.ones((3, 2, 3, 3), np.float32), groups=2),
     "groups=2 must divide both the input channels (4) and the output channels (3)"),
    (lambda: gd.conv2d(X4, np.ones((2, 4, 7, 3), np.float32)),
     "kernel height 7 (dilated to 7) is larger than the padded input height 6"),
    (lambda: gd.conv2d(X4, np.ones((2, 4, 3, 3), np.float32), dilation=3, padding=(1, 0)),
     "kernel width 3 (dilated to 7) is larger than the padded input width 6"),
    (lambda: gd.conv2d(X4, np.ones((2, 4, 3), np.float32)), "weight must have rank 4"),
    (lambda: gd.conv2d(X4, np.ones((2, 4, 3, 3), np.float32), np.ones(3)), "bias must have shape"),
    (lambda: gd.conv2d(X4, np.ones((2, 4, 3, 3), np.float32), stride=0), "stride must be positive"),
    (lambda: gd.conv2d(X4, np.ones((2, 4, 3, 3), np.float32), stride=2, padding="same"),
     "padding='same' needs stride 1"),
    (lambda: gd.conv2d(X4, np.ones((2, 4, 3, 3), np.float32), padding="full"),
     "must be 'valid', 'same' or ints"),
    (lambda: gd.conv2d(gd.placeholder((1, 4, None, 6)), np.ones((2, 4, 3, 3), np.float32)),
     "only the batch axis may be symbolic"),
    (lambda: gd.conv_transpose2d(X4, np.ones((4, 2, 3, 3), np.float32), stride=2,
                                 output_padding=2), "output_padding (2, 2) must be smaller"),
    (lambda: gd.conv_transpose2d(X4, np.ones((4, 2, 3, 3), np.float32), np.ones(3)),
     "conv_transpose2d bias must have shape (2,)"),
    (lambda: gd.max_pool2d(X4, 2, padding=2), "must be at most half the kernel"),
    (lambda: gd.avg_pool2d(X4, 7), "kernel height 7 (dilated to 7) is larger"),
    (lambda: gd.max_pool2d(gd.placeholder((4, 6, 6)), 2), "NCHW tensor of rank 4"),
    (lambda: gd.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((4, 2))),
     "letter 'j' has sizes 3 and 4"),
    (lambda: gd.einsum("ij,jk->ik", np.ones((2, 3))), "name 2 operands, got 1"),
    (lambda: gd.einsum("ijk->i", np.ones((2, 3))), "does not match subscripts 'ijk'"),
    (lambda: gd.einsum("ij->ii", np.ones((2, 2))), "repeat a letter"),
    (lambda: gd.einsum("...i->i", np.ones((2, 3))), "the output needs '...'"),
])
def test_error_messages(call: Callable, message: str) -> None:
    with pytest.raises(gd.ShapeError) as info:
        call()
    assert message in str(info.value)
    assert "test_conv.py" in str(info.value)  # points at the user's line


def test_symbolic_diagonal_gradient_is_refused_clearly() -> None:
    a = gd.placeholder(("n", "n"), "float64")
    with pytest.raises(gd.ShapeError, match="gradient of a diagonal needs a static size"):
        gd.grad(gd.einsum("ii->", a), a)


@pytest.mark.parametrize("shape, weight, groups", [
    ((3, 4, 6, 6), (6, 2, 3, 3), 2),      # 36-pixel maps: batch-last columns
    ((2, 2, 10, 10), (4, 2, 3, 3), 1),    # 100 pixels, K = 18: per-sample columns
    ((2, 16, 9, 9), (4, 16, 3, 3), 1),    # 81 pixels, K = 144: batch-last (deep columns)
    ((2, 4, 12, 12), (4, 2, 3, 3), 2),    # per-sample columns with groups
])
def test_conv_and_pool_kernels_write_into_planned_buffers(shape, weight, groups) -> None:
    # conv2d, its two gradients, max_pool2d and its gradient have out= forms: the planned
    # executor hands them arena buffers; the reference executor lets them allocate
    rng = np.random.default_rng(len(shape) + weight[0])
    X = gd.placeholder(shape, "float64", name="x")
    W = gd.placeholder(weight, "float64", name="w")
    y = gd.conv2d(X, W, padding=1, groups=groups)
    z = gd.max_pool2d(gd.relu(y), 2) if shape[2] % 2 == 0 else gd.max_pool2d(gd.relu(y), 3, 2)
    loss = gd.sum(z * z)
    gx, gw = gd.grad(loss, [X, W])
    # the gradients are read through random projections, so they stay intermediates (returned
    # values are never in the arena) and every element still counts
    outputs = [loss, gd.sum(gx * rng.normal(size=shape)), gd.sum(gw * rng.normal(size=weight))]
    feeds = [rng.normal(size=shape), rng.normal(size=weight)]
    planned = Function([X, W], outputs, {}, passes="default", executor="planned")
    reference = Function([X, W], outputs, {}, passes="none", executor="reference")
    for got, want in zip(planned(*feeds), reference(*feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    arena_ops = {s.node.op.name for s in planned._last.steps if s.out is not None}
    assert {"conv2d", "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d",
            "max_pool2d_grad"} <= arena_ops
