"""ONNX control flow both ways: switch (gd.cond, gd.switch) exports as If, while_loop as Loop,
scan as Scan (or Loop without scanned inputs); ONNX If, Loop and Scan import as switch,
while_loop and scan.

Every exported model passes onnx's full check and strict shape inference and runs in
onnxruntime on several inputs, in float32 and float64, against graphdiff's executor; the model
imported back runs too. Symbolic sequence lengths run at several lengths with one model.
Hand-written ONNX models (outer-scope reads, axes and directions, conditions computed in the
body, nested subgraphs) import and agree with onnxruntime.
"""

from __future__ import annotations

import random

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphdiff as gd

from .test_onnx_export import check, session

DTYPES = ["float32", "float64"]


def _tolerance(dtype: str) -> dict:
    # float32: a loop compounds onnxruntime's and numpy's rounding over its steps
    return dict(rtol=2e-5, atol=2e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)


def _agree(got, want, dtype: str) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        w = np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, **_tolerance(dtype))


def roundtrip(inputs, outputs, feeds_list, dtype: str, *, ops=(),
              reimport: bool = True) -> onnx.ModelProto:
    """Export, check, then run onnxruntime, graphdiff and the re-imported model on each feed."""
    model = gd.export_onnx(None, inputs, outputs)
    check(model)
    op_types = _op_types(model.graph)
    for op in ops:
        assert op in op_types, (op, sorted(op_types))
    function = gd.function(inputs, outputs)
    runtime = session(model)
    names = [i.name for i in model.graph.input]
    imported = gd.import_onnx(model) if reimport else None
    for feeds in feeds_list:
        feeds = [np.asarray(f) for f in feeds]  # onnxruntime takes arrays, not numpy scalars
        want = function(*feeds)
        _agree(runtime.run(None, dict(zip(names, feeds, strict=True))), want, dtype)
        if imported is not None:
            _agree(imported(*feeds), want, dtype)
    return model


def _op_types(graph: onnx.GraphProto) -> set[str]:
    found = set()
    for node in graph.node:
        found.add(node.op_type)
        for attribute in node.attribute:
            if attribute.HasField("g"):
                found |= _op_types(attribute.g)
    return found


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- export: switch -> If -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_cond_takes_either_branch_in_one_model(dtype: str) -> None:
    x = gd.placeholder(("n", 3), dtype, name="x")
    y = gd.placeholder(("n", 3), dtype, name="y")
    out = gd.cond(gd.sum(x) > 0, lambda a, b: gd.sin(a) * b, lambda a, b: a - gd.exp(b), x, y)
    rng = _rng()
    feeds = [[rng.uniform(0.1, 2, (n, 3)).astype(dtype) * sign, rng.normal(size=(n, 3))
              .astype(dtype)] for n, sign in ((2, 1), (2, -1), (5, -1), (1, 1))]
    model = roundtrip([x, y], [out], feeds, dtype, ops=["If"])
    (if_node,) = [n for n in model.graph.node if n.op_type == "If"]
    assert not if_node.attribute[0].g.input  # branches read the operands by name


@pytest.mark.parametrize("index_dtype", ["int64", "int32", "uint8"])
def test_switch_on_an_integer_index_clamps(index_dtype: str) -> None:
    x = gd.placeholder((2, 3), "float64", name="x")
    i = gd.placeholder((), index_dtype, name="i")
    branches = [lambda a: a * 2.0, lambda a: gd.tanh(a), lambda a: a * a, lambda a: -a]
    out = gd.switch(i, branches, x)
    values = [0, 1, 2, 3, 9] + ([-4, -1] if index_dtype != "uint8" else [255])
    x_value = _rng().normal(size=(2, 3))
    model = roundtrip([x, i], [out], [[x_value, np.array(v, index_dtype)] for v in values],
                      "float64", ops=["If", "LessOrEqual"])
    assert sum(n.op_type == "If" for n in model.graph.node) == 1  # the others nest in else


@pytest.mark.parametrize("dtype", DTYPES)
def test_cond_with_several_results_and_outside_values(dtype: str) -> None:
    x = gd.placeholder((3,), dtype, name="x")
    W = gd.variable(_rng(1).normal(size=(3, 3)).astype(dtype), name="W")
    pred = x[0] > x[1]
    a, (b, c) = gd.cond(pred, lambda v: (v @ W, (gd.sum(v), v * 3.0)),
                        lambda v: (v, (gd.max(v), gd.exp(v))), x)
    feeds = [[np.array(v, dtype)] for v in ([1, 0, 2], [0, 1, 2], [3, -1, 0.5])]
    roundtrip([x], [a, b, c], feeds, dtype, ops=["If"])


