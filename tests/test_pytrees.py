"""Pytrees where a user passes several tensors: grad, vjp, jvp and jacobian take nested dicts,
lists and tuples and answer in the same structure; values against numpy and finite differences
in float64, float32 too."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd


def _model(dtype="float64"):
    rng = np.random.default_rng(0)
    params = {"dense": {"W": gd.variable(rng.normal(size=(3, 2)).astype(dtype), name="W"),
                        "b": gd.variable(rng.normal(size=2).astype(dtype), name="b")},
              "scale": (gd.variable(np.array(1.5, dtype), name="s"),)}
    x = rng.normal(size=(4, 3)).astype(dtype)
    out = gd.tanh(gd.constant(x) @ params["dense"]["W"] + params["dense"]["b"])
    loss = gd.sum(out * params["scale"][0]) ** 2
    return params, x, loss


def _numeric_loss(W, b, s, x):
    return (np.tanh(x @ W + b).sum() * s) ** 2


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grad_of_a_nested_dict(dtype):
    params, x, loss = _model(dtype)
    g = gd.grad(loss, params)
    assert set(g) == {"dense", "scale"} and set(g["dense"]) == {"W", "b"}
    assert isinstance(g["scale"], tuple) and len(g["scale"]) == 1
    gW, gb, gs = gd.function([], [g["dense"]["W"], g["dense"]["b"], g["scale"][0]])()
    W, b, s = (gd.get_value(v) for v in (params["dense"]["W"], params["dense"]["b"],
                                          params["scale"][0]))
    assert gW.dtype == np.dtype(dtype)
    W, b, s, x = (a.astype(np.float64) for a in (W, b, s, x))
    eps, tol = 1e-6, (1e-6 if dtype == "float64" else 2e-3)
    for value, got in ((W, gW), (b, gb), (s, gs)):
        numeric = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            up, down = value.copy(), value.copy()
            up[i] += eps
            down[i] -= eps
            args = {id(W): (up, b, s), id(b): (W, up, s), id(s): (W, b, up)}[id(value)]
            back = {id(W): (down, b, s), id(b): (W, down, s), id(s): (W, b, down)}[id(value)]
            numeric[i] = (_numeric_loss(*args, x) - _numeric_loss(*back, x)) / (2 * eps)
        np.testing.assert_allclose(got, numeric, rtol=tol, atol=tol)


def test_single_and_list_conventions_kept():
    x = gd.placeholder((3,), "float64", name="x")
    y = gd.sum(x * x)
    assert isinstance(gd.grad(y, x), gd.Node)
    assert isinstance(gd.grad(y, [x]), list)
    assert isinstance(gd.grad(y, (x,)), tuple)
    assert isinstance(gd.jvp(y, x, np.ones(3)), gd.Node)
    assert isinstance(gd.jvp([y], [x], [np.ones(3)]), list)
    assert isinstance(gd.jvp([y], [x], np.ones(3)), list)  # one tangent for a list of one


def test_vjp_and_jvp_with_structures():
    a = gd.placeholder((2,), "float64", name="a")
    b = gd.placeholder((2,), "float64", name="b")
    outs = {"sum": a + b, "prod": (a * b, gd.sin(a))}
    cts = {"sum": np.array([1.0, 2.0]), "prod": (np.array([3.0, 4.0]), np.array([5.0, 6.0]))}
    got = gd.vjp(outs, {"a": a, "b": b}, cts)
    assert set(got) == {"a", "b"}
    av, bv = np.array([0.3, -0.7]), np.array([1.1, 2.0])
    ga, gb = gd.function([a, b], [got["a"], got["b"]])(av, bv)
    np.testing.assert_allclose(ga, [1, 2] + np.array([3, 4]) * bv + np.array([5, 6]) * np.cos(av))
    np.testing.assert_allclose(gb, [1, 2] + np.array([3, 4]) * av)
    tangents = gd.jvp(outs, [a, b], [np.ones(2), np.zeros(2)])
    assert set(tangents) == {"sum", "prod"} and isinstance(tangents["prod"], tuple)
    ts, tp, tsin = gd.function([a, b], [tangents["sum"], *tangents["prod"]])(av, bv)
    np.testing.assert_allclose(ts, np.ones(2))
    np.testing.assert_allclose(tp, bv)
    np.testing.assert_allclose(tsin, np.cos(av))


def test_mismatched_structures_raise():
    a = gd.placeholder((2,), "float64", name="a")
    with pytest.raises(gd.GradientError, match="not in the same structure"):
        gd.vjp({"y": a * 2}, [a], {"z": np.ones(2)})
    with pytest.raises(gd.GradientError, match="2 inputs but 1 tangents"):
        gd.jvp(a * 2, [a, a], [np.ones(2)])


def test_jacobian_of_pytrees():
    a = gd.placeholder((2,), "float64", name="a")
    b = gd.placeholder((3,), "float64", name="b")
    jac = gd.jacobian({"y": a * 2.0, "z": [gd.sum(b) * a]}, (a, b))
    assert set(jac) == {"y", "z"} and isinstance(jac["y"], tuple) and isinstance(jac["z"], list)
    assert jac["y"][1].shape == (2, 3) and jac["z"][0][0].shape == (2, 2)
    av, bv = np.array([1.0, 2.0]), np.array([0.5, 1.0, 1.5])
    yy, yb, za, zb = gd.function([a, b], [*jac["y"], *jac["z"][0]])(av, bv)
    np.testing.assert_allclose(yy, 2 * np.eye(2))
    np.testing.assert_allclose(yb, np.zeros((2, 3)))
    np.testing.assert_allclose(za, bv.sum() * np.eye(2))
    np.testing.assert_allclose(zb, np.outer(av, np.ones(3)))


def test_hvp_with_a_dict():
    a = gd.placeholder((2,), "float64", name="a")
    b = gd.placeholder((2,), "float64", name="b")
    f = gd.sum(a * a * b)
    hv = gd.hvp(f, {"a": a, "b": b}, {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0])})
    av, bv = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    ha, hb = gd.function([a, b], [hv["a"], hv["b"]])(av, bv)
    # H = [[2 diag(b), 2 diag(a)], [2 diag(a), 0]]
    np.testing.assert_allclose(ha, 2 * bv * [1, 0] + 2 * av * [0, 1])
    np.testing.assert_allclose(hb, 2 * av * [1, 0])
