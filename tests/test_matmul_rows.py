"""A batch of matrices times one matrix (every dense layer over (batch, tokens, width)): the
forward runs as one product over all rows (ops/linalg.py ``_rows_times_matrix``) and the
weight's gradient as one product ``rows(a)^T rows(g)``; values, gradients and second
derivatives equal numpy, the reference backend and finite differences."""

import numpy as np
import pytest

import graphdiff as gd

from .numeric import fd_gradient

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a_shape", [(2, 3, 4), (2, 1, 3, 4), (5, 4)])
def test_rows_times_matrix_values_and_gradients(a_shape, dtype):
    a_value = RNG.standard_normal(a_shape).astype(dtype)
    b_value = RNG.standard_normal((4, 6)).astype(dtype)
    w_value = RNG.standard_normal(a_shape[:-1] + (6,)).astype(dtype)
    a = gd.placeholder((None, *a_shape[1:]), dtype, name="a")  # a symbolic leading dim
    b = gd.placeholder((4, 6), dtype, name="b")
    w = gd.placeholder((None, *a_shape[1:-1], 6), dtype, name="w")
    y = a @ b
    loss = gd.sum(y * w)
    outputs = [y, *gd.grad(loss, [a, b])]
    planned = gd.function([a, b, w], outputs)
    reference = gd.function([a, b, w], outputs, backend="reference", passes="none")
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    for batch in (a_shape[0], 1):  # two signatures of the same function
        av, wv = a_value[:batch], w_value[:batch]
        got, want = planned(av, b_value, wv), reference(av, b_value, wv)
        np.testing.assert_allclose(got[0], np.matmul(av, b_value), **tol)
        for g, r in zip(got, want):
            np.testing.assert_allclose(g, r, **tol)
    if dtype == "float64":
        _, ga, gb = planned(a_value, b_value, w_value)
        want_gb = fd_gradient(lambda v: np.sum((a_value @ v) * w_value), b_value)
        want_ga = fd_gradient(lambda v: np.sum((v @ b_value) * w_value), a_value)
        np.testing.assert_allclose(gb, want_gb, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(ga, want_ga, rtol=1e-6, atol=1e-8)


def test_rows_of_a_transposed_operand_and_second_derivatives():
    # a non-contiguous left operand (its rows are copied once), and grad of grad through the
    # single-product weight gradient: d/db sum(grad_b(sum(tanh(a @ b)))^2)
    a_value = RNG.standard_normal((3, 5, 2)).astype("float64")
    b_value = RNG.standard_normal((5, 4)).astype("float64")
    a = gd.placeholder((3, 5, 2), "float64", name="a")
    b = gd.placeholder((5, 4), "float64", name="b")
    at = gd.transpose(a, (0, 2, 1))  # (3, 2, 5)
    (gb,) = gd.grad(gd.sum(gd.tanh(at @ b)), [b])
    outer = gd.sum(gb * gb)
    (ggb,) = gd.grad(outer, [b])
    f = gd.function([a, b], [at @ b, outer, ggb])
    y, value, second = f(a_value, b_value)
    a_t = a_value.transpose(0, 2, 1)
    np.testing.assert_allclose(y, a_t @ b_value, rtol=1e-12)

    def outer_np(bv):
        d = 1 - np.tanh(a_t @ bv) ** 2
        g = np.einsum("xik,xij->kj", a_t, d)
        return np.sum(g * g)

    np.testing.assert_allclose(value, outer_np(b_value), rtol=1e-12)
    np.testing.assert_allclose(second, fd_gradient(outer_np, b_value), rtol=1e-6, atol=1e-8)
