"""numpy's other elementwise functions (graphdiff/api/ufuncs.py) at the edges: NaN, +-inf, -0.0,
negative divisors and zero divisors against numpy bit for bit; numpy's result dtypes for int,
bool and mixed operands; second derivatives against finite differences; the operators in both
operand orders. The op cases in tests/opcases/ufuncs.py check values, gradients, ONNX and the
backends on ordinary values."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd

EDGES = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-30, 7.5])
DIVISORS = np.array([2.0, -2.0, np.inf, -np.inf, 0.0, -0.0, 0.1, -0.7, np.nan, 1.0, -3.0, 2.5])

UNARY = ["tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh",
         "log2", "log10", "exp2", "fabs", "deg2rad", "rad2deg", "degrees", "radians", "sinc",
         "rint", "trunc", "isinf", "isfinite", "isnan", "signbit", "nan_to_num", "real", "imag",
         "conj"]
BINARY = ["arctan2", "hypot", "logaddexp", "logaddexp2", "fmax", "fmin", "copysign",
          "heaviside", "remainder", "mod", "fmod", "floor_divide", "logical_and", "logical_or",
          "logical_xor"]


def _run(fn, *arrays):
    inputs = [gd.placeholder(a.shape, a.dtype, name=f"a{i}") for i, a in enumerate(arrays)]
    return gd.function(inputs, fn(*inputs))(*arrays)


def _same(got, want, what: str) -> None:
    """Equal values, dtype, NaN where NaN and the sign of every zero."""
    want = np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != numpy's {want.dtype}"
    if want.dtype.kind == "f":
        tolerance = 4 * np.finfo(want.dtype).eps
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=0, err_msg=what)
        zero = want == 0
        np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]),
                                      err_msg=f"{what}: sign of zero")
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", UNARY)
def test_unary_edges_match_numpy(name: str, dtype: str) -> None:
    x = EDGES.astype(dtype)
    with np.errstate(all="ignore"):
        _same(_run(getattr(gd, name), x), getattr(np, name)(x), name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", BINARY)
def test_binary_edges_match_numpy_in_both_orders(name: str, dtype: str) -> None:
    a, b = EDGES.astype(dtype), DIVISORS.astype(dtype)
    with np.errstate(all="ignore"):
        _same(_run(getattr(gd, name), a, b), getattr(np, name)(a, b), name)
        _same(_run(getattr(gd, name), b, a), getattr(np, name)(b, a), name + " swapped")


def test_divmod_and_operators_match_python_and_numpy_with_negative_divisors() -> None:
    a = np.array([7.0, -7.0, 7.0, -7.0, 0.5, -0.0, 1.0])
    b = np.array([2.0, 2.0, -2.0, -2.0, -0.3, 3.0, 0.1])
    with np.errstate(all="ignore"):
        for got, want in zip(_run(lambda x, y: list(divmod(x, y)), a, b), np.divmod(a, b)):
            _same(got, want, "divmod")
        _same(_run(lambda x: 5.0 % x, b), 5.0 % b, "rmod")
        _same(_run(lambda x: -5.0 // x, b), -5.0 // b, "rfloordiv")
    k = np.array([7, -7, 7, -7, 0, 9], np.int64)
    d = np.array([2, 2, -2, -2, 3, -4], np.int64)
    _same(_run(lambda x, y: x % y, k, d), k % d, "int %")
    _same(_run(lambda x, y: x // y, k, d), k // d, "int //")
    _same(_run(lambda x: 13 % x, d), 13 % d, "int rmod")
    assert [int(v) for v in _run(lambda x, y: x % y, k, d)] == \
        [int(p) % int(q) for p, q in zip(k, d)]  # Python's own %, sign of the divisor


def test_integer_division_by_zero_gives_numpys_zero() -> None:
    k = np.array([5, -5, 0], np.int64)
    zero = np.zeros(3, np.int64)
    with np.errstate(all="ignore"):
        for name in ("floor_divide", "remainder", "fmod"):
            _same(_run(getattr(gd, name), k, zero), getattr(np, name)(k, zero), name)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint32"])
def test_bitwise_ops_and_shifts_match_numpy_beyond_the_width(dtype: str) -> None:
    info = np.iinfo(dtype)
    a = np.array([1, 5, info.max, info.min, 0, 3, info.max // 3, 2], dtype)
    bits = info.bits
    counts = np.array([0, 1, bits - 1, bits, bits + 1, 2, 3, bits * 2], dtype)
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift"):
        _same(_run(getattr(gd, name), a, counts), getattr(np, name)(a, counts), name)
    _same(_run(gd.invert, a), np.invert(a), "invert")
    if info.min < 0:
        negative = np.array([-1, -2, -128 % bits, -3], dtype)
        _same(_run(gd.left_shift, a[:4], negative), np.left_shift(a[:4], negative), "<< -n")
        _same(_run(gd.right_shift, -a[:4] - 1, negative),
              np.right_shift(-a[:4] - 1, negative), ">> -n")


def test_operators_on_integers_and_bools_in_both_orders() -> None:
    k = np.array([3, -6, 12, 0, 255], np.int32)
    p = np.array([True, False, True, False, True])
    q = np.array([True, True, False, False, True])
    cases = {
        "&": (lambda x: (x & 6, 6 & x), lambda x: (x & 6, 6 & x)),
        "|": (lambda x: (x | 9, 9 | x), lambda x: (x | 9, 9 | x)),
        "^": (lambda x: (x ^ 5, 5 ^ x), lambda x: (x ^ 5, 5 ^ x)),
        "<<": (lambda x: (x << 2, 2 << (x & 7)), lambda x: (x << 2, 2 << (x & 7))),
        ">>": (lambda x: (x >> 1, 1024 >> (x & 7)), lambda x: (x >> 1, 1024 >> (x & 7))),
        "~": (lambda x: (~x, -x), lambda x: (~x, -x)),
    }
    for symbol, (build, ref) in cases.items():
        for got, want in zip(_run(lambda x, build=build: list(build(x)), k), ref(k)):
            _same(got, want, symbol)
    got = _run(lambda x, y: [x & y, x | y, x ^ y, ~x, x & True], p, q)
    for g, w in zip(got, [p & q, p | q, p ^ q, ~p, p & True]):
        _same(g, w, "bool operators")


def test_result_dtypes_follow_numpy_for_int_bool_and_mixed_operands() -> None:
    shape = (2,)
    operands = {name: gd.placeholder(shape, name, name=name)
                for name in ("int8", "int32", "int64", "uint8", "bool", "float16", "float32")}
    for name in ("tan", "log2", "exp2", "rint", "trunc", "floor", "ceil", "fabs", "deg2rad",
                 "isinf", "signbit"):
        for dtype, x in operands.items():
            with np.errstate(all="ignore"):
                want = getattr(np, name)(np.ones(shape, dtype)).dtype
            assert getattr(gd, name)(x).dtype == want, (name, dtype)
    for name in ("arctan2", "hypot", "logaddexp", "fmax", "copysign", "remainder", "fmod",
                 "floor_divide", "heaviside"):
        for first, second in [("int8", "int8"), ("int32", "float32"), ("uint8", "int8"),
                              ("bool", "bool"), ("int64", "float16")]:
            a, b = operands[first], operands[second]
            want = getattr(np, name)(np.ones(shape, first), np.ones(shape, second)).dtype
            assert getattr(gd, name)(a, b).dtype == want, (name, first, second)
        x = operands["float32"]
        assert getattr(gd, name)(x, 2).dtype == np.float32  # python scalars are weak
    assert gd.left_shift(operands["int8"], 3).dtype == np.int8
    assert gd.bitwise_and(operands["uint8"], operands["int8"]).dtype == np.int16
    assert gd.sinc(operands["int32"]).dtype == np.float64


SMOOTH = [
    ("tan", np.linspace(-1.2, 1.2, 7)), ("arcsin", np.linspace(-0.9, 0.9, 7)),
    ("arccos", np.linspace(-0.9, 0.9, 7)), ("arctan", np.linspace(-3, 3, 7)),
    ("sinh", np.linspace(-2, 2, 7)), ("cosh", np.linspace(-2, 2, 7)),
    ("arcsinh", np.linspace(-3, 3, 7)), ("arccosh", np.linspace(1.2, 3, 7)),
    ("arctanh", np.linspace(-0.9, 0.9, 7)), ("log2", np.linspace(0.2, 3, 7)),
    ("log10", np.linspace(0.2, 3, 7)), ("exp2", np.linspace(-2, 2, 7)),
    ("sinc", np.array([0.0, 1e-4, -3e-4, 0.3, -1.7, 2.2, 0.9])),
]


def _second_derivative(fn, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(graphdiff's d2/dx2 elementwise, central differences of its first derivative)."""
    p = gd.placeholder(x.shape, "float64", name="x")
    first = gd.grad(gd.sum(fn(p)), p)
    second = gd.grad(gd.sum(first), p)
    d1, d2 = gd.function([p], first), gd.function([p], second)
    eps = 1e-6
    return d2(x), (d1(x + eps) - d1(x - eps)) / (2 * eps)


