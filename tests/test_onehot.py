"""The one-hot scatter as a select (passes/onehot.py) and the cross-entropy step as one group:
values against the unfused numpy backend, bounds kept, float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ops.fused import fused


def _step(dtype: str, classes: int = 7):
    z = gd.placeholder((None, classes), dtype, name="z")
    y = gd.placeholder((None,), "int64", name="y")
    loss = gd.mean(gd.softmax_cross_entropy(z, y))
    return [z, y], [loss, gd.grad(loss, z)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("passes", ["fused", ["dce", "onehot"]])
def test_select_equals_scatter(dtype: str, passes) -> None:
    inputs, outputs = _step(dtype)
    want = gd.function(inputs, outputs, backend="numpy")
    got = gd.function(inputs, outputs, backend="numpy", passes=passes)
    assert "scatter_add_along_axis" not in got.graph.op_counts()
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 7)).astype(dtype)
    z[1, 3] = np.inf
    z[2] = -0.0
    labels = np.array([0, -1, 6, -7, 3])  # negative labels count back, as in the scatter
    for a, b in zip(want(z, labels), got(z, labels)):
        np.testing.assert_allclose(b, a, rtol=1e-6 if dtype == "float32" else 1e-12)
        np.testing.assert_array_equal(np.isnan(b), np.isnan(a))


def test_cross_entropy_step_is_one_group() -> None:
    inputs, outputs = _step("float64")
    graph = gd.function(inputs, outputs, backend="numpy", passes="fused").graph
    big = [n for n in graph.nodes if n.op is fused and len(n.regions[0].nodes) > 10]
    assert len(big) == 1  # max, exp, sum and the gradient: forward and backward in one loop


@pytest.mark.parametrize("bad", [7, -8])
def test_labels_out_of_range_still_raise(bad: int) -> None:
    inputs, outputs = _step("float32")
    f = gd.function(inputs, [outputs[1]], backend="numpy", passes=["dce", "onehot"])
    z = np.zeros((2, 7), np.float32)
    with pytest.raises(gd.GraphdiffError, match="out of bounds"):
        f(z, np.array([0, bad]))


def test_other_scatters_unchanged() -> None:
    x = gd.placeholder((3, 4), "float64", name="x")
    i = gd.placeholder((3, 2), "int64", name="i")  # two per row: repeats must accumulate
    g = gd.grad(gd.sum(gd.take_along_axis(x, i, 1) ** 2.0), x)
    f = gd.function([x, i], [g], passes="fused")
    assert "scatter_add_along_axis" in f.graph.op_counts()
    xv = np.arange(12.0).reshape(3, 4)
    iv = np.array([[1, 1], [0, 3], [2, 2]])
    want = np.zeros((3, 4))
    for r in range(3):
        for c in iv[r]:
            want[r, c] += 2 * xv[r, c]
    np.testing.assert_array_equal(f(xv, iv)[0], want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numba_kernel_keeps_the_exponentials(dtype: str) -> None:
    """On the numba backend the step is one kernel that stores each row's exponentials for
    the gradient phase (numba_fused._choose_kept): values equal the numpy backend's."""
    pytest.importorskip("numba")
    inputs, outputs = _step(dtype, classes=100)
    want = gd.function(inputs, outputs, backend="numpy")
    got = gd.function(inputs, outputs, backend="numba")
    rng = np.random.default_rng(1)
    z = rng.standard_normal((64, 100)).astype(dtype) * 5
    z[3, 7] = np.nan
    labels = rng.integers(-100, 100, 64)
    for a, b in zip(want(z, labels), got(z, labels)):
        np.testing.assert_allclose(b, a, rtol=2e-6 if dtype == "float32" else 1e-12)