# --- export: while_loop -> Loop ------------------------------------------------------------------

def _doubling(x):
    def body(c):
        v, s = c
        return v * 1.5 + gd.sin(v), s * 2.0
    v, s = gd.while_loop(lambda c: c[1] < 10.0, body, (x, gd.sum(gd.abs(x)) + 0.5))
    return v, s


@pytest.mark.parametrize("dtype", DTYPES)
def test_while_loop_trip_count_depends_on_the_data(dtype: str) -> None:
    x = gd.placeholder(("n", 3), dtype, name="x")
    v, s = _doubling(x)
    rng = _rng()
    # scales 0.5..: several trip counts, and none at all when the sum starts above 10
    feeds = [[(rng.uniform(-1, 1, (n, 3)) * k).astype(dtype)] for n, k in
             ((2, 0.01), (2, 1.0), (4, 0.3), (3, 5.0))]
    model = roundtrip([x], [v, s], feeds, dtype, ops=["Loop"])
    (loop,) = [n for n in model.graph.node if n.op_type == "Loop"]
    assert loop.input[0] == ""  # no trip count: the condition, computed in the body, decides


@pytest.mark.parametrize("dtype", DTYPES)
def test_fori_loop_with_tensor_bounds(dtype: str) -> None:
    x = gd.placeholder((4,), dtype, name="x")
    lo = gd.placeholder((), "int64", name="lo")
    hi = gd.placeholder((), "int64", name="hi")
    out = gd.fori_loop(lo, hi, lambda i, v: gd.sin(v) * x + i.astype(dtype), x)
    x_value = _rng().normal(size=4).astype(dtype)
    feeds = [[x_value, np.int64(a), np.int64(b)] for a, b in ((0, 3), (2, 7), (5, 5), (4, 1))]
    roundtrip([x, lo, hi], [out], feeds, dtype, ops=["Loop"])


# --- export: scan -> Scan, or Loop ----------------------------------------------------------------

def _rnn(h0, xs, W, reverse=False):
    def step(h, x):
        h = gd.tanh(h @ W + x)
        return h, h * h
    return gd.scan(step, h0, xs, reverse=reverse)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_runs_sequences_of_any_length(dtype: str, reverse: bool) -> None:
    h0 = gd.placeholder(("batch", 3), dtype, name="h0")
    xs = gd.placeholder(("T", "batch", 3), dtype, name="xs")
    W = gd.placeholder((3, 3), dtype, name="W")  # a constant of the body, read by name
    h, ys = _rnn(h0, xs, W, reverse)
    rng = _rng()
    w = rng.uniform(-0.6, 0.6, (3, 3)).astype(dtype)
    feeds = [[rng.normal(size=(b, 3)).astype(dtype), rng.normal(size=(t, b, 3)).astype(dtype),
              w] for t, b in ((5, 2), (1, 2), (9, 4))]
    model = roundtrip([h0, xs, W], [h, ys], feeds, dtype, ops=["Scan"])
    (scan,) = [n for n in model.graph.node if n.op_type == "Scan"]
    body = scan.attribute[0].g
    dims = [d.dim_param or d.dim_value for d in body.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3] and len(body.input) == 2  # carry and slice; W from outside
    directions = {a.name: list(a.ints) for a in scan.attribute if a.ints}
    assert directions == ({"scan_input_directions": [1], "scan_output_directions": [1]}
                          if reverse else {})


