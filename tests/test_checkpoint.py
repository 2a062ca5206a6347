"""Gradient checkpointing: identical results, recomputation in the backward pass, fewer forward
values kept alive (counted on the compiled function's schedule)."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir import Graph, topo_order

DEPTH, WIDTH, BATCH = 6, 16, 8


def _model(checkpointed: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = gd.placeholder((BATCH, WIDTH), "float64", name="x")
    weights = [gd.variable(rng.standard_normal((WIDTH, WIDTH)) / 4, name=f"W{i}")
               for i in range(DEPTH)]

    def block(h: gd.Node, W: gd.Node) -> gd.Node:
        # several intermediates per block, each as large as the block's input
        a = h @ W
        return gd.tanh(a) * gd.sigmoid(a) + gd.sin(h)

    h = x
    for W in weights:
        h = gd.checkpoint(lambda v, W=W: block(v, W))(h) if checkpointed else block(h, W)
    loss = gd.sum(h * h)
    return x, weights, loss, gd.grad(loss, [x, *weights])


def _kept_for_backward(f: gd.Function, loss: gd.Node, example: np.ndarray) -> tuple[int, int]:
    """From the compiled schedule: (forward values alive when the first backward step runs,
    forward values whose last use is a backward step)."""
    schedule = f._example_program([example]).plan.schedule
    forward = {n for n in topo_order([loss]) if not n.op.source} & set(schedule)
    position = {node: i for i, node in enumerate(schedule)}
    last_use = {}
    for i, node in enumerate(schedule):
        for value in node.inputs:
            last_use[value] = i
    start = next(i for i, node in enumerate(schedule) if node not in forward)
    alive = sum(1 for v in forward if position[v] < start <= last_use.get(v, -1))
    kept = sum(1 for v in forward if v in last_use and schedule[last_use[v]] not in forward)
    return alive, kept


def test_results_identical_and_fewer_values_kept() -> None:
    example = np.random.default_rng(1).standard_normal((BATCH, WIDTH))
    counts, results = {}, {}
    for checkpointed in (False, True):
        x, weights, loss, grads = _model(checkpointed)
        f = gd.function([x], [loss, *grads])
        results[checkpointed] = f(example)
        counts[checkpointed] = _kept_for_backward(f, loss, example)
    for plain, remat in zip(results[False], results[True], strict=True):
        np.testing.assert_array_equal(plain, remat)
    (alive_plain, kept_plain), (alive_remat, kept_remat) = counts[False], counts[True]
    # without checkpointing each block keeps a, tanh(a), sigmoid(a) (and more) for its
    # backward; with it, only each block's input is kept
    assert kept_remat <= DEPTH + 1 < kept_plain, counts
    assert alive_remat < alive_plain, counts


def test_recomputation_happens_in_the_backward_pass() -> None:
    x, weights, loss, grads = _model(True)
    graph = Graph([x], [loss, *grads])
    counts = graph.op_counts()
    assert counts["remat_input"] >= DEPTH  # one per boundary value of each block
    assert counts["custom"] == DEPTH
    assert "custom[kind='checkpoint', n_args=1, name=" in str(graph)
    # the forward region is computed twice: once forward, once on the remat inputs
    assert counts["tanh"] == 2 * DEPTH
    forward = set(topo_order([loss]))
    for node in graph.nodes:
        if node.op.name == "remat_input":
            assert node not in forward and node.inputs[1] not in forward  # after = a cotangent


def test_closed_over_weights_get_gradients() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    w = gd.variable(np.array([0.5, -1.0, 2.0]), name="w")
    block = gd.checkpoint(lambda h: gd.exp(h * w))
    loss = gd.sum(block(x))
    gx, gw = gd.grad(loss, [x, w])
    xv = np.array([0.1, 0.2, 0.3])
    got_x, got_w = gd.function([x], [gx, gw])(xv)
    e = np.exp(xv * w.data.value)
    np.testing.assert_allclose(got_x, e * w.data.value, rtol=1e-12)
    np.testing.assert_allclose(got_w, e * xv, rtol=1e-12)


def test_random_draws_are_not_redrawn() -> None:
    x = gd.placeholder((200,), "float64", name="x")
    block = gd.checkpoint(lambda h: gd.dropout(h * 2.0, 0.5, seed=3))
    y = block(x)
    g = gd.grad(gd.sum(y), x)
    xv = np.linspace(1, 2, 200)
    yv, gv = gd.function([x], [y, g])(xv)
    # the gradient's mask is the forward mask: g = 2 * mask / keep = y / x
    np.testing.assert_allclose(gv, yv / xv, rtol=1e-12)
    assert 0 < np.count_nonzero(gv) < 200


def test_second_order_through_a_checkpoint() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    block = gd.checkpoint(lambda h: gd.sin(h) * h)
    f = gd.sum(block(x))
    hv = gd.hvp(f, x, np.ones(3))
    gg = gd.grad(gd.sum(gd.grad(f, x)), x)
    xv = np.array([0.3, -0.2, 1.0])
    want = 2 * np.cos(xv) - xv * np.sin(xv)  # (x sin x)'' on the diagonal
    hv_value, gg_value = gd.function([x], [hv, gg])(xv)
    np.testing.assert_allclose(hv_value, want, rtol=1e-12)
    np.testing.assert_allclose(gg_value, want, rtol=1e-12)


def test_nothing_to_checkpoint() -> None:
    w = gd.variable(np.ones(2), name="w")
    x = gd.placeholder((2,), "float64", name="x")
    assert gd.checkpoint(lambda h: gd.exp(w))(x) is gd.exp(w)
    with pytest.raises(gd.GradientError, match="must return one tensor"):
        gd.checkpoint(lambda h: (h, h))(x)
