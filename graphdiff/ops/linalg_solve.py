"""Linear solves and determinants: ``solve``, ``solve_triangular``, ``inv``, ``det``,
``slogdet``, ``pinv``. Every op takes stacks of matrices (leading batch axes, broadcast between
the operands of the solves); the rules are the standard results (Giles 2008, "Collected matrix
derivative results"), built from these same ops, so second derivatives come from them too.

Rules solve rather than invert: d(A^-1 B) = A^-1 (dB - dA X) is one more ``solve``, the
log-determinant's derivative is ``solve(A, dA)``'s trace. At an exactly singular matrix a
solve inside a rule fails as numpy's does (a GraphdiffError naming the step).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ShapeError
from ..ir.node import Node
from ..ir.types import TensorType, TupleType, broadcast_shapes, format_shape
from .core import defop, jnp, require_same_dtype, result
from .elementwise import add, mul, neg, sub
from .linalg import (
    batch_lifted,
    identity,
    masked,
    matmul,
    matrix_operand,
    mT,
    no_onnx_operator,
    per_matrix,
    trace_of,
)
from .shape import sum_to

# --- solve: A X = B ---------------------------------------------------------------------------


def _solve_type(types: Sequence[TensorType], **attrs) -> TensorType:
    a, b = types
    require_same_dtype(types)
    n, _ = matrix_operand(a, what="coefficient matrix")
    _, k = matrix_operand(b, square=False, what="right-hand side")
    if b.shape[-2] != n:
        raise ShapeError(f"{format_shape(a.shape)} matrices cannot solve for right-hand "
                         f"sides {format_shape(b.shape)} (rows differ)")
    try:
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError(f"batch axes of {format_shape(a.shape)} and "
                         f"{format_shape(b.shape)} do not broadcast") from None
    return TensorType(a.dtype, (*batch, n, k))


def _broadcast_batches(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return np.broadcast_to(a, batch + a.shape[-2:]), np.broadcast_to(b, batch + b.shape[-2:])


def _solve_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.solve(*_broadcast_batches(a, b))


def _solve_vjp(node: Node, g: Node) -> list[Node]:
    a, b = node.inputs
    # X = A^-1 B: gB = A^-T g, gA = -gB X^T
    gb = solve(mT(a), g)
    return [sum_to(neg(matmul(gb, mT(node))), a.shape), sum_to(gb, b.shape)]


def _solve_jvp(node: Node, tangents: Sequence[Node | None]) -> Node | None:
    ta, tb = tangents
    # dX = A^-1 (dB - dA X)
    rhs = tb
    if ta is not None:
        moved = matmul(ta, node)
        rhs = neg(moved) if rhs is None else sub(rhs, moved)
    return None if rhs is None else solve(node.inputs[0], rhs)


def _batched_jax(a, b):
    """``a`` and ``b`` with their batch axes broadcast (as ``_broadcast_batches``)."""
    np_ = jnp()
    batch = np_.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return np_.broadcast_to(a, batch + a.shape[-2:]), np_.broadcast_to(b, batch + b.shape[-2:])


def _solve_triangular_jax(a, b, *, lower: bool, unit_diagonal: bool):
    import jax.scipy.linalg

    a, b = _batched_jax(a, b)
    return jax.scipy.linalg.solve_triangular(a, b, lower=lower, unit_diagonal=unit_diagonal)


solve = defop("solve", _solve_type, _solve_kernel, vjp=_solve_vjp, jvp=_solve_jvp,
              jax=lambda a, b: jnp().linalg.solve(*_batched_jax(a, b)),
              batch=batch_lifted, onnx=no_onnx_operator,
              doc="X with A X = B for square A (..., n, n) and B (..., n, k), batch axes "
                  "broadcast (LU with partial pivoting, numpy.linalg.solve).")


# --- solve_triangular: only one triangle of A is read -----------------------------------------

def _triangle_mask(n: int, lower: bool, unit_diagonal: bool) -> np.ndarray:
    """The entries of A a triangular solve reads (the diagonal is 1 when ``unit_diagonal``)."""
    ones = np.ones((n, n), dtype=bool)
    strict = -1 if unit_diagonal else 0
    return np.tril(ones, strict) if lower else np.triu(ones, -strict)


def _solve_triangular_type(types: Sequence[TensorType], *, lower: bool,
                           unit_diagonal: bool) -> TensorType:
    return _solve_type(types)


def _solve_triangular_kernel(a: np.ndarray, b: np.ndarray, *, lower: bool,
                             unit_diagonal: bool) -> np.ndarray:
    n = a.shape[-1]
    t = np.where(_triangle_mask(n, lower, unit_diagonal), a, 0)
    if unit_diagonal:
        t = t + np.eye(n, dtype=a.dtype)
    # numpy has no triangular solver: LU of a triangular matrix is exact and as stable here
    return np.linalg.solve(*_broadcast_batches(t, b))


def _read_part(node: Node, x: Node) -> Node:
    n, attrs = node.inputs[0].shape[-1], node.attrs
    return masked(x, _triangle_mask(n, attrs["lower"], attrs["unit_diagonal"]))


def _solve_triangular_vjp(node: Node, g: Node) -> list[Node]:
    a, b = node.inputs
    attrs = node.attrs
    # X = T^-1 B with T the triangle read: gB = T^-T g, gA = the read part of -gB X^T
    gb = solve_triangular(mT(a), g, lower=not attrs["lower"],
                          unit_diagonal=attrs["unit_diagonal"])
    ga = _read_part(node, neg(matmul(gb, mT(node))))
    return [sum_to(ga, a.shape), sum_to(gb, b.shape)]


def _solve_triangular_jvp(node: Node, tangents: Sequence[Node | None]) -> Node | None:
    ta, tb = tangents
    rhs = tb
    if ta is not None:
        moved = matmul(_read_part(node, ta), node)
        rhs = neg(moved) if rhs is None else sub(rhs, moved)
    return None if rhs is None else solve_triangular(node.inputs[0], rhs, **node.attrs)


solve_triangular = defop(
    "solve_triangular", _solve_triangular_type, _solve_triangular_kernel,
    jax=_solve_triangular_jax,
    vjp=_solve_triangular_vjp, jvp=_solve_triangular_jvp, batch=batch_lifted, onnx=no_onnx_operator,
    doc="X with T X = B, T the lower (or upper) triangle of A, its diagonal taken as ones when "
        "unit_diagonal; the other entries of A are not read.")


# --- inv --------------------------------------------------------------------------------------

def _square_type(types: Sequence[TensorType]) -> TensorType:
    (a,) = types
    matrix_operand(a)
    return a


def _inv_vjp(node: Node, g: Node) -> list[Node]:
    y = mT(node)  # d(A^-1) = -A^-1 dA A^-1, so gA = -A^-T g A^-T
    return [neg(matmul(matmul(y, g), y))]


def _inv_jvp(node: Node, tangents: Sequence[Node | None]) -> Node:
    return neg(matmul(matmul(node, tangents[0]), node))


inv = defop("inv", _square_type, np.linalg.inv, vjp=_inv_vjp, jvp=_inv_jvp,
            jax="numpy.linalg.inv",
            batch=batch_lifted, onnx=no_onnx_operator,
            doc="The inverse of every square matrix in a stack.")


# --- det and slogdet --------------------------------------------------------------------------

def _det_type(types: Sequence[TensorType]) -> TensorType:
    (a,) = types
    matrix_operand(a)
    return TensorType(a.dtype, a.shape[:-2])


def inverse_transpose(a: Node) -> Node:
    """A^-T, as the solve A^T X = I (the derivative of log|det A|)."""
    return solve(mT(a), identity(a.shape[-1], a))


def _det_vjp(node: Node, g: Node) -> list[Node]:
    # d det A = det A tr(A^-1 dA): gA = g det(A) A^-T
    return [mul(inverse_transpose(node.inputs[0]), per_matrix(mul(g, node)))]


def _det_jvp(node: Node, tangents: Sequence[Node | None]) -> Node:
    return mul(node, trace_of(solve(node.inputs[0], tangents[0])))


det = defop("det", _det_type, np.linalg.det, vjp=_det_vjp, jvp=_det_jvp, onnx="Det",
            jax="numpy.linalg.det",
            batch=batch_lifted,
            doc="The determinant of every square matrix in a stack (LU, numpy.linalg.det).")


def _slogdet_type(types: Sequence[TensorType]) -> TupleType:
    out = _det_type(types)
    return TupleType((out, out))


def _slogdet_kernel(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sign, logabsdet = np.linalg.slogdet(a)
    return np.asarray(sign), np.asarray(logabsdet)


def _slogdet_vjp(node: Node, g: list) -> list[Node | None]:
    _, g_log = g  # the sign is piecewise constant: no derivative
    if g_log is None:
        return [None]
    return [mul(inverse_transpose(node.inputs[0]), per_matrix(g_log))]


def _slogdet_jvp(node: Node, tangents: Sequence[Node | None]) -> list[Node | None]:
    # d log|det A| = tr(A^-1 dA)
    return [None, trace_of(solve(node.inputs[0], tangents[0]))]


slogdet = defop("slogdet", _slogdet_type, _slogdet_kernel, vjp=_slogdet_vjp, jvp=_slogdet_jvp,
                jax=lambda a: tuple(jnp().linalg.slogdet(a)),
                batch=batch_lifted, onnx=no_onnx_operator,
                doc="(sign, log|det|) of every square matrix in a stack: the determinant "
                    "without overflow; results 0 and 1.")


def logabsdet(a: Node) -> Node:
    """log|det A| (result 1 of slogdet)."""
    return result(slogdet(a), index=1)


# --- pinv -------------------------------------------------------------------------------------

def _pinv_type(types: Sequence[TensorType], *, rcond: float) -> TensorType:
    (a,) = types
    m, n = matrix_operand(a, square=False)
    return a.with_shape((*a.shape[:-2], n, m))


def _pinv_kernel(a: np.ndarray, *, rcond: float) -> np.ndarray:
    return np.linalg.pinv(a, rcond)


def _pinv_vjp(node: Node, g: Node) -> list[Node]:
    # the transpose of the JVP below:
    # gA = -P^T g P^T + (I - A P) g^T P P^T + P^T P g^T (I - P A)
    a, p = node.inputs[0], node
    m, n = a.shape[-2:]
    pt, gt = mT(p), mT(g)
    out_of_range = sub(identity(m, a), matmul(a, p))
    out_of_rows = sub(identity(n, a), matmul(p, a))
    terms = [neg(matmul(matmul(pt, g), pt)),
             matmul(matmul(out_of_range, gt), matmul(p, pt)),
             matmul(matmul(pt, p), matmul(gt, out_of_rows))]
    return [add(add(terms[0], terms[1]), terms[2])]


def _pinv_jvp(node: Node, tangents: Sequence[Node | None]) -> Node:
    # Golub and Pereyra (1973), for a locally constant rank:
    # dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P
    a, p, da = node.inputs[0], node, tangents[0]
    m, n = a.shape[-2:]
    pt, dat = mT(p), mT(da)
    out_of_range = sub(identity(m, a), matmul(a, p))
    out_of_rows = sub(identity(n, a), matmul(p, a))
    terms = [neg(matmul(matmul(p, da), p)),
             matmul(matmul(p, pt), matmul(dat, out_of_range)),
             matmul(matmul(out_of_rows, dat), matmul(pt, p))]
    return add(add(terms[0], terms[1]), terms[2])


pinv = defop("pinv", _pinv_type, _pinv_kernel, vjp=_pinv_vjp, jvp=_pinv_jvp, batch=batch_lifted,
             jax=lambda a, *, rcond: jnp().linalg.pinv(a, rtol=rcond),
             onnx=no_onnx_operator,
             doc="The Moore-Penrose pseudo-inverse of every matrix in a stack (SVD; singular "
                 "values at or below rcond * the largest count as zero).")
