"""The numba backend's fused kernels against numpy: every elementwise op's scalar expression,
the vectorizable scalar functions, row reductions and their epilogues, broadcasting, NaN, Inf
and -0.0, float32 and float64.

numba compiles slowly (0.3-1 s a kernel), so each test builds one region holding many ops
(one kernel per dtype), and kernels are cached on disk across runs.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import graphdiff as gd
from graphdiff.ir import OPS, Graph
from graphdiff.ops import elementwise as E
from graphdiff.ops import explog as X
from graphdiff.ops import fused_codegen
from graphdiff.ops import ieee as F
from graphdiff.ops import integer as B
from graphdiff.ops import rounding as R
from graphdiff.ops import trig as T
from graphdiff.ops.fused import fused
from graphdiff.passes.pipeline import FUSED_PIPELINE

numba = pytest.importorskip("numba")
from graphdiff.backends import numba_call, numba_fused, numba_scalar  # noqa: E402

from .strategies import random_graphs  # noqa: E402
from .test_fuzz import assert_agree  # noqa: E402

SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 88.0, -90.0, 1e4])


def test_every_elementwise_op_declares_its_scalar_expression() -> None:
    missing = [name for name, op in OPS.items() if op.elementwise and op.scalar is None]
    assert not missing, f"elementwise ops without a scalar expression: {missing}"


@numba.njit(fastmath=set(numba_scalar.FASTMATH), error_model="numpy", cache=True)
def _scalar_functions(x, out):
    for i in range(x.shape[0]):
        out[0, i] = numba_scalar.exp_float32(x[i])
        out[1, i] = numba_scalar.tanh_float32(x[i])
        out[2, i] = numba_scalar.erf_float32(x[i])
        out[3, i] = numba_scalar.reduce_max(x[i], np.float32(0.5))
        out[4, i] = numba_scalar.reduce_min(x[i], np.float32(0.5))


def test_vectorizable_scalar_functions_match_numpy_with_nan_inf_and_signed_zero() -> None:
    x = np.concatenate([SPECIAL, np.linspace(-20, 20, 4001)]).astype(np.float32)
    out = np.empty((5, x.size), np.float32)
    _scalar_functions(x, out)
    wide = x.astype(np.float64)
    with np.errstate(all="ignore"):
        exp_want = np.exp(wide)
    tiny = exp_want < 1.2e-38  # below float32's normal range: flushed to 0
    np.testing.assert_allclose(np.where(tiny, 0, out[0]), np.where(tiny, 0, exp_want),
                               rtol=4e-7)
    np.testing.assert_allclose(out[1], np.tanh(wide), rtol=4e-7, atol=1e-37)
    np.testing.assert_allclose(out[2], gd.ops.special.erf(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(out[3], np.maximum(x, np.float32(0.5)))
    np.testing.assert_array_equal(out[4], np.minimum(x, np.float32(0.5)))
    zero = 4  # -0.0 stays -0.0 through tanh and erf
    assert np.signbit(out[1, zero]) and np.signbit(out[2, zero])
    assert np.isnan(out[:, 0]).all()


def _operands(dtype: str, rows: int = 37, cols: int = 19) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, cols)) * 3
    x.flat[:SPECIAL.size] = SPECIAL
    y = rng.standard_normal(cols)
    y[:4] = [np.nan, -np.inf, -0.0, 0.0]
    positive = rng.uniform(0.1, 4, (rows, cols))
    positive.flat[:4] = [0.0, np.inf, np.nan, -0.0]
    return tuple(a.astype(dtype) for a in (x, y, positive))


def _all_ops_region(dtype: str) -> Graph:
    """One region applying every elementwise op (unary to x, binary to x and a broadcast row
    y, the domain-limited ones to positive p)."""
    x = gd.placeholder((None, 19), dtype, name="x")
    y = gd.placeholder((19,), dtype, name="y")
    p = gd.placeholder((None, 19), dtype, name="p")
    two = gd.constant(np.asarray(2.0, dtype))
    unary = [E.neg, E.abs_, E.sign, E.exp, E.expm1, E.square, E.reciprocal, E.sin, E.cos,
             E.tanh, E.sigmoid, E.relu, E.erf, E.floor, E.ceil]
    outputs = [op(x) for op in unary] + [op(p) for op in (E.log, E.log1p, E.sqrt)]
    outputs += [op(x, y) for op in (E.add, E.sub, E.mul, E.div, E.maximum, E.minimum)]
    outputs += [E.pow_(p, y), E.pow_(x, two)]
    compares = [op(x, y) for op in (E.less, E.less_equal, E.greater, E.greater_equal,
                                    E.equal, E.not_equal)]
    outputs += compares + [E.isnan(x), E.isfinite(x)]
    outputs += [E.logical_and(compares[0], compares[3]), E.logical_or(compares[0], E.isnan(y)),
                E.logical_not(compares[1])]
    outputs += [op(x) for op in (T.tan, T.arcsin, T.arccos, T.arctan, T.sinh, T.cosh,
                                 T.arcsinh, T.arccosh, T.arctanh, X.exp2, R.rint, R.trunc,
                                 F.isinf, F.signbit)]
    outputs += [op(p) for op in (X.log2, X.log10)]
    outputs += [op(x, y) for op in (T.arctan2, T.hypot, X.logaddexp, X.logaddexp2, R.remainder,
                                    R.fmod, R.floor_divide, F.fmax, F.fmin, F.copysign)]
    outputs += [E.logical_xor(compares[0], compares[4])]
    outputs += [E.where(compares[2], x, y), E.cast(compares[0], dtype=np.dtype(dtype)),
                E.cast(x, dtype=np.dtype("float64" if dtype == "float32" else "float32")),
                E.stop_gradient(E.mul(x, two))]
    return Graph([x, y, p], outputs)


def _numpy_values(region: Graph, arrays: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Each output by its op's numpy kernel (the reference executor's kernels)."""
    values = dict(zip(region.inputs, arrays))
    with np.errstate(all="ignore"):
        for node in region.nodes:
            if node not in values:
                values[node] = node.data if node.op.source else \
                    np.asarray(node.op.kernel(*(values[v] for v in node.inputs), **node.attrs))
    return [values[o] for o in region.outputs]


