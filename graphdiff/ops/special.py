"""Kernels for special functions numpy lacks, vectorized over arrays.

``erf`` in float64 (and every dtype but float32) follows W. J. Cody, "Rational Chebyshev
approximations for the error function", Math. Comp. 23 (1969), 631-638: three near-minimax
rational approximations (|x| <= 0.46875 for erf; 0.46875 < |x| <= 4 and |x| > 4 for erfc),
accurate to float64 rounding. In float32 it is the single rational function x * P(x^2) / Q(x^2)
on x clamped to [-4, 4] (beyond, erf rounds to +-1 in float32) with the published coefficients
of Eigen's ``generic_fast_erf_float``, which XLA (hence JAX) uses too: at most 9.3 ulp and 4.5e-7
from the float64 value over [-6, 6] (measured on 2M points), for 24 array operations and no
branch selection instead of about 70 and two ``where`` (5.8x faster on 4M elements).
"""

from __future__ import annotations

import numpy as np

# erf(x) = x * A(x^2) / B(x^2) on |x| <= 0.46875
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
# erfc(y) = exp(-y^2) * C(y) / D(y) on 0.46875 < y <= 4
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
# erfc(y) = exp(-y^2) / y * (1/sqrt(pi) - z * P(z) / Q(z)), z = 1/y^2, on y > 4
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_SQRT_PI_INV = 0.56418958354775628695
_SMALL, _MEDIUM = 0.46875, 4.0


def _erf_small(x: np.ndarray) -> np.ndarray:
    xsq = x * x
    num, den = _A[4] * xsq, xsq
    for a, b in zip(_A[:3], _B[:3]):
        num = (num + a) * xsq
        den = (den + b) * xsq
    return x * (num + _A[3]) / (den + _B[3])


def _erfc_medium(y: np.ndarray) -> np.ndarray:
    num, den = _C[8] * y, y
    for c, d in zip(_C[:7], _D[:7]):
        num = (num + c) * y
        den = (den + d) * y
    return np.exp(-y * y) * (num + _C[7]) / (den + _D[7])


def _erfc_large(y: np.ndarray) -> np.ndarray:
    z = 1.0 / (y * y)
    num, den = _P[5] * z, z
    for p, q in zip(_P[:4], _Q[:4]):
        num = (num + p) * z
        den = (den + q) * z
    tail = z * (num + _P[4]) / (den + _Q[4])
    return np.exp(-y * y) * (_SQRT_PI_INV - tail) / y


# erf(x) = x * P(x^2) / Q(x^2) on [-4, 4], float32 (highest power first)
_P32 = tuple(np.float32(c) for c in (
    -2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
    -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02))
_Q32 = tuple(np.float32(c) for c in (
    -1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
    -1.42647390514189e-02))
_FOUR = np.float32(4.0)


def _horner(x2: np.ndarray, coefficients: tuple) -> np.ndarray:
    """sum c_k x2^(n-k) in a new array, updated in place (one temporary, no allocations)."""
    value = np.multiply(x2, coefficients[0])
    value += coefficients[1]
    for c in coefficients[2:]:
        value *= x2
        value += c
    return value


def _erf_float32(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    clamped = np.clip(x, -_FOUR, _FOUR)  # NaN stays NaN; read before out is written
    x2 = clamped * clamped
    numerator = _horner(x2, _P32)
    numerator *= clamped
    return np.divide(numerator, _horner(x2, _Q32), out=out)


def erf(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The error function, elementwise; NaN stays NaN, erf(+-inf) = +-1.

    float32: one rational function (above). Other dtypes are computed in float64 with Cody's
    three branches, each evaluated on the whole array (clipped into its interval) and the
    results selected with ``where``: with numpy that is faster than gathering and scattering
    subsets.
    """
    x = np.asarray(x)
    if x.dtype == np.float32 and (out is None or out.dtype == np.float32):
        return _erf_float32(x, out)
    work = x if x.dtype == np.float32 else x.astype(np.float64, copy=False)
    y = np.abs(work)
    with np.errstate(all="ignore"):  # exp underflow for large |x| is the right answer, 0
        small = _erf_small(np.minimum(y, _SMALL))
        erfc = np.where(y <= _MEDIUM, _erfc_medium(np.clip(y, _SMALL, _MEDIUM)),
                        _erfc_large(np.maximum(y, _MEDIUM)))
    result = np.copysign(np.where(y <= _SMALL, small, 1.0 - erfc), work)
    if out is None:
        return result.astype(x.dtype, copy=False)
    np.copyto(out, result, casting="unsafe")
    return out
