"""Forward mode: gd.jvp values, conventions, symbolic zeros, broadcasting, and its cost."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir import Graph, topo_order


def _appended(before: list[gd.Node], after: list[gd.Node]) -> int:
    """Nodes in the graph of ``after`` that the graph of ``before`` does not have."""
    return len(set(topo_order(after)) - set(topo_order(before)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_jvp_matches_closed_form(dtype: str) -> None:
    x = gd.placeholder((4,), dtype, name="x")
    y = gd.sin(x) * gd.exp(x)
    u = np.array([1.0, -2.0, 0.5, 3.0], dtype)
    t = gd.jvp(y, x, u)
    assert t.type == y.type
    xv = np.linspace(-1, 1, 4).astype(dtype)
    got = gd.function([x], t)(xv)
    want = (np.cos(xv) + np.sin(xv)) * np.exp(xv) * u
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_list_convention_and_several_inputs() -> None:
    a = gd.placeholder((3,), "float64", name="a")
    b = gd.placeholder((3,), "float64", name="b")
    ua, ub = gd.placeholder((3,), "float64", name="ua"), gd.placeholder((3,), "float64")
    outs = gd.jvp([a * b, a + b], [a, b], [ua, ub])
    assert isinstance(outs, list) and len(outs) == 2
    f = gd.function([a, b, ua, ub], outs)
    av, bv, uav, ubv = (np.arange(3.0) + k for k in range(4))
    prod_t, sum_t = f(av, bv, uav, ubv)
    np.testing.assert_allclose(prod_t, uav * bv + av * ubv)
    np.testing.assert_allclose(sum_t, uav + ubv)
    single = gd.jvp(a * b, [a], [ua])
    assert isinstance(single, gd.Node)


def test_broadcast_tangent_is_broadcast_up_once() -> None:
    x = gd.placeholder((4,), "float64", name="x")
    m = gd.placeholder((3, 4), "float64", name="m")
    y = m + x  # the tangent of x is (4,), the output (3, 4)
    t = gd.jvp(y, x, np.arange(4.0))
    assert t.shape == (3, 4)
    counts = Graph([x, m], [t]).op_counts()
    assert counts.get("broadcast_to") == 1
    got = gd.function([x, m], t)(np.zeros(4), np.zeros((3, 4)))
    np.testing.assert_array_equal(got, np.broadcast_to(np.arange(4.0), (3, 4)))


def test_zeros_stay_symbolic_and_integers_carry_no_tangent() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    k = gd.placeholder((3,), "int64", name="k")
    through_int = gd.astype(gd.astype(x, "int64") + k, "float64")
    y = through_int * 2.0 + gd.floor(x)
    t = gd.jvp(y, x, np.ones(3))
    # connected only through ops with a zero derivative: a materialized zero, no rule calls
    assert t.op.name == "fill" and t.attrs["value"] == 0.0
    with pytest.raises(gd.GradientError, match="only float tensors"):
        gd.jvp(gd.astype(k, "float64"), k, np.ones(3, np.int64))
    with pytest.raises(gd.GradientError, match="carry no tangent"):
        gd.jvp(gd.astype(x, "int64"), x, np.ones(3))


def test_unconnected_output() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    z = gd.placeholder((3,), "float64", name="z")
    with pytest.raises(gd.GradientError, match="does not depend on the inputs"):
        gd.jvp(gd.exp(z), x, np.ones(3))
    t = gd.jvp(gd.exp(z), x, np.ones(3), unconnected="zero")
    np.testing.assert_array_equal(gd.function([z], t)(np.ones(3)), np.zeros(3))


def test_tangent_type_is_checked() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    with pytest.raises(gd.ShapeError, match="does not match input"):
        gd.jvp(gd.exp(x), x, np.ones(4))
    with pytest.raises(gd.GradientError, match="1 inputs but 2 tangents"):
        gd.jvp(gd.exp(x), [x], [np.ones(3), np.ones(3)])


def test_symbolic_shapes() -> None:
    x = gd.placeholder((None, 3), "float64", name="x")
    u = gd.placeholder(x.shape, "float64", name="u")
    W = gd.variable(np.arange(6.0).reshape(3, 2), name="W")
    y = gd.tanh(x @ W) + gd.sum(x, axis=1, keepdims=True)
    t = gd.jvp(y, x, u)
    assert t.shape == y.shape
    xv, uv = np.full((5, 3), 0.1), np.ones((5, 3))
    got = gd.function([x, u], t)(xv, uv)
    h = xv @ np.arange(6.0).reshape(3, 2)
    want = (1 - np.tanh(h) ** 2) * (uv @ np.arange(6.0).reshape(3, 2)) + uv.sum(1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_forward_mode_is_not_two_reverse_passes() -> None:
    """d(x @ W) along u is u @ W: one matmul, no transposes (a transposed VJP would need two)."""
    x = gd.placeholder((5, 3), "float64", name="x")
    W = gd.variable(np.ones((3, 4)), name="W")
    y = gd.tanh(x @ W)
    u = gd.placeholder((5, 3), "float64", name="u")
    t = gd.jvp(y, x, u)
    new = set(topo_order([t])) - set(topo_order([y]))
    ops = sorted(node.op.name for node in new if not node.op.source)
    assert ops == ["matmul", "mul", "square", "sub"]  # (u @ W) * (1 - tanh^2)


def test_seed_on_a_computed_node_adds_to_the_flowing_tangent() -> None:
    """With inputs [x, h] where h = f(x), <J u, v> = <u, J^T v> still holds (as in reverse)."""
    x = gd.placeholder((3,), "float64", name="x")
    h = gd.sin(x)
    y = h * x
    ux, uh, v = np.array([1.0, 2, 3]), np.array([0.5, -1, 2]), np.array([1.0, -1, 0.5])
    t = gd.jvp(y, [x, h], [ux, uh])
    cx, ch = gd.vjp([y], [x, h], [gd.constant(v)])
    tv, cxv, chv = gd.function([x], [t, cx, ch])(np.array([0.1, 0.2, 0.3]))
    assert np.dot(tv, v) == pytest.approx(np.dot(cxv, ux) + np.dot(chv, uh), rel=1e-12)


def _chain(x: gd.Node, length: int) -> gd.Node:
    """A chain of ``length`` primitive ops cycling through unary and binary ones."""
    steps = [gd.sin, lambda h: h * 1.01, gd.tanh, lambda h: h + 0.1, lambda h: h * h]
    for i in range(length):
        x = steps[i % len(steps)](x)
    return x


@pytest.mark.parametrize("mode", ["jvp", "grad"])
def test_cost_grows_linearly_on_a_1000_op_chain(mode: str) -> None:
    appended = {}
    for length in (250, 500, 1000):
        x = gd.placeholder((4,), "float64", name="x")
        y = gd.sum(_chain(x, length))
        assert len(topo_order([y])) >= length
        d = gd.jvp(y, x, np.ones(4)) if mode == "jvp" else gd.grad(y, x)
        appended[length] = _appended([y], [d])
    for length, count in appended.items():
        assert count <= 5 * length, (length, count)  # a constant per op, not O(length)
    assert appended[1000] <= 2.2 * appended[500] <= 4.5 * appended[250]
    assert appended[1000] >= 1.8 * appended[500]


def test_fused_groups_differentiate_through_their_expansion() -> None:
    x = gd.placeholder((40, 50), "float64", name="x")
    y = gd.tanh(gd.exp(x) * 2.0 + 1.0) * gd.sin(x)
    fused = gd.optimize(Graph([x], [y]), passes=["fuse"]).outputs[0]
    assert fused.op.jvp is None and fused.op.expand is not None
    u = gd.placeholder((40, 50), "float64", name="u")
    f = gd.function([x, u], [gd.jvp(fused, x, u), gd.jvp(y, x, u)], passes="none")
    rng = np.random.default_rng(0)
    got, want = f(rng.standard_normal((40, 50)), rng.standard_normal((40, 50)))
    np.testing.assert_array_equal(got, want)


def test_unconnected_option_is_checked() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    with pytest.raises(gd.GradientError, match="unconnected must be"):
        gd.jvp(gd.exp(x), x, np.ones(3), unconnected="ignore")
