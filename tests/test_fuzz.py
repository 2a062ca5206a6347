"""Fuzzing the optimizer: on random well-typed graphs (``tests/strategies.py``) the optimized
function computes what the unoptimized one does, for outputs and for gradients, in float32 and
float64, with NaN, +-Inf and -0.0 among the inputs.

Bounded by default (``GRAPHDIFF_FUZZ_EXAMPLES``, default 30, derandomized so CI is stable);
``GRAPHDIFF_SLOW=1`` runs a long randomized search (2000 examples unless the variable says)."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings

import graphdiff as gd
from graphdiff.passes import optimize

from .strategies import CONTINUOUS_OPS, RandomGraph, random_graphs

SLOW = os.environ.get("GRAPHDIFF_SLOW") == "1"
EXAMPLES = int(os.environ.get("GRAPHDIFF_FUZZ_EXAMPLES", 2000 if SLOW else 30))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not SLOW,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_agree(got: list[np.ndarray], want: list[np.ndarray], dtype: np.dtype,
                 nonfinite: bool = True) -> None:
    """Same shapes and dtypes, NaN and Inf in the same places, finite values close.

    Transposes folded around a matmul may change BLAS's summation order, and the fusion pass
    may evaluate in another order, so finite values get a tolerance. With
    ``nonfinite=False`` only the places where ``want`` is finite are compared."""
    rtol = 2e-3 if dtype == np.float32 else 1e-9
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        finite = np.isfinite(w)
        if nonfinite:
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
            np.testing.assert_array_equal(np.isposinf(g), np.isposinf(w))
            np.testing.assert_array_equal(np.isneginf(g), np.isneginf(w))
        else:
            assert np.all(np.isfinite(g[finite])), (g, w)
        scale = np.maximum(np.abs(w[finite]), np.abs(g[finite]))
        assert np.all(np.abs(g[finite] - w[finite]) <= rtol * (scale + 1.0)), (g, w)


def _run(inputs, outputs, feeds, passes):
    f = gd.function(inputs, outputs, passes=passes)
    with np.errstate(all="ignore"):
        result = f(*feeds)
    return result if isinstance(result, list) else [result]


@FUZZ
@given(random_graphs())
def test_optimized_outputs_agree(case: RandomGraph) -> None:
    optimize(case.graph(), verify=True)
    want = _run(case.inputs, case.outputs, case.feeds, "none")
    got = _run(case.inputs, case.outputs, case.feeds, "default")
    assert_agree(got, want, case.dtype)


@FUZZ
@given(random_graphs(max_ops=8))
def test_optimized_gradients_agree(case: RandomGraph) -> None:
    grads = gd.grad(case.loss(), case.inputs, unconnected="zero")
    optimize(gd.Graph(case.inputs, grads), verify=True)
    want = _run(case.inputs, grads, case.feeds, "none")
    got = _run(case.inputs, grads, case.feeds, "default")
    assert_agree(got, want, case.dtype)


@FUZZ
@given(random_graphs(max_ops=8, specials=False))
def test_gradients_of_the_optimized_graph_agree(case: RandomGraph) -> None:
    # Differentiating after optimizing gives the derivative of the same function. Where the
    # unoptimized chain rule multiplies a zero derivative by an infinite one (d/dx sqrt(x)**0
    # at x < 0 is 0 * NaN), the optimized graph (here the constant 1) may well be finite: only
    # the places where the reference gradient is finite are compared.
    optimized = optimize(case.graph(), verify=True)
    loss = gd.sum(optimized.outputs[0])
    for out in optimized.outputs[1:]:
        loss = loss + gd.sum(out)
    want = _run(case.inputs, gd.grad(case.loss(), case.inputs, unconnected="zero"), case.feeds,
                "none")
    got = _run(case.inputs, gd.grad(loss, case.inputs, unconnected="zero"), case.feeds, "none")
    assert_agree(got, want, case.dtype, nonfinite=False)


@FUZZ
@given(random_graphs(max_ops=8, symbolic=True))
def test_symbolic_shapes_agree(case: RandomGraph) -> None:
    want = _run(case.inputs, case.outputs, case.feeds, "none")
    got = _run(case.inputs, case.outputs, case.feeds, "default")
    assert_agree(got, want, case.dtype)


@FUZZ
@given(random_graphs(ops=CONTINUOUS_OPS, exact_only=False))
def test_rounding_level_rules_agree_within_tolerance(case: RandomGraph) -> None:
    # x**3, x**4, exp(log x), log(exp x) are exact in real arithmetic: on well-conditioned
    # graphs their results stay within a few ulp, with NaN and Inf in the same places.
    want = _run(case.inputs, case.outputs, case.feeds, "none")
    got = _run(case.inputs, case.outputs, case.feeds, "default")
    assert_agree(got, want, case.dtype)
