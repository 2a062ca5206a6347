"""Sequences: an LSTM training step as one ``gd.scan`` against the same LSTM unrolled and the
peers' recurrent loops, the cost of a loop iteration, and compile size against length.

Table 1, at T = 32 and T = 512 steps (batch 64, 64 -> 128 -> 10, float32, as the ``lstm``
suite): loss, gradients of every parameter (backpropagation through time) and the SGD update.
The same cell everywhere (tools/benchmarks/lstm.py: one input and one recurrent matrix per
gate): graphdiff's scan (symbolic length: one function for any T), graphdiff unrolled (one
copy of the cell per step), numpy by hand, PyTorch eager as an ``nn.LSTMCell`` loop and as
``nn.LSTM``, and JAX with ``lax.scan`` under ``jit``. Ratios are to the scan. Targets: the
scan within 1.1x of unrolled at T=32, ahead of the LSTMCell loop at both lengths.

Table 2: what a scan iteration costs beyond its body's kernels: a scan of a tiny add over a
length-10000 sequence against the same ufunc calls in a bare Python loop (target <= 3 us).

Table 3: nodes and compile time (``gd.grad``, ``gd.function``, planning the first signature)
of an LSTM's loss and gradients at T = 10 and T = 1000 (targets: equal node counts, time
within 10%).
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

import numpy as np

from benchmarks import lstm
from benchmarks._harness import (
    Step,
    check_close,
    compare,
    have,
    jax_sgd_step,
    timings,
    torch_sgd_step,
)

LR = lstm.LR
SCAN, UNROLLED = "graphdiff scan", "graphdiff unrolled"
TORCH_GATES = ("i", "f", "g", "o")  # the order of PyTorch's packed gate rows


# --- the training step in each implementation -------------------------------------------------

def _readout_loss(ops: Any, h: Any, y: Any, p: dict) -> Any:
    diff = h @ p["Wy"] + p["by"] - y
    return ops.mean(diff * diff)


def scan_step(params: dict, xs: np.ndarray, h0: np.ndarray, c0: np.ndarray,
              y: np.ndarray) -> tuple[Step, Any, dict]:
    """The scan over ``xs`` (steps, batch, features), its length symbolic."""
    import graphdiff as gd

    d, hidden, out = xs.shape[2], h0.shape[1], y.shape[1]
    seq = gd.placeholder((None, "batch", d), "float32", name="xs")
    h = gd.placeholder(("batch", hidden), "float32", name="h0")
    c = gd.placeholder(("batch", hidden), "float32", name="c0")
    target = gd.placeholder(("batch", out), "float32", name="y")
    variables = {name: gd.variable(value, name=name) for name, value in params.items()}

    def body(carry: tuple, x: Any) -> tuple:
        return lstm._cell(gd, x, *carry, variables), None

    (h_last, _), _ = gd.scan(body, (h, c), seq)
    loss = _readout_loss(gd, h_last, target, variables)
    grads = gd.grad(loss, list(variables.values()))
    f = gd.function([seq, h, c, target], loss,
                    updates={v: v - LR * g for v, g in zip(variables.values(), grads)})
    return (lambda: f(xs, h0, c0, y)), f, variables


def _packed(params: dict, prefix: str) -> np.ndarray:
    """Per-gate (in, hidden) matrices as PyTorch's (4 hidden, in) rows, gates i, f, g, o."""
    return np.concatenate([params[f"{prefix}{k}"].T for k in TORCH_GATES])


def _torch_loaded(module: Any, params: dict, suffix: str = "") -> None:
    import torch

    with torch.no_grad():
        getattr(module, f"weight_ih{suffix}").copy_(torch.from_numpy(_packed(params, "Wx")))
        getattr(module, f"weight_hh{suffix}").copy_(torch.from_numpy(_packed(params, "Wh")))
        getattr(module, f"bias_ih{suffix}").copy_(
            torch.from_numpy(np.concatenate([params[f"b{k}"] for k in TORCH_GATES])))
        getattr(module, f"bias_hh{suffix}").zero_()


