"""backend="jax" against the reference: every op case (values and gradients, float32 and
float64), the random-graph fuzzer, loops and branches, variables kept on the device, random
draws (by their statistics), float64 without touching JAX's global configuration, options."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import graphdiff as gd
from graphdiff.errors import BackendError

from .opcases import Case, all_cases
from .strategies import random_graphs
from .test_fuzz import assert_agree

jax = pytest.importorskip("jax")

CASES = all_cases()
RANDOM = {"random_uniform", "random_normal"}  # values differ from numpy's: statistics below


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_op_case_matches_the_reference(case: Case, dtype: str) -> None:
    arrays = case.draw(dtype)
    inputs, outputs = case.graph(arrays)
    want = gd.function(inputs, outputs, passes="none")(*arrays)
    got = gd.function(inputs, outputs, backend="jax")(*arrays)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        if case.name in RANDOM:
            continue
        if dtype == "float64":
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)
        else:
            # LAPACK and XLA factor matrices differently: float32 agrees to 1e-4 there
            rtol = 1e-4 if case.name.startswith("linalg") else max(case.rtol32, 1e-5)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=max(case.atol32, 1e-6))


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(random_graphs(max_ops=10))
def test_random_graphs_and_their_gradients_agree_with_the_reference(case) -> None:
    """The fuzzer's graphs, NaN, +-Inf and -0.0 among the inputs."""
    grads = gd.grad(case.loss(), case.inputs, unconnected="zero")
    outputs = list(case.outputs) + list(grads)
    with np.errstate(all="ignore"):
        want = gd.function(case.inputs, outputs, passes="none")(*case.feeds)
    got = gd.function(case.inputs, outputs, backend="jax")(*case.feeds)
    want, got = (want, got) if isinstance(want, list) else ([want], [got])
    assert_agree(got, want, case.dtype)


def _mlp(seed: int = 5):
    rng = np.random.default_rng(seed)
    x = gd.placeholder((None, 16), "float32", name="x")
    y = gd.placeholder((None,), "int64", name="y")
    w1 = gd.variable(rng.standard_normal((16, 32)).astype(np.float32) * 0.3, name="w1")
    b1 = gd.variable(np.zeros(32, np.float32), name="b1")
    w2 = gd.variable(rng.standard_normal((32, 4)).astype(np.float32) * 0.3, name="w2")
    loss = gd.mean(gd.softmax_cross_entropy(gd.relu(x @ w1 + b1) @ w2, y))
    params = [w1, b1, w2]
    grads = gd.grad(loss, params)
    return [x, y], loss, {p: p - 0.1 * g for p, g in zip(params, grads)}, params


def test_training_steps_match_the_reference_and_keep_variables_on_the_device() -> None:
    rng = np.random.default_rng(4)
    feeds = [rng.standard_normal((64, 16)).astype(np.float32), rng.integers(0, 4, 64)]
    results = []
    for backend in ("reference", "jax"):
        inputs, loss, updates, params = _mlp()
        f = gd.function(inputs, loss, updates=updates, backend=backend)
        losses = [float(f(*feeds)) for _ in range(4)]
        if backend == "jax":
            state = params[0].data
            held = state.on_device()
            assert isinstance(held, jax.Array) and state._value is None  # not yet copied back
        results.append((losses, [gd.get_value(p) for p in params]))
    (want_losses, want_params), (got_losses, got_params) = results
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-5)
    for g, w in zip(got_params, want_params):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


def test_updates_donate_the_old_buffer_and_set_value_reaches_the_device() -> None:
    W = gd.variable(np.zeros(3, np.float32), name="W")
    x = gd.placeholder((3,), "float32", name="x")
    f = gd.function([x], gd.sum(W), updates={W: W + x}, backend="jax")
    f(np.ones(3, np.float32))
    before = W.data.on_device()
    f(np.ones(3, np.float32))
    assert before.is_deleted()  # donated to the update
    np.testing.assert_array_equal(gd.get_value(W), [2, 2, 2])
    gd.set_value(W, np.full(3, 10, np.float32))
    assert f(np.ones(3, np.float32)) == 30.0
    np.testing.assert_array_equal(gd.get_value(W), [11, 11, 11])
    # the numpy backend reads the value the device holds
    g = gd.function([x], gd.sum(W * x), backend="numpy")
    assert g(np.ones(3, np.float32)) == 33.0