def _close(got: np.ndarray, want: np.ndarray, what: str, float32=(2e-6, 1e-6)) -> None:
    """Equal within rounding (``float32``: rtol and atol), NaN where NaN, -0.0 where -0.0."""
    assert got.shape == want.shape and got.dtype == want.dtype, what
    if got.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    rtol, atol = float32 if got.dtype == np.float32 else (1e-10, 1e-14)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)
    exact = (want == 0) & np.isfinite(want)
    np.testing.assert_array_equal(np.signbit(got[exact & (got == 0)]),
                                  np.signbit(want[exact & (got == 0)]), err_msg=what + " sign")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_op_matches_its_numpy_kernel_with_broadcasting_and_special_values(
        dtype: str) -> None:
    region = _all_ops_region(dtype)
    arrays = _operands(dtype)
    shapes = tuple(a.shape for a in arrays)
    got = numba_call.compiled(region, shapes)(*arrays)
    for node, g, w in zip(region.outputs, got, _numpy_values(region, arrays)):
        _close(g, w, node.op.name)


def _workloads(dtype: str, rows: int = 33):
    rng = np.random.default_rng(1)
    z = gd.placeholder((None, 24), dtype, name="z")
    labels = gd.placeholder((None,), "int64", name="labels")
    g = gd.variable(rng.standard_normal(24).astype(dtype), name="g")
    b = gd.variable(rng.standard_normal(24).astype(dtype), name="b")
    loss = gd.mean(gd.softmax_cross_entropy(z, labels)) + gd.sum(gd.log_softmax(z) ** 2.0) \
        + gd.sum(gd.layer_norm(z, g, b) * gd.gelu(z)) + gd.sum(gd.softmax(z, axis=-1) * z)
    values = rng.standard_normal((rows, 24)).astype(dtype) * 4
    values[0, :] = -np.inf  # an all -inf row
    values[1, 3] = np.nan
    values[2, 5] = np.inf
    values[3, :4] = [-0.0, 0.0, -0.0, 1e-30]
    return [z, labels], [loss, *gd.grad(loss, [z, g, b])], \
        [values, rng.integers(0, 24, rows)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_regions_of_softmax_layer_norm_gelu_and_their_gradients(dtype: str) -> None:
    """Every fused region of a loss and its gradients, numba against the numpy kernel."""
    inputs, outputs, arrays = _workloads(dtype)
    f = gd.function(inputs, outputs, passes=list(FUSED_PIPELINE))
    rows = arrays[0].shape[0]
    compiled = 0
    for node in f.graph.nodes:
        if node.op is not fused:
            continue
        (region,) = node.regions
        shapes = tuple(tuple(d if isinstance(d, int) else rows for d in p.shape)
                       for p in region.inputs)
        rng = np.random.default_rng(2)
        operands = [arrays[0] if s == arrays[0].shape else
                    rng.standard_normal(s).astype(p.dtype) for p, s in
                    zip(region.inputs, shapes)]
        try:
            kernel = numba_call.compiled(region, shapes)
        except numba_fused.Unsupported:
            continue
        compiled += 1
        with np.errstate(all="ignore"):
            want = fused_codegen.compiled(region, shapes)(*operands)
        got = kernel(*operands)
        want, got = (want, got) if isinstance(want, tuple) else ((want,), (got,))
        for i, (g, w) in enumerate(zip(got, want)):
            # float32 sums of large terms that cancel: errors scale with the largest term
            w = np.asarray(w, g.dtype)
            scale = float(np.max(np.abs(w[np.isfinite(w)]), initial=1.0))
            _close(g, w, f"output {i}", (2e-5, 2e-6 * scale))
    assert compiled >= 4


def test_the_kernel_source_is_the_cache_key_and_lives_in_the_cache_dir(tmp_path,
                                                                        monkeypatch) -> None:
    monkeypatch.setenv("GRAPHDIFF_CACHE_DIR", str(tmp_path))
    region = _all_ops_region("float32")
    shapes = ((5, 19), (19,), (5, 19))
    source, _, _ = numba_fused.plan(region, shapes)
    assert "fastmath" in source and "nnan" not in source and "ninf" not in source
    numba_call._dispatcher(source + "\n")  # a source not compiled in this process before
    assert len(list((tmp_path / "numba").glob("fused_*.py"))) == 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rank3_reductions_within_rows_over_rows_and_of_row_constants(dtype: str) -> None:
    """Reductions over some of a row's axes (kept in an array), over all of them (a scalar
    per row), over the rows (per-chunk partial results), of a value constant along rows (a
    copy), and NaN through max."""
    from graphdiff.ops.reduce import max_, sum_

    x = gd.placeholder((None, 6, 5), dtype, name="x")
    w = gd.placeholder((6, 1), dtype, name="w")
    within = sum_(x, axes=(2,), keepdims=True)
    row = max_(E.mul(x, w), axes=(1, 2), keepdims=True)
    shifted = E.exp(E.sub(x, within))
    out = E.add(E.mul(shifted, row), w)
    over_rows = sum_(out, axes=(0, 2), keepdims=False)
    total = sum_(out, axes=(0, 1, 2), keepdims=False)
    copy = sum_(row, axes=(1,), keepdims=False)
    region = Graph([x, w], [out, over_rows, total, copy, within])
    rng = np.random.default_rng(3)
    arrays = (rng.standard_normal((300, 6, 5)).astype(dtype),
              rng.standard_normal((6, 1)).astype(dtype))
    arrays[0][7, 2, 3] = np.nan
    arrays[0][8, :, :] = -np.inf
    shapes = tuple(a.shape for a in arrays)
    got = numba_call.compiled(region, shapes)(*arrays)
    for i, (g, w) in enumerate(zip(got, _numpy_values(region, arrays))):
        w = np.asarray(w)
        scale = float(np.max(np.abs(w[np.isfinite(w)]), initial=1.0))
        _close(g, w, f"output {i}", (1e-5, 1e-6 * scale))


# --- the backend: gd.function(..., backend="numba") against the reference -------------------

def _numba_kernels_run(f: gd.Function) -> int:
    """How many of the last signature's steps are numba kernels."""
    return sum(isinstance(k, numba_call._Caller) for k in f._last.generator.bound.values())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_backend_values_and_gradients_match_the_reference(dtype: str) -> None:
    inputs, outputs, arrays = _workloads(dtype, rows=300)
    want = gd.function(inputs, outputs, backend="reference", passes="none")(*arrays)
    f = gd.function(inputs, outputs, backend="numba")
    got = f(*arrays)
    assert _numba_kernels_run(f) >= 3
    for i, (g, w) in enumerate(zip(got, want)):
        w = np.asarray(w)
        scale = float(np.max(np.abs(w[np.isfinite(w)]), initial=1.0))
        _close(np.asarray(g), w, f"output {i}", (2e-4, 2e-5 * scale))


def test_mlp_step_with_matmul_heads_and_updates_matches_the_reference() -> None:
    rng = np.random.default_rng(4)

    def build():
        rng = np.random.default_rng(5)
        x = gd.placeholder((None, 64), "float32", name="x")
        y = gd.placeholder((None,), "int64", name="y")
        w1 = gd.variable(rng.standard_normal((64, 128)).astype(np.float32) * 0.1, name="w1")
        b1 = gd.variable(np.zeros(128, np.float32), name="b1")
        w2 = gd.variable(rng.standard_normal((128, 10)).astype(np.float32) * 0.1, name="w2")
        h = gd.relu(x @ w1 + b1)
        loss = gd.mean(gd.softmax_cross_entropy(h @ w2, y))
        params = [w1, b1, w2]
        grads = gd.grad(loss, params)
        return [x, y], loss, {p: p - 0.1 * g for p, g in zip(params, grads)}, params

    feeds = [rng.standard_normal((512, 64)).astype(np.float32), rng.integers(0, 10, 512)]
    results = []
    for backend, passes in (("reference", "none"), ("numba", "default")):
        inputs, loss, updates, params = build()
        f = gd.function(inputs, loss, updates=updates, backend=backend, passes=passes)
        losses = [float(f(*feeds)) for _ in range(3)]
        results.append((losses, [gd.get_value(p) for p in params]))
    (want_losses, want_params), (got_losses, got_params) = results
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-5)
    for g, w in zip(got_params, want_params):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