@pytest.mark.parametrize("name, x", SMOOTH, ids=[n for n, _ in SMOOTH])
def test_second_derivatives_match_finite_differences(name: str, x: np.ndarray) -> None:
    got, want = _second_derivative(getattr(gd, name), x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_sinc_derivatives_at_zero_are_its_series() -> None:
    x = np.zeros(1)
    p = gd.placeholder((1,), "float64", name="x")
    first = gd.grad(gd.sum(gd.sinc(p)), p)
    second = gd.grad(gd.sum(first), p)
    got = gd.function([p], [gd.sinc(p), first, second])(x)
    np.testing.assert_allclose([g[0] for g in got], [1.0, 0.0, -np.pi ** 2 / 3], atol=1e-12)


@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2", "hypot", "arctan2", "fmax",
                                  "remainder", "fmod", "copysign"])
def test_binary_second_derivatives_match_finite_differences(name: str) -> None:
    a = np.array([0.3, -1.2, 2.5, 0.7, -3.1])
    b = np.array([1.1, 0.45, -1.3, 2.9, -0.65])  # a / b away from integers
    p, q = gd.placeholder((5,), "float64", name="a"), gd.placeholder((5,), "float64", name="b")
    out = gd.sum(getattr(gd, name)(p, q) * gd.sin(p * q))
    first = gd.grad(out, [p, q])
    second = gd.grad(gd.sum(first[0]) + gd.sum(first[1]) * 0.5, [p, q])
    d1, d2 = gd.function([p, q], first), gd.function([p, q], second)
    eps = 1e-6
    for i, analytic in enumerate(d2(a, b)):
        shift = [np.zeros(5), np.zeros(5)]
        shift[i] = np.full(5, eps)
        up, down = d1(a + shift[0], b + shift[1]), d1(a - shift[0], b - shift[1])
        numeric = (up[0] - down[0] + 0.5 * (up[1] - down[1])) / (2 * eps)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6, err_msg=name)


