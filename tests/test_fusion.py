"""Elementwise fusion: the expected groups, convexity, generated kernels, and no wrong answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import graphdiff as gd
from graphdiff.ir import Graph
from graphdiff.ops import fused_codegen
from graphdiff.ops.core import result
from graphdiff.ops.fused import fused
from graphdiff.passes.fusion import fuse, unfuse
from graphdiff.runtime import unfuse as unfuse_module

from .opcases import all_cases
from .strategies import RandomGraph, random_graphs
from .test_fuzz import FUZZ, _run, assert_agree


@pytest.fixture(autouse=True)
def _run_every_group_as_its_kernel(monkeypatch) -> None:
    """These tests use small arrays, which by default run as the primitives (runtime/unfuse.py):
    run even those through the generated kernels, which are what is tested here."""
    monkeypatch.setattr(unfuse_module, "UNFUSE_AT_MOST_BYTES", -1)


def _fused_nodes(graph: Graph) -> list[gd.Node]:
    return [n for n in graph.nodes if n.op is fused]


def _body_ops(node: gd.Node) -> list[str]:
    """The ops of a fused node's region, in the region's order (its parameters left out)."""
    (region,) = node.regions
    params = set(region.inputs)
    return [n.op.name for n in region.nodes if n not in params]


def test_a_chain_becomes_one_fused_node_with_the_expected_body() -> None:
    x = gd.placeholder(("n", 8), "float32", name="x")
    y = gd.tanh(x * 2.0 + 1.0)
    graph, changed = fuse(Graph([x], [y]))
    assert changed
    (node,) = _fused_nodes(graph)
    assert _body_ops(node) == ["mul", "add", "tanh"]
    assert graph.outputs == (node,)
    text = str(graph)
    assert "= fused x, %" in text and "region 0 (%0.0: f32[n,8]" in text
    assert "%0.5: f32[n,8] = tanh %0.4" in text and "return %0.5" in text
    assert "body" not in text
    again, changed_again = fuse(graph)
    assert not changed_again and again.outputs == graph.outputs


def test_single_ops_and_non_elementwise_ops_are_left_alone() -> None:
    x = gd.placeholder((4, 4), "float64", name="x")
    y = gd.exp(x) @ x
    graph, changed = fuse(Graph([x], [y]))
    assert not changed and graph.outputs == (y,)


def test_matmul_epilogue_and_trailing_reduction_join_the_group() -> None:
    x = gd.placeholder((None, 16), "float64", name="x")
    w = gd.variable(np.ones((16, 8)), name="w")
    b = gd.variable(np.zeros(8), name="b")
    y = gd.sum(gd.relu(x @ w + b) ** 2.0, axis=1)
    (node,) = _fused_nodes(fuse(Graph([x], [y]))[0])
    assert _body_ops(node) == ["matmul", "add", "relu", "pow", "sum"]


def test_a_value_used_after_the_group_becomes_an_extra_output() -> None:
    x = gd.placeholder((6, 5), "float64", name="x")
    w = gd.placeholder((5, 2), "float64", name="w")
    h = gd.exp(x * 3.0)
    total = gd.sum(h, axis=0)  # the group's root
    product = h @ w  # reads h after the root, outside the group
    graph, _ = fuse(Graph([x, w], [total, product]))
    graph.verify()
    (node,) = _fused_nodes(graph)
    assert _body_ops(node) == ["mul", "exp", "sum"]
    assert len(node.regions[0].outputs) == 2 and node.is_tuple
    assert graph.outputs[1].inputs[0].op is result
    rng = np.random.default_rng(0)
    xv, wv = rng.standard_normal((6, 5)), rng.standard_normal((5, 2))
    got = gd.function([x, w], list(graph.outputs), passes="none")(xv, wv)
    np.testing.assert_allclose(got[0], np.exp(3 * xv).sum(0), rtol=1e-14)
    np.testing.assert_allclose(got[1], np.exp(3 * xv) @ wv, rtol=1e-14)


def test_row_statistics_fuse_into_one_group_with_their_consumers() -> None:
    x = gd.placeholder((None, 7), "float32", name="x")
    e = gd.exp(x - gd.max(x, axis=1, keepdims=True))
    y = e / gd.sum(e, axis=1, keepdims=True)  # softmax written out
    (node,) = _fused_nodes(fuse(Graph([x], [y]))[0])
    assert _body_ops(node) == ["max", "sub", "exp", "sum", "div"]


def _agree(inputs, outputs, arrays, rtol=1e-6, atol=1e-7) -> None:
    reference = gd.function(inputs, outputs, passes="none")(*arrays)
    fused_f = gd.function(inputs, outputs, passes=["constant_folding", "simplify", "cse", "dce",
                                                   fuse])
    fused_f.graph.verify()
    got = fused_f(*arrays)
    for a, b in zip(got, reference):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", all_cases(), ids=str)
def test_fused_and_unfused_agree_on_every_op_case(case, dtype) -> None:
    rng = np.random.default_rng(5)
    arrays = [arg.draw(rng, np.dtype(dtype)) for arg in case.args]
    inputs = [gd.placeholder(a.shape, a.dtype) for a in arrays]
    out = case.fn(*inputs)
    outputs = [out]
    floats = [p for p, a in zip(inputs, arrays) if a.dtype.kind == "f"]
    if case.grad and floats and out.dtype.kind == "f":
        outputs += gd.grad(gd.sum(out * out), floats)
    _agree(inputs, outputs, arrays, rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", [5000, 4096])  # a partial last block; blocks dividing the rows
def test_blocked_kernels_match_with_broadcasting_nan_and_inf(dtype, rows) -> None:
    cols = 64 if rows == 4096 else 70
    assert rows * cols * np.dtype(dtype).itemsize > fused_codegen.BLOCK_BYTES
    x = gd.placeholder((None, cols), dtype, name="x")
    b = gd.placeholder((cols,), dtype, name="b")
    c = gd.placeholder((None, 1), dtype, name="c")
    h = gd.tanh(x * b + c)
    outputs = [gd.sum(h * h, axis=0), gd.max(h, axis=1), gd.gelu(h) * c, gd.where(x > 0, h, -h)]
    rng = np.random.default_rng(1)
    xv = rng.standard_normal((rows, cols)).astype(dtype)
    xv[5, 3], xv[17, 0], xv[2999, cols - 1] = np.nan, np.inf, -np.inf
    arrays = [xv, rng.standard_normal(cols).astype(dtype),
              rng.standard_normal((rows, 1)).astype(dtype)]
    _agree([x, b, c], outputs, arrays, rtol=1e-4 if dtype == "float32" else 1e-10)


def test_gradients_of_the_fused_graph_equal_those_of_the_original() -> None:
    x = gd.placeholder((None, 5), "float64", name="x")
    w = gd.variable(np.linspace(-1, 1, 5), name="w")
    loss = gd.sum(gd.sigmoid(x * w) ** 2.0 + gd.exp(-x))
    graph, changed = fuse(Graph([x], [loss]))
    assert changed
    fused_loss = graph.outputs[0]
    g_fused = gd.grad(fused_loss, w)
    g_plain = gd.grad(loss, w)
    value = np.random.default_rng(2).standard_normal((7, 5))
    a = gd.function([x], g_fused, passes="none")(value)
    b = gd.function([x], g_plain, passes="none")(value)
    np.testing.assert_allclose(a, b, rtol=1e-14)


def test_unfuse_restores_the_primitives() -> None:
    x = gd.placeholder((None, 3), "float64", name="x")
    y = gd.softmax(gd.exp(x) * 2.0)
    fused_graph, _ = fuse(Graph([x], [y]))
    plain = unfuse(fused_graph)
    plain.verify()
    assert not any(n.op is fused for n in plain.nodes)
    value = np.random.default_rng(3).standard_normal((4, 3))
    np.testing.assert_allclose(gd.function([x], plain.outputs[0], passes="none")(value),
                               gd.function([x], y, passes="none")(value), rtol=1e-15)


def test_cheap_producer_with_an_early_outside_user_is_copied_not_shared() -> None:
    x = gd.placeholder((4, 4), "float64", name="x")
    w = gd.placeholder((4, 1), "float64", name="w")
    n = -x  # cheap, and used by a matmul (not a head: other shape) before the group's root
    y = gd.exp(n) * (n @ w)
    graph, _ = fuse(Graph([x, w], [y]))
    graph.verify()
    (node,) = _fused_nodes(graph)
    assert _body_ops(node) == ["neg", "exp", "mul"]
    assert any(v.op.name == "neg" for v in graph.nodes)  # the original feeds the matmul
    rng = np.random.default_rng(4)
    xv, wv = rng.standard_normal((4, 4)), rng.standard_normal((4, 1))
    np.testing.assert_allclose(gd.function([x, w], graph.outputs[0], passes="none")(xv, wv),
                               np.exp(-xv) * (-xv @ wv), rtol=1e-14)


@FUZZ
@given(random_graphs())
def test_fused_random_graphs_agree_with_unfused(case: RandomGraph) -> None:
    graph, _ = fuse(case.graph())
    graph.verify()
    want = _run(case.inputs, case.outputs, case.feeds, "none")
    got = _run(case.inputs, case.outputs, case.feeds, [fuse])
    assert_agree(got, want, case.dtype)


@FUZZ
@given(random_graphs(dtypes=("float64",)))
def test_gradients_through_fused_random_graphs_agree(case: RandomGraph) -> None:
    fused_graph, _ = fuse(case.graph())
    fused_loss = gd.sum(fused_graph.outputs[0])
    plain_loss = gd.sum(case.outputs[0])
    want = _run(case.inputs, gd.grad(plain_loss, case.inputs, unconnected="zero"), case.feeds,
                "none")
    got = _run(case.inputs, gd.grad(fused_loss, case.inputs, unconnected="zero"), case.feeds,
               [fuse])
    assert_agree(got, want, case.dtype, nonfinite=False)


def test_an_output_that_renames_an_internal_value_is_written_whole() -> None:
    x = gd.placeholder((None, 3), "float64", name="x")
    y = gd.placeholder((None, 3), "float64", name="y")
    inner = gd.exp(x) * 2.0
    renamed = gd.reshape(inner, ("m", 3))  # only renames the batch dimension
    outputs = [renamed, gd.sin(renamed) + 1.0]
    graph, _ = fuse(Graph([x, y], outputs))
    graph.verify()
    value = np.random.default_rng(6).standard_normal((4, 3))
    got = gd.function([x, y], list(graph.outputs), passes="none")(value, value)
    np.testing.assert_allclose(got[0], np.exp(value) * 2.0, rtol=1e-15)
    np.testing.assert_allclose(got[1], np.sin(np.exp(value) * 2.0) + 1.0, rtol=1e-15)


def test_a_matmul_head_never_reads_a_value_of_its_own_group() -> None:
    x = gd.placeholder((5, 6), "float64", name="x")
    w = gd.placeholder((6, 6), "float64", name="w")
    t = gd.tanh(gd.tanh(x))
    y = gd.square(t) * ((t @ w) * 2.0)  # t feeds the group and the matmul
    graph, _ = fuse(Graph([x, w], [y]))
    graph.verify()
    rng = np.random.default_rng(7)
    xv, wv = rng.standard_normal((5, 6)), rng.standard_normal((6, 6))
    tv = np.tanh(np.tanh(xv))
    np.testing.assert_allclose(gd.function([x, w], graph.outputs[0], passes="none")(xv, wv),
                               tv ** 2 * ((tv @ wv) * 2.0), rtol=1e-14)


def test_groups_that_fit_in_one_block_run_as_their_primitives(monkeypatch) -> None:
    monkeypatch.setattr(unfuse_module, "UNFUSE_AT_MOST_BYTES", fused_codegen.BLOCK_BYTES)
    x = gd.placeholder(("n", 64), "float32", name="x")
    y = gd.sum(gd.tanh(x * 2.0 + 1.0), axis=1)
    z = gd.exp(x) - 1.0
    f = gd.function([x], [y, z], passes="fused")
    assert _fused_nodes(f.graph)  # the function's graph keeps its groups
    rng = np.random.default_rng(0)
    small = rng.normal(size=(4, 64)).astype(np.float32)  # 1 KiB: expanded
    large = rng.normal(size=(2048, 64)).astype(np.float32)  # 512 KiB: blocked kernels
    for a in (small, large):
        got = f(a)
        np.testing.assert_allclose(got[0], np.tanh(a * 2 + 1).sum(axis=1), rtol=1e-5)
        np.testing.assert_allclose(got[1], np.exp(a) - 1, rtol=1e-6)
    ops = {shape: {s.node.op.name for s in program.steps}
           for shape, program in [(small.shape, f._programs[(small.shape,)]),
                                  (large.shape, f._programs[(large.shape,)])]}
    assert not ops[small.shape] & {"fused", "result"}
    assert {"tanh", "exp"} <= ops[small.shape]
    assert "fused" in ops[large.shape] and "tanh" not in ops[large.shape]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_where_never_writes_over_its_operands_in_a_fused_kernel(dtype: str) -> None:
    # a and b die at the where: their scratch must not be where's output (its kernel is not a
    # ufunc and writes the mask into out before reading them); 8192 columns: the bit path
    x = gd.placeholder(("n", 8192), dtype, name="x")
    y = gd.where(x > 0.0, gd.exp(x) * 2.0, gd.sin(x) - 1.0) * 3.0
    f = gd.function([x], y, passes="fused")
    assert _fused_nodes(f.graph)
    a = np.random.default_rng(0).normal(size=(4, 8192)).astype(dtype)
    a[0, :7] = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-30, -1e-30]
    with np.errstate(invalid="ignore"):  # sin(inf) is NaN, as it is in the kernel
        want = np.where(a > 0, np.exp(a) * 2, np.sin(a) - 1) * 3
    np.testing.assert_allclose(f(a), want, rtol=1e-6, equal_nan=True)


# --- groups as regions --------------------------------------------------------------------------

def test_a_group_is_a_region_of_ordinary_nodes() -> None:
    x = gd.placeholder(("n", 8), "float64", name="x")
    graph, _ = fuse(Graph([x], [gd.exp(gd.tanh(x) * 2.0)]))
    (node,) = _fused_nodes(graph)
    (region,) = node.regions
    assert not node.attrs and isinstance(region, Graph)
    assert [p.type for p in region.inputs] == [v.type for v in node.inputs]
    region.verify()
    assert "body" not in str(graph) and "region 0" in str(graph)


def test_equal_groups_share_their_generated_kernels() -> None:
    x = gd.placeholder((None, 16), "float32", name="x")
    h = x
    for layer in range(3):  # three layers with equal epilogues over different weights
        w = gd.variable(np.full((16, 16), 0.01 * (layer + 1), np.float32), name=f"w{layer}")
        b = gd.variable(np.full(16, 0.1 * layer, np.float32), name=f"b{layer}")
        h = gd.tanh(h @ w + b) * 0.5
    graph, _ = fuse(Graph([x], [h]))
    groups = _fused_nodes(graph)
    assert len(groups) == 3 and len({g.regions[0].structure() for g in groups}) == 1
    shapes = ((8, 16), (16, 16), (16,), ())
    kernels = {id(fused_codegen.compiled(g.regions[0], shapes)) for g in groups}
    assert len(kernels) == 1


def test_several_outputs_differentiate_in_both_modes() -> None:
    x = gd.placeholder((6, 5), "float64", name="x")
    w = gd.placeholder((5, 2), "float64", name="w")
    h = gd.exp(x * 3.0)
    outputs = [gd.sum(h, axis=0), h @ w]
    graph, _ = fuse(Graph([x, w], outputs))
    (node,) = _fused_nodes(graph)
    assert node.is_tuple
    u = gd.placeholder((6, 5), "float64", name="u")
    rng = np.random.default_rng(8)
    feeds = [rng.standard_normal((6, 5)), rng.standard_normal((5, 2)),
             rng.standard_normal((6, 5))]

    def derivatives(ys: list[gd.Node]) -> list[np.ndarray]:
        loss = gd.sum(ys[0]) + gd.sum(ys[1] * ys[1])
        return gd.function([x, w, u], [*gd.jvp(ys, x, u), gd.grad(loss, x)],
                           passes="none")(*feeds)

    for got, want in zip(derivatives(list(graph.outputs)), derivatives(outputs)):
        np.testing.assert_array_equal(got, want)


def test_several_outputs_export_to_onnx() -> None:
    ort = pytest.importorskip("onnxruntime")
    x = gd.placeholder(("n", 6), "float32", name="x")
    loss = gd.sum(gd.gelu(x) ** 2.0)
    f = gd.function([x], [loss, gd.grad(loss, x)], passes="fused")
    assert any(n.is_tuple for n in _fused_nodes(f.graph))
    model = gd.export_onnx(None, f)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    value = np.random.default_rng(9).standard_normal((5, 6)).astype(np.float32)
    for got, want in zip(session.run(None, {"x": value}), f(value)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _loop_with_groups() -> tuple[list[gd.Node], list[gd.Node]]:
    start = gd.placeholder((4, 8), "float64", name="start")
    rows = gd.placeholder((3, 4, 8), "float64", name="rows")

    def step(h, x):
        z = gd.tanh(h * 0.9 + x) * gd.sigmoid(x - h)
        return z, gd.exp(-z * z) + 1.0

    return [start, rows], list(gd.scan(step, start, rows))


@pytest.mark.parametrize("at_most", [2 << 20, -1])
def test_small_groups_in_a_loop_body_run_as_their_primitives(monkeypatch, at_most) -> None:
    monkeypatch.setattr(unfuse_module, "UNFUSE_AT_MOST_BYTES", at_most)
    generated = []
    original = fused_codegen.compiled
    monkeypatch.setattr(fused_codegen, "compiled",
                        lambda region, shapes: generated.append(shapes) or
                        original(region, shapes))
    inputs, outputs = _loop_with_groups()
    f = gd.function(inputs, outputs, passes="fused")
    (loop,) = [n for n in f.graph.nodes if n.regions]
    assert any(n.op is fused for n in loop.regions[0].nodes)  # the body keeps its groups
    feeds = [np.random.default_rng(10).normal(size=p.shape) for p in inputs]
    reference = gd.function(inputs, outputs, passes="none")
    for got, want in zip(f(*feeds), reference(*feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-13)
    assert bool(generated) == (at_most < 0)  # 256-byte values: expanded unless forced


def test_a_region_the_generator_does_not_handle_runs_as_a_sub_program() -> None:
    # a pass run after fusion may leave other ops in a group (here a transpose): the group then
    # runs its region as a planned sub-program, with the same results
    x = gd.placeholder(("n", 3), "float64", name="x")
    p = gd.placeholder(("n", 3), "float64")
    region = Graph([p], [gd.transpose(gd.exp(p) * 2.0)])
    assert not fused_codegen.generates(region)
    node = fused(x, regions=(region,))
    assert node.shape == (3, "n")
    value = np.random.default_rng(11).standard_normal((4, 3))
    for passes in ("none", []):
        f = gd.function([x], [node * 1.0, node], passes=passes)
        for got in f(value):
            np.testing.assert_allclose(got, (np.exp(value) * 2.0).T, rtol=1e-15)
