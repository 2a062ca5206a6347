"""numpy functions and ufuncs called on tensors build graph nodes (``__array_function__``,
``__array_ufunc__``): values through gd.function against numpy on the same arrays, gradients
through the dispatched functions, and the clear error for what has no graphdiff counterpart."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.api.interop import numpy_table

RNG = np.random.default_rng(0)
T_VALUE = RNG.standard_normal(3)
U_VALUE = RNG.standard_normal(2)
M_VALUE = RNG.standard_normal((2, 3))

# each expression runs once on tensors (through numpy's dispatch) and once on arrays
EXPRESSIONS = {
    "sum": lambda t, u, m: np.sum(t),
    "sum_axis_keepdims": lambda t, u, m: np.sum(m, axis=1, keepdims=True),
    "exp": lambda t, u, m: np.exp(t),
    "concatenate": lambda t, u, m: np.concatenate([t, u]),
    "where": lambda t, u, m: np.where(t > 0, t, 0),
    "matmul": lambda t, u, m: np.matmul(m, t),
    "tensor_plus_array": lambda t, u, m: t + np.ones(3),
    "array_plus_tensor": lambda t, u, m: np.ones(3) + t,
    "array_times_tensor_f32": lambda t, u, m: np.ones(3, np.float32) * t,
    "array_matmul_tensor": lambda t, u, m: np.ones((4, 2)) @ m,
    "array_less_tensor": lambda t, u, m: np.zeros(3) < t,
    "numpy_scalar_power": lambda t, u, m: np.float64(2.0) ** t,
    "maximum": lambda t, u, m: np.maximum(t, 0.25),
    "mean_std": lambda t, u, m: np.mean(m, axis=0) + np.std(m),
    "stack_transpose": lambda t, u, m: np.transpose(np.stack([t, t * 2.0])),
    "reshape_tile": lambda t, u, m: np.tile(np.reshape(m, (3, 2)), (1, 2)),
    "outer_tanh": lambda t, u, m: np.tanh(np.outer(u, t)),
    "dot": lambda t, u, m: np.dot(u, m),
    "einsum": lambda t, u, m: np.einsum("ij,j->i", m, t),
}


@pytest.mark.parametrize("name", list(EXPRESSIONS))
def test_numpy_call_on_tensors_matches_numpy(name: str) -> None:
    expression = EXPRESSIONS[name]
    t = gd.placeholder((3,), "float64", name="t")
    u = gd.placeholder((2,), "float64", name="u")
    m = gd.placeholder((2, 3), "float64", name="m")
    out = expression(t, u, m)
    assert isinstance(out, gd.Node), "the numpy call did not build a graph node"
    got = gd.function([t, u, m], out)(T_VALUE, U_VALUE, M_VALUE)
    want = np.asarray(expression(T_VALUE, U_VALUE, M_VALUE))
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient_through_dispatched_functions(dtype: str) -> None:
    x = gd.placeholder((3,), dtype, name="x")
    loss = np.sum(np.sin(x) * np.exp(x))
    (g,) = gd.grad(loss, [x])
    x_value = T_VALUE.astype(dtype)
    want = np.cos(x_value) * np.exp(x_value) + np.sin(x_value) * np.exp(x_value)
    got = gd.function([x], g)(x_value)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_table_holds_every_numpy_name_of_the_api() -> None:
    table = numpy_table()
    for name in gd.api.__all__:
        numpy_function = getattr(np, name, None)
        if callable(numpy_function) and not isinstance(numpy_function, type):
            assert table[numpy_function] is getattr(gd, name), name
    assert table[np.exp] is gd.exp and table[np.concatenate] is gd.concatenate


@pytest.mark.parametrize("call, message", [
    (lambda t: np.add.reduce(t), r"numpy\.add\.reduce is not supported.*gd\.sum"),
    (lambda t: np.add.accumulate(t), r"numpy\.add\.accumulate is not supported"),
    (lambda t: np.add.at(t, [0], 1.0), r"numpy\.add\.at is not supported.*x\.at\[index\]"),
    (lambda t: np.multiply.outer(t, t), r"numpy\.multiply\.outer is not supported"),
    (lambda t: np.exp(t, out=np.zeros(3)), r"numpy\.exp\(\.\.\., out=\.\.\.\): graph values"),
    (lambda t: np.exp(t, casting="unsafe"), r"numpy\.exp on a tensor calls graphdiff\.exp, "
                                            r"which does not take these arguments"),
    (lambda t: np.unwrap(t), r"numpy\.unwrap has no graphdiff counterpart"),
    (lambda t: np.linalg.svd(np.outer(t, t)) if not hasattr(gd, "linalg") else np.unwrap(t),
     r"has no graphdiff counterpart"),
])
def test_unsupported_numpy_calls_name_the_function(call, message: str) -> None:
    t = gd.placeholder((3,), "float64", name="t")
    with pytest.raises(gd.GraphdiffError, match=message + r".*test_numpy_interop\.py"):
        call(t)


def test_shape_ndim_and_size_read_the_attributes() -> None:
    t = gd.placeholder((None, 3), "float64", name="t")
    assert np.shape(t) == (t.shape[0], 3) and np.ndim(t) == 2
    assert np.size(t, 1) == 3 and np.size(t) == t.size
    assert np.size(gd.placeholder((2, 3), "float64")) == 6


def test_calls_that_need_values_still_raise() -> None:
    t = gd.placeholder((3,), "float64", name="t")
    for call in (np.asarray, np.array, lambda v: float(v[0]), lambda v: np.zeros(3) + list(v)):
        with pytest.raises(gd.InputError, match="symbolic tensor: it has no values"):
            call(t)
