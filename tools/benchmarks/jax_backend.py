"""backend="jax" against the same math hand-written in ``jax.jit``: what the lowering costs.

Each workload of the other suites (MLP, tiny MLP, CNN, LSTM, transformer block training steps)
runs as a graphdiff function with ``backend="jax"`` and as the suite's own hand-written JAX
step (``jax.value_and_grad`` under ``jax.jit``, the same unrolled math: the LSTM is a Python
loop over its steps on both sides), interleaved in one process, medians. Both keep the
parameters on the device between calls and bring the loss back to the host. The data:

* graphdiff is called as its users call it, with numpy arrays: each call moves them to the
  device (jit's argument transfer, a few microseconds per array);
* "jax jit, host data" is fed the same numpy arrays at each call: the same work per call, so
  its ratio is the target (graphdiff within 1.1x: this measures the lowering and graphdiff's
  per-call work, not XLA);
* "jax jit, device data" is fed arrays placed on the device once, its best case; the ratio
  beside it shows what the transfer of a batch costs on top (it matters only for the
  microsecond steps).

The first-call cost of each (building the function, tracing, XLA compiling, the first step) is
reported beside it.
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
    print("-- training steps: backend='jax' (numpy data in) vs hand-written jax.jit fed the same "
          "numpy data (target ratio <= 1.1) and fed data already on the device; medians; "
          "first call = build + trace + XLA compile + one step")
    print(f"   {'workload':<34} {'graphdiff jax':>13} {'jax, host':>10} {'ratio':>6} "
          f"{'jax, device':>12} {'ratio':>6} {'1st call gd':>12} {'1st call jax':>13}")
    for name, (ours, theirs) in _workloads(quick).items():
        gd_step, gd_first = _first_call(ours)
        jax_step, jax_first = _first_call(theirs)
        host_step = jax_step.with_host_data()  # type: ignore[attr-defined]
        host_step()
        losses = [float(step()) for step in (gd_step, jax_step, host_step)]  # each's 2nd step
        np.testing.assert_allclose(losses[1:], [losses[0]] * 2, rtol=2e-3)
        medians = timings({"gd": gd_step, "host": host_step, "device": jax_step}, repeats,
                          min_time)
        print(f"   {name:<34} {_time(medians['gd']):>13} {_time(medians['host']):>10} "
              f"{medians['gd'] / medians['host']:>6.2f} {_time(medians['device']):>12} "
              f"{medians['gd'] / medians['device']:>6.2f} {gd_first:>11.2f}s "
              f"{jax_first:>12.2f}s")
