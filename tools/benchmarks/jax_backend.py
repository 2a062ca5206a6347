"""backend="jax" against the same math hand-written in ``jax.jit``: what the lowering costs.

Each workload of the other suites (MLP, tiny MLP, CNN, LSTM, transformer block training steps)
runs as a graphdiff function with ``backend="jax"`` and as the suite's own hand-written JAX
step (``jax.value_and_grad`` under ``jax.jit``, parameters and data already on the device),
interleaved in one process, medians. Target: graphdiff within 1.1x of hand-written (this
measures the lowering and the per-call work, numpy in and out, not XLA). The first-call cost of
each (building the function, tracing, XLA compiling, the first step) is reported beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ._harness import Step, _time, have, header, timings


def _first_call(build: Callable[[], Step]) -> tuple[Step, float]:
    start = time.perf_counter()
    step = build()
    step()
    return step, time.perf_counter() - start


def _workloads(quick: bool) -> dict[str, tuple[Callable[[], Step], Callable[[], Step]]]:
    """name -> (graphdiff jax step builder, hand-written jax step builder)."""
    from . import cnn, lstm, mlp, transformer

    out: dict[str, Any] = {}
    sizes, batch = ([256, 256, 128, 10], 64) if quick else ([784, 512, 256, 10], 128)
    params = mlp.init(sizes)
    x, y = mlp.data(sizes, batch)
    out[f"MLP {'-'.join(map(str, sizes))}, batch {batch}"] = (
        lambda: mlp.graphdiff_step(params, x, y, backend="jax")[0],
        lambda: mlp.jax_step(params, x, y))
    tiny = [16, 32, 32, 4]
    tiny_params = mlp.init(tiny)
    tx, ty = mlp.data(tiny, 1)
    out["tiny MLP 16-32-32-4, batch 1"] = (
        lambda: mlp.graphdiff_step(tiny_params, tx, ty, backend="jax")[0],
        lambda: mlp.jax_step(tiny_params, tx, ty))
    cbatch, side, channels = (16, 16, (1, 8, 16)) if quick else (64, 28, (1, 16, 32))
    rng = np.random.default_rng(1)
    cx = rng.normal(size=(cbatch, channels[0], side, side)).astype(np.float32)
    cy = rng.integers(0, 10, cbatch).astype(np.int64)
    cparams = cnn.init(channels, side, 10)
    out[f"CNN {side}x{side}, batch {cbatch}"] = (
        lambda: cnn.graphdiff_step(cparams, cx, cy, backend="jax")[0],
        lambda: cnn.jax_step(cparams, cx, cy))
    steps_t, lbatch, d, hidden, o = (8, 32, 32, 64, 10) if quick else (16, 64, 64, 128, 10)
    xs = [rng.normal(size=(lbatch, d)).astype(np.float32) for _ in range(steps_t)]
    h0 = np.zeros((lbatch, hidden), np.float32)
    ly = rng.normal(size=(lbatch, o)).astype(np.float32)
    lparams = lstm.init(d, hidden, o)
    out[f"LSTM {steps_t} steps, batch {lbatch}"] = (
        lambda: lstm.graphdiff_step(lparams, xs, h0, h0, ly, backend="jax")[0],
        lambda: lstm.jax_step(lparams, xs, h0, h0, ly))
    shape = (8, 16, 4, 64) if quick else (16, 64, 4, 128)
    tb, tokens, _, width = shape
    trx = rng.normal(size=(tb * tokens, width)).astype(np.float32)
    tr_y = rng.normal(size=(tb * tokens, width)).astype(np.float32)
    tparams = transformer.init(width, 4 * width)
    out[f"transformer block {tb}x{tokens}, width {width}"] = (
        lambda: transformer.graphdiff_step(tparams, trx, tr_y, shape, backend="jax")[0],
        lambda: transformer.jax_step(tparams, trx, tr_y, shape))
    return out


def run(quick: bool) -> None:
    if not have("jax"):
        print("jax is not installed: pip install graphdiff[jax]")
        return
    header()
    repeats, min_time = (5, 0.02) if quick else (15, 0.1)
    print("-- training steps: backend='jax' vs hand-written jax.jit, medians; first call = "
          "build + trace + XLA compile + one step")
    print(f"   {'workload':<34} {'graphdiff jax':>13} {'jax jit':>11} {'ratio':>6} "
          f"{'1st call gd':>12} {'1st call jax':>13}")
    for name, (ours, theirs) in _workloads(quick).items():
        gd_step, gd_first = _first_call(ours)
        jax_step, jax_first = _first_call(theirs)
        np.testing.assert_allclose(float(gd_step()), float(jax_step()), rtol=2e-3)
        medians = timings({"gd": gd_step, "jax": jax_step}, repeats, min_time)
        ratio = medians["gd"] / medians["jax"]
        print(f"   {name:<34} {_time(medians['gd']):>13} {_time(medians['jax']):>11} "
              f"{ratio:>6.2f} {gd_first:>11.2f}s {jax_first:>12.2f}s")