@pytest.mark.parametrize("dtype", DTYPES)
def test_scan_without_inputs_is_a_loop_of_the_symbolic_length(dtype: str) -> None:
    xs = gd.placeholder(("T", 2), dtype, name="xs")  # defines T
    v0 = gd.placeholder(("m",), dtype, name="v0")
    total = gd.sum(xs)
    carry, ys = gd.scan(lambda c, _: (c * 0.5 + total, gd.sin(c)), v0, length="T")
    _, back = gd.scan(lambda c, _: (c + 1.0, c * 2.0), v0, length="T", reverse=True)
    rng = _rng()
    feeds = [[rng.normal(size=(t, 2)).astype(dtype), rng.normal(size=(m,)).astype(dtype)]
             for t, m in ((4, 3), (1, 2), (0, 3), (7, 1))]
    roundtrip([xs, v0], [carry, ys, back], feeds, dtype, ops=["Loop"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_fori_loop_static_and_symbolic(dtype: str) -> None:
    x = gd.placeholder(("n",), dtype, name="x")
    static = gd.fori_loop(0, 4, lambda i, v: gd.sin(v) * x + i.astype(dtype), x)
    symbolic = gd.fori_loop(0, "n", lambda i, v: v * 0.5 + i.astype(dtype), x)
    feeds = [[_rng(n).normal(size=n).astype(dtype)] for n in (3, 6)]
    roundtrip([x], [static, symbolic], feeds, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scan_with_several_carries_and_outputs(dtype: str) -> None:
    xs = gd.placeholder(("T", 2), dtype, name="xs")
    ts = gd.placeholder(("T",), "int64", name="ts")

    def step(carry, inputs):
        x, t = inputs
        new = {"sum": carry["sum"] + x, "prod": carry["prod"] * gd.cos(x),
               "count": carry["count"] + t}
        return new, (new["sum"] * 2.0, t * 3)
    init = {"sum": gd.zeros(2, dtype), "prod": gd.ones(2, dtype),
            "count": gd.constant(np.int64(0))}
    carry, (y, z) = gd.scan(step, init, (xs, ts))
    rng = _rng()
    feeds = [[rng.normal(size=(t, 2)).astype(dtype), rng.integers(0, 9, t)] for t in (3, 6)]
    roundtrip([xs, ts], [carry["sum"], carry["prod"], carry["count"], y, z], feeds, dtype,
              ops=["Scan"])


# --- nesting --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_nested_regions(dtype: str) -> None:
    xs = gd.placeholder(("T", 3), dtype, name="xs")
    limit = gd.placeholder((), dtype, name="limit")

    def step(c, x):
        # a cond inside a scan body, a while loop inside the branch, reading outside values
        def grow(v):
            return gd.while_loop(lambda u: gd.sum(gd.abs(u)) < limit,
                                 lambda u: u * 2.0 + 0.1, v)
        c = gd.cond(gd.sum(x) > 0, grow, lambda v: v - x, c + x)
        return c, gd.sum(c)
    c, ys = gd.scan(step, gd.zeros(3, dtype), xs)
    inner = gd.cond(limit > 1.0, lambda v: gd.scan(lambda a, r: (a + r, a), v[0], v)[1],
                    lambda v: v * 0.0, xs)
    rng = _rng()
    feeds = [[rng.normal(size=(t, 3)).astype(dtype), np.asarray(k, dtype)]
             for t, k in ((4, 5.0), (2, 0.5), (6, 20.0))]
    roundtrip([xs, limit], [c, ys, inner], feeds, dtype, ops=["Scan", "If", "Loop"])


# --- derivatives ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_of_a_scan_exports(dtype: str) -> None:
    h0 = gd.placeholder((3,), dtype, name="h0")
    xs = gd.placeholder(("T", 3), dtype, name="xs")
    W = gd.variable(_rng(2).uniform(-0.6, 0.6, (3, 3)).astype(dtype), name="W")
    h, ys = _rnn(h0, xs, W)
    loss = gd.sum(ys) + gd.sum(h * h)
    grads = gd.grad(loss, [W, h0, xs])
    rng = _rng()
    feeds = [[rng.normal(size=3).astype(dtype), rng.normal(size=(t, 3)).astype(dtype)]
             for t in (4, 1, 7)]
    roundtrip([h0, xs], [loss, *grads], feeds, dtype, ops=["Scan"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_of_a_checkpointed_scan_exports(dtype: str) -> None:
    xs = gd.placeholder((8, 3), dtype, name="xs")
    W = gd.variable(_rng(3).uniform(-0.6, 0.6, (3, 3)).astype(dtype), name="W")
    h, _ = gd.scan(lambda c, x: (gd.tanh(c @ W + x), None), gd.zeros(3, dtype), xs,
                   checkpoint=2)
    (gW,) = gd.grad(gd.sum(h), [W])
    feeds = [[_rng(t).normal(size=(8, 3)).astype(dtype)] for t in (0, 1)]
    roundtrip([xs], [h, gW], feeds, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_of_a_while_loop_exports_its_stack(dtype: str) -> None:
    x = gd.placeholder(("n", 3), dtype, name="x")
    v, _ = _doubling(x)
    (g,) = gd.grad(gd.sum(v * v), [x])
    rng = _rng()
    # a loop of several steps, and one of none (the reverse loop then reads an empty stack)
    feeds = [[(rng.uniform(-1, 1, (n, 3)) * k).astype(dtype)] for n, k in
             ((2, 0.1), (3, 1.0), (2, 6.0))]
    model = roundtrip([x], [v, g], feeds, dtype, ops=["Loop", "Gather"], reimport=False)
    loops = [n for n in model.graph.node if n.op_type == "Loop"]
    assert max(len(n.output) for n in loops) == 3  # carry (2), the saved values as a scan output
    # the saved values are a Loop's scan outputs, whose length only a run knows: graphdiff
    # cannot import that model back (its own graph saves them on a stack)
    with pytest.raises(gd.OnnxError, match="scan outputs must run a number of steps known"):
        gd.import_onnx(model)


def test_gradient_of_a_linear_while_loop_counts_its_steps() -> None:
    # the derivative of v * 2 needs nothing saved: the stack holds empty entries, and the
    # reverse loop runs once per entry all the same (the Loop saves the iteration numbers)
    x = gd.placeholder((3,), "float64", name="x")
    v = gd.while_loop(lambda u: gd.sum(gd.abs(u)) < 10.0, lambda u: u * 2.0, x)
    (g,) = gd.grad(gd.sum(v), [x])
    feeds = [[np.array(a)] for a in ([0.1, 0.2, 0.3], [1.0, 2.0, 3.0], [5.0, 5.0, 5.0])]
    roundtrip([x], [v, g], feeds, "float64", reimport=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_of_a_cond_exports(dtype: str) -> None:
    x = gd.placeholder((2, 3), dtype, name="x")
    y = gd.placeholder((2, 3), dtype, name="y")
    out = gd.cond(gd.sum(x) > 0, lambda a, b: gd.sin(a) * b, lambda a, b: a - gd.exp(b), x, y)
    grads = gd.grad(gd.sum(out * out), [x, y])
    rng = _rng()
    feeds = [[rng.uniform(0.1, 1, (2, 3)).astype(dtype) * s, rng.normal(size=(2, 3))
              .astype(dtype)] for s in (1, -1)]
    roundtrip([x, y], [out, *grads], feeds, dtype, ops=["If"])


def test_training_step_of_a_recurrent_model_exports() -> None:
    xs = gd.placeholder(("T", "batch", 4), "float32", name="xs")
    target = gd.placeholder(("batch", 3), "float32", name="target")
    rng = _rng(5)
    W = gd.variable(rng.uniform(-0.4, 0.4, (4, 3)).astype(np.float32), name="W")
    U = gd.variable(rng.uniform(-0.4, 0.4, (3, 3)).astype(np.float32), name="U")
    h0 = gd.zeros((3,), "float32") + gd.sum(xs[0], axis=1, keepdims=True) * 0.0
    h, _ = gd.scan(lambda h, x: (gd.tanh(x @ W + h @ U), None), h0, xs)
    loss = gd.mean((h - target) ** 2)
    model = gd.export_training_step(None, [xs, target], loss, [W, U],
                                    update=lambda p, g: p - 0.5 * g)
    check(model)
    step = gd.function([xs, target], [loss, *gd.grad(loss, [W, U])])
    runtime = session(model)
    for t, b in ((5, 2), (2, 3)):
        feeds = {"xs": rng.normal(size=(t, b, 4)).astype(np.float32),
                 "target": rng.normal(size=(b, 3)).astype(np.float32),
                 "W": W.data.value, "U": U.data.value}
        got = runtime.run(None, feeds)
        want = step(feeds["xs"], feeds["target"])
        for g, w in zip(got[:3], want, strict=True):
            np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(got[3], W.data.value - 0.5 * want[1], rtol=2e-5, atol=2e-6)


def test_imported_loop_differentiates() -> None:
    h0 = gd.placeholder((3,), "float64", name="h0")
    xs = gd.placeholder(("T", 3), "float64", name="xs")
    W = gd.variable(_rng(2).uniform(-0.6, 0.6, (3, 3)), name="W")
    h, ys = _rnn(h0, xs, W)
    model = gd.import_onnx(gd.export_onnx(None, [h0, xs], [gd.sum(ys) + gd.sum(h)]))
    (gW,) = gd.grad(model.outputs[0], [model.variables["W"]])
    want = gd.function([h0, xs], gd.grad(gd.sum(ys) + gd.sum(h), [W]))
    feeds = [_rng().normal(size=3), _rng(1).normal(size=(5, 3))]
    np.testing.assert_allclose(gd.function(model.inputs, [gW])(*feeds)[0], want(*feeds)[0],
                               rtol=1e-10, atol=1e-12)


def test_a_stack_is_not_a_graph_output() -> None:
    from graphdiff.ops.control import while_loop
    from graphdiff.ops.core import result

    x = gd.placeholder((2,), "float32", name="x")
    p, q = gd.placeholder((2,), "float32"), gd.placeholder((2,), "float32")
    test = gd.Graph([p], [gd.sum(p) < 10.0])
    body = gd.Graph([q], [q * 2.0, q])
    node = while_loop(x, regions=(test, body), n_cond=0, n_body=0, stack=True, max_steps=None)
    with pytest.raises(gd.OnnxError, match="stack"):
        gd.export_onnx(None, [x], [result(node, index=1)])


# --- import of hand-written models ----------------------------------------------------------------

def _info(name: str, elem: int, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _model(nodes, inputs, outputs, initializers=(), opset=18) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    opset_id = helper.make_opsetid("", opset)
    return helper.make_model(graph, opset_imports=[opset_id],
                             ir_version=helper.find_min_ir_version_for([opset_id]))


def _against_onnxruntime(model: onnx.ModelProto, feeds_list, *, checked: bool = True,
                         **tolerance) -> gd.OnnxModel:
    if checked:
        onnx.checker.check_model(model, full_check=True)
    imported = gd.import_onnx(model)
    names = [i.name for i in model.graph.input]
    runtime = session(model)
    for feeds in feeds_list:
        feeds = [np.asarray(f) for f in feeds]
        want = runtime.run(None, dict(zip(names, feeds, strict=True)))
        got = imported(*feeds)
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, **(tolerance or dict(rtol=1e-6, atol=1e-6)))
    return imported


def _ops_of(imported: gd.OnnxModel) -> set[str]:
    return set(imported.graph.op_counts())


F = TensorProto.FLOAT


def test_loop_with_a_condition_computed_in_the_body_is_a_while_loop() -> None:
    # v = v * 2 + offset while sum(v) < limit, at most M times; offset read from outside
    body = helper.make_graph(
        [helper.make_node("Mul", ["v", "two"], ["doubled"]),
         helper.make_node("Add", ["doubled", "offset"], ["v_out"]),
         helper.make_node("ReduceSum", ["v_out"], ["total"], keepdims=0),
         helper.make_node("Less", ["total", "limit"], ["cond_out"])],
        "body", [_info("i", TensorProto.INT64, []), _info("cond", TensorProto.BOOL, []),
                 _info("v", F, [3])], [_info("cond_out", TensorProto.BOOL, []),
                                       _info("v_out", F, [3])])
    model = _model(
        [helper.make_node("ReduceSum", ["v0"], ["s0"], keepdims=0),
         helper.make_node("Less", ["s0", "limit"], ["cond0"]),
         helper.make_node("Loop", ["M", "cond0", "v0"], ["v_final"], body=body)],
        [_info("M", TensorProto.INT64, []), _info("v0", F, [3]), _info("offset", F, [3])],
        [_info("v_final", F, [3])],
        [numpy_helper.from_array(np.float32(2), "two"),
         numpy_helper.from_array(np.float32(50), "limit")])
    feeds = [[np.int64(m), np.array(v, np.float32), np.array([0.1, 0.2, 0.3], np.float32)]
             for m, v in ((10, [1, 2, 3]), (2, [1, 2, 3]), (0, [1, 1, 1]), (10, [40, 20, 1]))]
    imported = _against_onnxruntime(model, feeds)
    assert "while_loop" in _ops_of(imported)


def test_loop_with_scan_outputs_and_a_symbolic_trip_count_is_a_scan() -> None:
    # the iteration number, the condition passed through, a scan output, an outer value
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]),
         helper.make_node("Cast", ["i"], ["i_f"], to=F),
         helper.make_node("Mul", ["acc", "scale"], ["scaled"]),
         helper.make_node("Add", ["scaled", "i_f"], ["acc_out"]),
         helper.make_node("Mul", ["acc_out", "acc_out"], ["y"])],
        "body", [_info("i", TensorProto.INT64, []), _info("cond", TensorProto.BOOL, []),
                 _info("acc", F, ["k"])],
        [_info("cond_out", TensorProto.BOOL, []), _info("acc_out", F, ["k"]),
         _info("y", F, ["k"])])
    model = _model(
        [helper.make_node("Shape", ["xs"], ["shape"], start=0, end=1),
         helper.make_node("Squeeze", ["shape", "zero"], ["trips"]),
         helper.make_node("ReduceMean", ["xs"], ["scale"], keepdims=0),
         helper.make_node("Loop", ["trips", "", "acc0"], ["acc", "ys"], body=body)],
        [_info("xs", F, ["T", 2]), _info("acc0", F, ["k"])],
        [_info("acc", F, ["k"]), _info("ys", F, ["T", "k"])],
        [numpy_helper.from_array(np.array([0], np.int64), "zero")])
    rng = _rng()
    feeds = [[rng.normal(size=(t, 2)).astype(np.float32), rng.normal(size=k).astype(np.float32)]
             for t, k in ((3, 2), (6, 4), (1, 1))]
    imported = _against_onnxruntime(model, feeds)
    assert "scan" in _ops_of(imported) and "while_loop" not in _ops_of(imported)
    assert imported.outputs[1].shape == ("T", "k")


def test_loop_with_scan_outputs_needs_a_known_trip_count() -> None:
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]),
         helper.make_node("Add", ["v", "v"], ["v_out"]),
         helper.make_node("Identity", ["v"], ["y"])],
        "body", [_info("i", TensorProto.INT64, []), _info("cond", TensorProto.BOOL, []),
                 _info("v", F, [2])],
        [_info("cond_out", TensorProto.BOOL, []), _info("v_out", F, [2]), _info("y", F, [2])])
    model = _model([helper.make_node("Loop", ["M", "", "v0"], ["v", "ys"], body=body)],
                   [_info("M", TensorProto.INT64, []), _info("v0", F, [2])],
                   [_info("v", F, [2]), _info("ys", F, ["T", 2])])
    with pytest.raises(gd.OnnxError, match="must be known"):
        gd.import_onnx(model)
    bound = gd.import_onnx(model, bind={"M": np.int64(3)})
    v, ys = bound(np.array([1, 2], np.float32))
    np.testing.assert_array_equal(v, [8, 16])
    np.testing.assert_array_equal(ys, [[1, 2], [2, 4], [4, 8]])


