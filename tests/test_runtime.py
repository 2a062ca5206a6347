"""The planned executor against the reference interpreter, and the generated program's behaviour.

Every op case (tests/opcases) runs forward and with its gradients through both executors on the
same graph; random graphs from the fuzzer's strategy (tests/strategies.py, when present) do too.
The planner's bookkeeping itself is tested in tests/test_memory.py.
"""

from __future__ import annotations

import hypothesis
import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir.node import OpDef, make_node
from graphdiff.ops.elementwise import _extremum_with_scalar
from graphdiff.runtime import Function

from .opcases import Case, all_cases
from .strategies import random_graphs

CASES = all_cases()


def _both(inputs: list, outputs: list) -> tuple[Function, Function]:
    planned = Function(inputs, outputs, {}, passes="none", executor="planned")
    reference = Function(inputs, outputs, {}, passes="none", executor="reference")
    return planned, reference


def _assert_same(got: list, want: list) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert isinstance(g, np.ndarray)
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_op_case_planned_matches_reference(case: Case, dtype: str) -> None:
    arrays = case.draw(dtype)
    inputs, outputs = case.graph(arrays)
    planned, reference = _both(inputs, outputs)
    _assert_same(planned(*arrays), reference(*arrays))
    _assert_same(planned(*arrays), reference(*arrays))  # the second call reuses the arena


def test_batch_sizes_in_turn() -> None:
    x = gd.placeholder((None, 5), "float64", name="x")
    W = gd.variable(np.random.default_rng(0).normal(size=(5, 3)), name="W")
    h = gd.tanh(x @ W)
    loss = gd.mean(gd.sum(h * h, axis=1))
    gW = gd.grad(loss, W)
    planned, reference = _both([x], [loss, gW, gd.exp(h)])
    rng = np.random.default_rng(1)
    for batch in [4, 1, 7, 4, 0, 7, 2]:
        xs = rng.normal(size=(batch, 5))
        _assert_same(planned(xs), reference(xs))
    assert len(planned._programs) == 5  # one plan per signature, cached


def test_outputs_do_not_alias_the_arena_or_each_other() -> None:
    x = gd.placeholder((3, 4), "float64", name="x")
    a = gd.exp(x)
    b = gd.reshape(a * 2.0, (4, 3))
    f = Function([x], [a, b, gd.transpose(a), x], {}, passes="none", executor="planned")
    xs = np.arange(12.0).reshape(3, 4) / 10
    first = f(xs)
    kept = [r.copy() for r in first]
    second = f(xs + 1)  # a second call must not write into what the first returned
    for old, value in zip(first, kept):
        np.testing.assert_array_equal(old, value)
    assert not np.shares_memory(second[3], xs)
    assert not np.shares_memory(second[0], second[2])  # two views of one value: one copied
    program = f._last
    for r in second:
        assert not np.shares_memory(r, program.arena)


def test_view_keeps_its_buffer_alive() -> None:
    # t = x * 2 lives on through its transpose v; a later elementwise op must not reuse t's
    # buffer while v is still to be read.
    x = gd.placeholder((4, 4), "float64", name="x")
    t = x * 2.0
    v = gd.transpose(t)
    u = gd.exp(t)
    w = gd.sin(u) + v
    planned, reference = _both([x], [w])
    xs = np.random.default_rng(0).normal(size=(4, 4))
    _assert_same(planned(xs), reference(xs))


def test_updates_are_atomic_and_applied_together() -> None:
    W = gd.variable(np.ones(3), name="W")
    V = gd.variable(np.full(3, 2.0), name="V")
    x = gd.placeholder((3,), "float64", name="x")
    f = gd.function([x], gd.sum(W * x), updates={W: V, V: W + x})
    f(np.ones(3))
    np.testing.assert_array_equal(gd.get_value(W), np.full(3, 2.0))
    np.testing.assert_array_equal(gd.get_value(V), np.full(3, 2.0))
    bad = gd.function([x], gd.sum(gd.log(x)), updates={W: W + 1.0})
    before = gd.get_value(W)
    with pytest.raises(gd.InputError):
        bad(np.ones(4))
    np.testing.assert_array_equal(gd.get_value(W), before)


def _failing_kernel(x: np.ndarray) -> np.ndarray:
    raise ValueError("no luck")


# An op for this test only: built with make_node, never registered, so no registry test sees it.
_BOOM = OpDef(name="boom", infer=lambda types: types[0], kernel=_failing_kernel)


