"""Cases for numpy's other elementwise functions (graphdiff/api/ufuncs.py): trigonometric and
hyperbolic, other log bases, rounding, the division family, IEEE-754 helpers, bits, operators."""

import numpy as np

import graphdiff as gd

from . import Arg, Case

V = (3, 4)
B = Arg((4,))  # broadcasts against (3, 4)
UNIT = dict(low=-0.9, high=0.9)
POSITIVE = dict(low=0.2, high=3)
DIVISOR = Arg((4,), low=-3, high=3, avoid=(0,), avoid_width=0.5)  # both signs, never 0
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.5, 1e-30]
INTS = Arg(V, kind="int", low=-50, high=50)
INT_DIVISOR = Arg((4,), kind="fixed", value=np.array([-3, -2, 2, 7]))
COUNTS = Arg((8,), kind="fixed", value=np.array([0, 1, 5, 7, 8, 63, 64, -1]))
_STEPS = np.array([0.0, 1.0, -1.0, -0.0])
SHIFTED = Arg((3, 8), kind="int", low=-100, high=100)


def _as(dtype, fn):
    """``fn`` on operands cast to ``dtype`` (one function for graphdiff and numpy)."""
    return lambda *xs: fn(*(x.astype(dtype) for x in xs))


def _shift_case(name, gd_shift, np_shift, dtype):
    return Case(f"{name}_{dtype}", _as(dtype, gd_shift), _as(dtype, np_shift), [SHIFTED, COUNTS],
                grad=False)


