"""Elementwise-heavy graphs: GELU (tanh form), LayerNorm and softmax, forward and gradient.

Each computes y = f(x) and the gradient of sum(y * G) with respect to x (and LayerNorm's weight
and bias) for a fed cotangent G: graphdiff, the same math hand-written in numpy, PyTorch eager
(``backward(G)``) and JAX jit (``jax.vjp``). Results are checked against graphdiff first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._harness import FUSED, Step, check_close, compare, fused_passes, have

K = math.sqrt(2.0 / math.pi)
C = 0.044715
EPS = 1e-5


# --- hand-written numpy -------------------------------------------------------------------------

def gelu_numpy(x: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
    t = np.tanh(K * (x + C * x * x * x))
    y = 0.5 * x * (1.0 + t)
    dx = g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * K * (1.0 + 3.0 * C * x * x))
    return [y, dx]


def layer_norm_numpy(x: np.ndarray, g: np.ndarray, w: np.ndarray,
                     b: np.ndarray) -> list[np.ndarray]:
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + EPS)
    xhat = xc * rstd
    y = xhat * w + b
    gxhat = g * w
    dx = rstd * (gxhat - gxhat.mean(axis=-1, keepdims=True)
                 - xhat * (gxhat * xhat).mean(axis=-1, keepdims=True))
    return [y, dx, (g * xhat).sum(axis=0), g.sum(axis=0)]


def softmax_numpy(x: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    y = e / e.sum(axis=-1, keepdims=True)
    return [y, y * (g - (g * y).sum(axis=-1, keepdims=True))]


# --- graphdiff ----------------------------------------------------------------------------------

def graphdiff_function(name: str, shape: tuple[int, int], passes: Any = "default") -> Any:
    import graphdiff as gd

    x = gd.placeholder((None, shape[1]), "float32", name="x")
    g = gd.placeholder((None, shape[1]), "float32", name="g")
    inputs = [x, g]
    if name == "gelu":
        y = gd.gelu(x, approximate="tanh")
        wrt = [x]
    elif name == "layer_norm":
        w = gd.placeholder((shape[1],), "float32", name="w")
        b = gd.placeholder((shape[1],), "float32", name="b")
        inputs += [w, b]
        y = gd.layer_norm(x, w, b, eps=EPS)
        wrt = [x, w, b]
    else:
        y = gd.softmax(x, axis=-1)
        wrt = [x]
    return gd.function(inputs, [y, *gd.grad(gd.sum(y * g), wrt)], passes=passes)


# --- peers --------------------------------------------------------------------------------------

def torch_step(name: str, arrays: list[np.ndarray]) -> Callable[[], list]:
    import torch
    import torch.nn.functional as F

    x, g, *rest = [torch.from_numpy(a) for a in arrays]
    params = [p.clone().requires_grad_(True) for p in rest]
    x.requires_grad_(True)

    def step() -> list:
        for t in [x, *params]:
            t.grad = None
        if name == "gelu":
            y = F.gelu(x, approximate="tanh")
        elif name == "layer_norm":
            y = F.layer_norm(x, (x.shape[-1],), params[0], params[1], eps=EPS)
        else:
            y = torch.softmax(x, dim=-1)
        y.backward(g)
        return [y.detach(), x.grad, *[p.grad for p in params]]

    return step


def jax_step(name: str, arrays: list[np.ndarray]) -> Callable[[], list]:
    import jax
    import jax.numpy as jnp

    def forward(x: Any, *params: Any) -> Any:
        if name == "gelu":
            return jax.nn.gelu(x, approximate=True)
        if name == "layer_norm":
            mu = x.mean(axis=-1, keepdims=True)
            var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
            return (x - mu) / jnp.sqrt(var + EPS) * params[0] + params[1]
        return jax.nn.softmax(x, axis=-1)

    @jax.jit
    def both(x: Any, g: Any, *params: Any) -> list:
        y, pullback = jax.vjp(forward, x, *params)
        return [y, *pullback(g)]

    device = [jnp.asarray(a) for a in arrays]

    def step() -> list:
        return jax.block_until_ready(both(*device))

    return step


def run(quick: bool) -> None:
    shape = (128, 512) if quick else (512, 1024)
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    g = rng.normal(size=shape).astype(np.float32)
    w = rng.normal(1.0, 0.1, shape[1]).astype(np.float32)
    b = rng.normal(0.0, 0.1, shape[1]).astype(np.float32)
    for name, reference in [("gelu", gelu_numpy), ("layer_norm", layer_norm_numpy),
                            ("softmax", softmax_numpy)]:
        arrays = [x, g, w, b] if name == "layer_norm" else [x, g]
        f = graphdiff_function(name, shape)
        f2 = graphdiff_function(name, shape, fused_passes())
        steps: dict[str, Step] = {"graphdiff": lambda f=f, a=arrays: f(*a),
                                  FUSED: lambda f=f2, a=arrays: f(*a),
                                  "numpy": lambda r=reference, a=arrays: r(*a)}
        if have("torch"):
            steps["torch eager"] = torch_step(name, arrays)
        if have("jax"):
            steps["jax jit"] = jax_step(name, arrays)
        want = steps["graphdiff"]()
        for impl, step in steps.items():
            for position, (got, expected) in enumerate(zip(step(), want)):
                check_close(f"{impl} {name} output {position}", np.asarray(got), expected,
                            rtol=1e-3, atol=1e-4)
        compare(f"{name} forward + gradient, {shape[0]}x{shape[1]} float32", steps,
                quick=quick, functions={"graphdiff": f, FUSED: f2})
