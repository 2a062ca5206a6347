"""The numba backend (fused regions as parallel loop nests) against the numpy backend and JAX.

Table 1: GELU, LayerNorm (scale and shift) and softmax cross-entropy, forward and every
gradient at 2048x1024 float32: the numpy backend (default passes, and with fusion), the numba
backend and JAX ``jit``, medians of interleaved samples. Targets: numba at least 2x the numpy
backend and faster than JAX.
Table 2: the same steps with numba on one thread and on all (``numba.set_num_threads``,
interleaved in one process): the speed-up from the other cores.
Table 3: first-call cost per function (building it plus its first call) in a fresh process,
cold (empty kernel cache) and cached (a second process on the same cache), with the numpy
backend's for reference; the transformer-block training step too.
Table 4: per size, time with groups as their primitives / as numba kernels (both on the numba
backend), the crossover that sets the numba backend's threshold (``backends/numba.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

import graphdiff as gd

from ._harness import have, header, on_threads, timings
from .fusion import WORKLOADS

SHAPE = (2048, 1024)
TOOLS = Path(__file__).resolve().parents[1]


def _jax_step(name: str, arrays: list[np.ndarray]) -> Callable[[], object] | None:
    if not have("jax"):
        return None
    import jax
    import jax.numpy as jnp

    feeds = [jnp.asarray(a) for a in arrays]
    if name == "gelu":
        def loss(x):
            y = jax.nn.gelu(x, approximate=False)
            return jnp.sum(y * y)
        step = jax.jit(jax.value_and_grad(loss))
        return lambda: jax.block_until_ready(step(feeds[0]))
    if name == "layer_norm":
        cols = arrays[0].shape[1]
        g, b = jnp.ones(cols, jnp.float32), jnp.zeros(cols, jnp.float32)

        def loss(x, g, b, r):
            mean = jnp.mean(x, axis=-1, keepdims=True)
            centered = x - mean
            var = jnp.mean(centered * centered, axis=-1, keepdims=True)
            return jnp.sum((centered / jnp.sqrt(var + 1e-5) * g + b) * r)
        step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))
        return lambda: jax.block_until_ready(step(feeds[0], g, b, feeds[1]))

    def loss(z, y):
        picked = jnp.take_along_axis(z, y[:, None], axis=1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - picked)
    step = jax.jit(jax.value_and_grad(loss))
    return lambda: jax.block_until_ready(step(feeds[0], feeds[1]))


def _functions(name: str, shape: tuple[int, int]) -> tuple[dict, list[np.ndarray]]:
    inputs, outputs, arrays = WORKLOADS[name](*shape)
    functions = {"numpy": gd.function(inputs, outputs, backend="numpy"),
                 "numpy +fuse": gd.function(inputs, outputs, backend="numpy", passes="fused"),
                 "numba": gd.function(inputs, outputs, backend="numba")}
    want = functions["numpy"](*arrays)
    for label, f in functions.items():
        for a, b in zip(want, f(*arrays)):
            np.testing.assert_allclose(b, a, rtol=2e-3, atol=1e-4, err_msg=label)
    return functions, arrays


def _kernels(quick: bool) -> None:
    shape = (256, 1024) if quick else SHAPE
    repeats, min_time = (5, 0.02) if quick else (15, 0.1)
    print(f"forward + all gradients, {shape[0]}x{shape[1]} float32; medians of interleaved "
          "samples (ms); ratios: numpy / numba and jax / numba")
    print(f"{'workload':<12} {'numpy':>8} {'np+fuse':>8} {'numba':>8} {'jax jit':>8} "
          f"{'numpy/nb':>9} {'jax/nb':>7}")
    for name in WORKLOADS:
        functions, arrays = _functions(name, shape)
        steps = {label: (lambda f=f, a=arrays: f(*a)) for label, f in functions.items()}
        jax_run = _jax_step(name, arrays)
        if jax_run is not None:
            steps["jax"] = jax_run
        t = timings(steps, repeats, min_time)
        jax_t = t.get("jax", float("nan"))
        print(f"{name:<12} {t['numpy'] * 1e3:8.2f} {t['numpy +fuse'] * 1e3:8.2f} "
              f"{t['numba'] * 1e3:8.2f} {jax_t * 1e3:8.2f} {t['numpy'] / t['numba']:9.2f} "
              f"{jax_t / t['numba']:7.2f}")


def _threads(quick: bool) -> None:
    from graphdiff.runtime import threads

    shape = (256, 1024) if quick else SHAPE
    team = threads.count()
    print(f"numba on 1 thread vs {team} (gd.set_num_threads, interleaved), "
          f"{shape[0]}x{shape[1]} float32, ms")
    for name in WORKLOADS:
        functions, arrays = _functions(name, shape)
        f = functions["numba"]

        t = timings({"one": on_threads(1, f, *arrays), "all": on_threads(team, f, *arrays)},
                    5 if quick else 15, 0.1)
        print(f"  {name:<12} 1 thread {t['one'] * 1e3:7.2f}   {team} threads "
              f"{t['all'] * 1e3:7.2f}   speed-up {t['one'] / t['all']:5.2f}")


_FIRST_CALL = r"""
import json, sys, time
sys.path.insert(0, {tools!r})
import numpy as np
import graphdiff as gd
from benchmarks.fusion import WORKLOADS
from benchmarks import transformer as T
results = {{}}
for backend in ("numpy", "numba"):
    for name in ("gelu", "layer_norm", "softmax_ce"):
        inputs, outputs, arrays = WORKLOADS[name](256, 1024)
        start = time.perf_counter()
        f = gd.function(inputs, outputs, backend=backend)
        f(*arrays)
        results[backend + " " + name] = time.perf_counter() - start
    shape = (8, 64, 4, 128)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8 * 64, 128)).astype(np.float32)
    y = rng.normal(size=(8 * 64, 128)).astype(np.float32)
    start = time.perf_counter()
    step, _ = T.graphdiff_step(T.init(128, 512), x, y, shape, backend=backend)
    step()
    results[backend + " transformer"] = time.perf_counter() - start