def test_loop_whose_body_slices_at_the_iteration_is_unrolled() -> None:
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]),
         helper.make_node("Unsqueeze", ["i", "zero"], ["start"]),
         helper.make_node("Add", ["start", "one"], ["stop"]),
         helper.make_node("Slice", ["x", "start", "stop"], ["piece"]),
         helper.make_node("Add", ["acc", "piece"], ["acc_out"]),
         helper.make_node("Identity", ["acc_out"], ["y"])],
        "body", [_info("i", TensorProto.INT64, []), _info("cond", TensorProto.BOOL, []),
                 _info("acc", F, [1])],
        [_info("cond_out", TensorProto.BOOL, []), _info("acc_out", F, [1]), _info("y", F, [1])])
    model = _model([helper.make_node("Loop", ["M", "", "acc0"], ["acc", "ys"], body=body)],
                   [_info("x", F, [5]), _info("acc0", F, [1])],
                   [_info("acc", F, [1]), _info("ys", F, [4, 1])],
                   [numpy_helper.from_array(np.int64(4), "M"),
                    numpy_helper.from_array(np.array([0], np.int64), "zero"),
                    numpy_helper.from_array(np.array([1], np.int64), "one")])
    _against_onnxruntime(model, [[np.arange(5, dtype=np.float32), np.array([-1], np.float32)]])