def torch_steps(params: dict, xs: np.ndarray, h0: np.ndarray, c0: np.ndarray,
                y: np.ndarray) -> dict[str, Step]:
    """An ``nn.LSTMCell`` stepped in a Python loop, and ``nn.LSTM`` over the whole sequence."""
    import torch

    d, hidden = xs.shape[2], h0.shape[1]
    tx, th, tc, ty = (torch.from_numpy(a) for a in (xs, h0, c0, y))
    steps: dict[str, Step] = {}

    cell = torch.nn.LSTMCell(d, hidden)
    _torch_loaded(cell, params)
    cell_readout = {k: torch.tensor(params[k], requires_grad=True) for k in ("Wy", "by")}

    def cell_loss() -> Any:
        h, c = th, tc
        for x in tx:
            h, c = cell(x, (h, c))
        return _readout_loss(torch, h, ty, cell_readout)

    steps["torch LSTMCell loop"] = torch_sgd_step(
        cell_loss, {**dict(cell.named_parameters()), **cell_readout}, LR)

    layer = torch.nn.LSTM(d, hidden)
    _torch_loaded(layer, params, "_l0")
    layer_readout = {k: torch.tensor(params[k], requires_grad=True) for k in ("Wy", "by")}
    th1, tc1 = th[None], tc[None]

    def layer_loss() -> Any:
        _, (h, _) = layer(tx, (th1, tc1))
        return _readout_loss(torch, h[0], ty, layer_readout)

    steps["torch nn.LSTM"] = torch_sgd_step(
        layer_loss, {**{k.replace("_l0", ""): v for k, v in layer.named_parameters()},
                     **layer_readout}, LR)
    return steps


def jax_step(params: dict, xs: np.ndarray, h0: np.ndarray, c0: np.ndarray,
             y: np.ndarray) -> Step:
    import jax
    import jax.numpy as jnp

    class ops:
        sigmoid = staticmethod(jax.nn.sigmoid)
        tanh = staticmethod(jnp.tanh)
        mean = staticmethod(jnp.mean)

    def loss(q: dict, seq: Any, h: Any, c: Any, target: Any) -> Any:
        def body(carry: tuple, x: Any) -> tuple:
            return lstm._cell(ops, x, *carry, q), None

        (h_last, _), _ = jax.lax.scan(body, (h, c), seq)
        return _readout_loss(ops, h_last, target, q)

    return jax_sgd_step(loss, params, [xs, h0, c0, y], LR)


def _check_first_steps(steps: dict[str, Step], variables: dict, hidden: int) -> None:
    """One step of each: its loss and its updated forget-gate recurrent matrix against the
    scan's (PyTorch keeps that matrix as rows hidden..2 hidden of ``weight_hh``)."""
    import graphdiff as gd

    losses = {name: float(step()) for name, step in steps.items()}
    want = gd.get_value(variables["Whf"])
    for name, value in losses.items():
        check_close(f"{name} loss", value, losses[SCAN])
    check_close("unrolled Whf", gd.get_value(steps[UNROLLED].variables["Whf"]), want)
    check_close("numpy Whf", steps["numpy"].params["Whf"], want)  # type: ignore[attr-defined]
    for name, step in steps.items():
        if name.startswith("torch"):
            got = step.params["weight_hh"].detach().numpy()[hidden:2 * hidden].T  # type: ignore
            check_close(f"{name} Whf", got, want)
        if name.startswith("jax"):
            check_close(f"{name} Whf", step.state[0]["Whf"], want)  # type: ignore


def _timed_build(build: Any) -> tuple[Any, float]:
    gc.collect()
    start = time.perf_counter()
    result = build()
    result[0]()  # the first call specializes and plans
    return result, time.perf_counter() - start


