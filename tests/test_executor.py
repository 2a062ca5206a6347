"""The executor: updates, input checking, symbolic shapes per call, output copies, freeing.

Every behaviour is checked on both executors: the reference interpreter (``passes="none"``) and
the planned one (``passes=[]``: planned, with no optimization pass in the way).
"""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir import Graph
from graphdiff.ir.node import OpDef
from graphdiff.runtime.reference import Interpreter

EXECUTORS = pytest.mark.parametrize("passes", ["none", []], ids=["reference", "planned"])


# --- updates ---------------------------------------------------------------------------------


@EXECUTORS
def test_updates_are_computed_from_old_values_and_applied_together(passes) -> None:
    a = gd.variable(np.array([1.0, 2.0]), name="a")
    b = gd.variable(np.array([3.0, 5.0]), name="b")
    swap = gd.function([], [], updates={a: b, b: a}, passes=passes)
    assert swap() == []
    np.testing.assert_array_equal(gd.get_value(a), [3.0, 5.0])
    np.testing.assert_array_equal(gd.get_value(b), [1.0, 2.0])
    step = gd.function([], gd.sum(a), updates={a: a + b, b: a * b}, passes=passes)
    assert float(step()) == 8.0  # the output sees the old a
    np.testing.assert_array_equal(gd.get_value(a), [4.0, 7.0])  # old a + old b
    np.testing.assert_array_equal(gd.get_value(b), [3.0, 10.0])  # old a * old b


def _fails_on_negative(x: np.ndarray) -> np.ndarray:
    if np.any(x < 0):
        raise ValueError("negative input")
    return x.copy()


# An op for these tests only: built by calling the OpDef, never registered in the op table.
_CHECK = OpDef(name="check_nonnegative", infer=lambda types: types[0], kernel=_fails_on_negative)


@EXECUTORS
def test_a_call_that_fails_mid_way_changes_no_variable(passes) -> None:
    W = gd.variable(np.zeros(3), name="W")
    V = gd.variable(np.ones(3), name="V")
    x = gd.placeholder((3,), "float64", name="x")
    new_W = W + x
    # new_W is computed before the failing op runs; the failure happens late in the call
    out = gd.sum(_CHECK(new_W)) * 2.0
    f = gd.function([x], out, updates={W: new_W, V: V * 3.0}, passes=passes)
    assert float(f(np.ones(3))) == 6.0
    np.testing.assert_array_equal(gd.get_value(W), np.ones(3))
    np.testing.assert_array_equal(gd.get_value(V), np.full(3, 3.0))
    with pytest.raises(gd.GraphdiffError, match="check_nonnegative.*negative input") as info:
        f(np.array([1.0, -5.0, 1.0]))
    assert f"{__file__}:" in str(info.value)  # the line that created the failing node
    np.testing.assert_array_equal(gd.get_value(W), np.ones(3))
    np.testing.assert_array_equal(gd.get_value(V), np.full(3, 3.0))
    f(np.ones(3))  # and the function still works
    np.testing.assert_array_equal(gd.get_value(W), np.full(3, 2.0))


@EXECUTORS
def test_a_shape_error_at_run_time_changes_no_variable(passes) -> None:
    W = gd.variable(np.ones(3), name="W")
    x = gd.placeholder(("n",), "float64", name="x")
    y = gd.placeholder((3,), "float64", name="y")
    f = gd.function([x, y], gd.sum(x + y), updates={W: W + 1.0}, passes=passes)
    with pytest.raises(gd.InputError, match="'n'"):
        f(np.ones(1), np.ones(3))  # n == 1 would broadcast: refused, before anything runs
    np.testing.assert_array_equal(gd.get_value(W), np.ones(3))


# --- feeding inputs ------------------------------------------------------------------------------


def _three_inputs(passes):
    x = gd.placeholder(("batch", 4), "float32", name="x")
    y = gd.placeholder(("batch",), "float32", name="y")
    s = gd.placeholder((), "float32", name="s")
    f = gd.function([x, y, s], gd.sum(x, axis=1) * y + s, passes=passes)
    return f


@EXECUTORS
def test_inputs_by_position_and_by_name(passes) -> None:
    f = _three_inputs(passes)
    x, y = np.ones((2, 4), np.float32), np.array([1.0, 2.0], np.float32)
    want = np.array([5.0, 9.0], np.float32)
    np.testing.assert_array_equal(f(x, y, np.float32(1.0)), want)
    np.testing.assert_array_equal(f(x, s=np.float32(1.0), y=y), want)
    np.testing.assert_array_equal(f(y=y, x=x, s=1.0), want)  # a python float is weak


