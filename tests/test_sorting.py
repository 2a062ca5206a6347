"""Sorting, order statistics and sized selections beyond the op table (tests/opcases/sorting.py
and selection.py): the error of each bad input, numpy's partition contract, JAX's semantics
(top_k, descending sorts, size= and fill_value=), NaN ordering and second derivatives."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd

X = gd.placeholder((3, 4), "float64", name="x")
V = gd.placeholder((4,), "float64", name="v")
RNG = np.random.default_rng(0)

ERRORS = [
    (lambda: gd.nonzero(X > 0), gd.GraphdiffError, "nonzero: the number of results depends"),
    (lambda: gd.where(X > 0), gd.GraphdiffError, "nonzero: .*pass a static size="),
    (lambda: gd.argwhere(X), gd.GraphdiffError, "argwhere: .*size="),
    (lambda: gd.flatnonzero(X), gd.GraphdiffError, "flatnonzero: .*size="),
    (lambda: gd.unique(X), gd.GraphdiffError, "unique: .*size="),
    (lambda: gd.extract(X > 0, X), gd.GraphdiffError, "extract: .*size="),
    (lambda: gd.compress(V > 0, X, axis=1), gd.GraphdiffError, "compress: .*size="),
    (lambda: gd.nonzero(X, size=-1), gd.ShapeError, "nonzero: size must be an int >= 0"),
    (lambda: gd.nonzero(X, size=2, fill_value=(1, 2, 3)), gd.ShapeError,
     "fill_value must be an int or 2 ints"),
    (lambda: gd.nonzero(X[0, 0], size=2), gd.ShapeError, "nonzero of a 0-d tensor"),
    (lambda: gd.unique(X, axis=0, size=2), gd.GraphdiffError, "unique: axis= is not supported"),
    (lambda: gd.compress(X > 0, X, size=2), gd.ShapeError, "compress: condition must be 1-D"),
    (lambda: gd.compress(gd.placeholder((5,), "bool"), X, axis=1, size=2), gd.ShapeError,
     "condition of length 5 for axis 1 of size 4"),
    (lambda: gd.where(X > 0, X), gd.GraphdiffError, "where takes one argument or three"),
    (lambda: gd.top_k(X, 5), gd.ShapeError, "top_k: k=5 is out of range"),
    (lambda: gd.top_k(X, 1.5), gd.ShapeError, "top_k: k must be a static int"),
    (lambda: gd.partition(X, 4), gd.ShapeError, "partition: kth 4 is out of bounds"),
    (lambda: gd.argpartition(X, [0.5]), gd.ShapeError, "kth must be an int"),
    (lambda: gd.sort(X, kind="quicksort", stable=False), gd.GraphdiffError,
     "every graphdiff sort is stable"),
    (lambda: gd.sort(X, order="name"), gd.GraphdiffError, "order= sorts structured arrays"),
    (lambda: gd.searchsorted(X, V), gd.ShapeError, "searchsorted: the sorted operand must be 1-D"),
    (lambda: gd.searchsorted(V, X, side="middle"), gd.GraphdiffError,
     "side must be 'left' or 'right'"),
    (lambda: gd.quantile(X, 1.5), gd.GraphdiffError, "quantile: q must be .* within \\[0, 1\\]"),
    (lambda: gd.percentile(X, [50, 101]), gd.GraphdiffError, "percentile: q must be"),
    (lambda: gd.quantile(X, 0.5, method="fancy"), gd.GraphdiffError,
     "method 'fancy' is not one of linear"),
    (lambda: gd.median(X, out=np.zeros(3)), gd.GraphdiffError, "median: out= is not supported"),
    (lambda: gd.quantile(X, X), gd.ShapeError, "quantile: q must be a scalar or 1-D, got f64"),
    (lambda: X[X > 0], gd.GraphdiffError, "boolean mask.*gd.extract\\(mask, x, size=k\\)"),
]


@pytest.mark.parametrize("trigger, error, message", ERRORS, ids=[m for _, _, m in ERRORS])
def test_error_names_the_function_and_the_users_line(trigger, error, message) -> None:
    with pytest.raises(error, match=message) as info:
        trigger()
    assert "test_sorting.py" in str(info.value)


@pytest.mark.parametrize("kth", [0, 3, -1, (1, 4)])
def test_partition_meets_numpys_contract(kth) -> None:
    a = RNG.integers(0, 4, size=(3, 6)).astype(np.float64)  # ties
    x = gd.placeholder(a.shape, "float64")
    values, order = gd.function([x], [gd.partition(x, kth), gd.argpartition(x, kth)])(a)
    for k in np.atleast_1d(kth):
        k = k % a.shape[1]
        want = np.partition(a, kth)[:, k]
        np.testing.assert_array_equal(values[:, k], want)
        assert (values[:, :k] <= want[:, None]).all() and (values[:, k:] >= want[:, None]).all()
    np.testing.assert_array_equal(np.take_along_axis(a, order, axis=1), values)


def test_top_k_and_descending_sorts_match_jax() -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    a = RNG.integers(0, 5, size=(4, 9)).astype(np.float32)  # many ties
    x = gd.placeholder(a.shape, "float32")
    values, indices = gd.top_k(x, 4)
    got = gd.function([x], [values, indices, gd.argsort(x, axis=0, descending=True),
                            gd.sort(x, axis=0, descending=True)])(a)
    want_values, want_indices = jax.lax.top_k(a, 4)
    np.testing.assert_array_equal(got[0], want_values)
    np.testing.assert_array_equal(got[1], want_indices)
    np.testing.assert_array_equal(got[2], jnp.argsort(a, axis=0, descending=True))
    np.testing.assert_array_equal(got[3], jnp.sort(a, axis=0, descending=True))


def test_sized_selections_match_jax() -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    a = RNG.integers(-1, 2, size=(3, 5)).astype(np.float64)
    x = gd.placeholder(a.shape, "float64")
    got = gd.function([x], [*gd.nonzero(x, size=4, fill_value=(-1, 9)),
                            *gd.nonzero(x, size=14), gd.flatnonzero(x, size=12, fill_value=-3),
                            gd.argwhere(x, size=3), gd.extract(x > 0, x * 2.0, size=9),
                            *gd.unique(x, return_index=True, return_inverse=True,
                                       return_counts=True, size=5)])(a)
    want = [*jnp.nonzero(a, size=4, fill_value=(-1, 9)), *jnp.nonzero(a, size=14),
            jnp.flatnonzero(a, size=12, fill_value=-3), jnp.argwhere(a, size=3),
            jnp.extract(a > 0, a * 2.0, size=9),
            *jnp.unique(a, return_index=True, return_inverse=True, return_counts=True, size=5)]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, np.asarray(w).reshape(g.shape))


def test_nan_sorts_last_and_first_when_descending() -> None:
    a = np.array([[2.0, np.nan, -1.0, 0.5, np.nan]])
    x = gd.placeholder(a.shape, "float64")
    ascending, descending = gd.function([x], [gd.sort(x), gd.sort(x, descending=True)])(a)
    np.testing.assert_array_equal(ascending, np.sort(a))
    np.testing.assert_array_equal(descending, [[np.nan, np.nan, 2.0, 0.5, -1.0]])


@pytest.mark.parametrize("build", [lambda x: gd.sort(x, axis=0) ** 3,
                                   lambda x: gd.quantile(x * x, [0.3, 0.6], axis=1),
                                   lambda x: gd.top_k(x, 2)[0] ** 2])
def test_second_derivatives_match_finite_differences(build) -> None:
    a = RNG.standard_normal((3, 4))
    x = gd.placeholder(a.shape, "float64")
    weights = RNG.standard_normal(np.shape(gd.function([x], build(x))(a)))
    g = gd.grad(gd.sum(build(x) * weights), x)
    u = RNG.standard_normal(a.shape)
    hvp = gd.function([x], gd.grad(gd.sum(g * u), x))(a)
    grad_at = gd.function([x], g)
    eps = 1e-6
    numeric = (grad_at(a + eps * u) - grad_at(a - eps * u)) / (2 * eps)
    np.testing.assert_allclose(hvp, numeric, rtol=1e-5, atol=1e-6)


def test_gradient_of_extract_scatters_back_to_the_selected_elements() -> None:
    a = np.array([[1.0, -2.0, 3.0], [-1.0, 4.0, 5.0]])
    x = gd.placeholder(a.shape, "float64")
    picked = gd.extract(x > 0, x, size=3)  # four positives: the first three are kept
    weights = np.array([1.0, 10.0, 100.0])
    grad = gd.function([x], gd.grad(gd.sum(picked * weights), x))(a)
    np.testing.assert_array_equal(grad, [[1.0, 0.0, 10.0], [0.0, 100.0, 0.0]])


def test_quantile_of_a_symbolic_q_tensor() -> None:
    a, qs = RNG.standard_normal((3, 5)).astype(np.float32), np.array([0.1, 0.5, 0.95])
    x = gd.placeholder((None, 5), "float32")
    q = gd.placeholder((None,), "float64")
    y = gd.quantile(x, q, axis=1)
    assert y.dtype == np.quantile(a, qs, axis=1).dtype
    np.testing.assert_allclose(gd.function([x, q], y)(a, qs), np.quantile(a, qs, axis=1),
                               rtol=1e-6)


def test_export_of_a_batched_selection_says_it_has_no_onnx_form() -> None:
    x = gd.placeholder((3, 4), "float64", name="x")
    rows = gd.vmap(lambda r: gd.nonzero(r, size=2)[0])(x)
    with pytest.raises(gd.OnnxError, match="argwhere of a batch"):
        gd.export_onnx(None, [x], [rows])


def test_the_gradient_of_a_sort_places_rather_than_accumulates() -> None:
    x = gd.placeholder((3, 5), "float64")
    grads = gd.grad(gd.sum(gd.sort(x, axis=0) * 2.0) + gd.sum(gd.top_k(x, 2)[0]), x)
    scatters = [n for n in gd.Graph([x], [grads]).nodes
                if n.op is gd.ops.index.scatter_add_along_axis]
    assert len(scatters) == 2 and all(n.attrs["distinct"] for n in scatters)
    repeated = gd.take_along_axis(x, np.zeros((1, 5), np.int64), axis=0)  # repeats: adds
    (node,) = [n for n in gd.Graph([x], [gd.grad(gd.sum(repeated), x)]).nodes
               if n.op is gd.ops.index.scatter_add_along_axis]
    assert "distinct" not in node.attrs
