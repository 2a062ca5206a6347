"""Tensor types: numpy broadcasting with symbolic dims, NEP 50 promotion, reshape with -1."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir import TensorType, as_dtype, as_shape, broadcast_shapes
from graphdiff.ir.types import broadcast_axes

# --- broadcasting ------------------------------------------------------------------------------

STATIC_BROADCASTS = [
    ((3, 1), (4,), (3, 4)),
    ((), (2, 3), (2, 3)),
    ((5, 1, 4), (3, 1), (5, 3, 4)),
    ((1,), (1, 1, 1), (1, 1, 1)),
    ((0,), (1,), (0,)),
    ((2, 0), (2, 1), (2, 0)),
]


@pytest.mark.parametrize(("a", "b", "expected"), STATIC_BROADCASTS)
def test_static_broadcasting_matches_numpy(a: tuple, b: tuple, expected: tuple) -> None:
    assert np.broadcast_shapes(a, b) == expected
    assert broadcast_shapes(a, b) == expected
    assert broadcast_shapes(b, a) == expected


SYMBOLIC_BROADCASTS = [
    (("n", 4), (4,), ("n", 4)),
    (("n", 1), (1, "m"), ("n", "m")),
    (("n",), ("n",), ("n",)),
    (("n",), (1,), ("n",)),  # a symbol is never 1, so 1 stretches to it
    ((1, "n"), ("b", 1, 1), ("b", 1, "n")),
    (("n",), (3,), (3,)),  # they must be equal at run time; the int is more precise
    (("n",), ("m",), ("n",)),  # they must be equal at run time; the first name is kept
]


@pytest.mark.parametrize(("a", "b", "expected"), SYMBOLIC_BROADCASTS)
def test_symbolic_broadcasting(a: tuple, b: tuple, expected: tuple) -> None:
    assert broadcast_shapes(a, b) == expected
    x = gd.placeholder(a, "float32")
    y = gd.placeholder(b, "float32")
    assert (x + y).shape == expected


@pytest.mark.parametrize(("a", "b"), [((2,), (3,)), ((0,), (3,)), ((2, 3), (3, 2)),
                                      (("n", 2), (3,))])
def test_broadcast_clash_raises(a: tuple, b: tuple) -> None:
    with pytest.raises(gd.ShapeError, match="do not broadcast"):
        broadcast_shapes(a, b)


def test_broadcast_axes_undo_a_broadcast() -> None:
    assert broadcast_axes((3, 1), (2, 3, 4)) == (0, 2)
    assert broadcast_axes(("n", 4), ("n", 4)) == ()
    assert broadcast_axes((1,), ("n",)) == (0,)


def test_none_is_a_fresh_symbol_and_names_are_shared() -> None:
    a, b = as_shape((None, None))
    assert a != b and a.startswith("?") and b.startswith("?")
    x1 = gd.placeholder((None, 3), "float32", name="x1")
    x2 = gd.placeholder((None, 3), "float32", name="x2")
    assert x1.shape[0] != x2.shape[0]
    n1 = gd.placeholder(("n", 3), "float32", name="n1")
    n2 = gd.placeholder(("n", 3), "float32", name="n2")
    assert n1.shape == n2.shape == ("n", 3)


def test_equal_names_mean_equal_sizes_at_run_time() -> None:
    a = gd.placeholder(("n",), "float64", name="a")
    b = gd.placeholder(("n",), "float64", name="b")
    f = gd.function([a, b], a * b)
    np.testing.assert_array_equal(f(np.arange(3.0), np.ones(3)), np.arange(3.0))
    with pytest.raises(gd.InputError, match="'n'"):
        f(np.ones(3), np.ones(4))


def test_a_symbolic_dim_of_size_one_does_not_broadcast_at_run_time() -> None:
    # numpy would broadcast (1,) against (3,); the graph assumed "n is never 1" when it was built
    x = gd.placeholder(("n",), "float64", name="x")
    y = gd.placeholder((3,), "float64", name="y")
    f = gd.function([x, y], x + y)
    np.testing.assert_array_equal(f(np.ones(3), np.arange(3.0)), np.arange(3.0) + 1)
    with pytest.raises(gd.InputError):
        f(np.ones(1), np.arange(3.0))


def test_tensor_type_basics() -> None:
    t = TensorType.of("float32", ("n", 4))
    assert str(t) == "f32[n,4]"
    assert t.ndim == 2 and not t.is_static and t.static_size() is None
    s = TensorType.of(np.int64, (2, 3))
    assert str(s) == "i64[2,3]" and s.is_static and s.static_size() == 6
    assert str(TensorType.of("bool", ())) == "bool[]"
    assert as_shape(5) == (5,)
    with pytest.raises(gd.ShapeError, match="invalid dimension -2"):
        as_shape((3, -2))
    with pytest.raises(gd.ShapeError, match="invalid dimension 2.5"):
        as_shape((2.5,))
    with pytest.raises(gd.DTypeError, match="complex64 is not supported"):
        as_dtype("complex64")
    with pytest.raises(gd.DTypeError, match="unknown dtype"):
        as_dtype("floaty")


# --- NEP 50 promotion --------------------------------------------------------------------------

DTYPES = ["bool", "int8", "int32", "int64", "uint8", "uint64", "float16", "float32", "float64"]
BINARY = [(gd.add, np.add), (gd.subtract, np.subtract), (gd.multiply, np.multiply),
          (gd.divide, np.divide), (gd.maximum, np.maximum), (gd.less, np.less)]


def _sample(dtype: str) -> np.ndarray:
    return np.array([1, 2], dtype=dtype) if dtype != "bool" else np.array([True, False])


@pytest.mark.parametrize(("left", "right"), list(itertools.product(DTYPES, DTYPES)))
def test_promotion_of_two_tensors_matches_numpy(left: str, right: str) -> None:
    a, b = _sample(left), _sample(right)
    x = gd.placeholder((2,), left, name="x")
    y = gd.placeholder((2,), right, name="y")
    for api, ufunc in BINARY:
        if api is gd.subtract and left == right == "bool":
            continue  # numpy refuses boolean subtraction
        with np.errstate(divide="ignore", invalid="ignore"):
            want = ufunc(a, b)
        out = api(x, y)
        assert out.dtype == want.dtype, (api.__name__, left, right)
        if ufunc is np.add:
            assert out.dtype == np.result_type(a, b)
            got = gd.function([x, y], out)(a, b)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


SCALARS = [2, -1, 2.5, True, 1000]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar", SCALARS, ids=repr)
def test_python_scalars_are_weak_as_in_numpy(dtype: str, scalar: object) -> None:
    a = _sample(dtype)
    x = gd.placeholder((2,), dtype, name="x")
    for api, reflected in [(lambda t, s: t + s, lambda t, s: s + t),
                           (lambda t, s: t * s, lambda t, s: s * t)]:
        for build in (api, reflected):
            try:
                want = build(a, scalar)
            except OverflowError:  # e.g. uint8 + (-1) or int8 + 1000 in numpy 2
                with pytest.raises(gd.DTypeError, match="does not fit"):
                    build(x, scalar)
                continue
            out = build(x, scalar)
            assert out.dtype == want.dtype, (dtype, scalar)
            got = gd.function([x], out)(a)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_add_float_scalar_keeps_float32_and_promotes_ints() -> None:
    x32 = gd.placeholder((3,), "float32")
    assert gd.add(x32, 2.5).dtype == (np.ones(3, np.float32) + 2.5).dtype == np.float32
    xi = gd.placeholder((3,), "int32")
    assert gd.add(xi, 2.5).dtype == (np.ones(3, np.int32) + 2.5).dtype == np.float64
    # numpy scalars and arrays are strong
    assert gd.add(x32, np.float64(2.5)).dtype == np.float64
    assert gd.add(x32, np.ones(3)).dtype == np.float64


def test_promotion_inserts_visible_casts() -> None:
    xi = gd.placeholder((3,), "int32", name="xi")
    out = gd.add(xi, 2.5)
    assert out.op.name == "add"
    cast, constant = out.inputs
    assert cast.op.name == "cast" and cast.inputs == (xi,) and cast.dtype == np.float64
    assert constant.op.name == "constant" and constant.dtype == np.float64


@pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "uint8", "float16", "float32"])
def test_unary_math_dtype_matches_numpy(dtype: str) -> None:
    a = _sample(dtype)
    x = gd.placeholder((2,), dtype)
    for api, ufunc in [(gd.exp, np.exp), (gd.sqrt, np.sqrt), (gd.sin, np.sin)]:
        assert api(x).dtype == ufunc(a).dtype
    if dtype != "bool":
        assert gd.negative(x).dtype == np.negative(a).dtype
        assert gd.square(x).dtype == np.square(a).dtype
    assert gd.sum(x).dtype == np.sum(a).dtype
    assert gd.mean(x).dtype == np.mean(a).dtype


# --- reshape with -1 -------------------------------------------------------------------------


def test_reshape_minus_one_resolves_to_a_named_formula() -> None:
    x = gd.placeholder(("n", 4), "float32", name="x")
    flat = gd.reshape(x, (-1,))
    assert flat.shape == ("n*4",)
    assert gd.reshape(x, (2, -1)).shape == (2, "n*2")
    assert gd.reshape(x, ("n", -1)) is x  # nothing to do
    y = gd.placeholder(("n", "m"), "float32", name="y")
    assert gd.reshape(y, (-1,)).shape == ("m*n",)
    assert gd.reshape(y, ("m", -1)).shape == ("m", "n")
    z = gd.placeholder(("n", 2, 3), "float32", name="z")
    assert gd.reshape(z, (-1, 3)).shape == ("n*2", 3)
    assert gd.reshape(gd.placeholder((6,), "float32"), (-1, 2)).shape == (3, 2)


def test_reshape_derived_dims_bind_when_the_function_runs() -> None:
    x = gd.placeholder(("n", 4), "float64", name="x")
    flat = gd.reshape(x, (-1,))
    out = flat * gd.reshape(x * 2.0, (-1,))  # both sides are f64[n*4]: one symbol, equal sizes
    f = gd.function([x], [flat, out])
    for n in (3, 5, 1):
        a = np.arange(4.0 * n).reshape(n, 4)
        got_flat, got_out = f(a)
        assert got_flat.shape == (4 * n,)
        np.testing.assert_array_equal(got_flat, a.reshape(-1))
        np.testing.assert_array_equal(got_out, a.reshape(-1) * a.reshape(-1) * 2.0)


@pytest.mark.parametrize(("shape", "new"), [((3, 4), (5, -1)), (("n", 4), (8, -1)),
                                            (("n", 4), ("m", -1)), ((3, 4), (-1, -1))])
def test_reshape_that_cannot_work_raises(shape: tuple, new: tuple) -> None:
    x = gd.placeholder(shape, "float32")
    with pytest.raises(gd.ShapeError, match="reshape"):
        gd.reshape(x, new)


def test_tensor_methods_follow_numpy() -> None:
    x = gd.placeholder(("n", 3, 4), "float32", name="x")
    a = np.ones((2, 3, 4), np.float32)
    for method, args in [("transpose", ()), ("transpose", ((2, 0, 1),)), ("transpose", (2, 0, 1)),
                         ("reshape", (-1,)), ("reshape", ((-1, 4),)), ("reshape", (-1, 2, 2))]:
        out = getattr(x, method)(*args)
        want = getattr(a, method)(*args)
        assert gd.function([x], out)(a).shape == want.shape, (method, args)
    assert x.T.shape == (4, 3, "n")
    assert x.sum(axis=1).shape == ("n", 4) and x.mean().shape == ()
    assert x.astype("float64").dtype == np.float64