def test_scan_axes_and_directions() -> None:
    # input 0 scanned along axis 1 backwards, input 1 along axis 0 forwards; output 0 stacked
    # along axis 1, output 1 reversed
    body = helper.make_graph(
        [helper.make_node("Mul", ["a", "b"], ["ab"]),
         helper.make_node("Add", ["s", "ab"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["y0"]),
         helper.make_node("Sub", ["a", "b"], ["y1"])],
        "body", [_info("s", F, [2]), _info("a", F, [2]), _info("b", F, [2])],
        [_info("s_out", F, [2]), _info("y0", F, [2]), _info("y1", F, [2])])
    scan = helper.make_node("Scan", ["s0", "xa", "xb"], ["s", "ys0", "ys1"], body=body,
                            num_scan_inputs=2, scan_input_axes=[1, 0],
                            scan_input_directions=[1, 0], scan_output_axes=[1, 0],
                            scan_output_directions=[0, 1])
    model = _model([scan], [_info("s0", F, [2]), _info("xa", F, [2, 4]), _info("xb", F, [4, 2])],
                   [_info("s", F, [2]), _info("ys0", F, [2, 4]), _info("ys1", F, [4, 2])])
    rng = _rng()
    feeds = [[rng.normal(size=2).astype(np.float32), rng.normal(size=(2, 4)).astype(np.float32),
              rng.normal(size=(4, 2)).astype(np.float32)] for _ in range(2)]
    _against_onnxruntime(model, feeds)


@pytest.mark.parametrize("direction", [0, 1])
def test_scan_reads_outer_values_and_keeps_symbolic_lengths(direction: int) -> None:
    body = helper.make_graph(
        [helper.make_node("MatMul", ["h", "W"], ["hW"]),
         helper.make_node("Add", ["hW", "x"], ["pre"]),
         helper.make_node("Tanh", ["pre"], ["h_out"]),
         helper.make_node("Identity", ["h_out"], ["y"])],
        "body", [_info("h", F, [3]), _info("x", F, [3])],
        [_info("h_out", F, [3]), _info("y", F, [3])])
    scan = helper.make_node("Scan", ["h0", "xs"], ["h", "ys"], body=body, num_scan_inputs=1,
                            scan_input_directions=[direction],
                            scan_output_directions=[direction])
    model = _model([scan], [_info("h0", F, [3]), _info("xs", F, ["T", 3])],
                   [_info("h", F, [3]), _info("ys", F, ["T", 3])],
                   [numpy_helper.from_array(_rng(4).uniform(-.6, .6, (3, 3))
                                            .astype(np.float32), "W")])
    rng = _rng()
    feeds = [[rng.normal(size=3).astype(np.float32), rng.normal(size=(t, 3)).astype(np.float32)]
             for t in (2, 5)]
    imported = _against_onnxruntime(model, feeds)
    assert imported.outputs[1].shape == ("T", 3)
    grads = gd.grad(gd.sum(imported.outputs[1]), [imported.variables["W"]])
    assert grads[0].shape == (3, 3)


def test_opset_8_scan_with_a_batch_axis() -> None:
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "x"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["y"])],
        "body", [_info("s", F, [2]), _info("x", F, [2])],
        [_info("s_out", F, [2]), _info("y", F, [2])])
    scan = helper.make_node("Scan", ["", "s0", "xs"], ["s", "ys"], body=body,
                            num_scan_inputs=1, directions=[1])
    model = _model([scan], [_info("s0", F, [2, 2]), _info("xs", F, [2, 3, 2])],
                   [_info("s", F, [2, 2]), _info("ys", F, [2, 3, 2])], opset=8)
    rng = _rng()
    _against_onnxruntime(model, [[rng.normal(size=(2, 2)).astype(np.float32),
                                  rng.normal(size=(2, 3, 2)).astype(np.float32)]])