def test_logaddexp_gradient_is_finite_and_halved_at_equal_infinities() -> None:
    a = np.array([np.inf, -np.inf, 3.0, -np.inf])
    b = np.array([np.inf, -np.inf, 3.0, 1.0])
    p, q = gd.placeholder((4,), "float64", name="a"), gd.placeholder((4,), "float64", name="b")
    ga, gb = gd.function([p, q], gd.grad(gd.sum(gd.logaddexp(p, q)), [p, q]))(a, b)
    np.testing.assert_array_equal(ga, [0.5, 0.5, 0.5, 0.0])
    np.testing.assert_array_equal(gb, [0.5, 0.5, 0.5, 1.0])


def test_hypot_and_arctan2_gradients_are_zero_at_the_origin_and_finite_around() -> None:
    zero = np.zeros(2)
    p, q = gd.placeholder((2,), "float64", name="a"), gd.placeholder((2,), "float64", name="b")
    for name in ("hypot", "arctan2"):
        grads = gd.function([p, q], gd.grad(gd.sum(getattr(gd, name)(p, q)), [p, q]))(zero, zero)
        for g in grads:
            np.testing.assert_array_equal(g, zero)


def test_float_operands_of_bitwise_ops_are_refused_clearly() -> None:
    x = gd.placeholder((2,), "float32", name="x")
    with pytest.raises(gd.DTypeError, match="bitwise_xor is not defined for float32"):
        _ = x ^ 1
    with pytest.raises(gd.DTypeError, match="right_shift is not defined for float32"):
        _ = 1 >> x


def test_bitwise_export_below_opset_18_is_a_clear_error() -> None:
    k = gd.placeholder((3,), "int64", name="k")
    with pytest.raises(gd.OnnxError, match="bitwise_and needs ONNX opset 18"):
        gd.export_onnx(None, [k], [k & 3], opset=17)
