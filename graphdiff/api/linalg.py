"""``gd.linalg``: numpy.linalg over symbolic tensors, with exact derivatives in both modes.

Every function takes stacks of matrices (leading batch axes, which may be symbolic; the two
matrix axes must be static) in float32 or float64; integer input becomes float64 as in numpy,
complex input is refused. The decompositions and solves are primitives (graphdiff/ops/
linalg_solve.py, linalg_factor.py); norms, ranks, powers, lstsq and the rest are composites of
them. ``cholesky``, ``eigh`` and ``eigvalsh`` use the symmetric part (A + A^T) / 2 of their
operand, as jnp.linalg does (numpy reads one triangle: the same for symmetric input).

>>> import numpy as np, graphdiff as gd
>>> a = gd.placeholder(("n", 3, 3), "float64", name="a")
>>> w, v = gd.linalg.eigh(a)
>>> w.shape, v.shape, gd.linalg.det(a).shape, gd.linalg.norm(a, axis=(1, 2)).shape
(('n', 3), ('n', 3, 3), ('n',), ('n',))
>>> x = gd.placeholder((3,), "float64", name="x")
>>> f = gd.function([x], [gd.linalg.norm(x), gd.grad(gd.linalg.norm(x), x)])
>>> value, gradient = f(np.zeros(3))  # the 2-norm's derivative at 0 is taken as 0
>>> float(value), gradient.tolist()
(0.0, [0.0, 0.0, 0.0])
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from ..errors import ShapeError, user_location
from ..ir.node import Node
from ..ir.types import normalize_axis
from ..ops import elementwise as E
from ..ops import linalg_factor as F
from ..ops import linalg_solve as LS
from ..ops.core import result, scalar
from ..ops.linalg import mT
from ..ops.source import constant
from .convert import TensorLike, as_tensor, promote_arrays
from .math import abs as abs_
from .math import astype, broadcast_to, matmul
from .matrices import cross, outer, tensordot  # numpy.linalg has them too
from .matrices import diagonal as diagonal_
from .matrices import trace as trace_
from .reductions import max as max_
from .reductions import min as min_
from .reductions import sqrt_of_spread
from .reductions import sum as sum_
from .shape import moveaxis, reshape

__all__ = [
    "cholesky", "cond", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "lstsq",
    "matmul", "matrix_norm", "matrix_power", "matrix_rank", "matrix_transpose", "multi_dot",
    "norm", "outer", "pinv", "qr", "slogdet", "solve", "solve_triangular", "svd", "svdvals",
    "tensordot", "trace", "vecdot", "vector_norm",
]


class EighResult(NamedTuple):
    eigenvalues: Node
    eigenvectors: Node


class QRResult(NamedTuple):
    Q: Node
    R: Node


class SlogdetResult(NamedTuple):
    sign: Node
    logabsdet: Node


class SVDResult(NamedTuple):
    U: Node
    S: Node
    Vh: Node


class LstsqResult(NamedTuple):
    x: Node
    residuals: Node
    rank: Node
    singular_values: Node


def _float(x: TensorLike) -> Node:
    """An operand as a float tensor: integers and bools become float64, as numpy.linalg does."""
    t = as_tensor(x)
    return astype(t, np.float64) if t.dtype.kind in "biu" else t


def _floats(*values: TensorLike) -> list[Node]:
    return promote_arrays(*(_float(v) for v in values))


def _matrix(function: str, x: Node) -> Node:
    if x.ndim < 2:
        raise ShapeError(f"linalg.{function} needs a matrix or a stack of them, got "
                         f"{x.type} (at {user_location()})")
    return x


def _symmetric_part(a: Node) -> Node:
    return E.mul(E.add(a, mT(a)), scalar(0.5, a))


def matrix_transpose(x: TensorLike) -> Node:
    """The transpose of every matrix in a stack (the last two axes swapped)."""
    return mT(_matrix("matrix_transpose", as_tensor(x)))


# --- solves and determinants -------------------------------------------------------------------

def _as_matrix_rhs(function: str, a: Node, b: Node) -> tuple[Node, bool]:
    """numpy 2's convention: a 1-D ``b`` is one vector, anything else a stack of matrices."""
    if b.ndim == 1:
        return reshape(b, (b.shape[0], 1)), True
    if b.ndim == 0:
        raise ShapeError(f"linalg.{function}: the right-hand side must be a vector or a matrix, "
                         f"got {b.type} (at {user_location()})")
    return b, False


def _vector_result(x: Node, vector: bool) -> Node:
    return reshape(x, x.shape[:-1]) if vector else x