CASES = [
    # --- trigonometric and hyperbolic
    Case("tan", gd.tan, np.tan, [Arg(V, low=-1.2, high=1.2)]),
    Case("arcsin", gd.arcsin, np.arcsin, [Arg(V, **UNIT)]),
    Case("arccos", gd.arccos, np.arccos, [Arg(V, **UNIT)]),
    Case("arctan", gd.arctan, np.arctan, [Arg(V, low=-3, high=3)]),
    Case("sinh", gd.sinh, np.sinh, [Arg(V)]),
    Case("cosh", gd.cosh, np.cosh, [Arg(V)]),
    Case("arcsinh", gd.arcsinh, np.arcsinh, [Arg(V, low=-3, high=3)]),
    Case("arccosh", gd.arccosh, np.arccosh, [Arg(V, low=1.2, high=3)]),
    Case("arctanh", gd.arctanh, np.arctanh, [Arg(V, **UNIT)]),
    Case("arctan2", gd.arctan2, np.arctan2, [Arg(V), Arg((4,), avoid=(0,))]),
    Case("hypot", gd.hypot, np.hypot, [Arg(V, avoid=(0,)), B]),
    Case("hypot_no_overflow", lambda x: gd.hypot(x, 3e30), lambda x: np.hypot(x, 3e30),
         [Arg(V, kind="fixed", value=np.array([4e30, -1.0, 0.0]))], grad=False),
    Case("deg2rad", gd.deg2rad, np.deg2rad, [Arg(V, low=-360, high=360)]),
    Case("rad2deg", gd.rad2deg, np.rad2deg, [Arg(V)]),
    Case("radians_int", gd.radians, np.radians, [INTS], grad=False),
    Case("sinc", gd.sinc, np.sinc, [Arg(V, low=-3, high=3)]),
    Case("sinc_at_zero", gd.sinc, np.sinc,
         [Arg((6,), kind="fixed", value=np.array([0.0, -0.0, 1e-5, -2e-4, 1.0, 2.5]))]),
    # --- other bases
    Case("log2", gd.log2, np.log2, [Arg(V, **POSITIVE)]),
    Case("log2_exact", gd.log2, np.log2, [Arg((4,), kind="fixed",
                                               value=np.array([1.0, 8.0, 0.5, 1024.0]))]),
    Case("log10", gd.log10, np.log10, [Arg(V, **POSITIVE)]),
    Case("exp2", gd.exp2, np.exp2, [Arg(V)]),
    Case("logaddexp", gd.logaddexp, np.logaddexp, [Arg(V, low=-4, high=4), B]),
    Case("logaddexp2", gd.logaddexp2, np.logaddexp2, [Arg(V, low=-4, high=4), B]),
    Case("logaddexp_infinities", gd.logaddexp, np.logaddexp,
         [Arg((4,), kind="fixed", value=np.array([np.inf, -np.inf, np.inf, 2.0])),
          Arg((4,), kind="fixed", value=np.array([np.inf, -np.inf, -np.inf, 2.0]))],
         grad=False),
    Case("logaddexp_ties", gd.logaddexp, np.logaddexp, [B, B]),
    # --- magnitude, NaN-ignoring extrema, signs
    Case("fabs", gd.fabs, np.fabs, [Arg(V, avoid=(0,))]),
    Case("fabs_int", gd.fabs, np.fabs, [INTS], grad=False),
    Case("fmax", gd.fmax, np.fmax, [Arg(V), B]),
    Case("fmin", gd.fmin, np.fmin, [Arg(V), B]),
    Case("fmax_nan", gd.fmax, np.fmax, [Arg((8,), kind="fixed", value=np.array(SPECIAL)),
                                        Arg((8,), kind="fixed", value=np.array(SPECIAL[::-1]))],
         grad=False),
    Case("fmin_nan", gd.fmin, np.fmin, [Arg((8,), kind="fixed", value=np.array(SPECIAL)),
                                        Arg((8,), kind="fixed", value=np.array(SPECIAL[::-1]))],
         grad=False),
    Case("fmax_int", gd.fmax, np.fmax, [INTS, INTS], grad=False),
    Case("copysign", gd.copysign, np.copysign, [Arg(V, avoid=(0,)), Arg((4,), avoid=(0,))]),
    Case("copysign_zeros", gd.copysign, np.copysign,
         [Arg((8,), kind="fixed", value=np.array(SPECIAL)),
          Arg((8,), kind="fixed", value=np.array([-0.0, 0.0, -1.0, -np.inf, 2.0, -0.0, 3.0,
                                                  -1e-30]))], grad=False),
    Case("signbit", gd.signbit, np.signbit, [Arg((7,), kind="fixed", value=np.array(SPECIAL[1:]))],
         grad=False),
    Case("isinf", gd.isinf, np.isinf, [Arg((8,), kind="fixed", value=np.array(SPECIAL))],
         grad=False),
    Case("isinf_int", gd.isinf, np.isinf, [INTS], grad=False),
    Case("nan_to_num", gd.nan_to_num, np.nan_to_num,
         [Arg((8,), kind="fixed", value=np.array(SPECIAL))], grad=False),  # the max swamps FD
    Case("nan_to_num_values", lambda x: gd.nan_to_num(x, nan=-1.0, posinf=9.0, neginf=-9.0),
         lambda x: np.nan_to_num(x, nan=-1.0, posinf=9.0, neginf=-9.0),
         [Arg((8,), kind="fixed", value=np.array(SPECIAL))]),
    Case("heaviside", gd.heaviside, np.heaviside, [Arg(V, avoid=(0,)), B]),
    Case("heaviside_zero", gd.heaviside, np.heaviside,
         [Arg((4,), kind="fixed", value=np.array([0.0, -0.0, np.nan, -1.0])), Arg((4,))],
         grad=False),  # a jump at x1 = 0
    Case("heaviside_value_at_zero", lambda x2: gd.heaviside(_STEPS, x2),
         lambda x2: np.heaviside(_STEPS, x2), [Arg((4,))]),
    Case("real_imag_conj", lambda x: gd.real(x) * 2.0 + gd.imag(x) + gd.conj(x) * gd.conjugate(x),
         lambda x: np.real(x) * 2.0 + np.imag(x) + np.conj(x) * np.conjugate(x), [Arg(V)]),
    # --- rounding (derivative 0 away from the jumps)
    Case("rint", gd.rint, np.rint, [Arg(V, low=-5, high=5, avoid=(-2.5, -1.5, -0.5, 0.5, 1.5))]),
    Case("rint_halves", gd.rint, np.rint,
         [Arg((6,), kind="fixed", value=np.array([0.5, 1.5, 2.5, -0.5, -2.5, -0.0]))],
         grad=False),
    Case("trunc", gd.trunc, np.trunc, [Arg(V, low=-5, high=5, avoid=(-2, -1, 0, 1, 2))]),
    Case("trunc_special", gd.trunc, np.trunc, [Arg((8,), kind="fixed", value=np.array(SPECIAL))],
         grad=False),
    Case("round_decimals", lambda x: gd.round(x, 2), lambda x: np.round(x, 2), [Arg(V)]),
    Case("around_negative_decimals", lambda x: gd.around(x * 100.0, -1),
         lambda x: np.around(x * 100.0, -1), [Arg(V)]),
    Case("round_int", lambda k: gd.round(k, -1), lambda k: np.round(k, -1), [INTS], grad=False),
    # --- division family: floats (both divisor signs), ints, operators in both orders
    Case("remainder", gd.remainder, np.remainder, [Arg(V, low=-5, high=5), DIVISOR]),
    Case("mod", gd.mod, np.mod, [Arg(V, low=-5, high=5), DIVISOR]),
    Case("fmod", gd.fmod, np.fmod, [Arg(V, low=-5, high=5), DIVISOR]),
    Case("floor_divide", gd.floor_divide, np.floor_divide, [Arg(V, low=-5, high=5), DIVISOR]),
    Case("floor_divide_exact", gd.floor_divide, np.floor_divide,
         [Arg((6,), kind="fixed", value=np.array([1.0, -1.0, 0.0, -0.0, 7.0, 3.0])),
          Arg((6,), kind="fixed", value=np.array([0.1, 0.1, -2.0, 2.0, -2.0, 0.0]))],
         grad=False),
    Case("remainder_special", gd.remainder, np.remainder,
         [Arg((6,), kind="fixed", value=np.array([np.inf, 1.0, np.nan, -4.0, 4.0, -1.0])),
          Arg((6,), kind="fixed", value=np.array([2.0, np.inf, 2.0, 2.0, -2.0, 3.0]))],
         grad=False),
    Case("remainder_int", gd.remainder, np.remainder, [INTS, INT_DIVISOR], grad=False),
    Case("fmod_int", gd.fmod, np.fmod, [INTS, INT_DIVISOR], grad=False),
    Case("floor_divide_int", gd.floor_divide, np.floor_divide, [INTS, INT_DIVISOR], grad=False),
    Case("divmod", lambda a, b: gd.stack(list(divmod(a, b))),
         lambda a, b: np.stack(np.divmod(a, b)), [Arg(V, low=-5, high=5), DIVISOR]),
    Case("divmod_int", lambda a, b: gd.stack(list(gd.divmod(a, b))),
         lambda a, b: np.stack(np.divmod(a, b)), [INTS, INT_DIVISOR], grad=False),
    Case("mod_operators", lambda x: x % 1.5 + 5.0 % x + x % -0.7,
         lambda x: x % 1.5 + 5.0 % x + x % -0.7, [Arg(V, low=0.5, high=4)]),
    Case("floordiv_operators", lambda x: x // 0.3 + 5.0 // x, lambda x: x // 0.3 + 5.0 // x,
         [Arg(V, low=0.5, high=4)]),
    Case("int_operators", lambda k, d: (k % d) + (7 // d) + (k // -3) + (100 % d),
         lambda k, d: (k % d) + (7 // d) + (k // -3) + (100 % d), [INTS, INT_DIVISOR],
         grad=False),
    # --- logic and bits
    Case("logical_xor", gd.logical_xor, np.logical_xor,
         [Arg(V, kind="bool"), Arg(V, kind="bool")], grad=False),
    Case("logical_of_numbers", lambda x, k: gd.logical_xor(x, k) | gd.logical_and(k, x)
         | gd.logical_or(x, 0) | gd.logical_not(k),
         lambda x, k: np.logical_xor(x, k) | np.logical_and(k, x) | np.logical_or(x, 0)
         | np.logical_not(k),
         [Arg((3, 6), kind="fixed", value=np.array([0.0, -0.0, np.nan, 1.0, -2.0, 0.0])),
          Arg((3, 6), kind="int", low=-1, high=2)], grad=False),
    Case("bitwise_and", gd.bitwise_and, np.bitwise_and, [INTS, INTS], grad=False),
    Case("bitwise_or", gd.bitwise_or, np.bitwise_or, [INTS, INTS], grad=False),
    Case("bitwise_xor", gd.bitwise_xor, np.bitwise_xor, [INTS, INTS], grad=False),
    Case("invert", gd.invert, np.invert, [INTS], grad=False),
    Case("bitwise_uint8", _as("uint8", lambda a, b: (a & b) | ~a ^ (b << 1)),
         _as("uint8", lambda a, b: (a & b) | ~a ^ (b << 1)),
         [Arg(V, kind="int", low=0, high=256), Arg(V, kind="int", low=0, high=256)],
         grad=False),
    Case("bit_operators", lambda a, b: (a & b) + (a | 6) + (a ^ b) + ~b + (3 & a) + (5 ^ a),
         lambda a, b: (a & b) + (a | 6) + (a ^ b) + ~b + (3 & a) + (5 ^ a), [INTS, INTS],
         grad=False),
    Case("bool_operators", lambda p, q: (p & q) | (~p ^ q),
         lambda p, q: (p & q) | (~p ^ q), [Arg(V, kind="bool"), Arg(V, kind="bool")],
         grad=False),
    Case("shift_operators", lambda a: (a << 3) + (a >> 2) + (1 << (a & 7)) + (1024 >> (a & 7)),
         lambda a: (a << 3) + (a >> 2) + (1 << (a & 7)) + (1024 >> (a & 7)), [INTS],
         grad=False),
    _shift_case("left_shift", gd.left_shift, np.left_shift, "int64"),
    _shift_case("right_shift", gd.right_shift, np.right_shift, "int64"),
    _shift_case("left_shift", gd.left_shift, np.left_shift, "int8"),
    _shift_case("right_shift", gd.right_shift, np.right_shift, "int8"),
    _shift_case("right_shift", gd.bitwise_right_shift, np.bitwise_right_shift, "int32"),
    Case("shift_uint16", _as("uint16", lambda a, b: (a << b) + (a >> b)),
         _as("uint16", lambda a, b: (a << b) + (a >> b)),
         [Arg((3, 8), kind="int", low=0, high=60000),
          Arg((8,), kind="fixed", value=np.array([0, 1, 5, 15, 16, 17, 3, 40]))], grad=False),
]
