"""Large elementwise steps on every core (graphdiff/runtime/threads.py).

Table 1: one float32 multiply with broadcasting, ``a[:, :, None] * b[:, None, :]`` (an outer
product per row, what a per-example weight gradient is), result sizes around
``threads.PARALLEL_FROM``: the numpy backend with ``gd.set_num_threads(1)`` and with every
core, interleaved; where the split starts to pay is where ``PARALLEL_FROM`` belongs.
Table 2: the whole per-example gradient step of ``per_example.py`` on one thread and on all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import graphdiff as gd
from graphdiff.runtime import threads

from ._harness import header, on_threads, timings


def _outer(rows: int, m: int, n: int) -> tuple[Callable[..., object], list[np.ndarray]]:
    a = gd.placeholder((rows, m), "float32", name="a")
    b = gd.placeholder((rows, n), "float32", name="b")
    f = gd.function([a, b], gd.reshape(a, (rows, m, 1)) * gd.reshape(b, (rows, 1, n)))
    rng = np.random.default_rng(0)
    return f, [rng.standard_normal((rows, k)).astype(np.float32) for k in (m, n)]


def crossover(quick: bool) -> None:
    team = threads.count()
    print(f"outer product per row, float32, numpy backend: 1 thread vs {team}, "
          f"split from {threads.PARALLEL_FROM} elements")
    print(f"{'elements':>10} {'1 thread':>10} {f'{team} threads':>11} {'speed-up':>9}")
    for size in (1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22) + (() if quick else (1 << 24,)):
        rows, m = 16, 64
        f, arrays = _outer(rows, m, size // (rows * m))
        # the 1-thread run calls the same compiled function: the count is read at each call
        t = timings({"one": on_threads(1, f, *arrays), "all": on_threads(team, f, *arrays)},
                    5 if quick else 15, 0.02)
        print(f"{size:>10} {t['one'] * 1e6:>8.0f}us {t['all'] * 1e6:>9.0f}us "
              f"{t['one'] / t['all']:>9.2f}")


def per_example(quick: bool) -> None:
    from .mlp import data, init
    from .per_example import graphdiff_step

    sizes, batch = ([256, 64, 10], 64) if quick else ([784, 256, 10], 256)
    params = init(sizes)
    x, y = data(sizes, batch)
    step = graphdiff_step(params, x, y)
    team = threads.count()
    t = timings({"one": on_threads(1, step), "all": on_threads(team, step)},
                5 if quick else 15, 0.1)
    print(f"per-example gradients, MLP {'-'.join(map(str, sizes))}, batch {batch}: 1 thread "
          f"{t['one'] * 1e3:.1f} ms, {team} threads {t['all'] * 1e3:.1f} ms, speed-up "
          f"{t['one'] / t['all']:.2f}")


def run(quick: bool) -> None:
    header()
    crossover(quick)
    per_example(quick)