def training_table(steps_t: int, quick: bool) -> None:
    batch, d, hidden, out = (16, 32, 64, 10) if quick else (64, 64, 128, 10)
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(steps_t, batch, d)).astype(np.float32)
    h0 = np.zeros((batch, hidden), np.float32)
    c0 = np.zeros((batch, hidden), np.float32)
    y = rng.normal(size=(batch, out)).astype(np.float32)
    params = lstm.init(d, hidden, out)
    (scan, f_scan, variables), scan_build = _timed_build(
        lambda: scan_step(params, xs, h0, c0, y))
    (unrolled, (f_unrolled, unrolled_vars)), unrolled_build = _timed_build(
        lambda: lstm.graphdiff_step(params, list(xs), h0, c0, y))
    unrolled.variables = unrolled_vars  # type: ignore[attr-defined]
    gd_variables = [variables, unrolled_vars]
    for vs in gd_variables:  # the first calls above trained: start everyone from params
        _reset(vs, params)
    steps: dict[str, Step] = {SCAN: scan, UNROLLED: unrolled,
                              "numpy": lstm.numpy_step(params, list(xs), h0, c0, y)}
    if have("torch"):
        steps.update(torch_steps(params, xs, h0, c0, y))
    if have("jax"):
        steps["jax lax.scan jit"] = jax_step(params, xs, h0, c0, y)
    _check_first_steps(steps, variables, hidden)
    medians = compare(
        f"LSTM training step, T={steps_t}, batch {batch}, {d} -> {hidden} -> {out}, float32 "
        f"(scan: {len(f_scan.graph)} nodes; unrolled: {len(f_unrolled.graph)})", steps,
        quick=quick, functions={SCAN: f_scan, UNROLLED: f_unrolled},
        traced=(SCAN, UNROLLED, "numpy"), base_name=SCAN,
        repeats=(3 if quick else 7) if steps_t > 100 else None)
    print(f"   build (grad + function + first call): scan {scan_build:.2f} s, unrolled "
          f"{unrolled_build:.2f} s")
    ratio = medians[SCAN] / medians[UNROLLED]
    line = f"   scan / unrolled {ratio:.2f} (target at T=32: <= 1.1)"
    if "torch LSTMCell loop" in medians:
        line += f"; LSTMCell loop / scan {medians['torch LSTMCell loop'] / medians[SCAN]:.2f}" \
                " (target > 1)"
    print(line)


def _reset(variables: dict, params: dict) -> None:
    import graphdiff as gd

    for name, v in variables.items():
        gd.set_value(v, params[name].copy())


# --- the cost of an iteration -----------------------------------------------------------------

def loop_table(quick: bool) -> None:
    import graphdiff as gd

    length = 2000 if quick else 10_000
    rng = np.random.default_rng(0)
    xs_value = rng.normal(size=(length, 4)).astype(np.float32)
    c_value = np.zeros(4, np.float32)
    xs = gd.placeholder((None, 4), "float32", name="xs")
    c0 = gd.placeholder((4,), "float32", name="c0")
    carry_only, _ = gd.scan(lambda c, x: (c + x, None), c0, xs)
    with_ys = gd.scan(lambda c, x: (c + x, c * 2.0), c0, xs)
    f_carry = gd.function([xs, c0], carry_only)
    f_ys = gd.function([xs, c0], list(with_ys))
    out, a, b = np.empty(4, np.float32), np.ones(4, np.float32), np.ones(4, np.float32)
    two = np.float32(2.0)

    def add_alone() -> None:
        for _ in range(length):
            np.add(a, b, out)

    def add_mul_alone() -> None:
        for _ in range(length):
            np.add(a, b, out)
            np.multiply(a, two, out)

    np.testing.assert_allclose(f_carry(xs_value, c_value), xs_value.sum(0), rtol=1e-4)
    medians = timings({"scan c + x": lambda: f_carry(xs_value, c_value),
                       "np.add alone": add_alone,
                       "scan c + x, ys c * 2": lambda: f_ys(xs_value, c_value),
                       "np.add + np.multiply alone": add_mul_alone},
                      *((5, 0.02) if quick else (15, 0.1)))
    per = {name: seconds / length * 1e6 for name, seconds in medians.items()}
    print(f"-- one scan iteration, float32[4] carry, length {length}: us per iteration")
    print(f"   {'body':<24} {'scan':>8} {'kernels alone':>14} {'overhead':>9}")
    for body, scan_name, alone in (("c + x", "scan c + x", "np.add alone"),
                                   ("c + x, ys c * 2", "scan c + x, ys c * 2",
                                    "np.add + np.multiply alone")):
        print(f"   {body:<24} {per[scan_name]:>8.2f} {per[alone]:>14.2f} "
              f"{per[scan_name] - per[alone]:>9.2f}")
    print("   overhead = scan - the same ufunc calls in a bare Python loop (target <= 3 us)")


