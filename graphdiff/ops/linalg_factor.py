"""Decompositions: ``cholesky``, ``qr``, ``eigh``, ``svd``, over stacks of matrices (leading
batch axes). The derivative rules are the standard ones (Giles 2008; Murray 2016 for Cholesky;
the QR rule of Walter and Lehmann as JAX writes it; Townsend's notes for the SVD), as graph ops,
so second derivatives come from differentiating them again.

``cholesky`` and ``eigh`` assume a symmetric operand and a symmetric perturbation (the API
symmetrizes its input first, as jnp.linalg does), and their rules are the exact transposes of
each other for every perturbation. The eigenvector and singular-vector rules weight with
1 / (w_j - w_i) (``gap_reciprocals``): for repeated eigenvalues (or singular values, or a zero
singular value of a non-square matrix) those derivatives are inf or nan, as in JAX and
PyTorch, because the vectors are not unique there. Losses that depend on the values only (or
on projectors of well-separated eigenspaces) skip those terms and stay finite.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import GradientError
from ..ir.node import Node
from ..ir.types import TensorType, TupleType
from .core import defop, jnp, results
from .elementwise import add, div, mul, neg, sub
from .linalg import (
    as_column,
    as_row,
    batch_lifted,
    diagonal_matrix,
    diagonal_of,
    gap_reciprocals,
    matmul,
    matrix_operand,
    mT,
    no_onnx_operator,
    triangle,
)
from .linalg_solve import solve_triangular
from .source import constant


def _sum(terms: list[Node | None]) -> Node | None:
    present = [t for t in terms if t is not None]
    if not present:
        return None
    total = present[0]
    for t in present[1:]:
        total = add(total, t)
    return total


def _left_solve(t: Node, x: Node, lower: bool) -> Node:
    """T^-1 X for triangular T."""
    return solve_triangular(t, x, lower=lower, unit_diagonal=False)


def _right_solve(x: Node, t: Node, lower: bool) -> Node:
    """X T^-1 for triangular T, as (T^-T X^T)^T."""
    return mT(solve_triangular(mT(t), mT(x), lower=not lower, unit_diagonal=False))


# --- cholesky ---------------------------------------------------------------------------------

def _cholesky_type(types: Sequence[TensorType]) -> TensorType:
    (a,) = types
    matrix_operand(a)
    return a


def _phi(x: Node) -> Node:
    """The lower triangle with the diagonal halved: dL = L phi(L^-1 dA L^-T)."""
    n = x.shape[-1]
    weights = np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)
    return mul(x, constant(weights.astype(x.dtype)))


def _cholesky_jvp(node: Node, tangents: Sequence[Node | None]) -> Node:
    low = node
    inner = _right_solve(_left_solve(low, tangents[0], lower=True), mT(low), lower=False)
    return matmul(low, _phi(inner))


def _cholesky_vjp(node: Node, g: Node) -> list[Node]:
    low = node  # gA = L^-T phi(L^T g) L^-1, the transpose of the JVP
    inner = _phi(matmul(mT(low), g))
    return [_right_solve(_left_solve(mT(low), inner, lower=False), low, lower=True)]


cholesky = defop("cholesky", _cholesky_type, np.linalg.cholesky, vjp=_cholesky_vjp,
                 jax="numpy.linalg.cholesky",
                 jvp=_cholesky_jvp, batch=batch_lifted, onnx=no_onnx_operator,
                 doc="The lower Cholesky factor L (A = L L^T) of every symmetric positive "
                     "definite matrix in a stack.")


# --- qr ---------------------------------------------------------------------------------------

def _qr_type(types: Sequence[TensorType], *, complete: bool) -> TupleType:
    (a,) = types
    m, n = matrix_operand(a, square=False)
    k = m if complete else min(m, n)
    batch = a.shape[:-2]
    return TupleType((TensorType(a.dtype, (*batch, m, k)), TensorType(a.dtype, (*batch, k, n))))


def _qr_kernel(a: np.ndarray, *, complete: bool) -> tuple[np.ndarray, np.ndarray]:
    q, r = np.linalg.qr(a, mode="complete" if complete else "reduced")
    return q, r


def _qr_differentiable(node: Node) -> None:
    m, n = node.inputs[0].shape[-2:]
    if m < n or (node.attrs["complete"] and m != n):
        mode = "complete" if node.attrs["complete"] else "reduced"
        raise GradientError(f"qr: derivatives are defined for m >= n in reduced mode, got an "
                            f"{m}x{n} matrix in {mode} mode (node created at {node.location})")


def _qr_jvp(node: Node, tangents: Sequence[Node | None]) -> list[Node]:
    _qr_differentiable(node)
    q, r = results(node)
    da = tangents[0]
    # B = dA R^-1, C = Q^T B, O = the skew part of C's strict lower triangle:
    # dQ = Q (O - C) + B, dR = (C - O) R
    b = _right_solve(da, r, lower=False)
    c = matmul(mT(q), b)
    below = triangle(c, -1, lower=True)
    skew = sub(below, mT(below))
    return [add(matmul(q, sub(skew, c)), b), matmul(sub(c, skew), r)]


def _qr_vjp(node: Node, g: list) -> list[Node]:
    _qr_differentiable(node)
    q, r = results(node)
    gq, gr = g
    # the transpose of the JVP: M = gR R^T - Q^T gQ, N = triu(M) mirrored below,
    # gA = (gQ + Q N) R^-T
    m = _sum([None if gr is None else matmul(gr, mT(r)),
              None if gq is None else neg(matmul(mT(q), gq))])
    upper = triangle(m, 0, lower=False)
    mirrored = add(upper, mT(triangle(m, 1, lower=False)))
    left = _sum([gq, matmul(q, mirrored)])
    return [_right_solve(left, mT(r), lower=True)]


qr = defop("qr", _qr_type, _qr_kernel, vjp=_qr_vjp, jvp=_qr_jvp, batch=batch_lifted,
           jax=lambda a, *, complete: tuple(jnp().linalg.qr(
               a, mode="complete" if complete else "reduced")),
           onnx=no_onnx_operator,
           doc="(Q, R) with A = Q R, Q with orthonormal columns and R upper triangular (reduced: "
               "k = min(m, n) columns; complete: Q square), Householder (numpy.linalg.qr).")


# --- eigh -------------------------------------------------------------------------------------

def _eigh_type(types: Sequence[TensorType]) -> TupleType:
    (a,) = types
    matrix_operand(a)
    return TupleType((TensorType(a.dtype, a.shape[:-1]), a))


def _eigh_kernel(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w, v = np.linalg.eigh(a)
    return w, v


def _eigh_jvp(node: Node, tangents: Sequence[Node | None]) -> list[Node]:
    w, v = results(node)
    # P = V^T dA V: dw = diag(P), dV = V (F o P)
    p = matmul(matmul(mT(v), tangents[0]), v)
    return [diagonal_of(p), matmul(v, mul(gap_reciprocals(w), p))]


def _eigh_vjp(node: Node, g: list) -> list[Node]:
    w, v = results(node)
    gw, gv = g
    # gA = V (diag(gw) + F o (V^T gV)) V^T; without gV no F term (eigenvalues alone have
    # finite derivatives also where they repeat)
    inner = _sum([None if gw is None else diagonal_matrix(gw),
                  None if gv is None else mul(gap_reciprocals(w), matmul(mT(v), gv))])
    return [matmul(matmul(v, inner), mT(v))]


eigh = defop("eigh", _eigh_type, _eigh_kernel, vjp=_eigh_vjp, jvp=_eigh_jvp, batch=batch_lifted,
             # numpy reads the lower triangle only
             jax=lambda a: tuple(jnp().linalg.eigh(a, symmetrize_input=False)),
             onnx=no_onnx_operator,
             doc="(w, V) of every symmetric matrix in a stack: eigenvalues ascending, "
                 "orthonormal eigenvectors in the columns of V (numpy.linalg.eigh).")


# --- svd --------------------------------------------------------------------------------------

def _svd_type(types: Sequence[TensorType], *, full_matrices: bool) -> TupleType:
    (a,) = types
    m, n = matrix_operand(a, square=False)
    k = min(m, n)
    batch = a.shape[:-2]
    rows, cols = (m, n) if full_matrices else (k, k)
    return TupleType((TensorType(a.dtype, (*batch, m, rows)), TensorType(a.dtype, (*batch, k)),
                      TensorType(a.dtype, (*batch, cols, n))))


def _svd_kernel(a: np.ndarray, *, full_matrices: bool) -> tuple[np.ndarray, ...]:
    u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
    return u, s, vh


def _svd_parts(node: Node) -> tuple[Node, Node, Node, int, int, int]:
    m, n = node.inputs[0].shape[-2:]
    if node.attrs["full_matrices"] and m != n:
        raise GradientError(f"svd: derivatives need full_matrices=False for an {m}x{n} matrix "
                            f"(the extra columns are not unique) (node created at "
                            f"{node.location})")
    u, s, vh = results(node)
    return u, s, mT(vh), m, n, min(m, n)


def _svd_jvp(node: Node, tangents: Sequence[Node | None]) -> list[Node]:
    u, s, v, m, n, k = _svd_parts(node)
    da = tangents[0]
    # P = U^T dA V, F = 1 / (s_j^2 - s_i^2): ds = diag(P),
    # dU = U (F o (P S + S P^T)) + (I - U U^T) dA V S^-1      (the second term when m > k),
    # dV = V (F o (S P + P^T S)) + (I - V V^T) dA^T U S^-1    (the second term when n > k)
    p = matmul(matmul(mT(u), da), v)
    f = gap_reciprocals(mul(s, s))
    ps, sp = mul(p, as_row(s)), mul(as_column(s), p)
    du = matmul(u, mul(f, add(ps, mT(ps))))
    dv = matmul(v, mul(f, add(sp, mT(sp))))
    if m > k:
        dav = matmul(da, v)
        du = add(du, div(sub(dav, matmul(u, matmul(mT(u), dav))), as_row(s)))
    if n > k:
        dau = matmul(mT(da), u)
        dv = add(dv, div(sub(dau, matmul(v, matmul(mT(v), dau))), as_row(s)))
    return [du, diagonal_of(p), mT(dv)]


def _svd_vjp(node: Node, g: list) -> list[Node]:
    u, s, v, m, n, k = _svd_parts(node)
    gu, gs, gvh = g
    gv = None if gvh is None else mT(gvh)
    # the transpose of the JVP: with J = F o (U^T gU), K = F o (V^T gV),
    # gA = U (diag(gs) + (J + J^T) S + S (K + K^T)) V^T
    #      + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T)
    f = None if gu is None and gv is None else gap_reciprocals(mul(s, s))
    inner = [None if gs is None else diagonal_matrix(gs)]
    if gu is not None:
        j = mul(f, matmul(mT(u), gu))
        inner.append(mul(add(j, mT(j)), as_row(s)))
    if gv is not None:
        kk = mul(f, matmul(mT(v), gv))
        inner.append(mul(as_column(s), add(kk, mT(kk))))
    terms = [matmul(matmul(u, _sum(inner)), mT(v))]
    if gu is not None and m > k:
        off = sub(gu, matmul(u, matmul(mT(u), gu)))
        terms.append(matmul(div(off, as_row(s)), mT(v)))
    if gv is not None and n > k:
        off = sub(gv, matmul(v, matmul(mT(v), gv)))
        terms.append(matmul(u, mT(div(off, as_row(s)))))
    return [_sum(terms)]


svd = defop("svd", _svd_type, _svd_kernel, vjp=_svd_vjp, jvp=_svd_jvp, batch=batch_lifted,
            jax=lambda a, *, full_matrices: tuple(jnp().linalg.svd(a, full_matrices=full_matrices)),
            onnx=no_onnx_operator,
            doc="(U, S, Vh) with A = U diag(S) Vh for every matrix in a stack, singular values "
                "descending (numpy.linalg.svd).")
