"""The pipeline as users meet it: ``gd.function(passes=...)``, ``gd.optimize`` and trace mode,
and a whole training step optimized with the verifier after every pass."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir import Graph
from graphdiff.passes import DEFAULT_PIPELINE, FUSED_PIPELINE, PASSES, PassRecord


def mlp_step(dtype: str = "float64"):
    rng = np.random.default_rng(0)
    x = gd.placeholder((None, 6), dtype, name="x")
    y = gd.placeholder((None,), "int64", name="y")
    W1 = gd.variable(rng.normal(size=(6, 5)).astype(dtype), name="W1")
    b1 = gd.variable(np.zeros(5, dtype), name="b1")
    W2 = gd.variable(rng.normal(size=(5, 3)).astype(dtype), name="W2")
    hidden = gd.relu(x @ W1 + b1)
    loss = gd.mean(gd.softmax_cross_entropy(hidden @ W2, y)) + 1e-3 * gd.sum(W1 ** 2)
    params = [W1, b1, W2]
    grads = gd.grad(loss, params)
    return [x, y], loss, params, grads


def test_default_pipeline_is_the_documented_order() -> None:
    assert DEFAULT_PIPELINE == ("inline_custom", "constant_folding", "simplify", "cse", "dce")
    assert FUSED_PIPELINE == (*DEFAULT_PIPELINE, "onehot", "fuse")
    assert set(DEFAULT_PIPELINE) <= set(PASSES)


def test_function_graph_is_the_optimized_graph() -> None:
    inputs, loss, params, grads = mlp_step()
    reference = gd.function(inputs, [loss, *grads], passes="none")
    optimized = gd.function(inputs, [loss, *grads])
    explicit = gd.function(inputs, [loss, *grads], passes=list(DEFAULT_PIPELINE))
    assert len(optimized.graph) < len(reference.graph)
    assert str(explicit.graph) == str(optimized.graph)
    assert reference.graph.nodes == Graph(inputs, [loss, *grads]).nodes
    rng = np.random.default_rng(1)
    xb, yb = rng.normal(size=(7, 6)), rng.integers(0, 3, size=7)
    for want, got in zip(reference(xb, yb), optimized(xb, yb)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_steps_agree_and_every_pass_verifies(dtype: str) -> None:
    rtol = 1e-4 if dtype == "float32" else 1e-11
    results = {}
    for passes in ("none", "default"):
        inputs, loss, params, grads = mlp_step(dtype)
        records: list[PassRecord] = []
        step = gd.function(inputs, loss, passes=passes, trace=records,
                           updates={p: p - 0.1 * g for p, g in zip(params, grads)})
        for record in records:
            record.graph.verify()
        rng = np.random.default_rng(2)
        losses = [step(rng.normal(size=(8, 6)).astype(dtype), rng.integers(0, 3, size=8))
                  for _ in range(5)]
        results[passes] = (losses, [gd.get_value(p) for p in params])
    np.testing.assert_allclose(results["default"][0], results["none"][0], rtol=rtol)
    for got, want in zip(results["default"][1], results["none"][1]):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def test_trace_records_each_pass() -> None:
    inputs, loss, params, grads = mlp_step()
    records: list[PassRecord] = []
    f = gd.function(inputs, [loss, *grads], trace=records)
    assert [r.name for r in records] == list(DEFAULT_PIPELINE)
    assert records[-1].graph is f.graph
    assert records[0].nodes_before == len(f.reference_graph)
    for before, after in zip(records, records[1:]):
        assert after.nodes_before == before.nodes_after
    simplify = records[DEFAULT_PIPELINE.index("simplify")]
    assert simplify.changed and simplify.nodes_after < simplify.nodes_before
    assert "simplify:" in str(simplify) and "nodes" in str(simplify)


def test_trace_prints_counts_and_graphs(capsys: pytest.CaptureFixture[str]) -> None:
    x = gd.placeholder((3,), "float64", name="x")
    gd.function([x], x * 1.0, trace=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "input: 3 nodes"
    assert [line.split(":")[0] for line in lines[1:]] == list(DEFAULT_PIPELINE)
    simplify = 1 + DEFAULT_PIPELINE.index("simplify")
    assert "3 -> 3 nodes" in lines[simplify - 1]
    assert "3 -> 1 nodes (-2, changed)" in lines[simplify]
    gd.optimize(Graph([x], [x * 1.0]), ["simplify"], trace="graphs")
    out = capsys.readouterr().out
    assert "graph(x: f64[3]) {\n  return x\n}" in out


def test_pass_lists_accept_names_and_functions() -> None:
    x = gd.placeholder((3,), "float64", name="x")

    def negate_outputs(graph: Graph) -> tuple[Graph, bool]:
        return graph.with_outputs([gd.negative(o) for o in graph.outputs]), True

    f = gd.function([x], x * 1.0, passes=["simplify", negate_outputs])
    np.testing.assert_array_equal(f(np.arange(3.0)), -np.arange(3.0))
    assert gd.function([x], x * 1.0, passes=[]).graph.op_counts()["mul"] == 1


def test_bad_pass_requests_name_the_problem() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    with pytest.raises(gd.GraphdiffError, match="unknown pass 'fold'.*constant_folding"):
        gd.function([x], x, passes=["fold"])
    with pytest.raises(gd.GraphdiffError, match="'default', 'fused', 'none' or a list"):
        gd.function([x], x, passes="fast")
    with pytest.raises(gd.GraphdiffError, match="trace must be"):
        gd.optimize(Graph([x], [x]), trace="verbose")


def test_fused_preset_is_the_default_pipeline_then_fusion() -> None:
    x = gd.placeholder((None, 4), "float64", name="x")
    y = gd.tanh(x * 2.0 + 1.0)
    records: list = []
    f = gd.function([x], y, passes="fused", trace=records)
    assert [r.name for r in records] == list(FUSED_PIPELINE)
    assert [n.op.name for n in f.graph.nodes if n.op.name.startswith("fused")] == ["fused"]
    value = np.linspace(-1, 1, 8).reshape(2, 4)
    np.testing.assert_allclose(f(value), np.tanh(value * 2 + 1), rtol=1e-15)
