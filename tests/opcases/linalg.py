"""Cases for gd.linalg: each is written once against a library (``gd`` or ``np``) so the graph
and its numpy.linalg reference are the same expression. Operands are conditioned inside the
case (a shift of the diagonal, a Gram matrix for Cholesky, the symmetric part for eigh), and
eigenvector and singular-vector cases read gauge-invariant values (squares, U @ Vh), so the
finite differences and per-example references see one smooth branch."""

import numpy as np

import graphdiff as gd

from . import Arg, Case

BATCH = Arg((2, 3, 3))
SQUARE = Arg((3, 3))


# ONNX has Det and no solves or decompositions: cases using one (in the value or the gradient)
# check that export fails naming the op (tests/test_onnx_export.py); these export and run
EXPORTED = {"matrix_power", "matrix_power_zero", "norm_all", "norm_vector_2_keepdims",
            "norm_vector_1", "norm_vector_inf", "norm_vector_minus_inf", "norm_vector_0",
            "norm_vector_3", "norm_vector_half", "norm_vector_minus_1_5", "norm_fro",
            "norm_matrix_1", "norm_matrix_minus_1", "norm_matrix_inf", "norm_matrix_minus_inf",
            "vector_norm_axes", "vecdot", "multi_dot"}


def _case(name, build, args, **options) -> Case:
    tags = () if name in EXPORTED else ("no_onnx",)
    return Case(f"linalg_{name}", lambda *t: build(gd, *t), lambda *a: build(np, *a), args,
                tags=tags, **options)


def _shifted(x, amount=4.0):
    """A well-conditioned matrix: the diagonal moved away from the spectrum of x."""
    return x + amount * np.eye(x.shape[-1], dtype=x.dtype)


def _gram(lib, x):
    """A symmetric positive definite matrix."""
    return x @ lib.swapaxes(x, -1, -2) + 1.5 * np.eye(x.shape[-1], dtype=x.dtype)


def _symmetric(lib, x):
    return (x + lib.swapaxes(x, -1, -2)) * 0.5


def _qr_q(lib, x, mode="reduced"):
    return lib.linalg.qr(x, mode=mode)[0] * 1.0


def _norm_case(name, args, *norm_args, avoid_zero=False, **norm_kwargs) -> Case:
    arg_list = [Arg(a.shape, avoid=(0.0,)) if avoid_zero else a for a in args]
    return _case(f"norm_{name}",
                 lambda lib, x: lib.linalg.norm(x, *norm_args, **norm_kwargs), arg_list)


def _lstsq_case(name, a_shape, b_shape, part, b_kind="float", **options) -> Case:
    return _case(f"lstsq_{name}", lambda lib, a, b: lib.linalg.lstsq(a, b, rcond=None)[part],
                 [Arg(a_shape), Arg(b_shape, kind=b_kind, low=-3, high=3)], **options)


def _triangular_case(name, options, triangle, args, shift=4.0) -> Case:
    """gd.linalg.solve_triangular against numpy's solve with the triangle it reads."""
    return Case(f"linalg_solve_triangular_{name}",
                lambda a, b: gd.linalg.solve_triangular(_shifted(a, shift), b, **options),
                lambda a, b: np.linalg.solve(triangle(_shifted(a, shift)), b), args,
                tags=("no_onnx",))