def test_kernel_failure_names_the_node() -> None:
    x = gd.placeholder((None, 3), "float64", name="x")
    W = gd.variable(np.ones(3), name="W")
    y = make_node(_BOOM, [gd.exp(x)], {})
    f = gd.function([x], gd.sum(y), updates={W: W + 1.0})
    with pytest.raises(gd.GraphdiffError, match=r"running boom \(created at .*test_runtime.*"
                                                r"ValueError: no luck"):
        f(np.ones((2, 3)))
    np.testing.assert_array_equal(gd.get_value(W), np.ones(3))


def test_nan_and_inf_are_values() -> None:
    x = gd.placeholder((2,), "float64", name="x")
    f = gd.function([x], gd.log(x))
    with np.errstate(all="raise"):
        got = f(np.array([0.0, -1.0]))
    assert got[0] == -np.inf and np.isnan(got[1])


def test_profile_reports_nodes_and_ops() -> None:
    x = gd.placeholder((8, 8), "float32", name="x")
    W = gd.variable(np.eye(8, dtype=np.float32), name="W")
    loss = gd.sum(gd.tanh(x @ W))
    f = gd.function([x], loss, updates={W: W - 0.1 * gd.grad(loss, W)})
    before = gd.get_value(W)
    report = f.profile(np.ones((8, 8), np.float32), repeats=3)
    np.testing.assert_array_equal(gd.get_value(W), before)  # profiling trains nothing
    steps = f._last.steps
    assert [n.op for n in report.nodes] == [s.node.op.name for s in steps]
    assert set(report.by_op) == {s.node.op.name for s in steps} and report.call_seconds > 0
    # by_op and kernel_seconds are sums of the per-node medians (no timing is compared here)
    assert sum(report.by_op.values()) == pytest.approx(report.kernel_seconds)
    assert 0.0 <= report.outside_share <= 1.0
    assert "outside kernels" in str(report)


def _random_graph(seed: int) -> tuple[list, list, list]:
    """A random graph over two (batch, 6) inputs and a variable: elementwise chains, views,
    reductions with broadcasting, matmuls; outputs are two values and their gradients."""
    rng = np.random.default_rng(seed)
    x = gd.placeholder((None, 6), "float64", name="x")
    y = gd.placeholder((None, 6), "float64", name="y")
    W = gd.variable(rng.normal(size=(6, 6)) / 3, name="W")
    pool = [x, y]
    builders = [
        lambda a, b: gd.tanh(a),
        lambda a, b: a * b,
        lambda a, b: a + b,
        lambda a, b: gd.exp(-gd.square(a)),
        lambda a, b: a - gd.mean(a, axis=1, keepdims=True),
        lambda a, b: gd.transpose(gd.transpose(a) * 2.0),
        lambda a, b: gd.sin(a) * gd.sigmoid(b),
        lambda a, b: a @ W,
        lambda a, b: b + gd.sum(a, axis=0),
        lambda a, b: gd.maximum(a, b) - gd.relu(a),
    ]
    for _ in range(int(rng.integers(4, 30))):
        a, b = (pool[int(rng.integers(len(pool)))] for _ in range(2))
        pool.append(builders[int(rng.integers(len(builders)))](a, b))
    picked = [pool[-1], pool[int(rng.integers(2, len(pool)))]]
    loss = gd.sum(picked[0] * picked[1])
    outputs = picked + gd.grad(loss, [x, W], unconnected="zero")
    feeds = [rng.normal(size=(5, 6)), rng.normal(size=(5, 6))]
    return [x, y], outputs, feeds


@pytest.mark.parametrize("seed", range(40))
def test_random_graphs_planned_matches_reference(seed: int) -> None:
    inputs, outputs, feeds = _random_graph(seed)
    planned, reference = _both(inputs, outputs)
    optimized = Function(inputs, outputs, {}, passes="default", executor="planned")
    for batch in (5, 2, 5):
        sized = [f[:batch] for f in feeds]
        want = reference(*sized)
        _assert_same(planned(*sized), want)
        for got, expected in zip(optimized(*sized), want):
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@hypothesis.settings(max_examples=60, deadline=None,
                     suppress_health_check=[hypothesis.HealthCheck.too_slow])
@hypothesis.given(random_graphs(dtypes=("float64", "float32"), max_ops=20))
def test_fuzzer_graphs_planned_matches_reference(case) -> None:
    planned, reference = _both(list(case.inputs), list(case.outputs))
    _assert_same(planned(*case.feeds), reference(*case.feeds))
    _assert_same(planned(*case.feeds), reference(*case.feeds))


@hypothesis.settings(max_examples=30, deadline=None,
                     suppress_health_check=[hypothesis.HealthCheck.too_slow])
