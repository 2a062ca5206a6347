"""MLP training step: forward, softmax cross-entropy, every gradient and the SGD update.

The same math in graphdiff, hand-written numpy (forward and backward by hand, updates in place),
PyTorch eager and JAX jit, from the same initial parameters; one step of each is checked against
graphdiff before timing. ``tiny_mlp`` reuses this at batch 1 to measure dispatch overhead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks._harness import (
    FUSED,
    NUMBA,
    Step,
    check_close,
    compare,
    fused_passes,
    have,
    jax_sgd_step,
    torch_sgd_step,
)

LR = 0.01


def init(sizes: list[int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        params.append(rng.normal(0, np.sqrt(2.0 / n_in), (n_in, n_out)).astype(np.float32))
        params.append(np.zeros(n_out, np.float32))
    return params


def data(sizes: list[int], batch: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(batch, sizes[0])).astype(np.float32),
            rng.integers(0, sizes[-1], batch).astype(np.int64))


def graphdiff_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray,
                   passes: Any = "default", backend: str | None = None) -> tuple[Step, Any]:
    import graphdiff as gd

    xs = gd.placeholder((None, x.shape[1]), "float32", name="x")
    ys = gd.placeholder((None,), "int64", name="y")
    variables = [gd.variable(p, name=f"p{i}") for i, p in enumerate(params)]
    h = xs
    layers = len(variables) // 2
    for i in range(layers):
        h = h @ variables[2 * i] + variables[2 * i + 1]
        if i < layers - 1:
            h = gd.relu(h)
    loss = gd.mean(gd.softmax_cross_entropy(h, ys))
    grads = gd.grad(loss, variables)
    f = gd.function([xs, ys], loss, updates={v: v - LR * g for v, g in zip(variables, grads)},
                    passes=passes, backend=backend)
    return (lambda: f(x, y)), (f, variables)


def numpy_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> Step:
    Ws = [p.copy() for p in params[0::2]]
    bs = [p.copy() for p in params[1::2]]
    rows = np.arange(x.shape[0])

    def step() -> float:
        acts = [x]
        h = x
        for i, (W, b) in enumerate(zip(Ws, bs)):
            h = h @ W
            h += b
            if i < len(Ws) - 1:
                np.maximum(h, 0, out=h)
            acts.append(h)
        m = h.max(axis=1, keepdims=True)
        e = np.exp(h - m)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - h[rows, y]))
        g = e
        g /= s
        g[rows, y] -= 1
        g /= x.shape[0]
        for i in reversed(range(len(Ws))):
            gW = acts[i].T @ g
            gb = g.sum(axis=0)
            if i > 0:
                g = g @ Ws[i].T
                g *= acts[i] > 0
            Ws[i] -= LR * gW
            bs[i] -= LR * gb
        return loss

    step.params = (Ws, bs)  # type: ignore[attr-defined]
    return step


def torch_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> Step:
    import torch

    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def loss() -> Any:
        h = tx
        layers = len(tensors) // 2
        for i in range(layers):
            h = h @ tensors[2 * i] + tensors[2 * i + 1]
            if i < layers - 1:
                h = torch.relu(h)
        return torch.nn.functional.cross_entropy(h, ty)

    return torch_sgd_step(loss, tensors, LR)


def jax_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> Step:
    import jax
    import jax.numpy as jnp

    def loss_fn(ps: list, xs: Any, ys: Any) -> Any:
        h = xs
        layers = len(ps) // 2
        for i in range(layers):
            h = h @ ps[2 * i] + ps[2 * i + 1]
            if i < layers - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, ys[:, None], axis=1))

    return jax_sgd_step(loss_fn, list(params), [x, y], LR)


def pytensor_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> Step:
    import pytensor
    import pytensor.tensor as pt

    shared = [pytensor.shared(p.copy()) for p in params]
    xs, ys = pt.matrix("x", dtype="float32"), pt.vector("y", dtype="int64")
    h = xs
    layers = len(shared) // 2
    for i in range(layers):
        h = h @ shared[2 * i] + shared[2 * i + 1]
        if i < layers - 1:
            h = pt.maximum(h, 0)
    logp = pt.special.log_softmax(h, axis=1)
    loss = -pt.mean(logp[pt.arange(ys.shape[0]), ys])
    grads = pytensor.grad(loss, shared)
    lr = np.float32(LR)
    f = pytensor.function([xs, ys], loss,
                          updates=[(p, p - lr * g) for p, g in zip(shared, grads)])

    def step() -> float:
        return float(f(x, y))

    step.params = shared  # type: ignore[attr-defined]
    return step


def workload(title: str, sizes: list[int], batch: int, quick: bool) -> dict[str, float]:
    params = init(sizes)
    x, y = data(sizes, batch)
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
    if have("pytensor"):
        steps["pytensor"] = pytensor_step(params, x, y)
    _check_first_step(steps, variables)
    return compare(title, steps, quick=quick, functions={"graphdiff": f, FUSED: f2})


def _check_first_step(steps: dict[str, Step], variables: list) -> None:
    import graphdiff as gd

    losses = {name: float(step()) for name, step in steps.items()}
    want_loss, want_w = losses["graphdiff"], gd.get_value(variables[0])
    for name, loss in losses.items():
        check_close(f"{name} loss", loss, want_loss)
    check_close("numpy W0", steps["numpy"].params[0][0], want_w)  # type: ignore[attr-defined]
    if "torch eager" in steps:
        got = steps["torch eager"].params[0].detach().numpy()  # type: ignore[attr-defined]
        check_close("torch W0", got, want_w)
    if "jax jit" in steps:
        check_close("jax W0", steps["jax jit"].state[0][0], want_w)  # type: ignore[attr-defined]
    if "pytensor" in steps:
        got = steps["pytensor"].params[0].get_value()  # type: ignore[attr-defined]
        check_close("pytensor W0", got, want_w)


def run(quick: bool) -> None:
    sizes, batch = ([256, 256, 128, 10], 64) if quick else ([784, 512, 256, 10], 128)
    workload(f"MLP {'-'.join(map(str, sizes))} training step, batch {batch}, float32",
             sizes, batch, quick)