print(json.dumps(results))
"""


def _first_calls(cache: str) -> dict[str, float]:
    env = dict(os.environ, GRAPHDIFF_CACHE_DIR=cache)
    script = _FIRST_CALL.format(tools=str(TOOLS))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _compile_time() -> None:
    print("first-call cost (build + first call, s) in a fresh process: cold = empty kernel "
          "cache, cached = a second process")
    with tempfile.TemporaryDirectory() as cache:
        cold = _first_calls(cache)
        cached = _first_calls(cache)
    names = ["gelu", "layer_norm", "softmax_ce", "transformer"]
    print(f"  {'function':<12} {'numpy':>7} {'numba cold':>11} {'numba cached':>13}")
    for name in names:
        print(f"  {name:<12} {cached['numpy ' + name]:7.2f} {cold['numba ' + name]:11.2f} "
              f"{cached['numba ' + name]:13.2f}")


def _crossover(quick: bool) -> None:
    """Groups as numba kernels vs as their primitives, both on the numba backend: where the
    kernels start to pay sets ``graphdiff.backends.numba.UNFUSE_AT_MOST_BYTES``."""
    from graphdiff.backends.numba import NumbaBackend

    sizes = [(1, 1024), (4, 1024), (16, 1024), (64, 1024)] + ([] if quick else [(256, 1024)])
    print("time as primitives / time as numba kernels, per size of the largest array "
          "(float32, forward + gradients)")
    print(f"  {'workload':<12} " + " ".join(f"{f'{r * c * 4 // 1024} KB':>8}" for r, c in sizes))
    threshold = NumbaBackend.unfuse_at_most
    try:
        for name in WORKLOADS:
            ratios = []
            for shape in sizes:
                inputs, outputs, arrays = WORKLOADS[name](*shape)
                built = {}
                for label, at_most in (("primitives", 1 << 40), ("kernels", -1)):
                    NumbaBackend.unfuse_at_most = at_most  # read when a signature compiles
                    f = gd.function(inputs, outputs, backend="numba")
                    f(*arrays)
                    built[label] = f
                t = timings({label: (lambda f=f, a=arrays: f(*a)) for label, f in built.items()},
                            3 if quick else 9, 0.05)
                ratios.append(t["primitives"] / t["kernels"])
            print(f"  {name:<12} " + " ".join(f"{r:8.2f}" for r in ratios))
    finally:
        NumbaBackend.unfuse_at_most = threshold


def run(quick: bool) -> None:
    if not have("numba"):
        print("numba is not installed (pip install graphdiff[numba])")
        return
    header()
    _kernels(quick)
    _threads(quick)
    _crossover(quick)
    _compile_time()
