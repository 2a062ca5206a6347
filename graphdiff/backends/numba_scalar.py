"""Scalar functions for generated numba kernels, in forms LLVM vectorizes.

numba calls libm for ``math.exp`` and ``math.tanh`` one element at a time (no vector math
library is linked), which makes a fused loop as slow as numpy's whole-array calls. In float32,
``exp`` and ``tanh`` here are arithmetic only, so a loop holding them runs 8 lanes at a time
(AVX2); float64 keeps libm (``math.exp``, ``math.tanh``, ``math.erf``).

- ``exp_float32``: x = n ln2 + r with |r| <= ln2/2 (ln2 in two parts, Cody-Waite), e^r by its
  degree-6 Taylor polynomial (truncation below 1.2e-7 relative), times 2^n built from its bits.
  NaN stays NaN, exp(x) = Inf above 88.72 and 0 below -87.33 (flushes results that libm gives
  as subnormals, below 1.2e-38).
- ``tanh_float32``: the rational function Eigen and XLA use (``generic_fast_tanh_float``) on x
  clamped to +-7.9 (beyond, +-1), x itself for |x| < 4e-4; NaN stays NaN.
- ``erf_float32``: graphdiff/ops/special.py's float32 rational function.
- ``reduce_max``, ``reduce_min``: LLVM's NaN-propagating maximum and minimum, for reductions.

Tests compare each with numpy on ranges and special values (tests/test_numba_backend.py).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from ..ops import special

FASTMATH = frozenset({"contract", "arcp", "reassoc", "afn"})  # no nnan, ninf, nsz
_JIT = {"inline": "always", "fastmath": set(FASTMATH), "error_model": "numpy", "cache": True}


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose bits are the int32 ``bits``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


def _llvm_binary(name: str):
    """A numba function calling the LLVM intrinsic ``name`` on two floats of one type."""
    @intrinsic
    def call(typingctx, a, b):
        if a != b or not isinstance(a, types.Float):
            return None
        def codegen(context, builder, signature, args):
            t = args[0].type
            suffix = "f32" if isinstance(t, ir.FloatType) else "f64"
            function = builder.module.declare_intrinsic(
                f"{name}.{suffix}", fnty=ir.FunctionType(t, [t, t]))
            return builder.call(function, args)
        return a(a, b), codegen
    return call


# The larger (smaller) of two floats, NaN if either is: llvm.maximum vectorizes as a reduction
# without assuming no NaN (a select on a comparison does not, unless NaN is excluded).
reduce_max = _llvm_binary("llvm.maximum")
reduce_min = _llvm_binary("llvm.minimum")

_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)  # few bits: n * _LN2_HI is exact
_LN2_LO = np.float32(-2.12194440e-4)
_EXP_MAX, _EXP_MIN = np.float32(88.72), np.float32(-87.33)
_F32 = np.float32


@numba.njit(**_JIT)
def exp_float32(x):
    n = np.floor(x * _LOG2E + _F32(0.5))
    n = _F32(-126) if n < _F32(-126) else (_F32(127) if n > _F32(127) else n)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = _F32(1.0 / 720)
    p = p * r + _F32(1.0 / 120)
    p = p * r + _F32(1.0 / 24)
    p = p * r + _F32(1.0 / 6)
    p = p * r + _F32(0.5)
    p = p * r + _F32(1)
    p = p * r + _F32(1)
    value = p * _float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))
    value = _F32(np.inf) if x > _EXP_MAX else value
    value = _F32(0) if x < _EXP_MIN else value
    return x if x != x else value


@numba.njit(**_JIT)
def exp_float64(x):
    return math.exp(x)


_TANH_CLAMP, _TANH_TINY = np.float32(7.90531110763549805), np.float32(0.0004)
_TANH_P = tuple(np.float32(c) for c in (
    -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
    1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03))
_TANH_Q = tuple(np.float32(c) for c in (
    1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03))
_P0, _P1, _P2, _P3, _P4, _P5, _P6 = _TANH_P
_Q0, _Q1, _Q2, _Q3 = _TANH_Q


@numba.njit(**_JIT)
def tanh_float32(x):
    c = _TANH_CLAMP if x > _TANH_CLAMP else x
    c = -_TANH_CLAMP if c < -_TANH_CLAMP else c
    x2 = c * c
    p = _P0 * x2 + _P1
    p = p * x2 + _P2
    p = p * x2 + _P3
    p = p * x2 + _P4
    p = p * x2 + _P5
    p = p * x2 + _P6
    q = _Q0 * x2 + _Q1
    q = q * x2 + _Q2
    q = q * x2 + _Q3
    value = c * p / q
    value = _F32(1) if x > _TANH_CLAMP else value  # the clamped value is 1 - 2.4e-7
    value = _F32(-1) if x < -_TANH_CLAMP else value
    return x if abs(x) < _TANH_TINY or x != x else value


@numba.njit(**_JIT)
def tanh_float64(x):
    return math.tanh(x)


_ERF_P = special._P32
_ERF_Q = special._Q32
_E0, _E1, _E2, _E3, _E4, _E5, _E6 = _ERF_P
_D0, _D1, _D2, _D3, _D4 = _ERF_Q
_FOUR = np.float32(4)


@numba.njit(**_JIT)
def erf_float32(x):
    c = _FOUR if x > _FOUR else x  # NaN passes both clamps
    c = -_FOUR if c < -_FOUR else c
    x2 = c * c
    p = _E0 * x2 + _E1
    p = p * x2 + _E2
    p = p * x2 + _E3
    p = p * x2 + _E4
    p = p * x2 + _E5
    p = p * x2 + _E6
    q = _D0 * x2 + _D1
    q = q * x2 + _D2
    q = q * x2 + _D3
    q = q * x2 + _D4
    return c * p / q


@numba.njit(**_JIT)
def erf_float64(x):
    return math.erf(x)


# --- numpy's integer-and-float division, without the traps of C's -------------------------------
# numba's ``//`` and ``%`` on integers trap (SIGFPE) on a zero divisor and on MIN // -1, where
# numpy gives 0 and the wrapped value; its float ``//`` is floor(a / b), which numpy is not
# (1.0 // 0.1 is 9.0: numpy floors (a - fmod(a, b)) / b). These follow numpy's loops.

def floor_divide(a, b):
    """numpy.floor_divide on two scalars of one type (numba overloads it per type)."""


def remainder(a, b):
    """numpy.remainder (the sign of the divisor) on two scalars of one type."""


def fmod(a, b):
    """numpy.fmod (the sign of the dividend) on two scalars of one type."""


@overload(floor_divide, inline="always")
def _floor_divide(a, b):
    if isinstance(a, types.Float):
        def floats(a, b):
            if b == 0:
                return a / b
            mod = np.fmod(a, b)
            div = (a - mod) / b
            if mod != 0 and (b < 0) != (mod < 0):
                div -= 1
            if div == 0:
                return np.copysign(div * 0, a / b)
            whole = np.floor(div)
            return whole + 1 if div - whole > 0.5 else whole
        return floats
    if a.signed:
        return lambda a, b: 0 if b == 0 else (-a if b == -1 else a // b)
    return lambda a, b: 0 if b == 0 else a // b


@overload(remainder, inline="always")
def _remainder(a, b):
    if isinstance(a, types.Float):
        def floats(a, b):
            mod = np.fmod(a, b)
            if b == 0:
                return mod
            if mod == 0:
                return np.copysign(mod * 0, b)  # numpy's zero takes the divisor's sign
            return mod + b if (b < 0) != (mod < 0) else mod
        return floats
    if a.signed:
        return lambda a, b: 0 if b == 0 or b == -1 else a % b
    return lambda a, b: 0 if b == 0 else a % b


@overload(fmod, inline="always")
def _fmod(a, b):
    if isinstance(a, types.Float):
        return lambda a, b: np.fmod(a, b)

    signed = a.signed

    def integers(a, b):
        if b == 0 or (signed and b == -1):
            return 0
        r = a % b  # the sign of b; fmod's has the sign of a
        return r - b if r != 0 and (r < 0) != (a < 0) else r
    return integers
