"""Custom derivatives: gd.custom_jvp / gd.custom_vjp are what gets differentiated, printed and
exported, and different rules never merge."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir import Graph


def _stable_softplus(x: gd.Node) -> gd.Node:
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|
    return gd.maximum(x, 0.0) + gd.log1p(gd.exp(-gd.abs(x)))


softplus = gd.custom_jvp(_stable_softplus)


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return gd.sigmoid(x) * t  # d softplus = sigmoid


@gd.custom_vjp
def round_ste(x: gd.Node) -> gd.Node:
    """Rounding whose derivative is taken as the identity (straight-through estimator)."""
    return gd.floor(x + 0.5)


round_ste.defvjp(None, lambda primals, g: (g,))

X = np.array([-800.0, -3.0, 0.0, 0.7, 800.0])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(x / 2))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softplus_values_and_derivatives_in_both_modes(dtype: str) -> None:
    x = gd.placeholder((5,), dtype, name="x")
    y = softplus(x)
    g = gd.grad(gd.sum(y), x)
    t = gd.jvp(y, x, np.ones(5, dtype))
    values, gv, tv = gd.function([x], [y, g, t])(X.astype(dtype))
    want = np.maximum(X, 0) + np.log1p(np.exp(-np.abs(X)))
    np.testing.assert_allclose(values, want, rtol=1e-6)
    np.testing.assert_allclose(gv, _sigmoid(X), rtol=1e-6)
    np.testing.assert_array_equal(gv, tv)
    assert np.all(np.isfinite(gv))


def test_the_rule_is_differentiated_and_printed() -> None:
    x = gd.placeholder((5,), "float64", name="x")
    y = softplus(x)
    assert y.op.name == "custom" and y.attrs["kind"] == "jvp"
    g = gd.grad(gd.sum(y), x)
    text = str(Graph([x], [y, g]))
    assert "custom[kind='jvp', n_args=1, name='_stable_softplus']" in text
    assert "region 1 (" in text  # the rule, printed as a region of the node
    grad_ops = Graph([x], [g]).op_counts()
    # sigmoid comes from the rule; the body's abs/maximum would bring sign and comparisons
    assert "sigmoid" in grad_ops and "sign" not in grad_ops and "greater" not in grad_ops
    assert "custom" not in grad_ops  # the derivative is ordinary nodes


def test_second_derivative_differentiates_the_rule() -> None:
    x = gd.placeholder((5,), "float64", name="x")
    g = gd.grad(gd.sum(softplus(x)), x)
    h = gd.grad(gd.sum(g), x)  # diagonal of the Hessian: sigmoid'(x)
    s = _sigmoid(X)
    np.testing.assert_allclose(gd.function([x], h)(X), s * (1 - s), rtol=1e-12)
    hv = gd.hvp(gd.sum(softplus(x)), x, np.ones(5))
    np.testing.assert_allclose(gd.function([x], hv)(X), s * (1 - s), rtol=1e-12)


def test_jacobian_agrees_in_both_modes_through_a_custom_jvp() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    y = softplus(x) * 2.0
    fwd, rev = gd.jacobian(y, x, mode="fwd"), gd.jacobian(y, x, mode="rev")
    xv = np.array([0.1, -0.5, 2.0])
    jf, jr = gd.function([x], [fwd, rev])(xv)
    np.testing.assert_allclose(jf, np.diag(2 * _sigmoid(xv)), rtol=1e-12)
    np.testing.assert_allclose(jr, jf, rtol=1e-12)


def test_straight_through_estimator() -> None:
    x = gd.placeholder((5,), "float64", name="x")
    w = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    loss = gd.sum(round_ste(x) * w)
    values, g = gd.function([x], [round_ste(x), gd.grad(loss, x)])(np.array([0.2, 0.6, 1.4,
                                                                             -0.6, 2.5]))
    np.testing.assert_array_equal(values, [0.0, 1.0, 1.0, -1.0, 3.0])
    np.testing.assert_array_equal(g, w)  # floor alone would give zeros
    with pytest.raises(gd.GradientError, match="only a reverse-mode rule"):
        gd.jvp(round_ste(x), x, np.ones(5))


def test_custom_vjp_with_residuals() -> None:
    def fwd(x):
        y = gd.exp(x)
        return y, (y,)

    exp_ = gd.custom_vjp(gd.exp, fwd, lambda residuals, g: (g * residuals[0],))
    x = gd.placeholder((3,), "float64", name="x")
    y = exp_(x)
    g = gd.grad(gd.sum(y), x)
    # the residual is the forward's own exp: once inlined, the forward value and the one the
    # backward rule reads are one node, computed once
    optimized = gd.function([x], [y, g]).graph
    assert optimized.op_counts()["exp"] == 1
    xv = np.array([0.0, 1.0, -1.0])
    np.testing.assert_allclose(gd.function([x], g)(xv), np.exp(xv), rtol=1e-12)
    gg = gd.grad(gd.sum(g), x)  # reverse over reverse through the rule's nodes
    np.testing.assert_allclose(gd.function([x], gg)(xv), np.exp(xv), rtol=1e-12)


def test_different_rules_never_merge() -> None:
    double = gd.custom_jvp(gd.sin, lambda p, t: 2.0 * t[0])
    triple = gd.custom_jvp(gd.sin, lambda p, t: 3.0 * t[0])
    x = gd.placeholder((2,), "float64", name="x")
    a, b = double(x), triple(x)
    assert a is not b and a.inputs == b.inputs
    assert double(x) is a  # the same rule on the same operands is the same node
    ga, gb = gd.grad(gd.sum(a), x), gd.grad(gd.sum(b), x)
    va, vb = gd.function([x], [ga, gb])(np.zeros(2))
    np.testing.assert_array_equal(va, [2.0, 2.0])
    np.testing.assert_array_equal(vb, [3.0, 3.0])


def test_errors() -> None:
    x = gd.placeholder((2,), "float64", name="x")
    square = gd.custom_jvp(gd.square, lambda p, t: t[0] * t[0])  # not linear in the tangent
    with pytest.raises(gd.GradientError, match="not linear"):
        gd.grad(gd.sum(square(x)), x)
    no_rule = gd.custom_jvp(gd.sin)
    with pytest.raises(gd.GradientError, match="has no rule"):
        no_rule(x)
    bad = gd.custom_vjp(gd.sin, None, lambda p, g: (g, g))
    with pytest.raises(gd.GradientError, match="1 cotangents"):
        gd.grad(gd.sum(bad(x)), x)
    wrong_shape = gd.custom_vjp(gd.sin, None, lambda p, g: (gd.sum(g),))
    with pytest.raises(gd.GradientError, match="returned shape"):
        gd.grad(gd.sum(wrong_shape(x)), x)


def test_export_holds_the_rule_as_ordinary_nodes() -> None:
    onnx_reference = pytest.importorskip("onnx.reference")
    export_onnx = getattr(gd, "export_onnx", None)
    if export_onnx is None:
        pytest.skip("gd.export_onnx is not available yet (graphdiff/onnx)")
    x = gd.placeholder((5,), "float32", name="x")
    y = softplus(x)
    g = gd.grad(gd.sum(y), x)
    model = export_onnx(None, [x], [y, g])
    op_types = {node.op_type for node in model.graph.node}
    assert "Sigmoid" in op_types  # the rule, exported like any other node
    session = onnx_reference.ReferenceEvaluator(model)
    xv = np.array([-30.0, -3.0, 0.0, 0.7, 30.0], np.float32)
    yv, gv = session.run(None, {model.graph.input[0].name: xv})
    want_y, want_g = gd.function([x], [y, g])(xv)
    np.testing.assert_allclose(yv, want_y, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gv, want_g, rtol=1e-6, atol=1e-6)