CASES = [
    # solves, inverses, determinants
    _case("solve", lambda lib, a, b: lib.linalg.solve(_shifted(a), b), [BATCH, Arg((2, 3, 2))]),
    _case("solve_vector", lambda lib, a, b: lib.linalg.solve(_shifted(a), b),
          [SQUARE, Arg((3,))]),
    _case("solve_broadcast", lambda lib, a, b: lib.linalg.solve(_shifted(a), b),
          [SQUARE, Arg((2, 3, 2))]),
    _triangular_case("lower", dict(lower=True), lambda a: np.tril(a), [BATCH, Arg((2, 3, 2))]),
    _triangular_case("upper_trans", dict(trans=1), lambda a: np.swapaxes(np.triu(a), -1, -2),
                     [SQUARE, Arg((3,))]),
    _triangular_case("unit", dict(lower=True, unit_diagonal=True),
                     lambda a: np.tril(a, -1) + np.eye(3, dtype=a.dtype),
                     [Arg((3, 3), low=-0.5, high=0.5), Arg((3, 2))], shift=0.0),
    _case("inv", lambda lib, a: lib.linalg.inv(_shifted(a)), [BATCH]),
    _case("det", lambda lib, a: lib.linalg.det(a), [BATCH]),
    _case("slogdet", lambda lib, a: lib.linalg.slogdet(a)[0] * lib.linalg.slogdet(a)[1],
          [BATCH]),
    _case("pinv_tall", lambda lib, a: lib.linalg.pinv(a), [Arg((4, 3))]),
    _case("pinv_wide_batch", lambda lib, a: lib.linalg.pinv(a), [Arg((2, 2, 4))]),
    _lstsq_case("x", (5, 3), (5, 2), 0),
    _lstsq_case("x_vector", (5, 3), (5,), 0),
    _lstsq_case("x_wide", (2, 4), (2,), 0),
    _lstsq_case("residuals", (5, 3), (5, 2), 1),
    _lstsq_case("rank", (5, 3), (5, 2), 2, b_kind="int", grad=False),
    _lstsq_case("singular_values", (5, 3), (5, 2), 3, b_kind="int"),
    _case("matrix_power", lambda lib, a: lib.linalg.matrix_power(a, 5), [BATCH]),
    _case("matrix_power_inverse", lambda lib, a: lib.linalg.matrix_power(_shifted(a), -2),
          [SQUARE]),
    _case("matrix_power_zero", lambda lib, a: lib.linalg.matrix_power(a, 0), [BATCH],
          grad=False),
    _case("matrix_rank", lambda lib, a: lib.linalg.matrix_rank(a), [Arg((2, 4, 3))], grad=False),
    _case("matrix_rank_deficient",
          lambda lib, a: lib.linalg.matrix_rank(a @ lib.swapaxes(a, -1, -2)),
          [Arg((4, 2))], grad=False),
    _case("cond", lambda lib, a: lib.linalg.cond(a), [BATCH]),
    _case("cond_fro", lambda lib, a: lib.linalg.cond(_shifted(a), "fro"), [SQUARE]),
    # decompositions
    _case("cholesky", lambda lib, a: lib.linalg.cholesky(_gram(lib, a)), [BATCH]),
    _case("cholesky_upper", lambda lib, a: lib.linalg.cholesky(_gram(lib, a), upper=True),
          [SQUARE]),
    _case("qr_q", _qr_q, [Arg((2, 4, 3))]),
    _case("qr_q_square", _qr_q, [SQUARE]),
    _case("qr_r", lambda lib, a: lib.linalg.qr(a, mode="r"), [Arg((4, 3))]),
    _case("qr_complete_square", lambda lib, a: _qr_q(lib, a, "complete"), [BATCH]),
    _case("qr_wide_values", lambda lib, a: lib.linalg.qr(a)[1], [Arg((2, 4))], grad=False),
    _case("eigvalsh", lambda lib, a: lib.linalg.eigvalsh(_symmetric(lib, a)), [BATCH]),
    _case("eigh_vectors", lambda lib, a: lib.linalg.eigh(_symmetric(lib, a))[1] ** 2,
          [Arg((2, 4, 4))], fd_rtol=1e-4),
    _case("svdvals", lambda lib, a: lib.linalg.svd(a, compute_uv=False), [Arg((2, 4, 3))]),
    _case("svd_polar_tall",
          lambda lib, a: lib.linalg.svd(a, full_matrices=False)[0]
          @ lib.linalg.svd(a, full_matrices=False)[2], [Arg((4, 3))], fd_rtol=1e-4),
    _case("svd_u_squared_wide",
          lambda lib, a: lib.linalg.svd(a, full_matrices=False)[0] ** 2, [Arg((2, 3, 4))],
          fd_rtol=1e-4),
    _case("svd_vh_squared_tall",
          lambda lib, a: lib.linalg.svd(a, full_matrices=False)[2] ** 2, [Arg((4, 3))],
          fd_rtol=1e-4),
    _case("svd_full_square", lambda lib, a: lib.linalg.svd(a)[0] ** 2, [SQUARE], fd_rtol=1e-4),
    # norms
    _norm_case("all", [Arg((2, 3, 4))]),
    _norm_case("vector_2_keepdims", [Arg((3, 4))], axis=1, keepdims=True),
    _norm_case("vector_1", [Arg((3, 4))], 1, axis=0, avoid_zero=True),
    _norm_case("vector_inf", [Arg((3, 4))], np.inf, axis=-1),
    _norm_case("vector_minus_inf", [Arg((3, 4))], -np.inf, axis=-1, avoid_zero=True),
    _norm_case("vector_0", [Arg((3, 4))], 0, axis=1),
    _norm_case("vector_3", [Arg((5,))], 3),
    _norm_case("vector_half", [Arg((5,))], 0.5, avoid_zero=True),
    _norm_case("vector_minus_1_5", [Arg((4,))], -1.5, avoid_zero=True),
    _norm_case("fro", [Arg((3, 4))], "fro"),
    _norm_case("nuc", [Arg((2, 3, 4))], "nuc", axis=(1, 2)),
    _norm_case("matrix_2", [Arg((3, 4))], 2),
    _norm_case("matrix_minus_2_axes", [Arg((3, 2, 4))], -2, axis=(2, 0), keepdims=True),
    _norm_case("matrix_1", [Arg((3, 4))], 1, avoid_zero=True),
    _norm_case("matrix_minus_1", [Arg((2, 3, 4))], -1, axis=(2, 1), avoid_zero=True),
    _norm_case("matrix_inf", [Arg((3, 4))], np.inf, avoid_zero=True),
    _norm_case("matrix_minus_inf", [Arg((3, 4, 2))], -np.inf, axis=(0, 2), avoid_zero=True),
    _case("vector_norm_axes", lambda lib, x: lib.linalg.vector_norm(x, axis=(0, 2), ord=3),
          [Arg((2, 3, 4))]),
    _case("matrix_norm", lambda lib, x: lib.linalg.matrix_norm(x, ord="nuc", keepdims=True),
          [Arg((2, 3, 4))]),
    _case("vecdot", lambda lib, x, y: lib.linalg.vecdot(x, y), [Arg((2, 3)), Arg((3,))]),
    _case("multi_dot", lambda lib, x, y, z: lib.linalg.multi_dot([x, y, z]),
          [Arg((3,)), Arg((3, 4)), Arg((4, 2))]),
]