def test_if_on_a_known_condition_imports_the_branch_taken() -> None:
    # the branches have different shapes, as ONNX allows: only the one taken is built
    then_branch = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "then", [],
                                    [_info("t", F, [4])])
    else_branch = helper.make_graph([helper.make_node("ReduceSum", ["x"], ["e"], keepdims=1)],
                                    "else", [], [_info("e", F, [1])])
    for flag, shape in ((True, (4,)), (False, (1,))):
        model = _model([helper.make_node("If", ["flag"], ["out"], then_branch=then_branch,
                                         else_branch=else_branch)],
                       [_info("x", F, [4])], [_info("out", F, shape)],
                       [numpy_helper.from_array(np.bool_(flag), "flag")])
        imported = gd.import_onnx(model)
        assert imported.outputs[0].shape == shape and "switch" not in _ops_of(imported)
        _against_onnxruntime(model, [[np.arange(4, dtype=np.float32)]])


def test_if_nested_in_a_loop_reads_every_enclosing_graph() -> None:
    # Loop body: If (v > 0 summed) then v * scale else v - step; scale from the main graph
    then_branch = helper.make_graph([helper.make_node("Mul", ["v", "scale"], ["t"])], "then",
                                    [], [_info("t", F, [2])])
    else_branch = helper.make_graph([helper.make_node("Sub", ["v", "i_f"], ["e"])], "else", [],
                                    [_info("e", F, [2])])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]),
         helper.make_node("Cast", ["i"], ["i_f"], to=F),
         helper.make_node("ReduceSum", ["v"], ["total"], keepdims=0),
         helper.make_node("Greater", ["total", "zero"], ["positive"]),
         helper.make_node("If", ["positive"], ["v_out"], then_branch=then_branch,
                          else_branch=else_branch)],
        "body", [_info("i", TensorProto.INT64, []), _info("cond", TensorProto.BOOL, []),
                 _info("v", F, [2])],
        [_info("cond_out", TensorProto.BOOL, []), _info("v_out", F, [2])])
    # the Loop comes before the node that computes `scale` in the file: import waits for it
    model = _model([helper.make_node("Loop", ["M", "", "v0"], ["v"], body=body),
                    helper.make_node("Abs", ["s"], ["scale"])],
                   [_info("v0", F, [2]), _info("s", F, [])], [_info("v", F, [2])],
                   [numpy_helper.from_array(np.int64(5), "M"),
                    numpy_helper.from_array(np.float32(0), "zero")])
    imported = gd.import_onnx(model)
    v0, s = np.array([0.5, 0.25], np.float32), np.float32(-1.5)
    v = v0
    for i in range(5):
        v = v * abs(s) if v.sum() > 0 else v - i
    np.testing.assert_allclose(imported(v0, s)[0], v, rtol=1e-6)
    assert {"scan", "switch"} <= _ops_of(imported)
    model.graph.node.insert(0, model.graph.node.pop())  # in order, onnxruntime runs it too
    _against_onnxruntime(model, [[v0, s], [-v0, s]])


