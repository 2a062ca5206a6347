"""backend="onnxruntime": every op case (forward and gradient) and the model training steps run
in onnxruntime sessions equal the reference backend; variables, signatures, providers and errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import graphdiff as gd
from graphdiff.api.pytree import flatten
from graphdiff.errors import BackendError
from graphdiff.ir import Graph

from .opcases import Case, all_cases

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from models import zoo  # noqa: E402

CASES = all_cases()
ORT = "onnxruntime"

# op name -> (rtol, atol) in float32: onnxruntime's kernels sum in other orders, and its erf is
# a polynomial (tests/test_onnx_export.py has the same table for exported models)
LOOSER32 = {"log1p": (1e-3, 1e-6), "expm1": (1e-3, 1e-6), "erf": (1e-5, 1e-5),
            "conv2d": (1e-4, 1e-5), "conv2d_input_grad": (1e-4, 1e-5),
            "conv2d_weight_grad": (1e-4, 1e-5), "einsum": (1e-4, 1e-5), "matmul": (1e-5, 1e-5)}
LOOSER64 = {"log1p": (1e-6, 1e-12), "expm1": (1e-6, 1e-12)}  # Log(1 + x), Exp(x) - 1


def _outputs(case: Case, inputs: list[gd.Node], arrays: list[np.ndarray]) -> list[gd.Node]:
    out = case.fn(*inputs)
    floats = [p for p, a in zip(inputs, arrays, strict=True) if a.dtype.kind == "f"]
    if not (case.grad and floats and out.dtype.kind == "f"):
        return [out]
    static = tuple(d if isinstance(d, int) else 1 for d in out.shape)
    weights = gd.constant(np.random.default_rng(1).standard_normal(static).astype(out.dtype))
    return [out, *gd.grad(gd.sum(out * weights), floats)]


def _tolerance(outputs: list[gd.Node], dtype: str) -> tuple[float, float]:
    table = LOOSER32 if dtype == "float32" else LOOSER64
    rtol, atol = (1e-5, 1e-6) if dtype == "float32" else (1e-10, 1e-12)
    for node in Graph([], outputs).nodes:
        if node.op.name in table:
            rtol, atol = max(rtol, table[node.op.name][0]), max(atol, table[node.op.name][1])
    return rtol, atol


def _run_case(case: Case, dtype: str) -> tuple[list, list, list[gd.Node]]:
    rng = np.random.default_rng(0)
    arrays = [arg.draw(rng, np.dtype(dtype)) for arg in case.args]
    inputs = case.placeholders(arrays)
    outputs = _outputs(case, inputs, arrays)
    want = gd.function(inputs, outputs, backend="reference")(*arrays)
    got = gd.function(inputs, outputs, backend=ORT)(*arrays)
    return got, want, outputs


# Cases whose float64 model onnxruntime 1.x cannot run: it has no double kernel for these ONNX
# ops. The backend refuses them when the session is made, naming the graphdiff op.
NO_FLOAT64 = {
    **{name: "conv2d.*Could not find an implementation for Conv" for name in (
        "conv2d", "conv2d_stride_pad", "conv2d_remainder_rows", "conv2d_per_side_pad",
        "conv2d_dilation", "conv2d_groups", "conv2d_large_map", "conv2d_large_map_groups",
        "conv2d_depthwise", "conv2d_symbolic_batch", "conv2d_bias", "conv_transpose2d",
        "conv2d_input_grad_2nd", "conv2d_weight_grad_2nd")},
    **{name: "avg_pool2d.*Could not find an implementation for AveragePool" for name in (
        "avg_pool2d", "avg_pool2d_overlap_pad", "avg_pool2d_exclude_pad", "avg_pool2d_grad_2nd")},
    "erf": "erf.*Could not find an implementation for Erf",
    "gelu": "erf.*Could not find an implementation for Erf",
    **{name: f"{name}.*Could not find an implementation for {onnx_op}" for name, onnx_op in (
        ("tan", "Tan"), ("arcsin", "Asin"), ("arccos", "Acos"), ("arctan", "Atan"),
        ("sinh", "Sinh"), ("cosh", "Cosh"), ("arcsinh", "Asinh"), ("arccosh", "Acosh"),
        ("arctanh", "Atanh"), ("arctan2", "Atan"))},
}


EXPORTED = [c for c in CASES if "no_onnx" not in c.tags]
UNEXPORTABLE = [c for c in CASES if "no_onnx" in c.tags]


@pytest.mark.parametrize("case", UNEXPORTABLE, ids=[c.name for c in UNEXPORTABLE])
def test_case_without_an_onnx_operator_fails_when_the_function_is_built(case: Case) -> None:
    """Solves and decompositions (ONNX has Det only): a BackendError naming the op and line."""
    with pytest.raises(BackendError, match=r"does not export: linalg op '\w+' has no ONNX "
                                           r"operator .* created at .*\.py:\d+"):
        _run_case(case, "float32")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", EXPORTED, ids=[c.name for c in EXPORTED])
def test_case_and_its_gradient_equal_the_reference(case: Case, dtype: str) -> None:
    if dtype == "float64" and case.name in NO_FLOAT64:
        with pytest.raises(BackendError, match=NO_FLOAT64[case.name]):
            _run_case(case, dtype)
        return
    got, want, outputs = _run_case(case, dtype)
    rtol, atol = _tolerance(outputs, dtype)
    for g, w in zip(got, want, strict=True):
        assert g.shape == np.shape(w) and g.dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def test_registry_every_op_lowers_to_onnx() -> None:
    from graphdiff.backends import get_backend
    from graphdiff.ir.node import OPS, OpDef

    backend = get_backend(ORT)
    missing = sorted(n for n, op in OPS.items() if backend.missing(op) is not None)
    assert not missing, f"ops the onnxruntime backend cannot run: {missing}"
    assert "onnx=" in backend.missing(OpDef("bare_for_test", lambda types: types[0], None))


# --- models: three training steps --------------------------------------------------------------

def _training_step(name: str, backend: str) -> tuple[gd.Function, list[gd.Node]]:
    recipe = zoo.RECIPES[name]
    model = recipe.build(np.random.default_rng(0))
    params = flatten(model.parameters())[0]
    x = gd.placeholder((None, *recipe.input_shape), "float32", name="x")
    y = gd.placeholder((x.shape[0],), "int64", name="y")
    loss = gd.mean(gd.softmax_cross_entropy(model(x), y))
    grads = gd.grad(loss, params)
    # SGD with momentum, not Adam: Adam divides by the gradient's size, so it would blow the
    # float32 rounding noise of gradients that are zero in exact arithmetic (the attention's key
    # bias) up to learning-rate-sized steps
    updates = gd.optim.SGD(0.1, momentum=0.9).updates(params, grads)
    return gd.function([x, y], loss, updates=updates, backend=backend), params


@pytest.mark.parametrize("name", ["mlp", "cnn", "transformer"])
def test_model_training_steps_equal_the_reference(name: str) -> None:
    recipe = zoo.RECIPES[name]
    reference, want_params = _training_step(name, "reference")
    session, got_params = _training_step(name, ORT)
    rng = np.random.default_rng(1)
    for batch in (8, 8, 5):  # the third step has another batch size: a second session
        x = rng.uniform(0, 1, (batch, *recipe.input_shape)).astype(np.float32)
        y = rng.integers(0, 10, batch).astype(np.int64)
        np.testing.assert_allclose(session(x, y), reference(x, y), rtol=1e-5)
        for got, want in zip(got_params, want_params, strict=True):
            np.testing.assert_allclose(gd.get_value(got), gd.get_value(want), rtol=1e-4,
                                       atol=1e-6, err_msg=got.name)
    assert len(session._programs) == 2


# --- variables, signatures, providers ------------------------------------------------------------

def test_updates_are_written_back_and_variables_read_each_call() -> None:
    W = gd.variable(np.zeros(2, np.float32), name="W")
    x = gd.placeholder((2,), "float32", name="x")
    f = gd.function([x], gd.sum(x * W), updates={W: W + x}, backend=ORT)
    assert f(np.ones(2, np.float32)) == 0.0
    assert f(np.ones(2, np.float32)) == 2.0
    gd.set_value(W, np.array([5.0, 1.0], np.float32))  # changed outside: the session sees it
    assert f(np.ones(2, np.float32)) == 6.0
    np.testing.assert_array_equal(gd.get_value(W), [6.0, 2.0])


def test_variables_it_does_not_update_are_baked_and_follow_every_change() -> None:
    W = gd.variable(np.ones((2, 2), np.float32), name="W")
    x = gd.placeholder((None, 2), "float32", name="x")
    infer = gd.function([x], x @ W, backend=ORT)
    assert infer.backend.baked == [W] and infer.backend.fed == []
    assert [i.name for i in infer.backend.model.graph.initializer if i.name == "W"] == ["W"]
    data = np.array([[1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(infer(data), [[3.0, 3.0]])
    gd.set_value(W, np.eye(2, dtype=np.float32))
    np.testing.assert_array_equal(infer(data), [[1.0, 2.0]])
    # the numpy backend swaps a variable's arrays in place: the same array object comes back
    # holding new numbers, so identity says nothing
    train = gd.function([], gd.sum(W), updates={W: W + 1.0}, backend="numpy")
    for step in range(1, 4):
        train()
        np.testing.assert_array_equal(infer(data), data @ (np.eye(2) + step))
    zero = gd.variable(np.zeros(2, np.float32), name="zero")
    scaled = gd.function([x], x * zero, backend=ORT)
    assert not np.signbit(scaled(data)).any()
    gd.set_value(zero, np.array([-0.0, 0.0], np.float32))  # a change of one sign bit
    np.testing.assert_array_equal(np.signbit(scaled(data)), [[True, False]])


def test_a_failing_call_changes_no_variable() -> None:
    table = gd.variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="table")
    count = gd.variable(np.zeros((), np.float32), name="count")
    index = gd.placeholder((None,), "int64", name="index")
    rows = gd.take(table, index, axis=0)
    f = gd.function([index], gd.sum(rows), updates={table: table * 2.0, count: count + 1.0},
                    backend=ORT)
    assert f(np.array([0, 2])) == 0 + 1 + 4 + 5
    before = gd.get_value(table).copy(), gd.get_value(count).copy()
    with pytest.raises(BackendError, match="onnxruntime failed"):
        f(np.array([0, 7]))  # onnxruntime's Gather checks its indices
    np.testing.assert_array_equal(gd.get_value(table), before[0])
    np.testing.assert_array_equal(gd.get_value(count), before[1])


def test_one_session_per_signature_with_its_dims_fixed() -> None:
    x = gd.placeholder(("batch", 3), "float32", name="x")
    f = gd.function([x], gd.sum(gd.tanh(x), axis=1), backend=ORT)
    model = f.backend.model
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    for n in (2, 5, 2):
        np.testing.assert_allclose(f(np.ones((n, 3), np.float32)), np.full(n, 3 * np.tanh(1.0)),
                                   rtol=1e-6)
    assert sorted(s[0][0] for s in f._programs) == [2, 5]
    sessions = [p.session for p in f._programs.values()]
    assert sessions[0] is not sessions[1]


def test_providers_are_passed_through() -> None:
    x = gd.placeholder((3,), "float32", name="x")
    f = gd.function([x], x * 2.0, backend=ORT, providers=["CPUExecutionProvider"])
    f(np.ones(3, np.float32))
    assert f._last.session.get_providers() == ["CPUExecutionProvider"]
    assert f.backend.backend.providers == ["CPUExecutionProvider"]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    g = gd.function([x], x * 2.0, backend=ORT, session_options=options)
    np.testing.assert_array_equal(g(np.ones(3, np.float32)), [2.0, 2.0, 2.0])
    assert g._last.session.get_session_options().intra_op_num_threads == 1


def test_bad_options_are_clear_errors() -> None:
    x = gd.placeholder((3,), "float32", name="x")
    with pytest.raises(BackendError, match="not 'provider'"):
        gd.function([x], x * 2.0, backend=ORT, provider=["CPUExecutionProvider"])
    with pytest.raises(BackendError, match="list of execution providers"):
        gd.function([x], x * 2.0, backend=ORT, providers="CPUExecutionProvider")
    with pytest.raises(BackendError, match="'numpy' takes no options, got providers="):
        gd.function([x], x * 2.0, backend="numpy", providers=["CPUExecutionProvider"])


def test_an_op_that_cannot_export_fails_when_the_function_is_built() -> None:
    from graphdiff.ir.node import OpDef, make_node

    x = gd.placeholder((3,), "float32", name="x")
    opaque = OpDef("opaque_for_test", lambda types: types[0], np.negative)
    y = make_node(opaque, [x], {})
    with pytest.raises(BackendError, match="opaque_for_test.*test_backend_onnxruntime.py"):
        gd.function([x], y, backend=ORT)


def test_check_finite_checks_the_results() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    f = gd.function([x], gd.log(x), backend=ORT, check_finite=True)
    np.testing.assert_allclose(f(np.array([1.0, 2.0, 3.0])), np.log([1.0, 2.0, 3.0]))
    with pytest.raises(gd.NonFiniteError, match="output 0 holds NaN or Inf"):
        f(np.array([1.0, 0.0, 3.0]))
    assert np.isnan(f(np.array([1.0, np.nan, 3.0]))[1])  # a NaN fed in is a value
