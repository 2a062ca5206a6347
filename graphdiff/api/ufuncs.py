"""numpy's other elementwise functions: trigonometry, logarithms in other bases, rounding,
the division family, IEEE-754 helpers, bitwise ops, and the identities of the complex API.

Every function takes numpy's arguments and gives numpy's dtype (NEP 50: python scalars are weak,
integer and bool operands of float functions become the float numpy picks)::

    >>> import graphdiff as gd
    >>> k = gd.placeholder((3,), "int32", name="k")
    >>> gd.arctan2(k, 2).dtype.name, (k % 4).dtype.name, (k << 2).dtype.name
    ('float64', 'int32', 'int32')

Complex dtypes are not supported: ``real``, ``imag`` and ``conj`` are the identities (and a
zero) of real tensors.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import DTypeError, user_location
from ..ir.node import Node, OpDef
from ..ops import elementwise as E
from ..ops import explog as X
from ..ops import ieee as F
from ..ops import integer as B
from ..ops import rounding as R
from ..ops import trig as T
from ..ops.core import scalar
from .convert import (
    TensorLike,
    as_tensor,
    cast_to,
    is_python_scalar,
    promote,
    result_dtype,
    ufunc_result_dtype,
)
from .creation import zeros_like
from .math import rounding_ufunc, truth, unary_ufunc

__all__ = [
    "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "around",
    "bitwise_and", "bitwise_invert", "bitwise_left_shift", "bitwise_not", "bitwise_or",
    "bitwise_right_shift", "bitwise_xor", "conj", "conjugate", "copysign", "cosh", "deg2rad",
    "degrees", "divmod", "exp2", "fabs", "floor_divide", "fmax", "fmin", "fmod", "heaviside",
    "hypot", "imag", "invert", "isinf", "left_shift", "log10", "log2", "logaddexp",
    "logaddexp2", "logical_xor", "mod", "nan_to_num", "rad2deg", "radians", "real",
    "remainder", "right_shift", "rint", "round", "signbit", "sinc", "sinh", "tan", "trunc",
]


def _binary_ufunc(op: OpDef, ufunc: np.ufunc, doc: str) -> Callable[[TensorLike, TensorLike], Node]:
    """A numpy-style binary function: both operands cast to the dtype of the loop numpy's
    ``ufunc`` picks for them (``arctan2(int64, int64)`` is float64, ``arctan2(uint8, int8)``
    float16, ``fmod(int8, 3)`` int8: a python scalar takes the other operand's dtype)."""

    def function(a: TensorLike, b: TensorLike) -> Node:
        return op(*promote(a, b, dtype=_loop_result(op.name, ufunc, a, b)))

    function.__name__ = function.__qualname__ = ufunc.__name__
    function.__doc__ = doc
    return function


def _loop_result(name: str, ufunc: np.ufunc, a: TensorLike, b: TensorLike) -> np.dtype:
    """The dtype of numpy's loop for ``ufunc(a, b)``, which its operands are cast to."""
    dtypes = (_loop_dtype(a, b), _loop_dtype(b, a))
    try:
        return ufunc_result_dtype(ufunc, *dtypes)
    except TypeError:  # numpy has no loop for these dtypes (bitwise_and of floats, ...)
        names = " and ".join(sorted({d.name for d in dtypes}))
        raise DTypeError(f"{name} is not defined for {names} operands "
                         f"(at {user_location()})") from None


def _loop_dtype(value: TensorLike, other: TensorLike) -> np.dtype:
    """The dtype ``value`` enters a ufunc's loop selection with: its own, or for a (weak)
    python scalar the other operand's promoted with it (NEP 50)."""
    if is_python_scalar(value) and not is_python_scalar(other):
        return result_dtype(other, value)
    return result_dtype(value)


# --- trigonometric and hyperbolic ------------------------------------------------------------

tan = unary_ufunc(T.tan, np.tan, "Tangent, elementwise.")
arcsin = unary_ufunc(T.arcsin, np.arcsin, "Inverse sine, elementwise (NaN outside [-1, 1]).")
arccos = unary_ufunc(T.arccos, np.arccos, "Inverse cosine, elementwise (NaN outside [-1, 1]).")
arctan = unary_ufunc(T.arctan, np.arctan, "Inverse tangent, elementwise.")
sinh = unary_ufunc(T.sinh, np.sinh, "Hyperbolic sine, elementwise.")
cosh = unary_ufunc(T.cosh, np.cosh, "Hyperbolic cosine, elementwise.")
arcsinh = unary_ufunc(T.arcsinh, np.arcsinh, "Inverse hyperbolic sine, elementwise.")
arccosh = unary_ufunc(T.arccosh, np.arccosh, "Inverse hyperbolic cosine (NaN below 1).")
arctanh = unary_ufunc(T.arctanh, np.arctanh, "Inverse hyperbolic tangent (+-inf at +-1).")
arctan2 = _binary_ufunc(T.arctan2, np.arctan2,
                        "The angle of the point (x2, x1) in (-pi, pi], signed zeros as numpy; "
                        "its derivative is taken as 0 at the origin.")
hypot = _binary_ufunc(T.hypot, np.hypot, "sqrt(x1**2 + x2**2) without overflow; its derivative "
                                         "is taken as 0 at the origin.")


def _scale(x: TensorLike, ufunc: np.ufunc, factor: float) -> Node:
    x = as_tensor(x)
    x = cast_to(x, ufunc_result_dtype(ufunc, x.dtype))
    return E.mul(x, scalar(factor, x))


def deg2rad(x: TensorLike) -> Node:
    """Degrees to radians, x * pi / 180 (ints become floats)."""
    return _scale(x, np.deg2rad, math.pi / 180)


def rad2deg(x: TensorLike) -> Node:
    """Radians to degrees, x * 180 / pi (ints become floats)."""
    return _scale(x, np.rad2deg, 180 / math.pi)


radians, degrees = deg2rad, rad2deg

_SINC_SERIES_BELOW = 1e-3  # |pi x| below this, sinc is its series (error under (pi x)^6 / 5040)


def sinc(x: TensorLike) -> Node:
    """sin(pi x) / (pi x), 1 at 0 (numpy.sinc). Near 0 it is the series 1 - y^2/6 + y^4/120
    (y = pi x), so every derivative up to the fourth is exact there too."""
    x = as_tensor(x)
    if x.dtype.kind != "f":
        x = cast_to(x, np.dtype(np.float64))
    y = E.mul(x, scalar(math.pi, x))
    y2 = E.square(y)
    series = E.add(scalar(1, y), E.mul(y2, E.add(scalar(-1 / 6, y), E.mul(y2, scalar(1 / 120, y)))))
    near_zero = E.less(E.abs_(y), scalar(_SINC_SERIES_BELOW, y))
    return E.guarded(near_zero, series, y, 1, lambda y: E.div(E.sin(y), y))


# --- logarithms and exponentials -----------------------------------------------------------

log2 = unary_ufunc(X.log2, np.log2, "Base-2 logarithm, elementwise (exact on powers of 2).")
log10 = unary_ufunc(X.log10, np.log10, "Base-10 logarithm, elementwise.")
exp2 = unary_ufunc(X.exp2, np.exp2, "2**x, elementwise.")
logaddexp = _binary_ufunc(X.logaddexp, np.logaddexp,
                          "log(exp(x1) + exp(x2)) without overflow, exact at +-inf.")
logaddexp2 = _binary_ufunc(X.logaddexp2, np.logaddexp2,
                           "log2(2**x1 + 2**x2) without overflow, exact at +-inf.")


# --- rounding and division ----------------------------------------------------------------

rint = rounding_ufunc(R.rint, np.rint, "Round to the nearest integer, halves to even "
                                    "(derivative 0).")
trunc = rounding_ufunc(R.trunc, np.trunc, "Round toward zero (derivative 0).")
fabs = unary_ufunc(E.abs_, np.fabs, "|x| as a float (ints become floats).")


def round(x: TensorLike, decimals: int = 0) -> Node:  # noqa: A001 - numpy's name
    """Round to ``decimals`` places, halves to even, as numpy does it: rint(x * 10**d) / 10**d
    (for d < 0: rint(x / 10**-d) * 10**-d). Integers are unchanged for d >= 0. The derivative
    is 0 (undefined at the jumps)."""
    x = as_tensor(x)
    decimals = int(decimals)
    if x.dtype.kind != "f":
        if decimals >= 0:
            return x
        return cast_to(round(cast_to(x, np.dtype(np.float64)), decimals), x.dtype)
    if decimals == 0:
        return R.rint(x)
    factor = scalar(10.0 ** abs(decimals), x)
    if decimals > 0:
        return E.div(R.rint(E.mul(x, factor)), factor)
    return E.mul(R.rint(E.div(x, factor)), factor)


around = round

floor_divide = _binary_ufunc(R.floor_divide, np.floor_divide,
                             "x1 // x2, the floor of the quotient (derivative 0); an integer "
                             "division by zero gives 0, as in numpy.")
remainder = _binary_ufunc(R.remainder, np.remainder,
                          "x1 % x2 with the sign of the divisor (Python's and numpy's mod).")
mod = remainder
fmod = _binary_ufunc(R.fmod, np.fmod, "The remainder with the sign of the dividend (C's fmod).")


def divmod(a: TensorLike, b: TensorLike) -> tuple[Node, Node]:  # noqa: A001 - numpy's name
    """(a // b, a % b), numpy.divmod."""
    return floor_divide(a, b), remainder(a, b)


# --- IEEE-754 -------------------------------------------------------------------------------

fmax = _binary_ufunc(F.fmax, np.fmax, "Elementwise maximum ignoring NaN (NaN only if both are).")
fmin = _binary_ufunc(F.fmin, np.fmin, "Elementwise minimum ignoring NaN (NaN only if both are).")
copysign = _binary_ufunc(F.copysign, np.copysign, "|x1| with the sign of x2 (-0.0 counts).")
isinf = unary_ufunc(F.isinf, np.sqrt, "True where x is +inf or -inf.")
signbit = unary_ufunc(F.signbit, np.sqrt, "True where the sign bit is set (-0.0, -inf too).")


def nan_to_num(x: TensorLike, copy: bool = True, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Node:
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (the largest and
    smallest finite values of the dtype by default). ``copy`` is accepted for numpy's signature:
    tensors are never modified in place."""
    x = as_tensor(x)
    if x.dtype.kind != "f":
        return x
    info = np.finfo(x.dtype)
    high = info.max if posinf is None else posinf
    low = info.min if neginf is None else neginf
    x = E.where(E.isnan(x), scalar(nan, x), x)
    x = E.where(E.equal(x, scalar(np.inf, x)), scalar(high, x), x)
    return E.where(E.equal(x, scalar(-np.inf, x)), scalar(low, x), x)


def heaviside(x1: TensorLike, x2: TensorLike) -> Node:
    """0 where x1 < 0, x2 where x1 == 0, 1 where x1 > 0, NaN where x1 is NaN. The derivative
    in x1 is 0; in x2 it is 1 where x1 == 0."""
    x1, x2 = promote(x1, x2, dtype=_loop_result("heaviside", np.heaviside, x1, x2))
    zero, one = scalar(0, x1), scalar(1, x1)
    at_zero = E.where(E.isnan(x1), x1, x2)
    return E.where(E.less(x1, zero), zero, E.where(E.greater(x1, zero), one, at_zero))


# --- logic and bits -----------------------------------------------------------------------

def logical_xor(a: TensorLike, b: TensorLike) -> Node:
    """Elementwise exclusive or of the truth values of a and b."""
    return E.logical_xor(truth(a), truth(b))


def _bitwise(op: OpDef, logical: OpDef, ufunc: np.ufunc, doc: str) -> Callable:
    integer = _binary_ufunc(op, ufunc, doc)

    def function(a: TensorLike, b: TensorLike) -> Node:
        if result_dtype(a, b) == np.bool_:
            return logical(*promote(a, b))  # numpy's bool loop is the logical op
        return integer(a, b)

    function.__name__ = function.__qualname__ = ufunc.__name__
    function.__doc__ = doc
    return function


bitwise_and = _bitwise(B.bitwise_and, E.logical_and, np.bitwise_and,
                       "Bitwise and of integers (logical and of bools).")
bitwise_or = _bitwise(B.bitwise_or, E.logical_or, np.bitwise_or,
                      "Bitwise or of integers (logical or of bools).")
bitwise_xor = _bitwise(B.bitwise_xor, E.logical_xor, np.bitwise_xor,
                       "Bitwise exclusive or of integers (logical xor of bools).")
left_shift = _binary_ufunc(B.left_shift, np.left_shift,
                           "x1 << x2 on integers; 0 for counts beyond the width, as numpy.")
right_shift = _binary_ufunc(B.right_shift, np.right_shift,
                            "x1 >> x2 on integers, arithmetic (the sign is kept); 0 or -1 for "
                            "counts beyond the width, as numpy.")
bitwise_left_shift, bitwise_right_shift = left_shift, right_shift


def invert(x: TensorLike) -> Node:
    """~x: bitwise not of integers, logical not of bools."""
    x = as_tensor(x)
    if x.dtype == np.bool_:
        return E.logical_not(x)
    if x.dtype.kind not in "iu":
        raise DTypeError(f"invert is not defined for {x.type} (integers and bools only; "
                         f"at {user_location()})")
    return B.bitwise_not(x)


bitwise_not = bitwise_invert = invert


# --- the complex API on real tensors ----------------------------------------------------------

def real(x: TensorLike) -> Node:
    """The real part: x itself (complex dtypes are not supported)."""
    return as_tensor(x)


def imag(x: TensorLike) -> Node:
    """The imaginary part of a real tensor: zeros of its shape and dtype."""
    return zeros_like(as_tensor(x))


def conj(x: TensorLike) -> Node:
    """The complex conjugate of a real tensor: x itself."""
    return as_tensor(x)


conjugate = conj
