"""Unrolled LSTM training step: T steps, a linear read-out of the last state, squared loss, all
gradients by backpropagation through time, and the SGD update.

Each gate has its own input and recurrent weights (z_k = x_t Wx_k + h Wh_k + b_k), so every
implementation does the same matrix products; the initial h and c are fed as zeros.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks._harness import (
    FUSED,
    NUMBA,
    Step,
    check_first_step,
    compare,
    fused_passes,
    have,
    jax_sgd_step,
    torch_sgd_step,
)

LR = 0.05
GATES = ("i", "f", "o", "g")


def init(d: int, h: int, o: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {}
    for k in GATES:
        params[f"Wx{k}"] = rng.normal(0, 1 / np.sqrt(d), (d, h)).astype(np.float32)
        params[f"Wh{k}"] = rng.normal(0, 1 / np.sqrt(h), (h, h)).astype(np.float32)
        params[f"b{k}"] = np.zeros(h, np.float32)
    params["Wy"] = rng.normal(0, 1 / np.sqrt(h), (h, o)).astype(np.float32)
    params["by"] = np.zeros(o, np.float32)
    return params


def _cell(ops: Any, x: Any, h: Any, c: Any, p: dict) -> tuple:
    """One LSTM step written once for graphdiff, torch and jax (``ops`` gives sigmoid, tanh)."""
    z = {k: x @ p[f"Wx{k}"] + h @ p[f"Wh{k}"] + p[f"b{k}"] for k in GATES}
    i, f, o = ops.sigmoid(z["i"]), ops.sigmoid(z["f"]), ops.sigmoid(z["o"])
    c = f * c + i * ops.tanh(z["g"])
    return o * ops.tanh(c), c


def _loss(ops: Any, xs: list, h: Any, c: Any, y: Any, p: dict) -> Any:
    for x in xs:
        h, c = _cell(ops, x, h, c, p)
    diff = h @ p["Wy"] + p["by"] - y
    return ops.mean(diff * diff)


def graphdiff_step(params: dict, xs: list, h0: Any, c0: Any, y: Any,
                   passes: Any = "default", backend: str | None = None) -> tuple[Step, Any]:
    import graphdiff as gd

    n, d = xs[0].shape
    inputs = [gd.placeholder((None, d), "float32", name=f"x{t}") for t in range(len(xs))]
    h = gd.placeholder((None, h0.shape[1]), "float32", name="h0")
    c = gd.placeholder((None, c0.shape[1]), "float32", name="c0")
    target = gd.placeholder((None, y.shape[1]), "float32", name="y")
    variables = {name: gd.variable(value, name=name) for name, value in params.items()}
    loss = _loss(gd, inputs, h, c, target, variables)
    grads = gd.grad(loss, list(variables.values()))
    f = gd.function([*inputs, h, c, target], loss,
                    updates={v: v - LR * g for v, g in zip(variables.values(), grads)},
                    passes=passes, backend=backend)
    feeds = [*xs, h0, c0, y]
    return (lambda: f(*feeds)), (f, variables)


def numpy_step(params: dict, xs: list, h0: np.ndarray, c0: np.ndarray, y: np.ndarray) -> Step:
    p = {name: value.copy() for name, value in params.items()}

    def sigmoid(z: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-z))

    def step() -> float:
        h, c = h0, c0
        tape = []
        for x in xs:
            i = sigmoid(x @ p["Wxi"] + h @ p["Whi"] + p["bi"])
            f = sigmoid(x @ p["Wxf"] + h @ p["Whf"] + p["bf"])
            o = sigmoid(x @ p["Wxo"] + h @ p["Who"] + p["bo"])
            g = np.tanh(x @ p["Wxg"] + h @ p["Whg"] + p["bg"])
            c_new = f * c + i * g
            tc = np.tanh(c_new)
            tape.append((x, h, c, i, f, o, g, tc))
            h, c = o * tc, c_new
        diff = h @ p["Wy"] + p["by"] - y
        loss = float(np.mean(diff * diff))
        dout = diff * (2.0 / diff.size)
        grads = {name: np.zeros_like(value) for name, value in p.items()}
        grads["Wy"] = h.T @ dout
        grads["by"] = dout.sum(axis=0)
        dh = dout @ p["Wy"].T
        dc = np.zeros_like(c)
        for x, h_prev, c_prev, i, f, o, g, tc in reversed(tape):
            dc = dc + dh * o * (1.0 - tc * tc)
            dz = {"i": dc * g * i * (1.0 - i), "f": dc * c_prev * f * (1.0 - f),
                  "o": dh * tc * o * (1.0 - o), "g": dc * i * (1.0 - g * g)}
            dh = 0
            for k in GATES:
                grads[f"Wx{k}"] += x.T @ dz[k]
                grads[f"Wh{k}"] += h_prev.T @ dz[k]
                grads[f"b{k}"] += dz[k].sum(axis=0)
                dh = dh + dz[k] @ p[f"Wh{k}"].T
            dc = dc * f
        for name, value in p.items():
            value -= LR * grads[name]
        return loss

    step.params = p  # type: ignore[attr-defined]
    return step


def torch_step(params: dict, xs: list, h0: Any, c0: Any, y: Any) -> Step:
    import torch

    p = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    txs = [torch.from_numpy(x) for x in xs]
    th, tc, ty = torch.from_numpy(h0), torch.from_numpy(c0), torch.from_numpy(y)
    return torch_sgd_step(lambda: _loss(torch, txs, th, tc, ty, p), p, LR)


def jax_step(params: dict, xs: list, h0: Any, c0: Any, y: Any) -> Step:
    import jax
    import jax.numpy as jnp

    class ops:
        sigmoid = staticmethod(jax.nn.sigmoid)
        tanh = staticmethod(jnp.tanh)
        mean = staticmethod(jnp.mean)

    return jax_sgd_step(lambda q, xs, h, c, y: _loss(ops, xs, h, c, y, q), params,
                        [list(xs), h0, c0, y], LR)


def run(quick: bool) -> None:
    steps_t, batch, d, hidden, out = (8, 32, 32, 64, 10) if quick else (16, 64, 64, 128, 10)
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(batch, d)).astype(np.float32) for _ in range(steps_t)]
    h0 = np.zeros((batch, hidden), np.float32)
    c0 = np.zeros((batch, hidden), np.float32)
    y = rng.normal(size=(batch, out)).astype(np.float32)
    params = init(d, hidden, out)
    gd_step, (f, variables) = graphdiff_step(params, xs, h0, c0, y)
    fused_step, (f2, _) = graphdiff_step(params, xs, h0, c0, y, fused_passes())
    steps: dict[str, Step] = {"graphdiff": gd_step, FUSED: fused_step,
                              "numpy": numpy_step(params, xs, h0, c0, y)}
    if have("numba"):
        steps[NUMBA] = graphdiff_step(params, xs, h0, c0, y, backend="numba")[0]
    if have("torch"):
        steps["torch eager"] = torch_step(params, xs, h0, c0, y)
    if have("jax"):
        steps["jax jit"] = jax_step(params, xs, h0, c0, y)
    check_first_step(steps, variables, ("Whf",))
    compare(f"LSTM unrolled {steps_t} steps, batch {batch}, {d} -> {hidden} -> {out}, "
            "training step, float32", steps, quick=quick, functions={"graphdiff": f, FUSED: f2})

