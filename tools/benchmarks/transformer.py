"""Transformer block training step: pre-LayerNorm multi-head self-attention and a GELU (tanh)
MLP, both residual, a squared loss against a target, every gradient and the SGD update.

Tokens are kept as a (batch * tokens, width) matrix for the projections and the MLP, and split
into (batch, heads, tokens, head width) for attention, in every implementation.
"""

from __future__ import annotations

import math
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

LR = 0.01
EPS = 1e-5
K = math.sqrt(2.0 / math.pi)
C = 0.044715


def init(d: int, ff: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def dense(m: int, n: int) -> np.ndarray:
        return rng.normal(0, 1 / np.sqrt(m), (m, n)).astype(np.float32)

    return {"ln1_w": np.ones(d, np.float32), "ln1_b": np.zeros(d, np.float32),
            "Wq": dense(d, d), "Wk": dense(d, d), "Wv": dense(d, d), "Wo": dense(d, d),
            "ln2_w": np.ones(d, np.float32), "ln2_b": np.zeros(d, np.float32),
            "W1": dense(d, ff), "b1": np.zeros(ff, np.float32),
            "W2": dense(ff, d), "b2": np.zeros(d, np.float32)}


def _block(lib: Any, x: Any, p: dict, shape: tuple[int, int, int, int]) -> Any:
    """The block's output for tokens x (batch*tokens, width); ``lib`` adapts the framework."""
    _, tokens, heads, width = shape
    hw = width // heads

    def split(t: Any) -> Any:  # (B*T, D) -> (B, H, T, hw)
        return lib.transpose(lib.reshape(t, (-1, tokens, heads, hw)), (0, 2, 1, 3))

    a = lib.layer_norm(x, p["ln1_w"], p["ln1_b"])
    q, k, v = split(a @ p["Wq"]), split(a @ p["Wk"]), split(a @ p["Wv"])
    scores = (q @ lib.transpose(k, (0, 1, 3, 2))) * (1.0 / math.sqrt(hw))
    o = lib.softmax(scores) @ v
    h = x + lib.reshape(lib.transpose(o, (0, 2, 1, 3)), (-1, width)) @ p["Wo"]
    u = lib.layer_norm(h, p["ln2_w"], p["ln2_b"]) @ p["W1"] + p["b1"]
    return h + lib.gelu(u) @ p["W2"] + p["b2"]


class _Graphdiff:
    @staticmethod
    def layer_norm(x: Any, w: Any, b: Any) -> Any:
        import graphdiff as gd
        return gd.layer_norm(x, w, b, eps=EPS)

    @staticmethod
    def softmax(x: Any) -> Any:
        import graphdiff as gd
        return gd.softmax(x, axis=-1)

    @staticmethod
    def gelu(x: Any) -> Any:
        import graphdiff as gd
        return gd.gelu(x, approximate="tanh")

    @staticmethod
    def reshape(x: Any, shape: tuple) -> Any:
        import graphdiff as gd
        return gd.reshape(x, shape)

    @staticmethod
    def transpose(x: Any, axes: tuple) -> Any:
        import graphdiff as gd
        return gd.transpose(x, axes)


def graphdiff_step(params: dict, x: np.ndarray, y: np.ndarray, shape: tuple,
                   passes: Any = "default", backend: str | None = None) -> tuple[Step, Any]:
    import graphdiff as gd

    # static shapes: a symbolic batch*tokens axis cannot be split into (batch, tokens)
    xs = gd.placeholder(x.shape, "float32", name="x")
    ys = gd.placeholder(y.shape, "float32", name="y")
    p = {name: gd.variable(value, name=name) for name, value in params.items()}
    diff = _block(_Graphdiff, xs, p, shape) - ys
    loss = gd.mean(diff * diff)
    grads = gd.grad(loss, list(p.values()))
    f = gd.function([xs, ys], loss, updates={v: v - LR * g for v, g in zip(p.values(), grads)},
                    passes=passes, backend=backend)
    return (lambda: f(x, y)), (f, p)


# --- hand-written numpy ---------------------------------------------------------------------

def _ln(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + EPS)
    xhat = xc * rstd
    return xhat * w + b, (xhat, rstd, w)


def _ln_backward(g: np.ndarray, saved: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xhat, rstd, w = saved
    gx = g * w
    dx = rstd * (gx - gx.mean(axis=-1, keepdims=True)
                 - xhat * (gx * xhat).mean(axis=-1, keepdims=True))
    return dx, (g * xhat).sum(axis=0), g.sum(axis=0)


def numpy_step(params: dict, x: np.ndarray, y: np.ndarray, shape: tuple) -> Step:
    p = {name: value.copy() for name, value in params.items()}
    batch, tokens, heads, width = shape
    hw = width // heads
    scale = 1.0 / math.sqrt(hw)

    def split(t: np.ndarray) -> np.ndarray:
        return t.reshape(batch, tokens, heads, hw).transpose(0, 2, 1, 3)

    def merge(t: np.ndarray) -> np.ndarray:
        return t.transpose(0, 2, 1, 3).reshape(batch * tokens, width)

    def step() -> float:
        a, ln1 = _ln(x, p["ln1_w"], p["ln1_b"])
        q, k, v = split(a @ p["Wq"]), split(a @ p["Wk"]), split(a @ p["Wv"])
        s = (q @ k.transpose(0, 1, 3, 2)) * scale
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        P = e / e.sum(axis=-1, keepdims=True)
        o = merge(P @ v)
        h = x + o @ p["Wo"]
        b_, ln2 = _ln(h, p["ln2_w"], p["ln2_b"])
        u = b_ @ p["W1"] + p["b1"]
        t = np.tanh(K * (u + C * u * u * u))
        gl = 0.5 * u * (1.0 + t)
        diff = h + gl @ p["W2"] + p["b2"] - y
        loss = float(np.mean(diff * diff))

        g = diff * (2.0 / diff.size)
        grads = {"W2": gl.T @ g, "b2": g.sum(axis=0)}
        du = (g @ p["W2"].T) * (0.5 * (1.0 + t) + 0.5 * u * (1.0 - t * t) * K
                                 * (1.0 + 3.0 * C * u * u))
        grads["W1"], grads["b1"] = b_.T @ du, du.sum(axis=0)
        dh, grads["ln2_w"], grads["ln2_b"] = _ln_backward(du @ p["W1"].T, ln2)
        dh += g
        grads["Wo"] = o.T @ dh
        do = split(dh @ p["Wo"].T)
        dP = do @ v.transpose(0, 1, 3, 2)
        dv = P.transpose(0, 1, 3, 2) @ do
        ds = P * (dP - (dP * P).sum(axis=-1, keepdims=True)) * scale
        dq, dk = ds @ k, ds.transpose(0, 1, 3, 2) @ q
        dq, dk, dv = merge(dq), merge(dk), merge(dv)
        grads["Wq"], grads["Wk"], grads["Wv"] = a.T @ dq, a.T @ dk, a.T @ dv
        da = dq @ p["Wq"].T + dk @ p["Wk"].T + dv @ p["Wv"].T
        _, grads["ln1_w"], grads["ln1_b"] = _ln_backward(da, ln1)
        for name, value in p.items():
            value -= LR * grads[name]
        return loss

    step.params = p  # type: ignore[attr-defined]
    return step


# --- peers ----------------------------------------------------------------------------------

def torch_step(params: dict, x: np.ndarray, y: np.ndarray, shape: tuple) -> Step:
    import torch
    import torch.nn.functional as F

    class lib:
        layer_norm = staticmethod(lambda t, w, b: F.layer_norm(t, (t.shape[-1],), w, b, EPS))
        softmax = staticmethod(lambda t: torch.softmax(t, dim=-1))
        gelu = staticmethod(lambda t: F.gelu(t, approximate="tanh"))
        reshape = staticmethod(torch.reshape)
        transpose = staticmethod(torch.permute)

    p = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    return torch_sgd_step(lambda: torch.mean((_block(lib, tx, p, shape) - ty) ** 2), p, LR)


def jax_step(params: dict, x: np.ndarray, y: np.ndarray, shape: tuple) -> Step:
    import jax
    import jax.numpy as jnp

    def jax_layer_norm(t: Any, w: Any, b: Any) -> Any:
        mu = t.mean(axis=-1, keepdims=True)
        var = ((t - mu) ** 2).mean(axis=-1, keepdims=True)
        return (t - mu) / jnp.sqrt(var + EPS) * w + b

    class lib:
        layer_norm = staticmethod(jax_layer_norm)
        softmax = staticmethod(lambda t: jax.nn.softmax(t, axis=-1))
        gelu = staticmethod(lambda t: jax.nn.gelu(t, approximate=True))
        reshape = staticmethod(jnp.reshape)
        transpose = staticmethod(jnp.transpose)

    return jax_sgd_step(lambda q, xs, ys: jnp.mean((_block(lib, xs, q, shape) - ys) ** 2),
                        params, [x, y], LR)


def run(quick: bool) -> None:
    shape = (8, 16, 4, 64) if quick else (16, 64, 4, 128)  # batch, tokens, heads, width
    batch, tokens, _, width = shape
    rng = np.random.default_rng(1)
    x = rng.normal(size=(batch * tokens, width)).astype(np.float32)
    y = rng.normal(size=(batch * tokens, width)).astype(np.float32)
    params = init(width, 4 * width)
    gd_step, (f, variables) = graphdiff_step(params, x, y, shape)
    fused_step, (f2, _) = graphdiff_step(params, x, y, shape, fused_passes())
    steps: dict[str, Step] = {"graphdiff": gd_step, FUSED: fused_step,
                              "numpy": numpy_step(params, x, y, shape)}
    if have("numba"):
        steps[NUMBA] = graphdiff_step(params, x, y, shape, backend="numba")[0]
    if have("torch"):
        steps["torch eager"] = torch_step(params, x, y, shape)
    if have("jax"):
        steps["jax jit"] = jax_step(params, x, y, shape)
    check_first_step(steps, variables, ("Wq", "ln1_w"))
    compare(f"transformer block, batch {batch} x {tokens} tokens, width {width}, 4 heads, "
            f"MLP {4 * width}, training step, float32", steps, quick=quick,
            functions={"graphdiff": f, FUSED: f2})