def solve(a: TensorLike, b: TensorLike) -> Node:
    """x with a @ x = b (numpy.linalg.solve): ``a`` (..., n, n); ``b`` (..., n, k), or (n,) for
    one vector; batch axes broadcast. Derivatives solve with a^T again (no inverse)."""
    a, b = _floats(a, b)
    rhs, vector = _as_matrix_rhs("solve", _matrix("solve", a), b)
    return _vector_result(LS.solve(a, rhs), vector)


def solve_triangular(a: TensorLike, b: TensorLike, trans: int | str = 0, lower: bool = False,
                     unit_diagonal: bool = False) -> Node:
    """x with t @ x = b (``trans`` 0 or 'N') or t^T @ x = b (1, 'T', 2 or 'C'), t the lower or
    upper triangle of ``a``, its diagonal taken as ones when ``unit_diagonal``; the other
    entries of ``a`` are never read. jax.scipy.linalg.solve_triangular's signature."""
    a, b = _floats(a, b)
    _matrix("solve_triangular", a)
    if trans in (1, 2, "T", "C"):
        a, lower = mT(a), not lower
    elif trans not in (0, "N"):
        raise ShapeError(f"linalg.solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got "
                         f"{trans!r} (at {user_location()})")
    rhs, vector = _as_matrix_rhs("solve_triangular", a, b)
    x = LS.solve_triangular(a, rhs, lower=bool(lower), unit_diagonal=bool(unit_diagonal))
    return _vector_result(x, vector)


def inv(a: TensorLike) -> Node:
    """The inverse of every square matrix in a stack (numpy.linalg.inv)."""
    return LS.inv(_matrix("inv", _float(a)))


def det(a: TensorLike) -> Node:
    """The determinant of every square matrix in a stack. Its gradient det(a) a^-T comes from a
    solve: finite near singular matrices, an error at an exactly singular one (use slogdet for
    log-determinants)."""
    return LS.det(_matrix("det", _float(a)))


def slogdet(a: TensorLike) -> SlogdetResult:
    """(sign, log|det a|) of every square matrix in a stack: no overflow for large matrices;
    the sign has no derivative, log|det a| has a^-T."""
    node = LS.slogdet(_matrix("slogdet", _float(a)))
    return SlogdetResult(result(node, index=0), result(node, index=1))


def _cutoff(a: Node, rcond: Any, default: float) -> float:
    if rcond is None:
        return default
    if isinstance(rcond, Node) or np.ndim(rcond) != 0:
        raise ShapeError(f"linalg: rcond must be a python number (it selects the rank when the "
                         f"graph is built), got {rcond!r} (at {user_location()})")
    return float(rcond)


def pinv(a: TensorLike, rcond: float | None = None, hermitian: bool = False, *,
         rtol: float | None = None) -> Node:
    """The pseudo-inverse of every matrix in a stack (numpy.linalg.pinv): singular values at
    or below ``rcond`` (or ``rtol``) times the largest count as zero, default 1e-15 as numpy's.
    Its derivative (Golub and Pereyra) holds where the rank does not change."""
    a = _matrix("pinv", _float(a))
    return LS.pinv(a, rcond=_cutoff(a, rtol if rcond is None else rcond, 1e-15))


def lstsq(a: TensorLike, b: TensorLike, rcond: float | None = None) -> LstsqResult:
    """Least squares (numpy.linalg.lstsq): x minimizing |b - a x| (the minimum-norm one when
    ``a`` is rank deficient), the residual sums of squares, the rank and the singular values
    of ``a``. ``a`` is one matrix (m, n); ``b`` (m,) or (m, k). ``rcond`` default eps *
    max(m, n). numpy gives empty residuals when the rank is below n; here they are computed
    whenever m > n (as JAX does), empty when m <= n. x = pinv(a) @ b, so its derivative is
    pinv's."""
    a, b = _floats(a, b)
    if a.ndim != 2 or b.ndim not in (1, 2):
        raise ShapeError(f"linalg.lstsq takes a matrix and a vector or matrix, got {a.type} and "
                         f"{b.type} (at {user_location()})")
    m, n = a.shape
    if b.shape[0] != m:
        raise ShapeError(f"linalg.lstsq: a is {a.type} but b is {b.type} (rows differ) "
                         f"(at {user_location()})")
    cutoff = _cutoff(a, rcond, float(np.finfo(a.dtype).eps) * max(m, n))
    x = matmul(LS.pinv(a, rcond=cutoff), b)
    if m > n:
        misfit = E.sub(matmul(a, x), b)
        residuals = sum_(E.mul(misfit, misfit), axis=0)
        if b.ndim == 1:
            residuals = reshape(residuals, (1,))
    else:
        residuals = constant(np.zeros(0, a.dtype))
    s = svdvals(a)
    rank = _count_above(s, E.mul(max_(s, axis=-1, keepdims=True), scalar(cutoff, s)))
    return LstsqResult(x, residuals, astype(rank, np.int32), s)  # numpy's LAPACK int