# --- compile size and time against length -----------------------------------------------------

def _compile_lstm(steps_t: int, batch: int, d: int, hidden: int) -> tuple[int, int, float, float,
                                                                          float]:
    """Nodes built and kept, and seconds of grad, function and planning, of an LSTM's loss and
    parameter gradients over a static length ``steps_t``."""
    import graphdiff as gd

    params = lstm.init(d, hidden, 10)
    variables = {name: gd.variable(value, name=name) for name, value in params.items()}
    seq = gd.placeholder((steps_t, batch, d), "float32", name="xs")
    zeros = gd.zeros((batch, hidden), "float32")
    target = gd.placeholder((batch, 10), "float32", name="y")
    (h, _), _ = gd.scan(lambda carry, x: (lstm._cell(gd, x, *carry, variables), None),
                        (zeros, zeros), seq)
    loss = _readout_loss(gd, h, target, variables)
    examples = (np.zeros((steps_t, batch, d), np.float32), np.zeros((batch, 10), np.float32))
    gc.collect()
    gc.disable()  # as timeit does: a collection landing in one run but not the other is noise
    try:
        start = time.perf_counter()
        grads = gd.grad(loss, list(variables.values()))
        after_grad = time.perf_counter()
        f = gd.function([seq, target], [loss, *grads])
        after_function = time.perf_counter()
        f.program_source(*examples)
        end = time.perf_counter()
    finally:
        gc.enable()
    return (len(f.reference_graph), len(f.graph), after_grad - start,
            after_function - after_grad, end - after_function)


def compile_table(quick: bool) -> None:
    batch, d, hidden = (16, 32, 64) if quick else (64, 64, 128)
    repeats = 3 if quick else 11
    lengths = (10, 1000)
    for _ in range(3):  # warm-up: imports, first-use caches
        _compile_lstm(lengths[0], batch, d, hidden)
    runs: dict[int, list] = {steps_t: [] for steps_t in lengths}
    for _ in range(repeats):  # interleaved, so a noisy neighbour slows both alike
        for steps_t in lengths:
            runs[steps_t].append(_compile_lstm(steps_t, batch, d, hidden))
    rows = {}
    for steps_t, measured in runs.items():
        built, kept = measured[0][:2]
        phases = [statistics.median(r[k] for r in measured) for k in (2, 3, 4)]
        totals = [sum(r[2:]) for r in measured]
        rows[steps_t] = (built, kept, *phases, statistics.median(totals), min(totals))
    print(f"-- LSTM loss + gradients, batch {batch}, {d} -> {hidden}, static length T: nodes and "
          f"compile seconds ({repeats} runs each, interleaved)")
    print(f"   {'T':>6} {'built':>7} {'kept':>6} {'grad s':>8} {'function s':>11} {'plan s':>8}"
          f" {'total s':>8} {'fastest s':>10}")
    for steps_t, (built, kept, t_grad, t_function, t_plan, total, fastest) in rows.items():
        print(f"   {steps_t:>6} {built:>7} {kept:>6} {t_grad:>8.4f} {t_function:>11.4f} "
              f"{t_plan:>8.4f} {total:>8.4f} {fastest:>10.4f}")
    same = rows[10][:2] == rows[1000][:2]
    print(f"   node counts {'equal' if same else 'DIFFER'}; compile time T=1000 / T=10: "
          f"{rows[1000][5] / rows[10][5]:.2f} (medians), {rows[1000][6] / rows[10][6]:.2f} "
          "(fastest runs; target within 10%). Phases are medians; plan s = "
          "f.program_source(example inputs): specialize, plan memory and generate the programs, "
          "the loop body's included")


def run(quick: bool) -> None:
    for steps_t in (8, 64) if quick else (32, 512):
        training_table(steps_t, quick)
    loop_table(quick)
    compile_table(quick)
