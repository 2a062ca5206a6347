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


# --- gd.function: pytree inputs, outputs and updates ------------------------------------------

def _linear(dtype):
    x = gd.placeholder((None, 3), dtype, name="x")
    y = gd.placeholder((None,), dtype, name="y")
    rng = np.random.default_rng(0)
    params = {"W": gd.variable(rng.normal(size=3).astype(dtype), name="W"),
              "b": gd.variable(np.array(0.5, dtype), name="b")}
    pred = x @ params["W"] + params["b"]
    loss = gd.mean((pred - y) ** 2)
    return x, y, params, pred, loss


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_function_takes_and_answers_nested_structures(dtype):
    x, y, params, pred, loss = _linear(dtype)
    grads = gd.grad(loss, params)
    f = gd.function({"data": (x, y)}, {"loss": loss, "grads": grads, "extra": [pred, (loss,)]})
    rng = np.random.default_rng(1)
    xv, yv = rng.normal(size=(5, 3)).astype(dtype), rng.normal(size=5).astype(dtype)
    out = f({"data": (xv, yv)})
    W, b = gd.get_value(params["W"]), gd.get_value(params["b"])
    residual = xv.astype(np.float64) @ W + b - yv
    tol = 1e-12 if dtype == "float64" else 1e-5
    assert set(out) == {"loss", "grads", "extra"} and isinstance(out["extra"][1], tuple)
    np.testing.assert_allclose(out["loss"], np.mean(residual ** 2), rtol=tol)
    np.testing.assert_allclose(out["grads"]["W"], 2 * xv.T @ residual / 5, rtol=tol, atol=tol)
    np.testing.assert_allclose(out["grads"]["b"], 2 * residual.mean(), rtol=tol, atol=tol)
    np.testing.assert_allclose(out["extra"][0], residual + yv, rtol=tol, atol=tol)
    assert out["loss"].dtype == np.dtype(dtype)
    with pytest.raises(gd.InputError, match="structure"):
        f({"data": [xv]})


def test_dict_inputs_by_keyword_and_flat_conventions_kept():
    x, y, params, pred, loss = _linear("float64")
    f = gd.function({"x": x, "y": y}, (loss, pred))
    a = f(x=np.ones((2, 3)), y=np.zeros(2))
    b = f({"x": np.ones((2, 3)), "y": np.zeros(2)})
    assert isinstance(a, tuple) and len(a) == 2 and np.array_equal(a[0], b[0])
    assert isinstance(gd.function([x, y], [loss])(np.ones((2, 3)), np.zeros(2)), list)
    assert isinstance(gd.function([x, y], loss)(np.ones((2, 3)), y=np.zeros(2)), np.ndarray)
    # a tuple of inputs is called positionally or by name, as a list is
    g = gd.function((x, y), {"loss": loss})
    assert np.array_equal(g(np.ones((2, 3)), y=np.zeros(2))["loss"], a[0])


def test_updates_as_pairs_of_trees_lists_and_nested_dicts():
    x, y, params, pred, loss = _linear("float64")
    grads = gd.grad(loss, params)
    new = {"W": params["W"] - 0.1 * grads["W"], "b": params["b"] - 0.1 * grads["b"]}
    counter = gd.variable(np.int64(0), name="count")
    xv, yv = np.ones((4, 3)), np.arange(4.0)
    start = {k: gd.get_value(v) for k, v in params.items()}
    g = gd.function([x, y], grads)(xv, yv)
    for updates in ((params, new), [(params, new), (counter, counter + 1)],
                    {"params": (params, new), "count": {counter: counter + 1}}):
        for k, v in params.items():
            gd.set_value(v, start[k])
        step = gd.function([x, y], loss, updates=updates)
        step(xv, yv)
        for k in params:
            np.testing.assert_allclose(gd.get_value(params[k]), start[k] - 0.1 * g[k],
                                       rtol=1e-12)
    assert int(gd.get_value(counter)) == 2
    with pytest.raises(gd.InputError, match="updated twice"):
        gd.function([x, y], loss, updates=[{params["b"]: new["b"]}, (params["b"], new["b"])])
    with pytest.raises(gd.InputError, match="updates must map variables"):
        gd.function([x, y], loss, updates=[(params, [new["W"]])])


def test_optimizer_and_function_share_one_tree():
    x, y, params, pred, loss = _linear("float64")
    opt = gd.optim.Adam(0.1)
    step = gd.function({"x": x, "y": y}, {"loss": loss}, updates=opt.minimize(loss, params))
    first = step(x=np.ones((4, 3)), y=np.zeros(4))["loss"]
    for _ in range(30):
        last = step(x=np.ones((4, 3)), y=np.zeros(4))["loss"]
    assert last < first * 0.1
    assert set(opt.state["m"]) == {"W", "b"} and int(gd.get_value(opt.state["step"])) == 31


def test_tree_map_and_public_tree_helpers():
    leaves, tree = gd.tree_flatten({"b": (1, 2), "a": [3]})
    assert leaves == [3, 1, 2]
    assert gd.tree_unflatten(tree, [30, 10, 20]) == {"a": [30], "b": (10, 20)}
    assert gd.tree_map(lambda u, v: u * v, {"a": 2, "b": (3,)}, {"a": 5, "b": (7,)}) == \
        {"a": 10, "b": (21,)}
    with pytest.raises(ValueError, match="differ in structure"):
        gd.tree_map(lambda u, v: u, {"a": 1}, {"b": 1})
