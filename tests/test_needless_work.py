"""No needless work: reductions of broadcasts never iterate the broadcast, ops with a fast path
fold, and a constant prints on one line."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir import Graph
from graphdiff.ops import elementwise as E
from graphdiff.ops import reduce as R
from graphdiff.ops import shape as S
from graphdiff.ops.source import constant
from graphdiff.passes.constant_folding import constant_folding
from graphdiff.passes.simplify import simplify

from .test_passes import c, check, run

v = gd.placeholder((3,), "float64", name="v")
w = gd.placeholder((2, 3), "float64", name="w")
k = gd.placeholder((3,), "int32", name="k")


def test_sum_of_a_broadcast_is_the_operands_sum_times_the_count() -> None:
    repeated = S.broadcast_to(v, shape=(1000, 3))
    after = check(simplify, [v], [R.sum_(repeated, axes=(0,), keepdims=False)],
                  [E.add(E.mul(v, c(1000.0)), c(0.0))], exact=False)
    # numpy's sum of -0.0s is +0.0, and so is the rewrite's; inf, nan and huge values kept
    feed = np.array([-0.0, np.inf, 1e306])
    (got,) = run(after, [feed])
    with np.errstate(over="ignore"):
        want = np.sum(np.broadcast_to(feed, (1000, 3)), axis=0)
    np.testing.assert_array_equal(got, want)
    assert not np.signbit(got[0])


def test_sum_of_a_broadcast_keeps_the_operands_own_axes_and_keepdims() -> None:
    repeated = S.broadcast_to(w, shape=(4, 2, 3))
    part = E.mul(R.sum_(w, axes=(1,), keepdims=True), c(4.0))
    check(simplify, [w], [R.sum_(repeated, axes=(0, 2), keepdims=True)],
          [S.broadcast_to(part, shape=(1, 2, 1))], exact=False)
    check(simplify, [w], [R.sum_(repeated, axes=(0, 2), keepdims=False)],
          [S.reshape(part, shape=(2,))], exact=False)


def test_integer_sum_of_a_broadcast_is_exact_in_numpys_dtype() -> None:
    repeated = S.broadcast_to(k, shape=(5, 1000, 3))
    wide = E.cast(k, dtype=np.dtype(np.int64))
    after = check(simplify, [k], [R.sum_(repeated, axes=(0, 1), keepdims=False)],
                  [E.mul(wide, constant(np.asarray(5000, np.int64)))])
    feed = np.array([2**31 - 1, -7, 0], np.int32)
    np.testing.assert_array_equal(run(after, [feed])[0],
                                  np.sum(np.broadcast_to(feed, (5, 1000, 3)), axis=(0, 1)))


@pytest.mark.parametrize("op", [R.max_, R.min_])
def test_max_and_min_of_a_broadcast_reduce_the_operand(op) -> None:
    repeated = S.broadcast_to(w, shape=(7, 2, 3))
    check(simplify, [w], [op(repeated, axes=(0, 2), keepdims=False)],
          [S.reshape(op(w, axes=(1,), keepdims=True), shape=(2,))])
    check(simplify, [w], [op(repeated, axes=(0,), keepdims=False)], [w])


def test_an_empty_repeated_axis_sums_to_zero() -> None:
    repeated = S.broadcast_to(v, shape=(0, 3))
    zeros = S.broadcast_to(c(0.0), shape=(3,))
    after = check(simplify, [v], [R.sum_(repeated, axes=(0,), keepdims=False)], [zeros])
    np.testing.assert_array_equal(run(after, [np.array([np.inf, np.nan, 1.0])])[0], 0.0)


def test_reductions_of_huge_uniform_tensors_are_never_materialized() -> None:
    x = gd.placeholder((3,), "float32", name="x")
    outputs = [gd.sum(gd.zeros((10**9, 10**9), "float32")),
               gd.max(gd.full((10**6, 10**6), 2.5, "float32")),
               gd.sum(gd.broadcast_to(x, (10**6, 10**6, 3)), axis=(0, 1)),
               gd.mean(gd.broadcast_to(x, (10**7, 3)), axis=0)]
    f = gd.function([x], outputs)
    assert not any(node.op is S.broadcast_to and node.ndim > 1 for node in f.graph.nodes), \
        str(f.graph)  # checked before running: iterating 1e12 elements would not return
    feed = np.array([0.5, -2.0, np.inf], np.float32)
    zeros, top, total, mean = f(feed)
    assert zeros.dtype == np.float32 and zeros == 0.0 and top == 2.5
    assert total.dtype == np.float32
    np.testing.assert_array_equal(total, feed * np.float32(1e12))
    np.testing.assert_array_equal(mean, feed)


# --- constant folding of ops with a fast kernel --------------------------------------------------

def test_ops_with_a_fast_kernel_fold() -> None:
    values = constant(np.arange(6.0))
    check(constant_folding, [], [R.sum_(values, axes=(0,), keepdims=False)], [c(15.0)])
    check(constant_folding, [], [E.maximum(values, c(1.0))],
          [constant(np.maximum(np.arange(6.0), 1.0))])
    matrix = constant(np.arange(6.0).reshape(2, 3))
    check(constant_folding, [], [S.transpose(matrix, perm=(1, 0))],
          [constant(np.arange(6.0).reshape(2, 3).T.copy())])


def test_the_pipeline_folds_a_sum_of_a_constant() -> None:
    f = gd.function([], [gd.sum(gd.constant(np.arange(6.0))), gd.maximum(np.arange(3.0), 1.0)])
    assert [n.op.name for n in f.graph.nodes] == ["constant", "constant"]
    total, clipped = f()
    assert total == 15.0
    np.testing.assert_array_equal(clipped, [1.0, 1.0, 2.0])


# --- the text form -----------------------------------------------------------------------------

def test_a_multi_line_constant_prints_on_one_line() -> None:
    table = gd.constant(np.arange(6.0).reshape(2, 3))
    text = str(Graph([w], [table * w]))
    lines = [line for line in text.splitlines() if "constant" in line]
    assert lines == ["  %0: f64[2,3] = constant [[0., 1., 2.], [3., 4., 5.]]"]
    assert len(text.splitlines()) == 5