@hypothesis.given(random_graphs(dtypes=("float64",), max_ops=12, symbolic=True))
def test_fuzzer_symbolic_graphs_planned_matches_reference(case) -> None:
    planned, reference = _both(list(case.inputs), list(case.outputs))
    _assert_same(planned(*case.feeds), reference(*case.feeds))


def test_signature_constants_are_folded_and_copied_out() -> None:
    # mean over a symbolic batch divides by dim_product(batch): the same at every call of one
    # signature, so the program computes it once; a returned folded value is still a fresh copy
    x = gd.placeholder((None, 3), "float64", name="x")
    f = Function([x], [gd.mean(x), gd.sum(gd.ones_like(x))], {}, passes="none",
                 executor="planned")
    got = f(np.ones((4, 3)))
    assert float(got[0]) == 1.0
    program = f._last
    assert any(node.op.name == "dim_product" for node in program.folded)
    assert all(step.node not in program.folded for step in program.steps)
    assert float(got[1]) == 12.0
    got[1][...] = -1.0  # mutating what was returned must not change the next call
    assert float(f(np.ones((4, 3)))[1]) == 12.0
    assert float(f(np.ones((2, 3)) * 3)[0]) == 3.0  # a new signature folds its own values


def test_effectful_nodes_are_not_folded() -> None:
    x = gd.placeholder((None, 3), "float64", name="x")
    f = Function([x], [gd.uniform((2, 2), seed=3, dtype="float64") + gd.sum(x)], {},
                 passes="none", executor="planned")
    first, second = f(np.zeros((1, 3)))[0], f(np.zeros((1, 3)))[0]
    assert not np.array_equal(first, second)  # a new draw at every call


def test_program_source_is_straight_line_code() -> None:
    x = gd.placeholder((3,), "float32", name="x")
    f = gd.function([x], gd.exp(gd.tanh(x)) * 2.0)
    source = f.program_source()
    assert "def run(i0):" in source and "for " not in source
    assert f(np.zeros(3, np.float32)).tolist() == [2.0, 2.0, 2.0]


def test_returned_arrays_are_recycled_only_when_nobody_holds_them() -> None:
    x = gd.placeholder((4,), "float64", name="x")
    W = gd.variable(np.zeros(4), name="W")
    f = gd.function([x], gd.exp(x) * 2.0, updates={W: W + x})
    ones = np.ones(4)
    kept = f(ones)
    view = f(ones)[1:]  # only a view survives: its base must not be reused
    again = f(ones * 0)
    np.testing.assert_array_equal(kept, np.full(4, 2 * np.e))
    np.testing.assert_array_equal(view, np.full(3, 2 * np.e))
    assert not np.shares_memory(again, kept) and not np.shares_memory(again, view)
    old = W.data.value  # a replaced variable value must not be overwritten while referenced
    f(ones)
    f(ones)
    np.testing.assert_array_equal(old, np.full(4, 2.0))
    first_id = id(f(ones))  # dropped at once: the next call may write into the same array
    assert id(f(ones)) == first_id
    np.testing.assert_array_equal(gd.get_value(W), np.full(4, 6.0))


