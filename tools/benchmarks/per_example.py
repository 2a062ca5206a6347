"""Per-example gradients and Jacobians: what ``vmap`` is for.

- Per-example gradients of an MLP's loss (every parameter, one gradient per example) in
  graphdiff (``gd.vmap`` of ``gd.grad``), ``jax.jit(jax.vmap(jax.grad(...)))`` and
  ``torch.func.vmap(torch.func.grad(...))``, from the same parameters; each is checked against
  graphdiff before timing.
- A 100 x 100 Jacobian: ``gd.jacobian`` (one JVP vmap-ed over the basis) against the graph it
  used to build (one JVP per basis vector, concatenated): nodes, build + first call, call.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks._harness import Step, check_close, compare, have
from benchmarks.mlp import data, init


def graphdiff_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> Step:
    import graphdiff as gd

    xs = gd.placeholder((None, x.shape[1]), "float32", name="x")
    ys = gd.placeholder((None,), "int64", name="y")
    weights = [gd.variable(p, name=f"p{i}") for i, p in enumerate(params)]

    def gradients(row: gd.Node, label: gd.Node) -> list[gd.Node]:
        h = gd.relu(row @ weights[0] + weights[1]) @ weights[2] + weights[3]
        return gd.grad(gd.softmax_cross_entropy(h, label), weights)

    f = gd.function([xs, ys], gd.vmap(gradients)(xs, ys))
    return lambda: f(x, y)


def jax_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> Step:
    import jax
    import jax.numpy as jnp

    def loss(ps: list, row: Any, label: Any) -> Any:
        h = jax.nn.relu(row @ ps[0] + ps[1]) @ ps[2] + ps[3]
        return -jax.nn.log_softmax(h)[label]

    f = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))
    ps, xs, ys = [jnp.asarray(p) for p in params], jnp.asarray(x), jnp.asarray(y)

    def step() -> list:
        return [np.asarray(g) for g in jax.block_until_ready(f(ps, xs, ys))]
    return step


def torch_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> Step:
    import torch
    from torch.func import grad, vmap

    def loss(ps: list, row: Any, label: Any) -> Any:
        h = torch.relu(row @ ps[0] + ps[1]) @ ps[2] + ps[3]
        return torch.nn.functional.cross_entropy(h[None], label[None])

    f = vmap(grad(loss), in_dims=(None, 0, 0))
    ps = [torch.from_numpy(p) for p in params]
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> list:
        with torch.no_grad():
            return [g.numpy() for g in f(ps, xs, ys)]
    return step


def per_example_gradients(sizes: list[int], batch: int, quick: bool) -> dict[str, float]:
    params = init(sizes)
    x, y = data(sizes, batch)
    steps: dict[str, Step] = {"graphdiff": graphdiff_step(params, x, y)}
    if have("torch"):
        steps["torch.func"] = torch_step(params, x, y)
    if have("jax"):
        steps["jax jit"] = jax_step(params, x, y)
    want = steps["graphdiff"]()
    for name, step in steps.items():
        for k, (got, ref) in enumerate(zip(step(), want)):
            check_close(f"{name} gradient {k}", got, ref, rtol=1e-3, atol=1e-5)
    title = (f"per-example gradients, MLP {'-'.join(map(str, sizes))}, batch {batch}, "
             f"float32")
    return compare(title, steps, quick=quick)


def jacobian_graphs(n: int) -> None:
    import graphdiff as gd
    from graphdiff.ir.graph import topo_order

    rng = np.random.default_rng(0)
    W = gd.constant(rng.standard_normal((n, n)) / np.sqrt(n))
    value = rng.standard_normal(n)

    def unrolled(y: gd.Node, x: gd.Node) -> gd.Node:  # what gd.jacobian built before vmap
        columns = [gd.reshape(gd.jvp(y, x, np.eye(n)[i]), (1, n)) for i in range(n)]
        return gd.transpose(gd.concatenate(columns, axis=0))

    print(f"{n} x {n} Jacobian of tanh(W @ sin(x)), forward mode, float64")
    print(f"{'':>22} {'nodes':>7} {'build+1st call':>15} {'call':>10}")
    for name, build in (("one JVP per column", unrolled),
                        ("gd.jacobian (vmap)", lambda y, x: gd.jacobian(y, x, mode="fwd"))):
        x = gd.placeholder((n,), "float64", name="x")
        y = gd.tanh(W @ gd.sin(x))
        start = time.perf_counter()
        J = build(y, x)
        f = gd.function([x], J)
        f(value)
        built = time.perf_counter() - start
        calls = []
        for _ in range(30):
            t = time.perf_counter()
            f(value)
            calls.append(time.perf_counter() - t)
        print(f"{name:>22} {len(topo_order([J])):>7} {built * 1e3:>12.1f} ms "
              f"{np.median(calls) * 1e6:>7.0f} us")


def run(quick: bool) -> None:
    sizes, batch = ([256, 64, 10], 64) if quick else ([784, 256, 10], 256)
    per_example_gradients(sizes, batch, quick)
    jacobian_graphs(30 if quick else 100)
