"""Tiny MLP training step at batch 1: almost no arithmetic, so it measures dispatch overhead.

Targets: at most 1.5 x hand-written numpy, and ahead of PyTorch eager and JAX jit.
"""

from __future__ import annotations

from benchmarks.mlp import workload


def run(quick: bool) -> None:
    sizes = [16, 32, 32, 4]
    workload(f"tiny MLP {'-'.join(map(str, sizes))} training step, batch 1, float32",
             sizes, 1, quick)
