"""Sorting and order statistics: sort, top_k and median along rows, forward and gradient.

Each computes y = f(x) and the gradient of sum(y * G) with respect to x for a fed cotangent G:
graphdiff, the same in hand-written numpy (argsort, take_along_axis, put_along_axis), PyTorch
eager (``backward(G)``) and JAX jit (``jax.vjp``). Results are checked against graphdiff first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks._harness import Step, check_close, compare, have

K = 8  # top_k's k


def numpy_step(name: str, x: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
    if name == "median":  # an even row: the mean of the two middle elements
        order = np.argsort(x, axis=-1, kind="stable")
        n = x.shape[-1]
        middle = order[:, n // 2 - 1:n // 2 + 1]
        y = np.take_along_axis(x, middle, axis=-1).mean(axis=-1)
        dx = np.zeros_like(x)
        np.put_along_axis(dx, middle, np.repeat(g[:, None] * 0.5, 2, axis=1), axis=-1)
        return [y, dx]
    if name == "sort":
        order = np.argsort(x, axis=-1, kind="stable")
    else:
        order = np.argsort(-x, axis=-1, kind="stable")[:, :K]
    y = np.take_along_axis(x, order, axis=-1)
    dx = np.zeros_like(x)
    np.put_along_axis(dx, order, g, axis=-1)
    return [y, dx]


def graphdiff_function(name: str, shape: tuple[int, int]) -> Any:
    import graphdiff as gd

    x = gd.placeholder((None, shape[1]), "float32", name="x")
    width = {"sort": shape[1], "top_k": K, "median": None}[name]
    g = gd.placeholder((None, width) if width else (None,), "float32", name="g")
    y = {"sort": lambda: gd.sort(x), "top_k": lambda: gd.top_k(x, K)[0],
         "median": lambda: gd.median(x, axis=-1)}[name]()
    return gd.function([x, g], [y, gd.grad(gd.sum(y * g), x)])


def torch_step(name: str, x: np.ndarray, g: np.ndarray) -> Step:
    import torch

    xt, gt = torch.from_numpy(x), torch.from_numpy(g)

    def step() -> list[np.ndarray]:
        leaf = xt.clone().requires_grad_(True)
        if name == "sort":
            y = torch.sort(leaf, dim=-1, stable=True).values
        elif name == "top_k":
            y = torch.topk(leaf, K, dim=-1).values
        else:  # torch.median takes the lower middle element: the mean of both, as numpy
            y = torch.quantile(leaf, 0.5, dim=-1)
        y.backward(gt)
        return [y.detach().numpy(), leaf.grad.numpy()]
    return step


def jax_step(name: str, x: np.ndarray, g: np.ndarray) -> Step:
    import jax
    import jax.numpy as jnp

    f = {"sort": lambda v: jnp.sort(v, axis=-1), "top_k": lambda v: jax.lax.top_k(v, K)[0],
         "median": lambda v: jnp.median(v, axis=-1)}[name]

    @jax.jit
    def forward_and_gradient(v, cotangent):
        y, pullback = jax.vjp(f, v)
        return y, pullback(cotangent)[0]

    xj, gj = jnp.asarray(x), jnp.asarray(g)

    def step() -> list[np.ndarray]:
        y, dx = forward_and_gradient(xj, gj)
        return [np.asarray(y), np.asarray(dx)]
    return step


def run(quick: bool) -> None:
    shape = (64, 256) if quick else (256, 1024)
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    for name in ("sort", "top_k", "median"):
        g_shape = {"sort": shape, "top_k": (shape[0], K), "median": (shape[0],)}[name]
        g = rng.normal(size=g_shape).astype(np.float32)
        f = graphdiff_function(name, shape)
        steps: dict[str, Step] = {"graphdiff": lambda f=f, g=g: f(x, g),
                                  "numpy": lambda n=name, g=g: numpy_step(n, x, g)}
        if have("torch"):
            steps["torch eager"] = torch_step(name, x, g)
        if have("jax"):
            steps["jax jit"] = jax_step(name, x, g)
        want = steps["graphdiff"]()
        for impl, step in steps.items():
            for position, (got, expected) in enumerate(zip(step(), want, strict=True)):
                check_close(f"{impl} {name} output {position}", np.asarray(got), expected,
                            rtol=1e-5, atol=1e-6)
        compare(f"{name} along rows, forward + gradient, {shape[0]}x{shape[1]} float32", steps,
                quick=quick, functions={"graphdiff": f})
