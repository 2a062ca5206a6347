"""Rematerialization pass: identical results, fewer forward values held for the backward pass
(counted on the compiled schedule), recomputation scheduled late, honest ``changed`` flag."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir import Graph, topo_order
from graphdiff.passes import PASSES, run_pipeline
from graphdiff.passes.remat import plan, remat_pass, rematerialize

BASE = ["constant_folding", "simplify", "cse", "dce"]
BATCH, WIDTH, DEPTH = 8, 16, 12


def _mlp(activation: str = "tanh", depth: int = DEPTH, seed: int = 0):
    """A training step's graph pieces: (inputs, outputs, feeds), float64."""
    rng = np.random.default_rng(seed)
    x = gd.placeholder((None, WIDTH), "float64", name="x")
    weights = [gd.variable(rng.standard_normal((WIDTH, WIDTH)) / 4, name=f"W{i}")
               for i in range(depth)]
    b = gd.variable(rng.standard_normal(WIDTH) / 4, name="b")
    h = x
    for W in weights:
        z = h @ W + b
        h = gd.tanh(z) if activation == "tanh" else gd.gelu(z, approximate="tanh")
    loss = gd.mean(h * h)
    grads = gd.grad(loss, [*weights, b, x])
    return [x], [loss, *grads], [rng.standard_normal((BATCH, WIDTH))]


def _lstm(steps: int = 10, hidden: int = 12, seed: int = 1):
    """The unrolled LSTM of tools/benchmarks/lstm.py (separate gate weights), float64."""
    rng = np.random.default_rng(seed)
    xs = [gd.placeholder((None, 6), "float64", name=f"x{t}") for t in range(steps)]
    p = {}
    for k in "ifog":
        p[f"Wx{k}"] = gd.variable(rng.standard_normal((6, hidden)) / 3, name=f"Wx{k}")
        p[f"Wh{k}"] = gd.variable(rng.standard_normal((hidden, hidden)) / 4, name=f"Wh{k}")
        p[f"b{k}"] = gd.variable(rng.standard_normal(hidden) / 4, name=f"b{k}")
    h = c = gd.broadcast_to(gd.constant(np.zeros((), np.float64)), (xs[0].shape[0], hidden))
    for x in xs:
        z = {k: x @ p[f"Wx{k}"] + h @ p[f"Wh{k}"] + p[f"b{k}"] for k in "ifog"}
        c = gd.sigmoid(z["f"]) * c + gd.sigmoid(z["i"]) * gd.tanh(z["g"])
        h = gd.sigmoid(z["o"]) * gd.tanh(c)
    loss = gd.mean(h * h)
    grads = gd.grad(loss, list(p.values()))
    feeds = [rng.standard_normal((BATCH, 6)) for _ in xs]
    return xs, [loss, *grads], feeds


MODELS = {"mlp-tanh": _mlp, "mlp-gelu": functools.partial(_mlp, "gelu"), "lstm": _lstm}
SETTINGS = [{"policy": "sqrt"}, {"policy": "sqrt", "budget_ratio": 0.7},
            {"policy": "elementwise"}, {"policy": "elementwise", "budget_ratio": 0.8}]


def _turn(f: gd.Function) -> int:
    """The step of ``f``'s schedule that computes the last forward value a backward step reads:
    the turn from the forward to the backward pass."""
    schedule = f._example_program([]).plan.schedule
    forward = set(topo_order(f.graph.outputs[:1]))  # the optimized loss's ancestors
    read_by_backward = {v for node in schedule if node not in forward for v in node.inputs}
    return max(i for i, node in enumerate(schedule) if node in forward & read_by_backward)


