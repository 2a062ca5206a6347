"""Python operators on tensors follow numpy: ``==``/``!=`` compare elementwise, a tensor hashes by
identity and has no truth value, integer powers stay integer."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir.node import same_nodes

from .test_onnx_export import check, session

FLOATS = ["float32", "float64"]


@pytest.mark.parametrize("dtype", FLOATS)
def test_eq_and_ne_compare_elementwise(dtype: str) -> None:
    v = gd.placeholder((3,), dtype, name="v")
    feed = np.array([0, 2, 0], dtype)
    f = gd.function([v], [gd.where(v == 0, 1.0, v), v != 2, 2 == v, np.float64(0) != v])
    chosen, ne, reflected, against_array = f(feed)
    np.testing.assert_array_equal(chosen, np.where(feed == 0, 1.0, feed).astype(dtype))
    assert chosen.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(ne, feed != 2)
    np.testing.assert_array_equal(reflected, feed == 2)
    np.testing.assert_array_equal(against_array, feed != 0)


def test_eq_between_tensors_broadcasts_like_numpy() -> None:
    a = gd.placeholder((2, 1), "int64", name="a")
    b = gd.placeholder((3,), "float64", name="b")
    av, bv = np.array([[1], [2]]), np.array([1.0, 2.0, 2.5])
    f = gd.function([a, b], [a == b, a != b])
    eq, ne = f(av, bv)
    np.testing.assert_array_equal(eq, av == bv)
    np.testing.assert_array_equal(ne, av != bv)


def test_a_tensor_hashes_by_identity_and_compares_false_with_non_tensors() -> None:
    x = gd.placeholder((2,), "float32", name="x")
    y = gd.exp(x)
    table = {x: "x", y: "y"}
    assert table[x] == "x" and table[gd.exp(x)] == "y"  # interned: the same node
    assert len({x, y, gd.exp(x)}) == 2
    assert (x == None) is False and (x != "x") is True  # noqa: E711 - the operator is tested
    assert same_nodes((x, y), (x, gd.exp(x))) and not same_nodes((x, y), (y, x))


def test_eq_against_lists_and_tuples_is_elementwise_as_in_numpy() -> None:
    k = gd.placeholder((2,), "int64", name="k")
    eq, ne = gd.function([k], [k == [1, 2], k != (1, 5)])(np.array([1, 3]))
    np.testing.assert_array_equal(eq, [True, False])
    np.testing.assert_array_equal(ne, [False, True])


@pytest.mark.parametrize("use", [
    lambda x, y: bool(x == y),
    lambda x, y: x == y and y,
    lambda x, y: [x, y].index(y),  # list.index compares with ==
    lambda x, y: 1 if x != y else 0,
])
def test_truth_value_of_a_comparison_raises_pointing_to_where_and_cond(use) -> None:
    x = gd.placeholder((2,), "float32", name="x")
    y = gd.placeholder((2,), "float32", name="y")
    with pytest.raises(gd.GraphdiffError, match=r"gd\.where.*gd\.cond"):
        use(x, y)


def test_regions_and_passes_keep_working_with_elementwise_eq() -> None:
    # code paths that compared lists of nodes with == or looked nodes up with `in` on a list:
    # a cond closing over outer tensors, a checkpoint, a scan gradient, the fused pipeline
    x = gd.placeholder((3,), "float64", name="x")
    w = gd.variable(np.array([0.5, -1.0, 2.0]), name="w")
    branch = gd.cond(gd.sum(x) > 0, lambda: gd.tanh(x * w), lambda: gd.sin(w) * x)
    block = gd.checkpoint(lambda h: gd.tanh(gd.sin(h) * w))
    carry, _ = gd.scan(lambda c, xi: (c * xi + w, c), gd.zeros(3, "float64"), gd.stack([x, x]))
    loss = gd.sum(branch + block(x) + carry)
    gx = gd.grad(loss, x)
    feed = np.array([0.3, 0.1, -0.2])
    fused = gd.function([x], [loss, gx], passes="fused")
    plain = gd.function([x], [loss, gx], passes="none")
    for got, want in zip(fused(feed), plain(feed)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_comparisons_have_zero_derivative() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    y = gd.where(x == 0, 1.0, x * x) + gd.astype(x != 1, "float64")
    gx, tx = gd.function([x], [gd.grad(gd.sum(y), x), gd.jvp(y, x, gd.ones(3, "float64"))])(
        np.array([0.0, 1.0, 3.0]))
    np.testing.assert_array_equal(gx, [0.0, 2.0, 6.0])
    np.testing.assert_array_equal(tx, [0.0, 2.0, 6.0])


def test_eq_and_ne_export_to_onnx() -> None:
    a = gd.placeholder((4,), "float32", name="a")
    b = gd.placeholder((4,), "float32", name="b")
    model = gd.export_onnx(None, [a, b], [a == b, a != b])
    check(model)
    types = [n.op_type for n in model.graph.node]
    assert types.count("Equal") == 2 and "Not" in types
    av, bv = np.array([1, 2, np.nan, 0], np.float32), np.array([1, 3, np.nan, -0.0], np.float32)
    eq, ne = session(model).run(None, {"a": av, "b": bv})
    np.testing.assert_array_equal(eq, av == bv)
    np.testing.assert_array_equal(ne, av != bv)


# --- integer powers ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8"])
def test_integer_powers_stay_integer_and_exact(dtype: str) -> None:
    k = gd.placeholder((3,), dtype, name="k")
    big = 3037000499 if dtype == "int64" else 7
    feed = np.array([big, 3, 0], dtype)
    f = gd.function([k], [k ** 2, k ** k, 2 ** k, k ** 3])
    for optimized in (f, gd.function([k], f.outputs, passes="none")):
        got = optimized(feed)
        want = [feed ** 2, feed ** feed, 2 ** feed, feed ** 3]
        for g, w in zip(got, want):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)
    if dtype == "int64":
        assert f(feed)[0][0] == 9223372030926249001  # float64 would round it


def test_powers_follow_numpy_dtypes() -> None:
    k = gd.placeholder((2,), "int64", name="k")
    x = gd.placeholder((2,), "float32", name="x")
    assert (k ** 0.5).dtype == np.float64
    assert (x ** 2).dtype == np.float32 and (x ** k).dtype == np.float64
    assert (k ** np.int32(2)).dtype == np.int64
    with pytest.raises(gd.GraphdiffError, match="negative integer powers"):
        k ** -1


def test_integer_power_exports_to_onnx_exactly() -> None:
    k = gd.placeholder((2,), "int64", name="k")
    model = gd.export_onnx(None, [k], [k ** 2])
    check(model)
    feed = np.array([3037000499, -5])
    (got,) = session(model).run(None, {"k": feed})
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, feed ** 2)