def test_concurrent_calls_stay_correct() -> None:
    import threading

    inputs, outputs, arrays = _workloads("float32", rows=2048)
    f = gd.function(inputs, outputs, backend="numba")
    want = f(*arrays)
    got: list = []

    def call() -> None:
        for _ in range(3):
            got.append(f(*arrays))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 12
    for result in got:
        for g, w in zip(result, want):
            np.testing.assert_array_equal(g, w)


def test_the_backend_runs_the_fusion_pass_by_default_and_knows_what_ops_need() -> None:
    from graphdiff.backends import get_backend
    from graphdiff.ir.node import OpDef

    x = gd.placeholder((None, 8), "float32", name="x")
    f = gd.function([x], gd.tanh(x * 2.0) + 1.0, backend="numba")
    assert any(n.op is fused for n in f.graph.nodes)
    lacking = OpDef(name="lacking", infer=lambda types: types[0], kernel=np.negative,
                    elementwise=True)
    assert "scalar" in get_backend("numba").missing(lacking)


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(random_graphs(max_ops=8))
def test_random_graphs_and_their_gradients_agree_with_the_reference(case) -> None:
    """The fuzzer's graphs (NaN, +-Inf and -0.0 among the inputs), every group a kernel."""
    from graphdiff.backends.numba import NumbaBackend

    grads = gd.grad(case.loss(), case.inputs, unconnected="zero")
    outputs = list(case.outputs) + list(grads)
    threshold, NumbaBackend.unfuse_at_most = NumbaBackend.unfuse_at_most, -1
    try:
        with np.errstate(all="ignore"):
            want = gd.function(case.inputs, outputs, passes="none")(*case.feeds)
            got = gd.function(case.inputs, outputs, backend="numba")(*case.feeds)
    finally:
        NumbaBackend.unfuse_at_most = threshold
    want, got = (want, got) if isinstance(want, list) else ([want], [got])
    assert_agree(got, want, case.dtype)


