"""Peak memory of an LSTM's gradient against sequence length: a plain scan keeps every step's
residuals (O(T)); ``checkpoint="sqrt"`` keeps the carry at each segment's start and one
segment's residuals at a time (O(sqrt T)); ``checkpoint=k`` for a fixed k is O(T/k + k).

Peaks are measured with tracemalloc (numpy reports its array allocations to it) over one call
of the compiled gradient, after a warm-up call, so the planned arena (allocated once when the
function is specialized) is not counted: what is counted is what the loops allocate.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

import graphdiff as gd


def lstm_grad(steps: int, batch: int, hidden: int, checkpoint) -> tuple[gd.Function, list]:
    rng = np.random.default_rng(0)
    W = gd.variable(rng.normal(0, 1.0 / np.sqrt(2 * hidden), (2 * hidden, 4 * hidden))
                    .astype(np.float32), name="W")
    xs = gd.placeholder((steps, batch, hidden), "float32", name="xs")

    def cell(carry, x):
        h, c = carry
        z = gd.concatenate([x, h], axis=1) @ W
        i, f, o, g = (z[:, k * hidden:(k + 1) * hidden] for k in range(4))
        c = gd.sigmoid(f) * c + gd.sigmoid(i) * gd.tanh(g)
        h = gd.sigmoid(o) * gd.tanh(c)
        return (h, c), None

    zeros = gd.zeros((batch, hidden), "float32")
    (h, _), _ = gd.scan(cell, (zeros, zeros), xs, checkpoint=checkpoint)
    loss = gd.mean(h * h)
    f = gd.function([xs], [loss, gd.grad(loss, W)])
    return f, [rng.normal(size=(steps, batch, hidden)).astype(np.float32)]


def peak_bytes(f: gd.Function, args: list) -> int:
    f(*args)  # specialize and plan first: the arena is allocated once, not per call
    tracemalloc.start()
    try:
        f(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run(quick: bool) -> None:
    batch, hidden = (8, 32) if quick else (16, 64)
    lengths = (16, 64, 256) if quick else (64, 256, 1024)
    policies = {"plain": None, "sqrt": "sqrt", "k=16": 16}
    print(f"LSTM loss gradient, batch {batch}, hidden {hidden}, float32: peak MB allocated "
          "during one call (tracemalloc)")
    print("| T | " + " | ".join(policies) + " | plain / sqrt |")
    print("|---|" + "---|" * (len(policies) + 1))
    reference = None
    for steps in lengths:
        peaks = {}
        for name, policy in policies.items():
            f, args = lstm_grad(steps, batch, hidden, policy)
            peaks[name] = peak_bytes(f, args)
            value = f(*args)[1]
            if name == "plain":
                reference = value
            else:  # checkpointing recomputes the same ops: the same gradient
                np.testing.assert_allclose(value, reference, rtol=1e-5, atol=1e-7)
        cells = " | ".join(f"{peaks[n] / 1e6:.2f}" for n in policies)
        print(f"| {steps} | {cells} | {peaks['plain'] / peaks['sqrt']:.1f}x |")