# --- decompositions -----------------------------------------------------------------------------

def cholesky(a: TensorLike, /, *, upper: bool = False) -> Node:
    """The Cholesky factor of every symmetric positive definite matrix in a stack: lower L with
    a = L L^T, or upper U = L^T with a = U^T U. Uses the symmetric part of ``a``; a matrix that
    is not positive definite fails the call (numpy's LinAlgError, as a GraphdiffError)."""
    low = F.cholesky(_symmetric_part(_matrix("cholesky", _float(a))))
    return mT(low) if upper else low


def qr(a: TensorLike, mode: str = "reduced") -> QRResult | Node:
    """numpy.linalg.qr: (Q, R) in 'reduced' (k = min(m, n)) or 'complete' mode, R alone in
    'r' mode. Derivatives exist for m >= n in reduced mode (and square complete), as JAX's."""
    a = _matrix("qr", _float(a))
    if mode not in ("reduced", "complete", "r"):
        raise ShapeError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r} "
                         f"(at {user_location()})")
    node = F.qr(a, complete=mode == "complete")
    q, r = result(node, index=0), result(node, index=1)
    return r if mode == "r" else QRResult(q, r)


def _uplo(function: str, uplo: str) -> None:
    if uplo not in ("L", "U"):
        raise ShapeError(f"linalg.{function}: UPLO must be 'L' or 'U', got {uplo!r} "
                         f"(at {user_location()})")


def eigh(a: TensorLike, UPLO: str = "L") -> EighResult:  # noqa: N803 - numpy's name
    """Eigenvalues (ascending) and orthonormal eigenvectors of every symmetric matrix in a
    stack. Uses the symmetric part of ``a`` (``UPLO`` is accepted for numpy's signature).
    Eigenvector derivatives divide by eigenvalue gaps: inf or nan where eigenvalues repeat
    (the vectors are not unique there), as in JAX and PyTorch; eigenvalue derivatives are
    finite everywhere."""
    _uplo("eigh", UPLO)
    node = F.eigh(_symmetric_part(_matrix("eigh", _float(a))))
    return EighResult(result(node, index=0), result(node, index=1))


def eigvalsh(a: TensorLike, UPLO: str = "L") -> Node:  # noqa: N803 - numpy's name
    """The eigenvalues (ascending) of every symmetric matrix in a stack."""
    return eigh(a, UPLO).eigenvalues


def svd(a: TensorLike, full_matrices: bool = True, compute_uv: bool = True,
        hermitian: bool = False) -> SVDResult | Node:
    """numpy.linalg.svd: (U, S, Vh) with a = U diag(S) Vh, S descending; S alone when not
    ``compute_uv``. Derivatives of U and Vh need ``full_matrices=False`` (or square
    matrices) and divide by gaps between squared singular values: inf or nan for repeated
    ones (and, for non-square matrices, for a zero one), as in JAX and PyTorch."""
    a = _matrix("svd", _float(a))
    if not compute_uv:
        return svdvals(a)
    node = F.svd(a, full_matrices=bool(full_matrices) and a.shape[-2] != a.shape[-1])
    return SVDResult(*(result(node, index=i) for i in range(3)))


def svdvals(x: TensorLike, /) -> Node:
    """The singular values (descending) of every matrix in a stack: derivative U diag(g) V^T,
    finite also where they repeat."""
    return result(F.svd(_matrix("svdvals", _float(x)), full_matrices=False), index=1)


# --- ranks, powers, conditions ------------------------------------------------------------------

def _count_above(s: Node, tol: Node) -> Node:
    return sum_(astype(E.greater(s, tol), np.int64), axis=-1)


