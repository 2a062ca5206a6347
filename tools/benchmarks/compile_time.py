"""Compile time, and what the optimizer removes.

Table 1: for deep MLPs and unrolled recurrences of about 1k, 10k and 100k nodes (gradients
included), the time of ``gd.grad`` plus ``gd.function(...)`` construction, which runs the whole
pass pipeline and plans the schedule and memory. Targets: 10k nodes under 1 s, 100k under
10 s, time per node flat across sizes (the passes are one linear walk each).

Table 2: node counts of the training steps (forward, gradients, SGD updates) of an MLP, a CNN
(LeNet) and a transformer classifier, before and after the default pipeline.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import graphdiff as gd
from graphdiff import Node

ROOT = Path(__file__).resolve().parents[2]

Builder = Callable[[int], tuple[list[Node], Node, list[Node]]]


def deep_mlp(depth: int, width: int = 16) -> tuple[list[Node], Node, list[Node]]:
    """tanh layers, loss = mean(out^2): ~14 nodes per layer once differentiated."""
    rng = np.random.default_rng(0)
    x = gd.placeholder((None, width), "float32", name="x")
    h, params = x, []
    for i in range(depth):
        W = gd.variable(rng.normal(0, width ** -0.5, (width, width)).astype(np.float32),
                        name=f"W{i}")
        b = gd.variable(np.zeros(width, np.float32), name=f"b{i}")
        params += [W, b]
        h = gd.tanh(h @ W + b)
    return [x], gd.mean(h ** 2), params


def recurrence(steps: int, width: int = 16) -> tuple[list[Node], Node, list[Node]]:
    """An RNN unrolled over ``steps``, weights shared by every step (gradients accumulate)."""
    rng = np.random.default_rng(0)
    xs = gd.placeholder((None, steps, width), "float32", name="xs")
    Wx = gd.variable(rng.normal(0, width ** -0.5, (width, width)).astype(np.float32), name="Wx")
    Wh = gd.variable(rng.normal(0, width ** -0.5, (width, width)).astype(np.float32), name="Wh")
    b = gd.variable(np.zeros(width, np.float32), name="b")
    h = gd.tanh(xs[:, 0] @ Wx + b)
    for t in range(1, steps):
        h = gd.tanh(xs[:, t] @ Wx + h @ Wh + b)
    return [xs], gd.mean(h ** 2), [Wx, Wh, b]


def _size_for(builder: Builder, target: int) -> int:
    """The depth/steps whose differentiated graph has about ``target`` nodes."""
    def count(n: int) -> int:
        inputs, loss, params = builder(n)
        updates = [p - 0.01 * g for p, g in zip(params, gd.grad(loss, params))]
        return len(gd.Graph(inputs, [loss, *updates]))

    small, large = count(10), count(20)
    per_unit = (large - small) / 10
    return max(1, round(10 + (target - small) / per_unit))


def _measure(builder: Builder, units: int) -> tuple[int, int, float, float, float, float, str]:
    inputs, loss, params = builder(units)
    feed = np.zeros((1,) + tuple(int(d) for d in inputs[0].shape[1:]), np.float32)
    gc.collect()
    start = time.perf_counter()
    grads = gd.grad(loss, params)
    after_grad = time.perf_counter()
    updates = {p: p - 0.01 * g for p, g in zip(params, grads)}  # user code: not timed
    records: list = []
    before_function = time.perf_counter()
    f = gd.function(inputs, loss, updates=updates, trace=records)
    after_function = time.perf_counter()
    f(feed)  # the first call specializes, plans memory and generates the program
    end = time.perf_counter()
    passes = sum(r.seconds for r in records)
    by_pass = " ".join(f"{r.name} {r.seconds:.2f}" for r in records)
    return (len(f.reference_graph), len(f.graph), after_grad - start, passes,
            after_function - before_function, end - after_function, by_pass)


def compile_table(quick: bool) -> None:
    targets = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    print(f"{'graph':<11}{'nodes':>8}{'after':>8}{'grad s':>9}{'passes s':>10}"
          f"{'function s':>12}{'plan s':>8}{'total s':>9}{'us/node':>9}")
    breakdown = []
    for label, builder in (("deep MLP", deep_mlp), ("recurrence", recurrence)):
        for target in targets:
            units = _size_for(builder, target)
            nodes, after, t_grad, t_passes, t_function, t_plan, by_pass = \
                _measure(builder, units)
            total = t_grad + t_function + t_plan
            print(f"{label:<11}{nodes:>8}{after:>8}{t_grad:>9.2f}{t_passes:>10.2f}"
                  f"{t_function:>12.2f}{t_plan:>8.2f}{total:>9.2f}"
                  f"{total / nodes * 1e6:>9.1f}")
            breakdown.append(f"  {label} {nodes}: {by_pass}")
    print("function s = gd.function construction (the default pipeline: passes s); plan s = the "
          "first call (specialize, plan memory, generate the program); total = grad + function + "
          "plan; building the model and its SGD updates with the API is not timed. Seconds per "
          "pass:")
    print("\n".join(breakdown))


def _training_graphs() -> list[tuple[str, Callable[[], tuple]]]:
    sys.path.insert(0, str(ROOT))
    from graphdiff.optim import SGD
    from models.nets import MLP, LeNet, TransformerClassifier

    def step(name: str, model, input_shape: tuple[int, ...]) -> tuple:
        x = gd.placeholder((None, *input_shape), "float32", name="x")
        y = gd.placeholder((x.shape[0],), "int64", name="y")
        loss = gd.mean(gd.softmax_cross_entropy(model(x), y))
        grads = gd.grad(loss, model.parameters())
        return [x, y], [loss], SGD(0.1).updates(model.parameters(), grads)

    rng = np.random.default_rng(0)
    return [
        ("MLP 64-128-64-10", lambda: step("mlp", MLP((64, 128, 64, 10), rng), (64,))),
        ("CNN (LeNet)", lambda: step("cnn", LeNet(rng), (1, 8, 8))),
        ("transformer block", lambda: step("tf", TransformerClassifier(rng), (64,))),
    ]


def effect_table() -> None:
    print(f"{'training step':<20}{'built':>7}{'rewritten':>11}{'removed':>9}{'fused':>7}"
          "  biggest changes of the rewrites")
    for label, build in _training_graphs():
        try:
            inputs, outputs, updates = build()
        except (gd.GraphdiffError, AttributeError) as exc:  # a layer's op not available yet
            print(f"{label:<20}  not built: {type(exc).__name__}: {exc}")
            continue
        records: list = []
        f = gd.function(inputs, outputs, updates=updates, passes="fused", trace=records)
        rewritten = next(r.graph for r in records if r.name == "dce")
        before, after = f.reference_graph.op_counts(), rewritten.op_counts()
        deltas = sorted(((after.get(op, 0) - before.get(op, 0), op)
                         for op in set(before) | set(after)), key=lambda d: d[0])
        shown = ", ".join(f"{op} {d:+d}" for d, op in deltas if d)[:58]
        n_before, n_after = len(f.reference_graph), len(rewritten)
        removed = (n_before - n_after) / n_before
        print(f"{label:<20}{n_before:>7}{n_after:>11}{removed:>9.0%}{len(f.graph):>7}  {shown}")
    print("built: nodes of forward + gradients + SGD updates; rewritten: after constant_folding, "
          "simplify, cse, dce (the default pipeline); fused: after fusion too (passes='fused')")


def run(quick: bool) -> None:
    compile_table(quick)
    print()
    effect_table()


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