def _held_for_backward(f: gd.Function) -> tuple[int, int]:
    """From the compiled schedule: (count, bytes) of the values alive at the turn (what the
    forward pass leaves for the backward pass)."""
    program = f._example_program([])
    schedule, types = program.plan.schedule, program.types
    last_use = {value: i for i, node in enumerate(schedule) for value in node.inputs}
    turn = _turn(f)
    alive = [v for v in schedule[:turn + 1] if not v.op.view and last_use.get(v, -1) > turn]
    return len(alive), sum(int(np.prod([int(d) for d in types[v].shape])) * v.dtype.itemsize
                           for v in alive)


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
def test_results_identical(model: str, setting: dict) -> None:
    inputs, outputs, feeds = MODELS[model]()
    reference = gd.function(inputs, outputs, passes=BASE)
    records: list = []
    graph = run_pipeline(reference.graph, [remat_pass(**setting)], records, verify=True)
    remat = gd.function(inputs, outputs, passes=BASE + [remat_pass(**setting)])
    assert len(remat.graph) == len(graph)
    want, got = reference(*feeds), remat(*feeds)
    for a, b in zip(want, got, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
    # planned against the reference interpreter on the rematerialized graph too
    interpreted = gd.function(inputs, list(remat.graph.outputs), passes="none")(*feeds)
    for a, b in zip(got, interpreted, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("model", ["mlp-tanh", "mlp-gelu", "lstm"])
def test_sqrt_is_bit_identical(model: str) -> None:
    inputs, outputs, feeds = MODELS[model]()
    want = gd.function(inputs, outputs, passes=BASE)(*feeds)
    got = gd.function(inputs, outputs, passes=BASE + ["remat"])(*feeds)
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("model,policy", [("mlp-tanh", "sqrt"), ("lstm", "sqrt"),
                                          ("mlp-gelu", "elementwise")])
def test_held_bytes_go_down_with_the_budget(model: str, policy: str) -> None:
    inputs, outputs, feeds = MODELS[model]()
    held, peaks, estimates = [], [], []
    for ratio in (1.0, 0.8, 0.6, None):
        f = gd.function(inputs, outputs,
                        passes=BASE + [remat_pass(policy=policy, budget_ratio=ratio)])
        f(*feeds)
        held.append(_held_for_backward(f))
        peaks.append(f.memory_report().lower_bound)
        estimates.append(plan(gd.function(inputs, outputs, passes=BASE).graph,
                              budget_ratio=ratio, policy=policy, dims={}).after)
    counts, sizes = zip(*held)
    assert list(sizes) == sorted(sizes, reverse=True), (held, estimates)
    assert sizes[-1] < 0.7 * sizes[0], held
    assert list(estimates) == sorted(estimates, reverse=True), estimates
    assert peaks[-1] < peaks[0], peaks


def test_recomputation_is_late_and_distinct() -> None:
    inputs, outputs, feeds = _mlp()
    graph = gd.function(inputs, outputs, passes=BASE).graph
    new, changed = rematerialize(graph, policy="sqrt")
    assert changed
    new.verify()
    forward = set(topo_order(graph.outputs[:1]))
    counts, before = new.op_counts(), graph.op_counts()
    assert counts["remat_input"] > 0 and "remat_input" not in before
    assert counts["tanh"] > before["tanh"]  # recomputed tanh nodes are new nodes
    for node in new.nodes:
        if node.op.name == "remat_input":
            # the leaf waits for a backward value: nothing recomputed runs in the forward pass
            assert node not in forward and node.inputs[1] not in forward
    # in the compiled schedule, every recomputed node runs after the turn
    f = gd.function(inputs, outputs, passes=BASE + ["remat"])
    f(*feeds)
    schedule = f._example_program([]).plan.schedule
    recomputed = set(f.graph.nodes) - set(graph.nodes)
    positions = [i for i, n in enumerate(schedule) if n in recomputed and not n.op.view]
    assert len(positions) > DEPTH // 2 and min(positions) > _turn(f)
    # and the forward originals of the recomputed values die in the forward pass
    last_use = {value: i for i, node in enumerate(schedule) for value in node.inputs}
    originals = [r for g in plan(graph).groups for r in g.provides]
    assert originals and all(last_use[r] < _turn(f) for r in originals)


def test_no_op_when_the_budget_is_not_binding() -> None:
    inputs, outputs, _ = _mlp()
    graph = gd.function(inputs, outputs, passes=BASE).graph
    before = plan(graph).before
    for setting in ({"budget_bytes": before}, {"budget_ratio": 1.0},
                    {"budget_bytes": 10 * before, "policy": "elementwise"}):
        same, changed = rematerialize(graph, **setting)
        assert not changed and same is graph
    # tanh leaves one residual per layer, computed from a matrix product: nothing is cheaper
    assert rematerialize(graph, policy="elementwise") == (graph, False)
    # a graph with no backward pass
    x = gd.placeholder((3,), "float64", name="x")
    forward_only = Graph([x], [gd.sum(gd.tanh(gd.exp(x)))])
    assert rematerialize(forward_only) == (forward_only, False)


def test_second_run_and_pipeline() -> None:
    inputs, outputs, _ = _lstm()
    graph = gd.function(inputs, outputs, passes=BASE).graph
    once, changed = rematerialize(graph)
    assert changed
    assert "remat" in PASSES
    # the recomputed values now come from remat_input leaves: a second run finds less to do
    assert plan(once).before <= plan(graph).after + plan(graph).before // 4


def test_elementwise_recomputes_cheap_chains() -> None:
    inputs, outputs, _ = _mlp("gelu")
    graph = gd.function(inputs, outputs, passes=BASE).graph
    chosen = plan(graph, policy="elementwise")
    assert chosen.groups and chosen.after < chosen.before
    assert all(m.op.elementwise or m.op.view for g in chosen.groups for m in g.members)


def _dropout_net():
    """Dropout after every layer but one, which the user checkpointed; fresh random streams."""
    x = gd.placeholder((40, 8), "float64", name="x")
    rng = np.random.default_rng(3)
    weights = [gd.variable(rng.standard_normal((8, 8)) / 3, name=f"W{i}") for i in range(8)]
    h = x
    for i, W in enumerate(weights):
        def layer(v: gd.Node, W: gd.Node = W) -> gd.Node:
            return gd.tanh(v @ W)

        h = gd.checkpoint(layer)(h) if i == 3 else gd.dropout(layer(h), 0.3, seed=i)
    loss = gd.sum(h * h)
    return [x], [loss, *gd.grad(loss, weights)]


def test_user_checkpoint_and_random_draws_survive() -> None:
    xv = np.random.default_rng(4).standard_normal((40, 8))
    want = gd.function(*_dropout_net(), passes=BASE)(xv)
    got = gd.function(*_dropout_net(), passes=BASE + ["remat"])
    assert "remat_input" in got.graph.op_counts()
    for a, b in zip(want, got(xv), strict=True):
        np.testing.assert_array_equal(a, b)


def test_errors() -> None:
    inputs, outputs, _ = _mlp(depth=2)
    graph = Graph(inputs, outputs)
    with pytest.raises(gd.GraphdiffError, match="unknown policy"):
        rematerialize(graph, policy="everything")
    with pytest.raises(gd.GraphdiffError, match="not both"):
        rematerialize(graph, budget_bytes=10, budget_ratio=0.5)
    with pytest.raises(gd.GraphdiffError, match="unknown policy"):
        remat_pass(policy="nope")


@pytest.mark.parametrize("model", sorted(MODELS))
def test_policies_compose(model: str) -> None:
    inputs, outputs, feeds = MODELS[model]()
    want = gd.function(inputs, outputs, passes=BASE)(*feeds)
    both = [remat_pass(policy="elementwise"), remat_pass(policy="sqrt")]
    f = gd.function(inputs, outputs, passes=BASE + both)
    f.graph.verify()
    for a, b in zip(want, f(*feeds), strict=True):
        np.testing.assert_array_equal(a, b)
