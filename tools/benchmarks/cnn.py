"""Small CNN training step: two (3x3 conv, padding 1) + ReLU + 2x2 max-pool stages, a dense
layer, softmax cross-entropy, every gradient and the SGD update, on NCHW float32 images.

The hand-written numpy version does im2col with ``sliding_window_view`` and ``tensordot``,
col2im tap by tap, and pools by reshaping into 2x2 windows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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

LR = 0.01


def init(channels: tuple[int, int, int], side: int, classes: int,
         seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    c0, c1, c2 = channels
    flat = c2 * (side // 4) ** 2
    return {
        "w1": rng.normal(0, np.sqrt(2 / (c0 * 9)), (c1, c0, 3, 3)).astype(np.float32),
        "b1": np.zeros(c1, np.float32),
        "w2": rng.normal(0, np.sqrt(2 / (c1 * 9)), (c2, c1, 3, 3)).astype(np.float32),
        "b2": np.zeros(c2, np.float32),
        "wd": rng.normal(0, np.sqrt(1 / flat), (flat, classes)).astype(np.float32),
        "bd": np.zeros(classes, np.float32),
    }


def graphdiff_step(params: dict, x: np.ndarray, y: np.ndarray,
                   passes: Any = "default", backend: str | None = None) -> tuple[Step, Any]:
    import graphdiff as gd

    xs = gd.placeholder((None, *x.shape[1:]), "float32", name="x")
    ys = gd.placeholder((None,), "int64", name="y")
    p = {name: gd.variable(value, name=name) for name, value in params.items()}
    h = gd.max_pool2d(gd.relu(gd.conv2d(xs, p["w1"], p["b1"], padding=1)), 2)
    h = gd.max_pool2d(gd.relu(gd.conv2d(h, p["w2"], p["b2"], padding=1)), 2)
    logits = gd.reshape(h, (-1, params["wd"].shape[0])) @ p["wd"] + p["bd"]
    loss = gd.mean(gd.softmax_cross_entropy(logits, ys))
    grads = gd.grad(loss, list(p.values()))
    f = gd.function([xs, ys], loss, updates={v: v - LR * g for v, g in zip(p.values(), grads)},
                    passes=passes, backend=backend)
    return (lambda: f(x, y)), (f, p)


# --- hand-written numpy ---------------------------------------------------------------------

def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3x3 convolution, padding 1: returns the output and the window view (for the backward)."""
    cols = sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), axis=(2, 3))
    y = np.tensordot(cols, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    return y + b[:, None, None], cols


def _conv_backward(g: np.ndarray, cols: np.ndarray, w: np.ndarray,
                   need_input: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    gw = np.tensordot(g, cols, axes=([0, 2, 3], [0, 2, 3]))
    gb = g.sum(axis=(0, 2, 3))
    if not need_input:
        return None, gw, gb
    n, _, height, width = g.shape
    gcols = np.tensordot(g, w, axes=([1], [0]))  # (N, H, W, C, 3, 3)
    gx = np.zeros((n, w.shape[1], height + 2, width + 2), g.dtype)
    for p in range(3):
        for q in range(3):
            gx[:, :, p:p + height, q:q + width] += gcols[:, :, :, :, p, q].transpose(0, 3, 1, 2)
    return gx[:, :, 1:-1, 1:-1], gw, gb


def _pool(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, c, height, width = a.shape
    windows = a.reshape(n, c, height // 2, 2, width // 2, 2)
    m = windows.max(axis=(3, 5))
    return m, windows == m[:, :, :, None, :, None]


def _pool_backward(g: np.ndarray, mask: np.ndarray) -> np.ndarray:
    n, c, height, width = g.shape
    return (mask * g[:, :, :, None, :, None]).reshape(n, c, height * 2, width * 2)


def numpy_step(params: dict, x: np.ndarray, y: np.ndarray) -> Step:
    p = {name: value.copy() for name, value in params.items()}
    rows = np.arange(x.shape[0])

    def step() -> float:
        z1, cols1 = _conv(x, p["w1"], p["b1"])
        a1 = np.maximum(z1, 0)
        h1, mask1 = _pool(a1)
        z2, cols2 = _conv(h1, p["w2"], p["b2"])
        a2 = np.maximum(z2, 0)
        h2, mask2 = _pool(a2)
        flat = h2.reshape(x.shape[0], -1)
        logits = flat @ p["wd"] + p["bd"]
        m = logits.max(axis=1, keepdims=True)
        e = np.exp(logits - m)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - logits[rows, y]))
        g = e / s
        g[rows, y] -= 1
        g /= x.shape[0]
        grads = {"wd": flat.T @ g, "bd": g.sum(axis=0)}
        g = (g @ p["wd"].T).reshape(h2.shape)
        g = _pool_backward(g, mask2) * (z2 > 0)
        g, grads["w2"], grads["b2"] = _conv_backward(g, cols2, p["w2"], True)
        g = _pool_backward(g, mask1) * (z1 > 0)
        _, grads["w1"], grads["b1"] = _conv_backward(g, cols1, p["w1"], False)
        for name, value in p.items():
            value -= LR * grads[name]
        return loss

    step.params = p  # type: ignore[attr-defined]
    return step


# --- peers ----------------------------------------------------------------------------------

def torch_step(params: dict, x: np.ndarray, y: np.ndarray) -> Step:
    import torch
    import torch.nn.functional as F

    p = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def loss() -> Any:
        h = F.max_pool2d(F.relu(F.conv2d(tx, p["w1"], p["b1"], padding=1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, p["w2"], p["b2"], padding=1)), 2)
        return F.cross_entropy(h.reshape(h.shape[0], -1) @ p["wd"] + p["bd"], ty)

    return torch_sgd_step(loss, p, LR)


def jax_step(params: dict, x: np.ndarray, y: np.ndarray) -> Step:
    import jax
    import jax.numpy as jnp
    from jax import lax

    def conv(h: Any, w: Any, b: Any) -> Any:
        out = lax.conv_general_dilated(h, w, (1, 1), ((1, 1), (1, 1)),
                                       dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return out + b[:, None, None]

    def pool(h: Any) -> Any:
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def loss_fn(q: dict, xs: Any, ys: Any) -> Any:
        h = pool(jax.nn.relu(conv(xs, q["w1"], q["b1"])))
        h = pool(jax.nn.relu(conv(h, q["w2"], q["b2"])))
        logits = h.reshape(h.shape[0], -1) @ q["wd"] + q["bd"]
        logp = jax.nn.log_softmax(logits, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, ys[:, None], axis=1))

    return jax_sgd_step(loss_fn, params, [x, y], LR)


def run(quick: bool) -> None:
    batch, side, channels = (16, 16, (1, 8, 16)) if quick else (64, 28, (1, 16, 32))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(batch, channels[0], side, side)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    params = init(channels, side, 10)
    gd_step, (f, variables) = graphdiff_step(params, x, y)
    fused_step, (f2, _) = graphdiff_step(params, x, y, fused_passes())
    steps: dict[str, Step] = {"graphdiff": gd_step, FUSED: fused_step,
                              "numpy": numpy_step(params, x, y)}
    if have("numba"):
        steps[NUMBA] = graphdiff_step(params, x, y, backend="numba")[0]
    if have("torch"):
        steps["torch eager"] = torch_step(params, x, y)
    if have("jax"):
        steps["jax jit"] = jax_step(params, x, y)
    check_first_step(steps, variables, ("w1",))
    compare(f"CNN {side}x{side}x{channels[0]} -> conv{channels[1]} -> pool -> conv"
            f"{channels[2]} -> pool -> 10, training step, batch {batch}, float32", steps,
            quick=quick, functions={"graphdiff": f, FUSED: f2})

