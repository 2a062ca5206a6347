"""Run by tests/test_jax_parallel.py in fresh processes (XLA fixes the device count at start).

``python tests/jax_parallel_run.py devices`` (4 forced CPU devices): MLP and transformer training
steps, 3 of each, on one device and with ``data_parallel=True``; prints their losses and final
parameters as JSON. ``python tests/jax_parallel_run.py host <id> <count> <port>``: one process of
a multi-process run (2 forced devices each), the MLP trained data parallel for 5 steps over one
global batch; prints its losses and parameters.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def mlp_step(backend: str, **options):
    import graphdiff as gd
    from models.nets import MLP

    model = MLP([16, 32, 10], np.random.default_rng(0))
    x = gd.placeholder((None, 16), "float32", name="x")
    y = gd.placeholder((None,), "int64", name="y")
    loss = gd.mean(gd.softmax_cross_entropy(model(x), y))
    params = gd.tree_flatten(model.parameters())[0]
    grads = gd.grad(loss, params)
    f = gd.function([x, y], loss, updates={p: p - 0.1 * g for p, g in zip(params, grads)},
                    backend=backend, **options)
    rng = np.random.default_rng(1)
    feeds = (rng.standard_normal((32, 16)).astype(np.float32), rng.integers(0, 10, 32))
    return f, feeds, params


def transformer_step(backend: str, **options):
    import graphdiff as gd
    from models.nets import TransformerClassifier

    model = TransformerClassifier(np.random.default_rng(0), d_model=16, n_heads=2, d_ff=32)
    x = gd.placeholder((None, 8, 8), "float32", name="x")
    y = gd.placeholder((None,), "int64", name="y")
    loss = gd.mean(gd.softmax_cross_entropy(model(x), y))
    params = gd.tree_flatten(model.parameters())[0]
    grads = gd.grad(loss, params)
    f = gd.function([x, y], loss, updates={p: p - 0.05 * g for p, g in zip(params, grads)},
                    backend=backend, **options)
    rng = np.random.default_rng(2)
    feeds = (rng.standard_normal((16, 8, 8)).astype(np.float32), rng.integers(0, 10, 16))
    return f, feeds, params


def train(build, steps: int, backend: str, **options) -> dict:
    import graphdiff as gd

    f, feeds, params = build(backend, **options)
    losses = [float(f(*feeds)) for _ in range(steps)]
    return {"losses": losses, "params": [gd.get_value(p).tolist() for p in params]}


def devices() -> dict:
    import jax

    assert jax.device_count() == 4, jax.devices()
    out = {}
    for name, build in (("mlp", mlp_step), ("transformer", transformer_step)):
        out[name] = {"single": train(build, 3, "jax"),
                     "sharded": train(build, 3, "jax", data_parallel=True)}
    f, feeds, params = mlp_step("jax", data_parallel=True)
    f(*feeds)
    held = params[0].data.on_device()
    out["variable_devices"] = len(held.sharding.device_set)
    out["variable_replicated"] = bool(held.sharding.is_fully_replicated)
    return out


def host(process_id: int, count: int, port: int) -> dict:
    import jax

    import graphdiff as gd

    gd.distributed.initialize(f"127.0.0.1:{port}", count, process_id)
    assert jax.device_count() == 2 * count and jax.local_device_count() == 2
    result = train(mlp_step, 5, "jax", data_parallel=True)
    result["process"] = gd.distributed.process_index()
    gd.distributed.shutdown()
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # graphdiff and models
    mode = sys.argv[1]
    result = devices() if mode == "devices" else host(*map(int, sys.argv[2:5]))
    print("RESULT " + json.dumps(result))
