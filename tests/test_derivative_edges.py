"""Derivatives at the edges of their domains, as torch and autograd give them: std and norms
where the spread is zero, powers at 0 to second order, and numpy.dot for every rank."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphdiff as gd

from .numeric import fd_gradient

FLOATS = ["float32", "float64"]


def _run(inputs, outputs, *feeds, passes="default"):
    return gd.function(inputs, outputs, passes=passes)(*feeds)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("passes", ["none", "default"])
@pytest.mark.parametrize("shape, axis", [((1,), None), ((1, 3), 0), ((2, 3), 1)])
def test_std_gradient_is_zero_where_the_spread_is_zero(dtype, passes, shape, axis) -> None:
    x = gd.placeholder(shape, dtype, name="x")
    loss = gd.sum(gd.std(x, axis=axis))
    value = np.full(shape, 1.5, dtype)
    got_value, got_grad = _run([x], [loss, gd.grad(loss, x)], value, passes=passes)
    t = torch.tensor(value, requires_grad=True)
    want = torch.std(t, dim=axis, correction=0).sum() if axis is not None \
        else torch.std(t, correction=0)
    want.backward()
    np.testing.assert_array_equal(got_grad, t.grad.numpy())
    assert not np.isnan(got_grad).any() and float(got_value) == 0.0


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_std_values_and_gradient_away_from_zero_match_finite_differences(axis) -> None:
    rng = np.random.default_rng(0)
    value = rng.standard_normal((3, 4))
    x = gd.placeholder((3, 4), "float64", name="x")
    loss = gd.sum(gd.std(x, axis=axis) * np.arange(1.0, 5.0)[: 4 if axis == 0 else 3]
                  if axis is not None else gd.std(x))
    f = gd.function([x], [loss, gd.grad(loss, x)])
    got_value, got_grad = f(value)
    weights = np.arange(1.0, 5.0)[: 4 if axis == 0 else 3] if axis is not None else 1.0
    np.testing.assert_allclose(got_value, np.sum(np.std(value, axis=axis) * weights), rtol=1e-12)
    np.testing.assert_allclose(got_grad, fd_gradient(lambda v: f(v)[0], value), rtol=1e-6,
                               atol=1e-8)


def test_l2_norms_of_an_imported_model_have_finite_gradients_at_zero() -> None:
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("ReduceL2", ["x", "axes"], ["y"], keepdims=0),
         helper.make_node("LpNormalization", ["x"], ["z"], axis=-1, p=2)],
        "norms", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [2]),
         helper.make_tensor_value_info("z", TensorProto.DOUBLE, [2, 3])],
        initializer=[numpy_helper.from_array(np.array([1]), "axes")])
    model = gd.import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    (x,), (y, z) = model.inputs, model.outputs
    value = np.array([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]])
    weights = np.array([[1.0, -2.0, 3.0], [0.5, 1.0, 2.0]])
    grad_y, grad_z = _run([x], [gd.grad(gd.sum(y), x), gd.grad(gd.sum(z * weights), x)], value)
    t = torch.tensor(value, requires_grad=True)
    torch.linalg.vector_norm(t, dim=1).sum().backward()
    np.testing.assert_allclose(grad_y, t.grad.numpy(), rtol=1e-12)
    # x / ||x|| with the zero row divided by 1: the identity there
    np.testing.assert_allclose(grad_z[0], weights[0], rtol=1e-12)
    np.testing.assert_allclose(grad_z[1], fd_gradient(
        lambda v: np.sum(v / np.linalg.norm(v) * weights[1]), value[1]), rtol=1e-6)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0, 3.0])
def test_power_second_derivative_at_zero_matches_torch(dtype, exponent) -> None:
    x = gd.placeholder((), dtype, name="x")
    y = x ** exponent
    first = gd.grad(y, x)
    second = gd.grad(first, x)
    for passes in ("none", "default"):
        got = _run([x], [y, first, second], np.array(0.0, dtype), passes=passes)
        t = torch.tensor(0.0, dtype=getattr(torch, dtype), requires_grad=True)
        (g,) = torch.autograd.grad(t ** exponent, t, create_graph=True)
        (h,) = torch.autograd.grad(g, t) if g.requires_grad else (torch.zeros(()),)
        np.testing.assert_array_equal(got, [1.0 if exponent == 0 else 0.0, g.item(), h.item()])


def test_power_with_a_tensor_exponent_has_finite_second_derivatives_at_zero() -> None:
    a = gd.placeholder((3,), "float64", name="a")
    b = gd.placeholder((3,), "float64", name="b")
    z = gd.sum(a ** b)
    hessian_rows = [gd.grad(gd.sum(gd.grad(z, a)), a), gd.grad(gd.sum(gd.grad(z, b)), b),
                    gd.grad(gd.sum(gd.grad(z, a)), b)]
    got = _run([a, b], hessian_rows, np.array([0.0, 0.0, 2.0]), np.array([0.0, 2.0, 0.0]))
    ta = torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    tb = torch.tensor([0.0, 2.0, 0.0], dtype=torch.float64, requires_grad=True)
    ga, gb = torch.autograd.grad((ta ** tb).sum(), [ta, tb], create_graph=True)
    want = [torch.autograd.grad(ga.sum(), ta, retain_graph=True)[0],
            torch.autograd.grad(gb.sum(), tb, retain_graph=True)[0],
            torch.autograd.grad(ga.sum(), tb)[0]]
    # torch guards with a single where, so its second derivatives are nan where a guard is
    # taken (a = 0 or b = 0); the double where gives the derivative of the guarded first
    # derivative there, 0 (d2/da2 of a ** 0, the constant 1, is 0 indeed)
    for g, w in zip(got, want):
        w = w.detach().numpy()
        np.testing.assert_allclose(g, np.where(np.isnan(w), 0.0, w), rtol=1e-12)


# --- dot ----------------------------------------------------------------------------------------

DOT_SHAPES = [((), ()), ((), (3, 4)), ((3,), ()), ((4,), (4,)), ((2, 4), (4,)), ((4,), (4, 3)),
              ((2, 4), (4, 3)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)), ((2, 3, 4), (5, 4, 6)),
              ((2, 3, 4), (4, 6)), ((3, 4), (5, 4, 6)), ((2, 1, 3, 4), (2, 4, 2))]


@pytest.mark.parametrize("shape_a, shape_b", DOT_SHAPES)
def test_dot_follows_numpy_for_every_rank(shape_a, shape_b) -> None:
    rng = np.random.default_rng(1)
    av, bv = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    a = gd.placeholder(shape_a, "float64", name="a")
    b = gd.placeholder(shape_b, "float64", name="b")
    out = gd.dot(a, b)
    weights = rng.standard_normal(np.shape(np.dot(av, bv)))
    loss = gd.sum(out * weights)
    f = gd.function([a, b], [out, *gd.grad(loss, [a, b])])
    got, ga, gb = f(av, bv)
    assert got.shape == np.dot(av, bv).shape
    np.testing.assert_allclose(got, np.dot(av, bv), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ga, fd_gradient(lambda v: np.sum(np.dot(v, bv) * weights), av),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gb, fd_gradient(lambda v: np.sum(np.dot(av, v) * weights), bv),
                               rtol=1e-6, atol=1e-8)


def test_dot_refuses_mismatched_contraction_axes() -> None:
    a = gd.placeholder((2, 3, 4), "float32", name="a")
    with pytest.raises(gd.ShapeError, match="second-to-last"):
        gd.dot(a, gd.placeholder((2, 3, 4), "float32", name="b"))