def test_malformed_control_flow_is_an_onnx_error() -> None:
    body = helper.make_graph([helper.make_node("Identity", ["cond"], ["cond_out"])], "body",
                             [_info("i", TensorProto.INT64, []),
                              _info("cond", TensorProto.BOOL, [])],
                             [_info("cond_out", TensorProto.BOOL, [])])
    cases = [
        # the body's inputs do not match the carried values
        (_model([helper.make_node("Loop", ["", "c", "v0"], ["v"], body=body)],
                [_info("c", TensorProto.BOOL, []), _info("v0", F, [2])], [_info("v", F, [2])]),
         "body takes"),
        # no trip count and no condition: never ends
        (_model([helper.make_node("Loop", ["", ""], [], body=body)], [], []), "never ends"),
        # a branch that reads a value nobody defines
        (_model([helper.make_node("If", ["c"], ["o"], then_branch=helper.make_graph(
            [helper.make_node("Identity", ["ghost"], ["t"])], "t", [], [_info("t", F, [])]),
            else_branch=helper.make_graph([], "e", [], [_info("c", TensorProto.BOOL, [])]))],
            [_info("c", TensorProto.BOOL, [])], [_info("o", F, [])]), "ghost"),
        # branches returning other types
        (_model([helper.make_node("If", ["c"], ["o"], then_branch=helper.make_graph(
            [helper.make_node("Identity", ["x"], ["t"])], "t", [], [_info("t", F, [2])]),
            else_branch=helper.make_graph([helper.make_node("Cast", ["x"], ["e"], to=7)],
                                          "e", [], [_info("e", 7, [2])]))],
            [_info("c", TensorProto.BOOL, []), _info("x", F, [2])], [_info("o", F, [2])]),
         "branch"),
        # a Scan without num_scan_inputs
        (_model([helper.make_node("Scan", ["x"], ["y"], body=body)], [_info("x", F, [2, 2])],
                [_info("y", F, [2, 2])]), "num_scan_inputs"),
    ]
    for model, match in cases:
        with pytest.raises(gd.OnnxError, match=match):
            gd.import_onnx(model)


