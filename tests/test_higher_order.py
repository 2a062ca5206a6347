"""Jacobians (both modes, the automatic choice), Hessians, Hessian-vector products, third
derivatives, and the cost of each in appended nodes."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.autodiff.jacobian import choose_mode
from graphdiff.ir import Graph, topo_order

# f(x) and its first three derivatives, for scalar x
CLOSED_FORMS = [
    ("x^5", lambda x: x ** 5, lambda x: 60 * x ** 2),
    ("exp(2x)", lambda x: gd.exp(2.0 * x), lambda x: 8 * np.exp(2 * x)),
    ("log", gd.log, lambda x: 2 / x ** 3),
    ("tanh", gd.tanh, lambda x: -2 * (1 - np.tanh(x) ** 2) * (1 - 3 * np.tanh(x) ** 2)),
    ("sin*exp", lambda x: gd.sin(x) * gd.exp(x),
     lambda x: 2 * np.exp(x) * (np.cos(x) - np.sin(x))),
    ("1/(1+x^2)", lambda x: 1.0 / (1.0 + x * x),
     lambda x: 24 * x * (1 - x ** 2) / (1 + x ** 2) ** 4),
]


@pytest.mark.parametrize("name,f,third", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_grad_of_grad_of_grad(name: str, f, third) -> None:
    x = gd.placeholder((), "float64", name="x")
    d3 = gd.grad(gd.grad(gd.grad(f(x), x), x), x)
    run = gd.function([x], d3)
    for value in (0.3, 0.9, 1.7):
        assert float(run(value)) == pytest.approx(third(value), rel=1e-10)


def test_third_derivative_mixing_modes() -> None:
    """jvp over grad over grad gives the same third derivative."""
    x = gd.placeholder((), "float64", name="x")
    f = gd.sin(x) * gd.exp(x)
    d3 = gd.jvp(gd.grad(gd.grad(f, x), x), x, 1.0)
    assert float(gd.function([x], d3)(0.4)) == pytest.approx(
        2 * np.exp(0.4) * (np.cos(0.4) - np.sin(0.4)), rel=1e-10)


def _mlp(x: gd.Node, A: np.ndarray) -> gd.Node:
    return gd.tanh(A @ x) * 2.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_jacobian_modes_agree_with_closed_form(dtype: str) -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 3)).astype(dtype)
    x = gd.placeholder((3,), dtype, name="x")
    y = _mlp(x, A)
    jacobians = [gd.jacobian(y, x, mode=m) for m in ("fwd", "rev", "auto")]
    for J in jacobians:
        assert J.shape == (5, 3) and J.dtype == np.dtype(dtype)
    xv = rng.standard_normal(3).astype(dtype)
    values = gd.function([x], jacobians)(xv)
    want = 2 * (1 - np.tanh(A @ xv) ** 2)[:, None] * A
    for value in values:
        np.testing.assert_allclose(value, want, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_jacobian_shape_is_output_then_input() -> None:
    X = gd.placeholder((2, 3), "float64", name="X")
    Y = gd.sum(X * X, axis=0) + 0.0  # (3,)
    for mode in ("fwd", "rev"):
        J = gd.jacobian(Y, X, mode=mode)
        assert J.shape == (3, 2, 3)
        value = gd.function([X], J)(np.arange(6.0).reshape(2, 3))
        want = np.zeros((3, 2, 3))
        for i in range(2):
            for j in range(3):
                want[j, i, j] = 2 * (3 * i + j)
        np.testing.assert_array_equal(value, want)


def test_auto_picks_forward_when_the_input_is_smaller() -> None:
    x_small = gd.placeholder((2,), "float64", name="x")
    wide = gd.sin(gd.reshape(gd.broadcast_to(x_small, (10, 2)), (20,)))
    assert choose_mode(wide, x_small) == "fwd"
    # nodes are interned, so the same construction gives the same node
    assert gd.jacobian(wide, x_small) is gd.jacobian(wide, x_small, mode="fwd")
    x_big = gd.placeholder((20,), "float64", name="x")
    narrow = gd.sum(gd.reshape(gd.sin(x_big), (2, 10)), axis=1)
    assert choose_mode(narrow, x_big) == "rev"
    assert gd.jacobian(narrow, x_big) is gd.jacobian(narrow, x_big, mode="rev")
    square = gd.sin(x_small)
    assert choose_mode(square, x_small) == "rev"  # ties go to reverse mode


def test_jacobian_needs_static_shapes() -> None:
    x = gd.placeholder((None, 3), "float64", name="x")
    with pytest.raises(gd.GradientError, match="jacobian needs static shapes"):
        gd.jacobian(gd.sin(x), x)
    with pytest.raises(gd.GradientError, match="mode must be"):
        gd.jacobian(gd.sin(x), x, mode="both")


def test_hessian_forward_over_reverse() -> None:
    rng = np.random.default_rng(3)
    A = rng.standard_normal((4, 4))
    W = gd.placeholder((2, 3), "float64", name="W")
    f = gd.sum(gd.tanh(W) ** 2) + gd.sum(W[0] * W[1])
    H = gd.hessian(f, W)
    assert H.shape == (2, 3, 2, 3)
    Wv = rng.standard_normal((2, 3))
    got = gd.function([W], H)(Wv)
    g_fn = gd.function([W], gd.grad(f, W))
    numeric = np.zeros((2, 3, 2, 3))
    eps = 1e-6
    for index in np.ndindex(2, 3):
        d = np.zeros((2, 3))
        d[index] = eps
        numeric[(...,) + index] = (g_fn(Wv + d) - g_fn(Wv - d)) / (2 * eps)
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got.reshape(6, 6), got.reshape(6, 6).T, atol=1e-12)
    quadratic = gd.placeholder((4,), "float64", name="q")
    Hq = gd.hessian(0.5 * gd.sum(quadratic * (A @ quadratic)), quadratic)
    np.testing.assert_allclose(gd.function([quadratic], Hq)(np.ones(4)), (A + A.T) / 2,
                               atol=1e-12)


def test_hvp_without_forming_the_hessian() -> None:
    appended = {}
    for n in (10, 100):
        x = gd.placeholder((n,), "float64", name="x")
        v = gd.placeholder((n,), "float64", name="v")
        f = gd.sum(gd.sin(x)) * gd.sum(x * x)
        hv = gd.hvp(f, x, v)
        assert hv.shape == (n,)
        ops = Graph([x, v], [hv]).op_counts()
        assert "concatenate" not in ops  # no Hessian rows stacked
        appended[n] = len(set(topo_order([hv])) - set(topo_order([gd.grad(f, x)])))
        if n == 10:
            rng = np.random.default_rng(0)
            xv, vv = rng.standard_normal(n), rng.standard_normal(n)
            H = gd.function([x], gd.hessian(f, x))(xv)
            np.testing.assert_allclose(gd.function([x, v], hv)(xv, vv), H @ vv, rtol=1e-10)
    assert appended[10] == appended[100]  # independent of the size: one pass, not n


def test_hvp_lists() -> None:
    a = gd.placeholder((2,), "float64", name="a")
    b = gd.placeholder((2,), "float64", name="b")
    f = gd.sum(a * a * b)
    ha, hb = gd.hvp(f, [a, b], [np.ones(2), np.zeros(2)])
    av, bv = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    got_a, got_b = gd.function([a, b], [ha, hb])(av, bv)
    np.testing.assert_allclose(got_a, 2 * bv)  # d2f/da2 = 2b
    np.testing.assert_allclose(got_b, 2 * av)  # d2f/db da = 2a


def _appended(before: list[gd.Node], after: gd.Node) -> int:
    return len(set(topo_order([after])) - set(topo_order(before)))


def _jacobian_costs(n_in: int, n_out: int, depth: int = 40) -> tuple[int, ...]:
    x = gd.placeholder((n_in,), "float64", name="x")
    h = gd.reshape(gd.broadcast_to(x, (n_out // n_in, n_in)), (n_out,))
    for i in range(depth):
        h = gd.tanh(h * 1.1) if i % 2 else gd.sin(h) + 0.5
    y = h
    one_jvp = _appended([y], gd.jvp(y, x, np.ones(n_in)))
    one_vjp = _appended([y], gd.vjp([y], [x], [gd.constant(np.ones(n_out))])[0])
    fwd = _appended([y], gd.jacobian(y, x, mode="fwd"))
    rev = _appended([y], gd.jacobian(y, x, mode="rev"))
    auto = _appended([y], gd.jacobian(y, x))
    return one_jvp, one_vjp, fwd, rev, auto


def test_jacobian_is_one_batched_pass() -> None:
    """Each mode appends about the nodes of one pass (vmap over the basis), whatever the
    number of basis vectors; the automatic choice takes forward mode when x is smaller."""
    one_jvp, one_vjp, fwd, rev, auto = _jacobian_costs(2, 30)
    assert fwd <= one_jvp + 10
    assert rev <= one_vjp + 10
    assert auto == fwd
    assert _jacobian_costs(6, 30)[2:] == (fwd, rev, auto)  # three times the basis, same graph
