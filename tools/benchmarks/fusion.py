"""Fusion: elementwise-heavy training steps, fused vs unfused (and PyTorch eager if installed).

Each workload is a forward pass plus all gradients: GELU, LayerNorm (with scale and shift) and
softmax cross-entropy. "unfused" is the default pipeline; "fused" is the default pipeline then
the fusion pass (``passes="fused"``). A second table sweeps the fused kernels' block size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np

import graphdiff as gd
from graphdiff.ops import fused_codegen
from graphdiff.passes.pipeline import DEFAULT_PIPELINE, FUSED_PIPELINE
from graphdiff.runtime import unfuse

from ._harness import header, timings

UNFUSED = list(DEFAULT_PIPELINE)
FUSED = list(FUSED_PIPELINE)


def _gelu_step(rows: int, cols: int):
    x = gd.placeholder((None, cols), "float32", name="x")
    y = gd.gelu(x)
    loss = gd.sum(y * y)
    return [x], [loss, gd.grad(loss, x)], [np.random.default_rng(0).standard_normal(
        (rows, cols)).astype(np.float32)]


def _layer_norm_step(rows: int, cols: int):
    x = gd.placeholder(("n", cols), "float32", name="x")  # x and r share their batch size
    g = gd.variable(np.ones(cols, np.float32), name="g")
    b = gd.variable(np.zeros(cols, np.float32), name="b")
    r = gd.placeholder(("n", cols), "float32", name="r")
    loss = gd.sum(gd.layer_norm(x, g, b) * r)
    rng = np.random.default_rng(0)
    return [x, r], [loss, *gd.grad(loss, [x, g, b])], [
        rng.standard_normal((rows, cols)).astype(np.float32),
        rng.standard_normal((rows, cols)).astype(np.float32)]


def _softmax_ce_step(rows: int, cols: int):
    z = gd.placeholder((None, cols), "float32", name="z")
    y = gd.placeholder((None,), "int64", name="y")
    loss = gd.mean(gd.softmax_cross_entropy(z, y))
    rng = np.random.default_rng(0)
    return [z, y], [loss, gd.grad(loss, z)], [
        rng.standard_normal((rows, cols)).astype(np.float32),
        rng.integers(0, cols, rows)]


WORKLOADS: dict[str, Callable] = {
    "gelu": _gelu_step, "layer_norm": _layer_norm_step, "softmax_ce": _softmax_ce_step}


def _torch_step(name: str, arrays: list[np.ndarray]) -> Callable[[], object] | None:
    try:
        import torch
    except ImportError:
        return None
    tensors = [torch.from_numpy(a) for a in arrays]

    def run() -> object:
        x = tensors[0].clone().requires_grad_(True)
        if name == "gelu":
            y = torch.nn.functional.gelu(x)
            loss = (y * y).sum()
            return torch.autograd.grad(loss, [x])
        if name == "layer_norm":
            cols = x.shape[1]
            g = torch.ones(cols, requires_grad=True)
            b = torch.zeros(cols, requires_grad=True)
            loss = (torch.nn.functional.layer_norm(x, (cols,), g, b) * tensors[1]).sum()
            return torch.autograd.grad(loss, [x, g, b])
        loss = torch.nn.functional.cross_entropy(x, tensors[1])
        return torch.autograd.grad(loss, [x])

    return run


def run(quick: bool) -> None:
    header()
    sizes = [(64, 64), (2048, 2048)] if not quick else [(64, 64), (1024, 1024)]
    repeats, min_time = (5, 0.02) if quick else (11, 0.2)
    print("forward + all gradients, float32; medians of interleaved samples")
    print(f"{'workload':<12} {'shape':>11} {'unfused ms':>11} {'fused ms':>9} "
          f"{'speed-up':>8} {'torch ms':>9} {'torch/fused':>11}")
    for name, build in WORKLOADS.items():
        for rows, cols in sizes:
            inputs, outputs, arrays = build(rows, cols)
            unfused = gd.function(inputs, outputs, passes=UNFUSED)
            fused = gd.function(inputs, outputs, passes=FUSED)
            for a, b in zip(unfused(*arrays), fused(*arrays)):
                np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-4)
            steps = {"unfused": lambda f=unfused, a=arrays: f(*a),
                     "fused": lambda f=fused, a=arrays: f(*a)}
            torch_run = _torch_step(name, arrays)
            if torch_run is not None:
                steps["torch"] = torch_run
            t = timings(steps, repeats, min_time)
            t_torch = t.get("torch", float("nan"))
            print(f"{name:<12} {f'{rows}x{cols}':>11} {t['unfused'] * 1e3:11.3f} "
                  f"{t['fused'] * 1e3:9.3f} {t['unfused'] / t['fused']:8.2f} "
                  f"{t_torch * 1e3:9.3f} {t_torch / t['fused']:11.2f}")
    _size_sweep(quick)
    _block_sweep(quick)


def _size_sweep(quick: bool) -> None:
    """Where the generated kernels start to pay: fused (kernels forced at every size) / unfused.
    Sets graphdiff.runtime.unfuse.UNFUSE_AT_MOST_BYTES."""
    sizes = [(128, 1024), (512, 1024)] if quick else \
        [(128, 1024), (256, 1024), (512, 1024), (1024, 1024), (1024, 2048), (2048, 2048)]
    print("size sweep: unfused time / fused time with the kernels forced at every size")
    print(f"{'workload':<12} " + " ".join(f"{f'{r * c * 4 / 2**20:g} MB':>8}" for r, c in sizes))
    with _kernels_at_every_size():
        for name, build in WORKLOADS.items():
            ratios = []
            for rows, cols in sizes:
                inputs, outputs, arrays = build(rows, cols)
                unfused = gd.function(inputs, outputs, passes=UNFUSED)
                fused = gd.function(inputs, outputs, passes=FUSED)
                t = timings({"unfused": lambda f=unfused, a=arrays: f(*a),
                             "fused": lambda f=fused, a=arrays: f(*a)},
                            3 if quick else 7, 0.05 if quick else 0.1)
                ratios.append(t["unfused"] / t["fused"])
            print(f"{name:<12} " + " ".join(f"{r:8.2f}" for r in ratios))


@contextlib.contextmanager
def _kernels_at_every_size() -> Iterator[None]:
    """Run fused groups through their kernels even where the runtime would expand them."""
    original = unfuse.UNFUSE_AT_MOST_BYTES
    unfuse.UNFUSE_AT_MOST_BYTES = -1
    try:
        yield
    finally:
        unfuse.UNFUSE_AT_MOST_BYTES = original


def _block_sweep(quick: bool) -> None:
    rows, cols = (1024, 1024) if quick else (2048, 2048)
    inputs, outputs, arrays = _gelu_step(rows, cols)
    original = fused_codegen.BLOCK_BYTES
    print(f"block size sweep (gelu step, {rows}x{cols}, float32):")
    try:
        with _kernels_at_every_size():
            for block in (1 << 14, 1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 22):
                fused_codegen.BLOCK_BYTES = block  # kernels are cached per block size too
                f = gd.function(inputs, outputs, passes=FUSED)
                t = timings({"fused": lambda f=f: f(*arrays)}, 3 if quick else 5, 0.1)["fused"]
                print(f"  {block // 1024:>6} KiB per block: {t * 1e3:8.2f} ms")
    finally:
        fused_codegen.BLOCK_BYTES = original