@EXECUTORS
@pytest.mark.parametrize(("args", "kwargs", "error", "pattern"), [
    ((np.ones((2, 4), np.float32),), {"s": 1.0}, gd.InputError, "missing input 'y'"),
    ((), {"x": np.ones((2, 4), np.float32), "y": np.ones(2, np.float32), "s": 1.0, "z": 1},
     gd.InputError, "unknown input name 'z'; inputs are x, y, s"),
    ((np.ones((2, 4), np.float32), np.ones(2, np.float32), 1.0, 2.0), {}, gd.InputError,
     "expected 3 inputs, got 4"),
    ((np.ones(8, np.float32), np.ones(2, np.float32), 1.0), {}, gd.InputError,
     r"input 'x': expected rank 2 \[batch,4\], got shape \(8,\)"),
    ((np.ones((2, 5), np.float32), np.ones(2, np.float32), 1.0), {}, gd.InputError,
     r"input 'x': expected shape \[batch,4\], got \(2, 5\) \(axis 1 must be 4\)"),
    ((np.ones((2, 4), np.float32), np.ones(3, np.float32), 1.0), {}, gd.InputError,
     "input 'y': dimension 'batch' .* is 3 here but 2 elsewhere"),
    ((np.ones((2, 4)), np.ones(2, np.float32), 1.0), {}, gd.DTypeError,
     "input 'x': expected float32, got float64, which does not convert safely"),
    ((np.ones((2, 4), np.float32), np.ones(2, np.float32), np.ones(())), {}, gd.DTypeError,
     "input 's': expected float32, got float64"),
])
def test_bad_feeds_raise_naming_the_input(passes, args, kwargs, error, pattern) -> None:
    f = _three_inputs(passes)
    with pytest.raises(error, match=pattern):
        f(*args, **kwargs)


@EXECUTORS
def test_safe_casts_are_accepted_and_downcasts_on_request(passes) -> None:
    x = gd.placeholder((3,), "float64", name="x")
    f = gd.function([x], x * 2.0, passes=passes)
    got = f(np.array([1, 2, 3], np.int32))  # int32 -> float64 is exact
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [2.0, 4.0, 6.0])
    x32 = gd.placeholder((3,), "float32", name="x32")
    strict = gd.function([x32], x32 * 2.0, passes=passes)
    with pytest.raises(gd.DTypeError, match="allow_downcast=True"):
        strict(np.array([0.1, 0.2, 0.3]))
    loose = gd.function([x32], x32 * 2.0, passes=passes, allow_downcast=True)
    got = loose(np.array([0.1, 0.2, 0.3]))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array([0.1, 0.2, 0.3], np.float32) * 2)
    with pytest.raises(gd.DTypeError):  # even so, a float never silently becomes an int
        gd.function([gd.placeholder((3,), "int32", name="i")], [], passes=passes,
                    allow_downcast=True)(np.ones(3))


@EXECUTORS
def test_python_scalar_inputs(passes) -> None:
    s = gd.placeholder((), "float32", name="s")
    i = gd.placeholder((), "int8", name="i")
    f = gd.function([s, i], [s * 2.0, i + 1], passes=passes)
    a, b = f(1.5, 3)
    assert a.dtype == np.float32 and float(a) == 3.0
    assert b.dtype == np.int8 and int(b) == 4
    a, _ = f(True, True)  # bool fits anything
    assert float(a) == 2.0
    with pytest.raises(gd.DTypeError, match="input 'i': 2.5 does not fit int8"):
        f(1.0, 2.5)
    with pytest.raises(gd.DTypeError, match="input 'i': 1000 does not fit int8"):
        f(1.0, 1000)


# --- symbolic shapes, one compiled function --------------------------------------------------