def test_functions_sharing_a_variable_each_see_the_others_updates() -> None:
    # each function reuses the device arrays it wrote last call only while nobody else wrote
    W = gd.variable(np.zeros(3, np.float32), name="W")
    x = gd.placeholder((3,), "float32", name="x")
    add = gd.function([x], gd.sum(W), updates={W: W + x}, backend="jax")
    scale = gd.function([x], gd.sum(W * x), updates={W: W * 2.0}, backend="jax")
    read = gd.function([x], W * x, backend="jax")
    ones = np.ones(3, np.float32)
    want = np.zeros(3)
    for _ in range(3):
        assert add(ones) == want.sum()
        want = want + 1
        assert add(ones) == want.sum()
        want = want + 1
        np.testing.assert_array_equal(read(ones), want)
        assert scale(ones) == want.sum()
        want = want * 2
    np.testing.assert_array_equal(gd.get_value(W), want)


def test_small_constants_are_literals_and_large_ones_arguments() -> None:
    x = gd.placeholder((300,), "float32", name="x")
    big = np.linspace(-1, 1, 300).astype(np.float32)  # 1200 bytes: an argument
    f = gd.function([x], gd.maximum(x, 0.25) * 3.0 + big, backend="jax")
    data = np.linspace(-2, 2, 300).astype(np.float32)
    np.testing.assert_allclose(f(data), np.maximum(data, np.float32(0.25)) * 3 + big,
                               rtol=1e-6)
    (executable,) = f._programs.values()
    assert [c.data.nbytes for c in executable.constants] == [big.nbytes]


def test_float64_runs_in_64_bits_without_changing_the_global_config() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    f = gd.function([x], gd.exp(x) * 1e-300, backend="jax")
    with jax.enable_x64(False):  # the user's setting (other tests may have turned it on)
        got = f(np.array([1.0, 2.0, 700.0]))
        assert not jax.config.jax_enable_x64  # still the user's
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.exp([1.0, 2.0, 700.0]) * 1e-300, rtol=1e-14)


def test_loops_and_branches_lower_to_lax_control_flow() -> None:
    x = gd.placeholder((4,), "float64", name="x")

    def body(c):
        v, s = c
        return v * 1.5 + gd.sin(v), s + 1.0

    v, _ = gd.while_loop(lambda c: c[1] < 7.0, body, (x, gd.sum(gd.abs(x))))
    carry, ys = gd.scan(lambda c, xi: (c * 0.9 + xi, gd.tanh(c)), gd.sum(x), x * 2.0)
    branch = gd.cond(gd.sum(x) > 0, lambda a: a * 2.0, lambda a: -a, x)
    outputs = [v, carry, ys, branch] + gd.grad(gd.sum(v) + carry + gd.sum(ys * branch), [x])
    f = gd.function([x], outputs, backend="jax")
    for data in (np.array([0.1, -0.2, 0.3, 0.05]), np.array([-1.0, 0.5, -0.25, -0.3])):
        want = gd.function([x], outputs, passes="none")(data)
        for g, w in zip(f(data), want):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_a_while_loop_gradient_past_the_first_stack_capacity_runs_again_with_room() -> None:
    from graphdiff.backends import jax as jax_backend

    x = gd.placeholder((), "float64", name="x")
    steps = gd.placeholder((), "float64", name="n")
    out, _ = gd.while_loop(lambda c: c[1] < steps, lambda c: (gd.sin(c[0]) + 0.5, c[1] + 1.0),
                           (x, gd.constant(0.0)))
    outputs = [out, gd.grad(out, x)]
    f = gd.function([x, steps], outputs, backend="jax")
    reference = gd.function([x, steps], outputs, passes="none")
    n = jax_backend.FIRST_STACK_CAPACITY * 5 + 3
    for count in (3.0, float(n), 10.0):
        feeds = (np.array(0.3), np.array(count))
        for g, w in zip(f(*feeds), reference(*feeds)):
            np.testing.assert_allclose(g, w, rtol=1e-10)
    (capacity,) = f._last.capacities.values()
    assert capacity >= n


