"""Inputs and state: the inputs of ``gd.function`` and the calls that feed them, ``gd.set_value``
under the feeds' dtype policy, and float16 reductions that accumulate in float32 as numpy's do.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd

EXECUTORS = ["default", "none"]  # planned executor, reference interpreter


def test_an_input_listed_twice_is_refused_at_compile_time() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    with pytest.raises(gd.InputError, match=r"input 'x' is listed twice, at positions 0 and 1 "
                                            r"\(at .*test_inputs_and_state.py:\d+\)"):
        gd.function([x, x], x + 1.0)


def test_two_placeholders_with_one_name_are_refused_at_compile_time() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    other = gd.placeholder((3,), "float64", name="x")
    with pytest.raises(gd.InputError, match="two placeholders named 'x'.*ambiguous"):
        gd.function([x, other], x + other)
    # unnamed placeholders are fine: they cannot be fed by name
    a, b = gd.placeholder((3,), "float64"), gd.placeholder((3,), "float64")
    np.testing.assert_array_equal(gd.function([a, b], a - b)(np.ones(3), np.zeros(3)),
                                  np.ones(3))


@pytest.mark.parametrize("passes", EXECUTORS)
def test_an_input_given_positionally_and_by_name_names_the_problem(passes: str) -> None:
    x = gd.placeholder((3,), "float64", name="x")
    y = gd.placeholder((3,), "float64", name="y")
    f = gd.function([x, y], x - y, passes=passes)
    a = np.arange(3.0)
    with pytest.raises(gd.InputError, match="input 'x' given twice: as argument 0 and by name"):
        f(a, x=a)
    np.testing.assert_array_equal(f(a, y=2 * a), -a)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_ragged_list_feed_is_a_dtype_error(dtype: str) -> None:
    x = gd.placeholder((None, 2), dtype, name="x")
    f = gd.function([x], x * 2.0)
    with pytest.raises(gd.DTypeError, match=r"input 'x': \[\[1, 2\], \[3\]\] is not a rectangular"):
        f([[1, 2], [3]])
    np.testing.assert_array_equal(f(np.array([[1, 2], [3, 4]], dtype)),
                                  np.array([[2, 4], [6, 8]], dtype))


def test_set_value_follows_the_feeds_dtype_policy() -> None:
    w = gd.variable(np.zeros(3, np.float32), name="w")
    with pytest.raises(gd.DTypeError, match="set_value: variable 'w': expected float32, got "
                                            "float64, which does not convert safely"):
        gd.set_value(w, np.full(3, 1e300))
    with pytest.raises(gd.DTypeError, match="float64 values overflow float32"):
        gd.set_value(w, np.full(3, 1e300), allow_downcast=True)
    with pytest.raises(gd.DTypeError, match="1e.300 does not fit float32"):
        gd.set_value(gd.variable(np.float32(0.0), name="s"), 1e300)
    np.testing.assert_array_equal(gd.get_value(w), np.zeros(3, np.float32))  # nothing changed
    gd.set_value(w, np.array([1.0, -np.inf, np.nan]), allow_downcast=True)  # inf stays inf
    np.testing.assert_array_equal(gd.get_value(w), np.array([1.0, -np.inf, np.nan], np.float32))
    gd.set_value(w, np.array([1, 2, 3], np.int16))  # a safe cast
    assert gd.get_value(w).dtype == np.float32
    np.testing.assert_array_equal(gd.get_value(w), [1.0, 2.0, 3.0])


def test_a_feed_downcast_that_overflows_is_refused() -> None:
    x = gd.placeholder((2,), "float32", name="x")
    f = gd.function([x], x * 2.0, allow_downcast=True)
    with pytest.raises(gd.DTypeError, match="input 'x': float64 values overflow float32"):
        f(np.array([1.0, 1e300]))
    np.testing.assert_array_equal(f(np.array([1.0, 2.0])), np.array([2.0, 4.0], np.float32))


@pytest.mark.parametrize("passes", EXECUTORS)
def test_float16_mean_sum_var_accumulate_in_float32(passes: str) -> None:
    x = gd.placeholder((None, 3), "float16", name="x")
    f = gd.function([x], [gd.mean(x, axis=1), gd.sum(x, axis=1), gd.var(x, axis=1),
                          gd.mean(x, axis=0), gd.std(x)], passes=passes)
    a = np.array([[6e4, 6e4, 6e4], [6e4, 6e4, -6e4], [1.0, 2.0, 4.0]], np.float16)
    wide = a.astype(np.float32)
    got = f(a)
    want = [wide.mean(axis=1), wide.sum(axis=1), wide.var(axis=1), wide.mean(axis=0), wide.std()]
    for g, w in zip(got, want):
        assert g.dtype == np.float16
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(g, w.astype(np.float16))
    assert got[0][0] == np.float16(6e4)  # numpy's mean; a float16 sum would give inf
    np.testing.assert_array_equal(got[0], np.mean(a, axis=1))


def test_float16_mean_exports_with_its_casts() -> None:
    ort = pytest.importorskip("onnxruntime")
    x = gd.placeholder((3,), "float16", name="x")
    model = gd.export_onnx(None, [x], gd.mean(x))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    a = np.array([6e4, 6e4, 6e4], np.float16)
    (got,) = session.run(None, {session.get_inputs()[0].name: a})
    assert got == np.float16(6e4)


def test_generated_code_is_attributed_to_graphdiff() -> None:
    # pytest's filterwarnings ("error::DeprecationWarning:graphdiff") matches the module a
    # warning is attributed to: generated programs must carry a graphdiff module name
    x = gd.placeholder((3,), "float64", name="x")
    f = gd.function([x], gd.maximum(x, 2.0 * x))
    f(np.ones(3))
    assert f._last is not None
    run = f._last.run
    assert run.__globals__["__name__"].startswith("graphdiff.")