@pytest.mark.parametrize("dtype", ["int8", "int64", "uint8"])
def test_integer_division_and_bits_match_numpy_at_zero_minus_one_and_wide_shifts(
        dtype: str) -> None:
    """The cases where C traps or is undefined and numpy defines a value: a zero divisor, the
    smallest integer over -1, shift counts at or beyond the width and negative ones."""
    info = np.iinfo(dtype)
    a_values = np.array([7, -7, 0, info.min, info.max, 5, -1, 3], dtype=np.int64)
    b_values = np.array([2, -2, 3, -1, 0, 0, 9, 64], dtype=np.int64)
    if info.min == 0:
        a_values, b_values = np.abs(a_values) % 256, np.abs(b_values) % 256
    a = gd.placeholder((8,), dtype, name="a")
    b = gd.placeholder((8,), dtype, name="b")
    ops = [R.floor_divide, R.remainder, R.fmod, B.bitwise_and, B.bitwise_or, B.bitwise_xor,
           B.left_shift, B.right_shift]
    region = Graph([a, b], [op(a, b) for op in ops] + [B.bitwise_not(a)])
    arrays = (a_values.astype(dtype), b_values.astype(dtype))
    got = numba_call.compiled(region, ((8,), (8,)))(*arrays)
    for node, g, w in zip(region.outputs, got, _numpy_values(region, arrays)):
        _close(g, w, node.op.name)
