"""gd.linalg beyond the op table (tests/opcases/linalg.py): gradients, JVPs and Hessians against
jax.numpy.linalg, gradients against torch.linalg, on losses that do not depend on the
eigenvector and singular-vector signs; derivatives at the edges (degenerate spectra, the norm
at 0, singular matrices); vmap against jax.vmap; the numba backend; and the errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd

jax = pytest.importorskip("jax")
jnp = jax.numpy
jax.config.update("jax_enable_x64", True)
torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
W33 = RNG.standard_normal((2, 3, 3))
W3 = RNG.standard_normal((2, 3))
W43 = RNG.standard_normal((2, 4, 3))
W34 = RNG.standard_normal((2, 3, 4))
HERE = "test_linalg.py"


def _spd(lib, x):
    return x @ lib.swapaxes(x, -1, -2) + 1.5 * np.eye(x.shape[-1])


def _sym(lib, x):
    return (x + lib.swapaxes(x, -1, -2)) * 0.5


def _shift(x):
    return x + 4.0 * np.eye(x.shape[-1])


# loss(lib, x) written once for gd and jax.numpy; every loss is invariant to the sign (gauge)
# of eigenvectors and singular vectors, so the libraries must agree
LOSSES = {
    "solve": ((2, 3, 3), lambda lib, x: lib.sum(lib.linalg.solve(_shift(x), W33) * W33)),
    "inv": ((2, 3, 3), lambda lib, x: lib.sum(lib.linalg.inv(_shift(x)) * W33)),
    "det": ((2, 3, 3), lambda lib, x: lib.sum(lib.linalg.det(x) * W3[:, 0])),
    "slogdet": ((2, 3, 3), lambda lib, x: lib.sum(lib.linalg.slogdet(x)[1] * W3[:, 1])),
    "cholesky": ((2, 3, 3), lambda lib, x: lib.sum(lib.linalg.cholesky(_spd(lib, x)) * W33)),
    "qr": ((2, 4, 3), lambda lib, x: lib.sum(lib.linalg.qr(x)[0] ** 2 * W43)
           + lib.sum(lib.linalg.qr(x)[1] ** 2 * W33)),
    "eigh": ((2, 3, 3), lambda lib, x: lib.sum(lib.linalg.eigh(_sym(lib, x))[0] * W3)
             + lib.sum(lib.linalg.eigh(_sym(lib, x))[1] ** 2 * W33)),
    "eigvalsh": ((2, 3, 3), lambda lib, x: lib.sum(lib.linalg.eigvalsh(_sym(lib, x)) ** 2 * W3)),
    "svd_tall": ((2, 4, 3), lambda lib, x: lib.sum(lib.linalg.svd(x, full_matrices=False)[1] * W3)
                 + lib.sum((lib.linalg.svd(x, full_matrices=False)[0] ** 2) * W43)
                 + lib.sum((lib.linalg.svd(x, full_matrices=False)[2] ** 2) * W33)),
    "svd_wide": ((2, 3, 4), lambda lib, x: lib.sum(lib.linalg.svd(x, full_matrices=False)[0]
                                                   @ lib.linalg.svd(x, full_matrices=False)[2]
                                                   * W34)),
    "pinv": ((2, 4, 3), lambda lib, x: lib.sum(lib.linalg.pinv(x) * np.swapaxes(W43, 1, 2))),
    "lstsq": ((4, 3), lambda lib, x: lib.sum(lib.linalg.lstsq(x, W43[0], rcond=None)[0] ** 2)),
    "matrix_power": ((2, 3, 3), lambda lib, x: lib.sum(lib.linalg.matrix_power(x, 3) * W33)),
    "norm_nuc": ((2, 3, 4), lambda lib, x: lib.sum(lib.linalg.norm(x, "nuc", axis=(1, 2)))),
    "norm_2": ((3, 4), lambda lib, x: lib.linalg.norm(x, 2)),
    "norm_vector_p": ((3, 4), lambda lib, x: lib.sum(lib.linalg.norm(x, 3, axis=1))),
    "cond": ((3, 3), lambda lib, x: lib.linalg.cond(x)),
}


def _gd_function(shape, loss, wrt_order: int):
    x = gd.placeholder(shape, "float64", name="x")
    value = loss(gd, x)
    outputs = [value, gd.grad(value, x)]
    if wrt_order == 2:
        outputs.append(gd.hessian(value, x))
    return gd.function([x], outputs)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_and_hessian_match_jax(name) -> None:
    shape, loss = LOSSES[name]
    x = np.random.default_rng(3).standard_normal(shape)
    value, gradient, hessian = _gd_function(shape, loss, 2)(x)
    j_loss = lambda v: loss(jnp, v)  # noqa: E731
    # jitted: one compilation instead of one per op (seconds less per case)
    want = jax.jit(lambda v: (j_loss(v), jax.grad(j_loss)(v), jax.hessian(j_loss)(v)))(x)
    np.testing.assert_allclose(value, want[0], rtol=1e-10)
    np.testing.assert_allclose(gradient, want[1], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(hessian, want[2], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["solve", "cholesky", "qr", "eigh", "svd_tall", "pinv"])
def test_jvp_matches_jax(name) -> None:
    shape, loss = LOSSES[name]
    rng = np.random.default_rng(4)
    x, u = rng.standard_normal(shape), rng.standard_normal(shape)
    xs, us = gd.placeholder(shape, "float64"), gd.placeholder(shape, "float64")
    got = gd.function([xs, us], gd.jvp(loss(gd, xs), xs, us))(x, u)
    want = jax.jit(lambda v, w: jax.jvp(lambda p: loss(jnp, p), (v,), (w,))[1])(x, u)
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


# torch.linalg spells some calls differently: (gd loss, torch loss)
TORCH = {
    "cholesky": lambda t, x: t.sum(t.linalg.cholesky(_spd_t(x)) * t.from_numpy(W33)),
    "eigh": lambda t, x: t.sum(t.linalg.eigh(_sym_t(x))[0] * t.from_numpy(W3))
    + t.sum(t.linalg.eigh(_sym_t(x))[1] ** 2 * t.from_numpy(W33)),
    "svd_tall": lambda t, x: t.sum(t.linalg.svd(x, full_matrices=False)[1] * t.from_numpy(W3))
    + t.sum(t.linalg.svd(x, full_matrices=False)[0] ** 2 * t.from_numpy(W43))
    + t.sum(t.linalg.svd(x, full_matrices=False)[2] ** 2 * t.from_numpy(W33)),
    "qr": lambda t, x: t.sum(t.linalg.qr(x)[0] ** 2 * t.from_numpy(W43))
    + t.sum(t.linalg.qr(x)[1] ** 2 * t.from_numpy(W33)),
    "slogdet": lambda t, x: t.sum(t.linalg.slogdet(x)[1] * t.from_numpy(W3[:, 1])),
    "pinv": lambda t, x: t.sum(t.linalg.pinv(x) * t.from_numpy(np.swapaxes(W43, 1, 2).copy())),
    "norm_nuc": lambda t, x: t.sum(t.linalg.matrix_norm(x, "nuc")),
}


def _spd_t(x):
    return x @ x.transpose(-1, -2) + 1.5 * torch.eye(x.shape[-1], dtype=x.dtype)


def _sym_t(x):
    return (x + x.transpose(-1, -2)) * 0.5


@pytest.mark.parametrize("name", sorted(TORCH))
def test_gradient_matches_torch(name) -> None:
    shape, loss = LOSSES[name]
    x = np.random.default_rng(5).standard_normal(shape)
    _, gradient = _gd_function(shape, loss, 1)(x)
    xt = torch.tensor(x, requires_grad=True)
    TORCH[name](torch, xt).backward()
    np.testing.assert_allclose(gradient, xt.grad.numpy(), rtol=1e-8, atol=1e-10)


def test_solve_triangular_matches_torch_in_every_form() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((2, 3, 3)) + 4 * np.eye(3), rng.standard_normal((2, 3, 2))
    for lower in (True, False):
        for trans in (0, 1):
            for unit in (False, True):
                a_, b_ = gd.placeholder(a.shape, "float64"), gd.placeholder(b.shape, "float64")
                x = gd.linalg.solve_triangular(a_, b_, trans=trans, lower=lower,
                                               unit_diagonal=unit)
                got = gd.function([a_, b_], [x, *gd.grad(gd.sum(x * b), [a_, b_])])(a, b)
                at, bt = (torch.tensor(v, requires_grad=True) for v in (a, b))
                op = at.transpose(-1, -2) if trans else at
                want = torch.linalg.solve_triangular(op, bt, upper=lower == bool(trans),
                                                     unitriangular=unit)
                torch.sum(want * torch.from_numpy(b)).backward()
                for g, w in zip(got, [want.detach(), at.grad, bt.grad]):
                    np.testing.assert_allclose(g, w.numpy(), rtol=1e-10, atol=1e-12)


def test_vmap_of_a_linalg_function_matches_jax() -> None:
    rng = np.random.default_rng(7)
    a, bs = rng.standard_normal((3, 3)) + 4 * np.eye(3), rng.standard_normal((5, 3))

    def per_example(lib, b):
        x = lib.linalg.solve(a, b)
        return lib.linalg.norm(x) + lib.linalg.slogdet(a + lib.outer(b, b))[1]

    b_ = gd.placeholder(bs.shape, "float64")
    got = gd.function([b_], gd.vmap(lambda b: per_example(gd, b))(b_))(bs)
    np.testing.assert_allclose(got, jax.vmap(lambda b: per_example(jnp, b))(bs), rtol=1e-12)


# --- derivatives at the edges -----------------------------------------------------------------

def _grad_at(loss, x):
    x_ = gd.placeholder(x.shape, "float64")
    return gd.function([x_], gd.grad(loss(x_), x_))(x)


def test_eigenvalue_derivatives_are_finite_where_eigenvalues_repeat() -> None:
    # at the identity every eigenvalue is 1: sum(w^2) = |A|_F^2 has the gradient 2A
    got = _grad_at(lambda a: gd.sum(gd.linalg.eigvalsh(a) ** 2), np.eye(3))
    np.testing.assert_allclose(got, 2 * np.eye(3), atol=1e-12)


def test_eigenvector_derivatives_are_not_finite_where_eigenvalues_repeat() -> None:
    # documented: the eigenvectors of a repeated eigenvalue are not unique (JAX gives nan too)
    got = _grad_at(lambda a: gd.sum(gd.linalg.eigh(a)[1] * W33[0]), np.diag([1.0, 1.0, 2.0]))
    assert not np.isfinite(got).all()


def test_singular_value_derivatives_are_finite_where_they_repeat() -> None:
    got = _grad_at(lambda a: gd.linalg.norm(a, "nuc"), np.eye(3))
    np.testing.assert_allclose(got, np.eye(3), atol=1e-12)  # d tr(sqrt(A^T A)) at I


@pytest.mark.parametrize("ord", [None, 2, 3, "fro"])
def test_norm_derivative_at_zero_is_zero(ord) -> None:
    x = np.zeros((3, 2) if ord == "fro" else (4,))
    got = _grad_at(lambda v: gd.linalg.norm(v, ord), x)
    assert np.array_equal(got, np.zeros_like(x))
    second = gd.placeholder(x.shape, "float64")
    assert np.isfinite(gd.function([second], gd.hessian(gd.linalg.norm(second, ord),
                                                        second))(x)).all()


def test_det_gradient_near_singular_is_the_cofactor_matrix_and_fails_clearly_at_singular() -> None:
    near = np.array([[1.0, 2.0], [2.0, 4.0 + 1e-9]])
    cofactor = np.array([[near[1, 1], -near[1, 0]], [-near[0, 1], near[0, 0]]])
    np.testing.assert_allclose(_grad_at(gd.linalg.det, near), cofactor, rtol=1e-6)
    with pytest.raises(gd.GraphdiffError, match=r"running solve .*LinAlgError.*Singular"):
        _grad_at(gd.linalg.det, np.array([[1.0, 2.0], [2.0, 4.0]]))


def test_symbolic_batch_axes_run_at_several_sizes() -> None:
    a = gd.placeholder((None, 3, 3), "float32", name="a")
    w, v = gd.linalg.eigh(a)
    f = gd.function([a], [w, gd.linalg.inv(a), gd.linalg.det(a)])
    for n in (1, 4):
        x = np.random.default_rng(n).standard_normal((n, 3, 3)).astype(np.float32)
        x = x + x.transpose(0, 2, 1) + 6 * np.eye(3, dtype=np.float32)
        got = f(x)
        want = [np.linalg.eigvalsh(x), np.linalg.inv(x), np.linalg.det(x)]
        for g, w_ in zip(got, want):
            assert g.dtype == np.float32
            np.testing.assert_allclose(g, w_, rtol=1e-4, atol=1e-5)


def test_numba_backend_runs_linalg_graphs_unfused() -> None:
    pytest.importorskip("numba")
    a = gd.placeholder((2, 3, 3), "float64", name="a")
    spd = a @ gd.swapaxes(a, -1, -2) + 2.0 * np.eye(3)
    loss = gd.sum(gd.tanh(gd.linalg.cholesky(spd))) + gd.sum(gd.linalg.slogdet(spd)[1])
    outputs = [loss, gd.grad(loss, a)]
    x = np.random.default_rng(8).standard_normal((2, 3, 3))
    want = gd.function([a], outputs, backend="reference")(x)
    for g, w in zip(gd.function([a], outputs, backend="numba")(x), want):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_integer_input_becomes_float64_as_in_numpy() -> None:
    a = gd.constant(np.array([[2, 1], [1, 3]]))
    assert gd.linalg.det(a).dtype == np.float64
    assert gd.linalg.norm(a).dtype == np.float64
    np.testing.assert_allclose(gd.function([], gd.linalg.inv(a))(),
                               np.linalg.inv(np.array([[2, 1], [1, 3]])))


# --- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("build, kind, message", [
    (lambda: gd.linalg.inv(gd.placeholder((3, 4), "float64")), gd.ShapeError,
     r"inv: the operand must be square, got \[3,4\]"),
    (lambda: gd.linalg.solve(gd.placeholder((3, 3), "float64"), gd.placeholder((4,), "float64")),
     gd.ShapeError, r"solve: .*\(rows differ\)"),
    (lambda: gd.linalg.det(gd.placeholder((2, None, None), "float64")), gd.ShapeError,
     r"det: the matrix sizes must be static"),
    (lambda: gd.linalg.cholesky(gd.placeholder((3,), "float64")), gd.ShapeError,
     r"linalg.cholesky needs a matrix"),
    (lambda: gd.linalg.det(gd.placeholder((2, 2), "float16")), gd.DTypeError,
     r"det: the operand must be float32 or float64 \(complex dtypes are not supported\)"),
    (lambda: gd.linalg.norm(gd.placeholder((3, 3), "float64"), "nuc", axis=0), gd.ShapeError,
     r"invalid norm order 'nuc' for vectors"),
    (lambda: gd.linalg.norm(gd.placeholder((3, 3), "float64"), 3), gd.ShapeError,
     r"invalid norm order 3 for matrices"),
    (lambda: gd.linalg.lstsq(gd.placeholder((2, 3, 3), "float64"),
                             gd.placeholder((3,), "float64")), gd.ShapeError,
     r"lstsq takes a matrix"),
    (lambda: gd.linalg.matrix_power(gd.placeholder((3, 3), "float64"), 1.5), gd.ShapeError,
     r"exponent must be an int"),
    (lambda: gd.linalg.qr(gd.placeholder((3, 3), "float64"), mode="raw"), gd.ShapeError,
     r"mode must be 'reduced', 'complete' or 'r'"),
    (lambda: gd.linalg.solve_triangular(gd.placeholder((3, 3), "float64"),
                                        gd.placeholder((3,), "float64"), trans=3),
     gd.ShapeError, r"trans must be"),
])
def test_bad_input_is_a_clear_error_at_the_users_line(build, kind, message) -> None:
    with pytest.raises(kind, match=message) as info:
        build()
    assert HERE in str(info.value)


@pytest.mark.parametrize("build, message", [
    (lambda a: gd.linalg.qr(a)[0], r"qr: derivatives are defined for m >= n in reduced mode"),
    (lambda a: gd.linalg.svd(a)[0], r"svd: derivatives need full_matrices=False"),
])
def test_derivatives_that_do_not_exist_say_so(build, message) -> None:
    a = gd.placeholder((2, 3), "float64")
    with pytest.raises(gd.GradientError, match=message):
        gd.grad(gd.sum(build(a)), a)


def test_a_matrix_that_is_not_positive_definite_fails_the_call_naming_cholesky() -> None:
    a = gd.placeholder((2, 2), "float64")
    f = gd.function([a], gd.linalg.cholesky(a))
    with pytest.raises(gd.GraphdiffError, match=rf"running cholesky \(created at .*{HERE}:\d+\)"
                                                r".*not positive definite"):
        f(np.array([[1.0, 2.0], [2.0, 1.0]]))