def matrix_rank(A: TensorLike, tol: Any = None, hermitian: bool = False, *,  # noqa: N803
                rtol: Any = None) -> Node:
    """The number of singular values above ``tol`` (default: the largest times ``rtol``, by
    default max(m, n) * eps), as numpy.linalg.matrix_rank; an int64 tensor, no derivative."""
    x = _float(A)
    if x.ndim < 2:  # numpy: 1 unless every entry is 0
        nonzero = sum_(astype(E.not_equal(x, scalar(0, x)), np.int64))
        return astype(E.greater(nonzero, scalar(0, nonzero)), np.int64)
    s = svdvals(x)
    if tol is None:
        relative = max(x.shape[-2:]) * float(np.finfo(x.dtype).eps) if rtol is None else rtol
        tol = E.mul(max_(s, axis=-1, keepdims=True), as_tensor(relative, s.dtype))
    else:
        tol = as_tensor(tol, s.dtype)
        tol = reshape(tol, (*tol.shape, 1))
    return _count_above(s, tol)


def matrix_power(a: TensorLike, n: int) -> Node:
    """a @ a @ ... (n times) for every square matrix in a stack, by repeated squaring; the
    identity for n = 0; powers of the inverse for n < 0 (numpy.linalg.matrix_power)."""
    a = _matrix("matrix_power", _float(a))
    if not isinstance(n, int | np.integer) or isinstance(n, bool):
        raise ShapeError(f"linalg.matrix_power: the exponent must be an int, got {n!r} "
                         f"(at {user_location()})")
    size = a.shape[-1]
    if a.shape[-2] != size:
        raise ShapeError(f"linalg.matrix_power needs square matrices, got {a.type} "
                         f"(at {user_location()})")
    if n == 0:
        return broadcast_to(constant(np.eye(size, dtype=a.dtype)), a.shape)
    base = inv(a) if n < 0 else a
    power, n = None, abs(int(n))
    while n:
        if n & 1:
            power = base if power is None else matmul(power, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return power


def cond(x: TensorLike, p: Any = None) -> Node:
    """The condition number (numpy.linalg.cond): s_max / s_min for p None, 2 or -2 (its
    inverse for -2), else norm(x, p) * norm(inv(x), p)."""
    x = _matrix("cond", _float(x))
    if p in (None, 2, -2):
        s = svdvals(x)
        big, small = max_(s, axis=-1), min_(s, axis=-1)
        return E.div(small, big) if p == -2 else E.div(big, small)
    return E.mul(norm(x, p, axis=(-2, -1)), norm(inv(x), p, axis=(-2, -1)))


def multi_dot(arrays: list[TensorLike], *, out: None = None) -> Node:
    """The product of several matrices (the first may be a vector, so may the last), left to
    right (numpy chooses the cheapest order; the value is the same up to rounding)."""
    if len(arrays) < 2:
        raise ShapeError(f"linalg.multi_dot needs at least two arrays, got {len(arrays)} "
                         f"(at {user_location()})")
    return functools.reduce(matmul, arrays)


def vecdot(x1: TensorLike, x2: TensorLike, /, *, axis: int = -1) -> Node:
    """The dot product of vectors along ``axis`` (numpy.linalg.vecdot), broadcasting."""
    a, b = promote_arrays(x1, x2)
    return sum_(E.mul(a, b), axis=axis)


def diagonal(x: TensorLike, /, *, offset: int = 0) -> Node:
    """The diagonals of a stack of matrices (numpy.linalg.diagonal: the last two axes)."""
    return diagonal_(x, offset, axis1=-2, axis2=-1)


def trace(x: TensorLike, /, *, offset: int = 0, dtype: Any = None) -> Node:
    """The traces of a stack of matrices (numpy.linalg.trace: the last two axes)."""
    return trace_(x, offset, axis1=-2, axis2=-1, dtype=dtype)


# --- norms ---------------------------------------------------------------------------------------

def _two_norm(x: Node, axis: Any, keepdims: bool) -> Node:
    # sqrt of a sum of squares: its derivative is taken as 0 at 0 (torch's subgradient)
    return sqrt_of_spread(sum_(E.mul(x, x), axis=axis, keepdims=keepdims))


def _vector_norm(x: Node, ord: Any, axis: int, keepdims: bool) -> Node:
    if ord is None or ord == 2:
        return _two_norm(x, axis, keepdims)
    if isinstance(ord, str):
        raise ShapeError(f"linalg.norm: invalid norm order {ord!r} for vectors "
                         f"(at {user_location()})")
    if ord == np.inf:
        return max_(abs_(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return min_(abs_(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        return sum_(astype(E.not_equal(x, scalar(0, x)), x.dtype), axis=axis, keepdims=keepdims)
    if ord == 1:
        return sum_(abs_(x), axis=axis, keepdims=keepdims)
    p = float(ord)
    total = sum_(E.pow_(abs_(x), scalar(p, x)), axis=axis, keepdims=keepdims)
    if p < 0:  # a zero entry makes the total inf and the norm 0, as numpy's
        return E.pow_(total, scalar(1 / p, x))
    # total^(1/p), its derivative taken as 0 where the vector is 0 (not 0 * inf)
    at_zero = E.equal(total, scalar(0, total))
    return E.guarded(at_zero, scalar(0, total), total, 1,
                     lambda t: E.pow_(t, scalar(1 / p, t)))


def _singular_value_norm(x: Node, reduce, axes: tuple[int, int]) -> Node:
    s = svdvals(moveaxis(x, axes, (-2, -1)))
    return reduce(s, axis=-1)


def _matrix_norm(x: Node, ord: Any, axes: tuple[int, int]) -> Node:
    row, col = axes
    if ord == 2:
        return _singular_value_norm(x, max_, axes)
    if ord == -2:
        return _singular_value_norm(x, min_, axes)
    if ord == "nuc":
        return _singular_value_norm(x, sum_, axes)
    if ord in (None, "fro", "f"):
        return _two_norm(x, axes, False)
    if ord in (1, -1):  # the largest (smallest) column sum
        pick = max_ if ord == 1 else min_
        return pick(sum_(abs_(x), axis=row), axis=col - 1 if col > row else col)
    if ord in (np.inf, -np.inf):  # the largest (smallest) row sum
        pick = max_ if ord == np.inf else min_
        return pick(sum_(abs_(x), axis=col), axis=row - 1 if row > col else row)
    raise ShapeError(f"linalg.norm: invalid norm order {ord!r} for matrices "
                     f"(at {user_location()})")


def norm(x: TensorLike, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Node:
    """numpy.linalg.norm: a vector norm over one axis (ord None or 2, 1, inf, -inf, 0, any p),
    a matrix norm over two ('fro', 'nuc', 1, -1, 2, -2, inf, -inf), every element's 2-norm
    when ``axis`` and ``ord`` are None. The 2-norm's and the Frobenius norm's derivative at 0
    is taken as 0 (a subgradient, as torch gives it)."""
    x = _float(x)
    if axis is None:
        if ord is None or (ord in ("f", "fro") and x.ndim == 2) or (ord == 2 and x.ndim == 1):
            value = _two_norm(x, None, False)
            return reshape(value, (1,) * x.ndim) if keepdims else value
        axis = tuple(range(x.ndim))
    axes = tuple(axis) if isinstance(axis, tuple | list) else (axis,)
    if not all(isinstance(a, int | np.integer) for a in axes):
        raise ShapeError(f"linalg.norm: axis must be an int or a tuple of ints, got {axis!r} "
                         f"(at {user_location()})")
    axes = tuple(normalize_axis(int(a), x.ndim) for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) != 2 or axes[0] == axes[1]:
        raise ShapeError(f"linalg.norm: axis must name one axis or two distinct axes, got "
                         f"{axis!r} for {x.type} (at {user_location()})")
    value = _matrix_norm(x, ord, axes)
    if keepdims:
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        value = reshape(value, shape)
    return value


def vector_norm(x: TensorLike, /, *, axis: Any = None, keepdims: bool = False,
                ord: Any = 2) -> Node:
    """numpy.linalg.vector_norm: a vector norm over ``axis`` (every element when None)."""
    x = _float(x)
    if axis is None:
        flat = reshape(x, (-1,))
        value = _vector_norm(flat, ord, 0, False)
        return reshape(value, (1,) * x.ndim) if keepdims else value
    axes = tuple(axis) if isinstance(axis, tuple | list) else (axis,)
    axes = tuple(normalize_axis(int(a), x.ndim) for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    # several axes: move them to the end and flatten them into one
    rest = [i for i in range(x.ndim) if i not in axes]
    moved = moveaxis(x, axes, tuple(range(x.ndim - len(axes), x.ndim)))
    flat = reshape(moved, (*(x.shape[i] for i in rest), -1))
    value = _vector_norm(flat, ord, flat.ndim - 1, False)
    if keepdims:
        value = reshape(value, tuple(1 if i in axes else d for i, d in enumerate(x.shape)))
    return value


def matrix_norm(x: TensorLike, /, *, keepdims: bool = False, ord: Any = "fro") -> Node:
    """numpy.linalg.matrix_norm: a matrix norm over the last two axes."""
    x = _matrix("matrix_norm", _float(x))
    return norm(x, ord, axis=(x.ndim - 2, x.ndim - 1), keepdims=keepdims)