@EXECUTORS
def test_one_function_fed_different_batch_sizes_in_turn(passes) -> None:
    rng = np.random.default_rng(0)
    x = gd.placeholder((None, 4), "float64", name="x")
    W = gd.variable(rng.standard_normal((4, 3)), name="W")
    h = gd.tanh(x @ W)
    loss = gd.mean(h ** 2)
    gW = gd.grad(loss, W)
    f = gd.function([x], [loss, gd.mean(h, axis=0), gd.reshape(h, (-1,)), gW], passes=passes)
    Wv = gd.get_value(W)
    for n in (5, 3, 5, 1, 2, 3):
        xs = rng.standard_normal((n, 4))
        hv = np.tanh(xs @ Wv)
        got_loss, got_mean, got_flat, got_gW = f(xs)
        np.testing.assert_allclose(got_loss, np.mean(hv ** 2), rtol=1e-12)
        np.testing.assert_allclose(got_mean, hv.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(got_flat, hv.reshape(-1), rtol=1e-12)
        want_gW = xs.T @ (2 * hv * (1 - hv ** 2)) / hv.size
        np.testing.assert_allclose(got_gW, want_gW, rtol=1e-10)


# --- what the user gets back -----------------------------------------------------------------


@EXECUTORS
def test_outputs_never_share_memory_with_variables(passes) -> None:
    W = gd.variable(np.arange(6.0).reshape(2, 3), name="W")
    outputs = [W, gd.reshape(W, (3, 2)), gd.transpose(W), gd.stop_gradient(W)]
    f = gd.function([], outputs, passes=passes)
    for value in f():
        value[...] = -1.0
    np.testing.assert_array_equal(gd.get_value(W), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(f()[2], np.arange(6.0).reshape(2, 3).T)


@EXECUTORS
def test_outputs_never_share_memory_with_updates_or_each_other(passes) -> None:
    W = gd.variable(np.ones(3), name="W")
    new = W * 2.0
    f = gd.function([], [new, new, gd.reshape(new, (3, 1))], updates={W: new}, passes=passes)
    first, second, column = f()
    first[0] = 100.0
    column[1, 0] = 200.0
    np.testing.assert_array_equal(second, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(gd.get_value(W), [2.0, 2.0, 2.0])


@EXECUTORS
def test_an_output_that_is_an_input_is_a_copy(passes) -> None:
    x = gd.placeholder((3,), "float64", name="x")
    f = gd.function([x], x, passes=passes)
    fed = np.zeros(3)
    got = f(fed)
    got[0] = 1.0
    assert fed[0] == 0.0


@EXECUTORS
def test_single_and_list_outputs(passes) -> None:
    x = gd.placeholder((2,), "float64", name="x")
    single = gd.function(x, x * 2.0, passes=passes)(np.ones(2))
    assert isinstance(single, np.ndarray)
    one = gd.function([x], [x * 2.0], passes=passes)(np.ones(2))
    assert isinstance(one, list) and len(one) == 1
    two = gd.function([x], [x * 2.0, gd.sum(x)], passes=passes)(np.ones(2))
    assert isinstance(two, list) and [v.shape for v in two] == [(2,), ()]
    assert gd.function([x], [], passes=passes)(np.ones(2)) == []


# --- freeing -----------------------------------------------------------------------------------


def test_every_intermediate_is_freed_exactly_once_after_its_last_use() -> None:
    x = gd.placeholder((None, 4), "float64", name="x")
    W = gd.variable(np.ones((4, 3)), name="W")
    h = gd.tanh(x @ W)
    loss = gd.sum(h * h) + gd.sum(h)
    outputs = [loss, gd.grad(loss, W), h]  # h is an output and also used later
    graph = Graph([x], outputs)
    interpreter = Interpreter(graph.nodes, graph.outputs)
    schedule = interpreter.schedule
    slot_of = interpreter.slot
    freed = [slot for step in interpreter.frees for slot in step]
    assert len(freed) == len(set(freed)), "a value is freed twice"
    kept = {slot_of[n] for n in graph.outputs}
    last_use = {}
    for step, node in enumerate(schedule):
        for value in node.inputs:
            last_use[value] = step
    for node in graph.nodes:
        if node in last_use and slot_of[node] not in kept:
            assert slot_of[node] in interpreter.frees[last_use[node]], node
    assert not kept & set(freed), "an output is freed"
    # and at run time the freed slots are empty at the end while the outputs hold values
    f = gd.function([x], outputs, passes="none")
    types, attrs, _ = f._specialize([np.ones((2, 4))])
    steps = interpreter.bind(attrs, types)
    sources = {x: np.ones((2, 4)), W: gd.get_value(W)}
    sources.update({n: n.data for n in graph.nodes if n.op.name == "constant"})
    values = interpreter.run(steps, sources)
    for node in graph.nodes:
        if slot_of[node] in kept:
            assert values[slot_of[node]] is not None
        elif node in last_use:
            assert values[slot_of[node]] is None, node