def test_random_draws_are_seeded_fresh_per_call_and_per_step_with_the_right_statistics():
    x = gd.placeholder((2000,), "float32", name="x")
    u = gd.uniform((2000,), seed=3, low=-1.0, high=3.0, dtype="float32")
    z = gd.normal((2000,), seed=4, mean=2.0, std=0.5, dtype="float32")
    _, per_step = gd.scan(lambda c, xi: (c, gd.uniform((), seed=9, dtype="float32") + xi * 0.0),
                          gd.constant(np.float32(0)), x)
    f = gd.function([x], [x + u, z, per_step], backend="jax")
    data = np.zeros(2000, np.float32)
    first, second = f(data), f(data)
    for values in (first[0], second[0]):
        assert values.min() >= -1.0 and values.max() < 3.0
        assert abs(values.mean() - 1.0) < 0.1 and abs(values.var() - 16 / 12) < 0.15
    assert abs(first[1].mean() - 2.0) < 0.05 and abs(first[1].std() - 0.5) < 0.05
    assert not np.array_equal(first[0], second[0])  # a new draw at every call
    steps = first[2]
    assert len(np.unique(steps)) > 1990 and abs(steps.mean() - 0.5) < 0.05  # every step anew
    again = gd.function([x], [x + gd.uniform((2000,), seed=3, low=-1.0, high=3.0,
                                             dtype="float32")], backend="jax")(data)
    np.testing.assert_array_equal(again[0], first[0])  # the seed decides the sequence


def test_device_option_and_option_errors() -> None:
    x = gd.placeholder((3,), "float32", name="x")
    f = gd.function([x], x * 2.0, backend="jax", device="cpu:0")
    np.testing.assert_array_equal(f(np.ones(3, np.float32)), [2, 2, 2])
    with pytest.raises(BackendError, match="no such device"):
        gd.function([x], x * 2.0, backend="jax", device="cpu:99")
    with pytest.raises(BackendError, match="has no option colour"):
        gd.function([x], x * 2.0, backend="jax", colour="red")
    with pytest.raises(BackendError, match="backend 'numpy' takes no options, got device="):
        gd.function([x], x * 2.0, backend="numpy", device="cpu")


def test_a_lowering_that_fails_names_the_node() -> None:
    from graphdiff.ops.core import defop

    broken = defop("broken_for_jax_test", lambda types: types[0], np.negative,
                   jax=lambda x: x.no_such_method())
    x = gd.placeholder((2,), "float32", name="x")
    try:
        f = gd.function([x], broken(x), backend="jax")
        with pytest.raises(gd.GraphdiffError, match="broken_for_jax_test .*created at"):
            f(np.ones(2, np.float32))
    finally:
        from graphdiff.ir.node import OPS

        del OPS["broken_for_jax_test"]


def test_missing_says_what_to_add() -> None:
    from graphdiff.backends import get_backend
    from graphdiff.ir.node import OpDef

    backend = get_backend("jax")
    bare = OpDef("bare", lambda types: types[0], np.negative)
    assert "jax= in its declaration" in backend.missing(bare)
    typo = OpDef("typo", lambda types: types[0], np.negative, jax="no_such_jnp_function")
    assert "names nothing in jax.numpy" in backend.missing(typo)


def test_check_finite_names_the_node_and_changes_nothing() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    W = gd.variable(np.ones(3), name="W")
    f = gd.function([x], gd.exp(gd.log(x * W) * 2.0), updates={W: W + 1.0},
                    check_finite=True, backend="jax")
    np.testing.assert_allclose(f(np.array([1.0, 2.0, 3.0])), [1.0, 4.0, 9.0])
    with pytest.raises(gd.NonFiniteError, match="log .*produced 1 Inf"):
        f(np.array([1.0, 0.0, 3.0]))  # exp(-inf) is a finite 0: only log's result tells
    np.testing.assert_array_equal(gd.get_value(W), [2.0, 2.0, 2.0])