@pytest.mark.parametrize("seed", range(5))
def test_large_program_form_reads_bound_values_from_a_tuple(seed: int, monkeypatch) -> None:
    # programs past the closure limit bind their values through one tuple: force that form
    from graphdiff.runtime import program

    monkeypatch.setattr(program, "_CLOSURE_LIMIT", 0)
    inputs, outputs, feeds = _random_graph(seed)
    planned, reference = _both(inputs, outputs)
    for batch in (5, 2):
        sized = [f[:batch] for f in feeds]
        _assert_same(planned(*sized), reference(*sized))
    assert "_K[" in planned._last.source


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size", [40000, 2 * 16384])  # a partial last row of zeros, and none
def test_relu_on_large_arrays_keeps_nan_inf_and_signed_zero(dtype: str, size: int) -> None:
    # large contiguous arrays take relu's row-of-zeros path (see ops/elementwise.py)
    x = np.random.default_rng(size).normal(size=size).astype(dtype)
    x[::7], x[::11], x[::13], x[::17] = np.nan, -np.inf, -0.0, np.inf
    X = gd.placeholder((size,), dtype)
    got_plain, got_in_place = gd.function([X], [gd.relu(X), gd.relu(X * 2.0)])(x)
    want = np.maximum(x, 0)
    np.testing.assert_array_equal(got_plain, want)
    np.testing.assert_array_equal(np.signbit(got_plain), np.signbit(want))
    np.testing.assert_array_equal(got_in_place, np.maximum(x * 2.0, 0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size", [40000, 2 * 16384])
def test_maximum_and_minimum_with_a_scalar_on_large_arrays(dtype: str, size: int) -> None:
    # one scalar operand and a large array: bound to the row-by-row comparison (relu's path)
    x = np.random.default_rng(size).normal(size=size).astype(dtype)
    x[::7], x[::11], x[::13] = np.nan, -np.inf, -0.0
    X = gd.placeholder((size,), dtype)
    outputs = [gd.clip(X, -0.5, 0.5), gd.maximum(0.25, X), gd.minimum(X, -0.0), gd.maximum(X, X)]
    f = gd.function([X], outputs)
    wants = [np.minimum(np.maximum(x, -0.5), 0.5), np.maximum(np.asarray(0.25, dtype), x),
             np.minimum(x, np.asarray(-0.0, dtype)), x]
    for _ in range(2):  # the second call reuses the rows of copies of each scalar
        for got, want in zip(f(x), wants):
            assert got.tobytes() == want.tobytes()
    bound = {getattr(v, "func", None) for v in f._last.generator.bound.values()}
    assert _extremum_with_scalar in bound


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64", "bool"])
@pytest.mark.parametrize("shapes", [((64, 128),) * 3, ((64, 1), (64, 128), ()),
                                    ((64, 128), (), (1, 128)), ((64, 128), (), ()), ((5,),) * 3])
@pytest.mark.parametrize("zero", [None, "a", "b"])
def test_where_kernel_is_np_where_bit_for_bit(dtype: str, shapes: tuple, zero: str | None) -> None:
    # 8192 elements take the kernel's select-on-bits path, 5 take np.where
    from graphdiff.ops.elementwise import _where_kernel

    rng = np.random.default_rng(len(shapes[1]))
    cond = rng.random(shapes[0]) < 0.5
    a, b = (np.asarray(rng.normal(size=s) * 10).astype(dtype) for s in shapes[1:])
    if a.dtype.kind == "f" and a.ndim:
        a.flat[::5], a.flat[::7], a.flat[::9] = np.nan, -0.0, -np.inf
    if zero:
        a, b = (np.zeros((), dtype), b) if zero == "a" else (a, np.zeros((), dtype))
    want = np.where(cond, a, b)
    got = _where_kernel(cond, a, b)
    out = np.empty(want.shape, want.dtype)
    assert _where_kernel(cond, a, b, out=out) is out
    for result in (got, out):
        assert result.dtype == want.dtype and result.shape == want.shape
        assert result.tobytes() == want.tobytes()


def _planned_and_reference(inputs: list, outputs: list, feeds: list) -> tuple[list, list]:
    planned = Function(inputs, outputs, {}, passes="default", executor="planned")
    reference = Function(inputs, outputs, {}, passes="none", executor="reference")
    return planned(*feeds), reference(*feeds)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reductions_over_length_one_axes_are_copies_of_the_same_values(dtype: str) -> None:
    # bound to a reshape-and-copy when every reduced axis has length 1 (ops/reduce.py)
    x = gd.placeholder((None, 3, 1), dtype, name="x")
    outputs = [gd.sum(x, axis=0), gd.sum(x, axis=(0, 2), keepdims=True), gd.max(x, axis=2),
               gd.min(x, axis=(0, 2)), gd.prod(x, axis=0), gd.sum(x * 2.0, axis=2)]
    value = np.array([[[np.nan], [-0.0], [np.inf]]], dtype)
    got, want = _planned_and_reference([x], outputs, [value])
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)  # NaN, inf; -0.0 == 0.0 (numpy's sum gives 0.0)
        assert np.signbit(g.ravel()[1]), "reducing one -0.0 gives -0.0"
    bigger = np.arange(6, dtype=dtype).reshape(2, 3, 1)  # batch 2: the reductions proper
    got, want = _planned_and_reference([x], outputs, [bigger])
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_matmul_bindings_agree_with_the_reference(dtype: str) -> None:
    # two float matrices run as np.dot (ops/linalg.py); batches and integers as np.matmul
    rng = np.random.default_rng(0)
    a = gd.placeholder((None, 5), dtype, name="a")
    b = gd.placeholder((5, 4), dtype, name="b")
    c = gd.placeholder((2, None, 5), dtype, name="c")
    outputs = [a @ b, gd.transpose(a) @ a, (a @ b) * 2, c @ b, gd.transpose(b) @ gd.transpose(a)]
    feeds = [(rng.normal(size=s) * 4).astype(dtype) for s in [(1, 5), (5, 4), (2, 1, 5)]]
    for batch in (1, 3):
        feeds[0] = (rng.normal(size=(batch, 5)) * 4).astype(dtype)
        feeds[2] = (rng.normal(size=(2, batch, 5)) * 4).astype(dtype)
        got, want = _planned_and_reference([a, b, c], outputs, feeds)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-6)