def test_random_mutations_of_control_flow_never_crash() -> None:
    """Exported control-flow models with their subgraphs mutated: imported or an OnnxError."""
    x = gd.placeholder(("n", 3), "float32", name="x")
    xs = gd.placeholder(("T", 3), "float32", name="xs")
    v, _ = _doubling(x)
    h, ys = _rnn(gd.zeros(3, "float32"), xs, gd.constant(np.eye(3, dtype=np.float32)))
    out = gd.cond(gd.sum(x) > 0, lambda a: a * 2.0, lambda a: gd.exp(a), x)
    seeds = [gd.export_onnx(None, [x, xs], [v, h, ys, out]).SerializeToString()]
    rng = random.Random(0)
    op_types = ["Add", "Identity", "If", "Loop", "Scan", "Shape", "Less", "Gather"]
    outcomes = {"imported": 0, "rejected": 0}
    for _ in range(150):
        model = onnx.ModelProto.FromString(rng.choice(seeds))
        graphs = [model.graph] + [a.g for n in model.graph.node for a in n.attribute
                                  if a.HasField("g")]
        for _ in range(rng.randrange(1, 4)):
            graph = rng.choice(graphs)
            if not graph.node:
                continue
            node = rng.choice(list(graph.node))
            choice = rng.randrange(5)
            if choice == 0:
                node.op_type = rng.choice(op_types)
            elif choice == 1 and node.input:
                names = [n for other in graph.node for n in other.output] + ["", "ghost"]
                node.input[rng.randrange(len(node.input))] = rng.choice(names)
            elif choice == 2 and node.attribute:
                del node.attribute[rng.randrange(len(node.attribute))]
            elif choice == 3 and graph.input:
                del graph.input[rng.randrange(len(graph.input))]
            elif graph.output:
                del graph.output[rng.randrange(len(graph.output))]
        try:
            imported = gd.import_onnx(model.SerializeToString())
            gd.function(imported.inputs, imported.outputs)
            outcomes["imported"] += 1
        except gd.OnnxError:
            outcomes["rejected"] += 1
    assert outcomes["imported"] > 0 and outcomes["rejected"] > 30, outcomes
