"""Rematerialization: peak memory against extra time, over a curve of budgets and policies.

Two training steps (forward, every gradient, SGD update; float32): a deep MLP with GELU
activations and the unrolled LSTM of ``benchmarks/lstm.py``. Each row compiles the same graph
with the default passes followed by the ``remat`` pass at one setting
(``graphdiff.passes.remat``), and the last rows run ``fuse`` after it; each row is checked to
compute the same loss and new weights as the step without rematerialization (fused or not
alike), and reports:

- ``held``: the pass's estimate of the forward bytes held for the backward pass;
- ``arena``, ``live peak``, ``peak``: the memory plan of the compiled step (``f.memory_report()``:
  the arena, the most intermediate bytes live at any step, arena + heap peak);
- ``wall``, ``cpu``: time per step, medians over interleaved repeats (CPU time of this process,
  with ``OPENBLAS_NUM_THREADS=1``, is the steadier on a shared machine), and ``extra cpu``, the
  CPU time over the step without rematerialization.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from benchmarks import lstm
from benchmarks._harness import header

BASE = ["constant_folding", "simplify", "cse", "dce"]
LR = 0.01


def _settings() -> list[tuple[str, list[Any]]]:
    from graphdiff.passes.remat import remat_pass

    rows: list[tuple[str, list[Any]]] = [("none", [])]
    rows.append(("elementwise", [remat_pass(policy="elementwise")]))
    for ratio in (0.6, 0.4, 0.25):
        rows.append((f"sqrt, budget {ratio:.0%}",
                     [remat_pass(policy="sqrt", budget_ratio=ratio)]))
    rows.append(("sqrt, best", [remat_pass(policy="sqrt")]))
    rows.append(("elementwise + sqrt",
                 [remat_pass(policy="elementwise"), remat_pass(policy="sqrt")]))
    # with fusion after it (rematerialize first: see docs/remat.md)
    rows.append(("fuse", ["fuse"]))
    rows.append(("sqrt + fuse", [remat_pass(policy="sqrt"), "fuse"]))
    rows.append(("both + fuse",
                 [remat_pass(policy="elementwise"), remat_pass(policy="sqrt"), "fuse"]))
    return rows


def _mlp(depth: int, width: int, batch: int) -> tuple[list, list, dict, list]:
    import graphdiff as gd

    rng = np.random.default_rng(0)
    x = gd.placeholder((batch, width), "float32", name="x")  # static: estimates in bytes
    y = gd.placeholder((batch,), "int64", name="y")
    params = []
    for i in range(depth):
        params.append(gd.variable((rng.normal(0, 1 / np.sqrt(width), (width, width)))
                                  .astype(np.float32), name=f"W{i}"))
        params.append(gd.variable(np.zeros(width, np.float32), name=f"b{i}"))
    h = x
    for i in range(depth):
        h = gd.gelu(h @ params[2 * i] + params[2 * i + 1], approximate="tanh")
    loss = gd.mean(gd.softmax_cross_entropy(h, y))
    grads = gd.grad(loss, params)
    feeds = [rng.normal(size=(batch, width)).astype(np.float32),
             rng.integers(0, width, batch).astype(np.int64)]
    return [x, y], [loss], {p: p - LR * g for p, g in zip(params, grads)}, feeds


def _lstm(steps: int, batch: int, d: int, hidden: int) -> tuple[list, list, dict, list]:
    import graphdiff as gd

    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(batch, d)).astype(np.float32) for _ in range(steps)]
    zeros = np.zeros((batch, hidden), np.float32)
    y = rng.normal(size=(batch, 10)).astype(np.float32)
    inputs = [gd.placeholder((batch, d), "float32", name=f"x{t}") for t in range(steps)]
    h = gd.placeholder((batch, hidden), "float32", name="h0")
    c = gd.placeholder((batch, hidden), "float32", name="c0")
    target = gd.placeholder((batch, 10), "float32", name="y")
    variables = {name: gd.variable(value, name=name)
                 for name, value in lstm.init(d, hidden, 10).items()}
    loss = lstm._loss(gd, inputs, h, c, target, variables)
    grads = gd.grad(loss, list(variables.values()))
    updates = {v: v - LR * g for v, g in zip(variables.values(), grads)}
    return [*inputs, h, c, target], [loss], updates, [*xs, zeros, zeros, y]


def _curve(title: str, build: Any, quick: bool) -> None:
    import graphdiff as gd
    from graphdiff.passes.remat import plan

    inputs, outputs, updates, feeds = build()
    variables = list(updates)
    start = [gd.get_value(v).copy() for v in variables]
    reference = gd.function(inputs, outputs, updates=updates, passes=BASE)
    graph = reference.graph
    rows, steps = [], {}
    want: dict[bool, tuple] = {}
    for name, passes in _settings():
        f = gd.function(inputs, outputs, updates=updates, passes=BASE + passes)
        for v, value in zip(variables, start):
            gd.set_value(v, value)
        loss = f(*feeds)
        after = [gd.get_value(v) for v in variables]
        fused = "fuse" in passes
        if fused not in want:
            want[fused] = (loss, after)
        else:  # the same ops on the same values: the same numbers (fused or not alike)
            assert np.array_equal(loss, want[fused][0]), name
            assert all(np.array_equal(a, b) for a, b in zip(after, want[fused][1])), name
        remat = [p for p in passes if p != "fuse"]
        estimate = plan(graph).before if not remat else _estimate(graph, remat)
        rows.append((name, estimate, f.memory_report()))
        steps[name] = (lambda f=f: f(*feeds))
    repeats, min_time = (5, 0.05) if quick else (11, 0.2)
    wall, cpu = _timings(steps, repeats, min_time)
    print(f"-- {title}")
    print(f"   {'setting':<20} {'held MB':>8} {'arena MB':>9} {'live peak':>10} {'peak MB':>8} "
          f"{'wall':>10} {'cpu':>10} {'extra cpu':>10}")
    for name, estimate, report in rows:
        print(f"   {name:<20} {estimate / 1e6:>8.2f} {report.arena / 1e6:>9.2f} "
              f"{report.live_peak / 1e6:>10.2f} {report.peak / 1e6:>8.2f} "
              f"{wall[name] * 1e3:>8.2f}ms {cpu[name] * 1e3:>8.2f}ms "
              f"{cpu[name] / cpu['none'] - 1:>+10.0%}")


def _timings(steps: dict[str, Any], repeats: int, min_time: float
             ) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall and CPU seconds per call of each step, sampled in turn after warm-up.

    CPU time (this process only; numpy pinned to one thread) is what recomputation adds;
    wall time also counts waiting for the other jobs of a shared machine.
    """
    for step in steps.values():
        step()
        step()
    walls: dict[str, list[float]] = {name: [] for name in steps}
    cpus: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            loops, start, start_cpu = 0, time.perf_counter(), time.process_time()
            while time.perf_counter() - start < min_time:
                step()
                loops += 1
            walls[name].append((time.perf_counter() - start) / loops)
            cpus[name].append((time.process_time() - start_cpu) / loops)
    return ({name: statistics.median(v) for name, v in walls.items()},
            {name: statistics.median(v) for name, v in cpus.items()})


def _estimate(graph: Any, passes: list[Any]) -> int:
    """The estimate of the last remat pass in ``passes``, run after the ones before it."""
    from graphdiff.passes import run_pipeline

    before = run_pipeline(graph, passes[:-1]) if len(passes) > 1 else graph
    return passes[-1].plan(before).after


def run(quick: bool) -> None:
    header()
    depth, width, batch = (16, 128, 128) if quick else (16, 256, 512)
    _curve(f"MLP {depth} x {width} GELU, batch {batch}, training step, float32",
           lambda: _mlp(depth, width, batch), quick)
    steps_t, batch, d, hidden = (16, 32, 32, 64) if quick else (32, 64, 64, 128)
    _curve(f"LSTM unrolled {steps_t} steps, batch {batch}, {d} -> {hidden}, training step, "
           "float32", lambda: _lstm(steps_t, batch, d, hidden), quick)
