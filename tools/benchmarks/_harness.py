"""Side-by-side comparison of one workload across graphdiff, hand-written numpy and the peers.

Each workload module gives a step callable per implementation; :func:`compare` times them
interleaved (one sample of each in turn, so a noisy neighbour hurts all alike), takes medians,
prints the ratio of each to graphdiff, the peak memory of a step where it can be measured
(tracemalloc sees numpy's allocations, so graphdiff and numpy; torch and JAX allocate outside
it), and graphdiff's memory plan against its lower bound. Optional peers are skipped when not
installed: ``pip install torch jax jaxlib pytensor`` (see docs/runtime.md).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Step = Callable[[], object]


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def single_threaded() -> bool:
    """Whether this run pins every framework to one thread (``OPENBLAS_NUM_THREADS=1``).

    On a small shared machine multi-threaded BLAS timings swing by 10x or more; one thread each
    gives comparable numbers. numpy reads the variable itself; torch and XLA are told here, and
    graphdiff's chunked elementwise steps (``GRAPHDIFF_NUM_THREADS``).
    """
    return os.environ.get("OPENBLAS_NUM_THREADS") == "1"


if single_threaded():
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                          "intra_op_parallelism_threads=1")
    os.environ.setdefault("GRAPHDIFF_NUM_THREADS", "1")


def steady_malloc() -> bool:
    """Keep freed memory in glibc's heap (no trimming, no mmap for big arrays), for all.

    By default glibc hands big freed blocks back to the OS, so hand-written numpy pays page
    faults for its temporaries at every step, while graphdiff's arena does not; but the first
    JAX run changes glibc's thresholds for the whole process, making numpy 2x faster from then
    on. Fixing the thresholds up front gives numpy its best case, the same all run long.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_trim_threshold, 1 << 30)) and \
        bool(libc.mallopt(m_mmap_threshold, 1 << 30))


STEADY_MALLOC = steady_malloc()


def peers() -> list[str]:
    """The optional peers installed here."""
    return [name for name in ("torch", "jax", "pytensor") if have(name)]


_HEADER_DONE = False


def header() -> None:
    """Print once what the numbers were measured on: numpy's BLAS and the peers' versions."""
    global _HEADER_DONE
    if _HEADER_DONE:
        return
    _HEADER_DONE = True
    blas = "unknown BLAS"
    if have("threadpoolctl"):
        from threadpoolctl import threadpool_info

        infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        infos.sort(key=lambda i: "numpy" not in str(i.get("filepath")))  # numpy's own first
        if infos:
            i = infos[0]
            blas = f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}, " \
                   f"{i.get('num_threads')} threads"
    versions = [f"numpy {np.__version__} ({blas})"]
    for name in peers():
        module = __import__(name)
        versions.append(f"{name} {module.__version__}")
        if name == "torch" and single_threaded():
            module.set_num_threads(1)
    versions.append("one thread each" if single_threaded() else "default threads")
    versions.append("glibc keeps freed memory (numpy's best case)" if STEADY_MALLOC
                    else "default malloc")
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype:
        versions.append(f"OPENBLAS_CORETYPE={coretype} (slows numpy; unset it to benchmark)")
    print("# " + "; ".join(versions))


def on_threads(n: int | None, f: Callable[..., Any], *arrays: Any) -> Step:
    """A step calling ``f(*arrays)`` with graphdiff on ``n`` threads (None: the default)."""
    import graphdiff as gd

    def run() -> Any:
        gd.set_num_threads(n)
        try:
            return f(*arrays)
        finally:
            gd.set_num_threads(None)
    return run


def timings(steps: dict[str, Step], repeats: int, min_time: float) -> dict[str, float]:
    """Median seconds per call of each step, sampled in turn (warm-up calls excluded)."""
    for step in steps.values():
        step()
        step()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            loops, start = 0, time.perf_counter()
            while True:
                step()
                loops += 1
                elapsed = time.perf_counter() - start
                if elapsed >= min_time:
                    break
            samples[name].append(elapsed / loops)
    return {name: statistics.median(values) for name, values in samples.items()}


def traced_peak(step: Step) -> int:
    """Peak bytes numpy allocated during one call of ``step`` (beyond what was held before)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


FUSED = "graphdiff +fuse"
NUMBA = "graphdiff numba"  # backend="numba" (fusion on by default there)


def fused_passes() -> list[str]:
    """The default pass pipeline with fusion added, for the ``graphdiff +fuse`` column."""
    from graphdiff.passes.pipeline import FUSED_PIPELINE

    return list(FUSED_PIPELINE)


def compare(title: str, steps: dict[str, Step], *, quick: bool,
            functions: dict[str, Any] | None = None,
            traced: tuple[str, ...] = ("graphdiff", FUSED, "numpy"),
            base_name: str = "graphdiff", repeats: int | None = None) -> dict[str, float]:
    """Time ``steps`` side by side and print the table; returns the medians.

    ``functions`` maps step names to compiled graphdiff functions: each one's last plan is
    reported, and its arena (allocated once and kept) is added to its traced peak. Ratios are
    to the step ``base_name``; ``repeats`` overrides the number of samples of each.
    """
    header()
    default_repeats, min_time = (5, 0.02) if quick else (15, 0.1)
    medians = timings(steps, repeats or default_repeats, min_time)
    base = medians.get(base_name)
    peaks = {name: traced_peak(steps[name]) for name in traced if name in steps}
    reports = {name: f.memory_report() for name, f in (functions or {}).items()}
    for name, report in reports.items():
        if name in peaks:
            peaks[name] += report.arena
    print(f"-- {title}")
    width = max(16, *(len(name) for name in medians))
    column = f"x {base_name}"
    print(f"   {'implementation':<{width}} {'median':>11} {column:>12} {'peak MB':>9}")
    for name, seconds in medians.items():
        ratio = f"{seconds / base:>{len(column)}.2f}" if base else f"{'':>{len(column)}}"
        peak = f"{peaks[name] / 1e6:>9.3f}" if name in peaks else f"{'n/a':>9}"
        print(f"   {name:<{width}} {_time(seconds):>11} {ratio:>12} {peak}")
    for name, report in reports.items():
        print(f"   plan ({name}): {report}")
    return medians


def _time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e3:.3f} ms"


def check_close(name: str, got: Any, want: Any, rtol: float = 2e-3, atol: float = 1e-5) -> None:
    """Fail loudly if an implementation computes something else than graphdiff."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
        err = np.max(np.abs(got - want)) if got.shape == want.shape else "shape"
        raise AssertionError(f"{name} disagrees with graphdiff (max abs diff {err})")


def check_first_step(steps: dict[str, Step], variables: dict, names: tuple[str, ...]) -> None:
    """Run each step once and check its loss and its updated parameters ``names`` against
    graphdiff's (steps keep their state: numpy and torch in ``.params``, JAX in ``.state``)."""
    import graphdiff as gd

    losses = {name: float(step()) for name, step in steps.items()}
    for name, loss in losses.items():
        check_close(f"{name} loss", loss, losses["graphdiff"])
    for param in names:
        want = gd.get_value(variables[param])
        check_close(f"numpy {param}", steps["numpy"].params[param], want)  # type: ignore
        if "torch eager" in steps:
            got = steps["torch eager"].params[param].detach().numpy()  # type: ignore
            check_close(f"torch {param}", got, want)
        if "jax jit" in steps:
            check_close(f"jax {param}", steps["jax jit"].state[0][param], want)  # type: ignore


def jax_sgd_step(loss_fn: Callable[..., Any], params: Any, data: Sequence[Any],
                 lr: float) -> Step:
    """A jitted SGD step of ``loss_fn(params, *data)``; params a dict or list of arrays (kept,
    updated, in ``step.state[0]``), data placed on the device once; ``step.with_host_data()``
    gives the same step with its own parameters, fed the numpy data at each call."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def update(q: Any, *xs: Any) -> tuple:
        loss, grads = jax.value_and_grad(loss_fn)(q, *xs)
        return loss, jax.tree_util.tree_map(lambda p, g: p - lr * g, q, grads)

    def make(feeds: list) -> Step:
        state = [jax.tree_util.tree_map(jnp.asarray, params)]

        def step() -> float:
            loss, state[0] = update(state[0], *feeds)
            return float(loss)  # waits for the result

        step.state = state  # type: ignore[attr-defined]
        return step

    step = make(jax.tree_util.tree_map(jnp.asarray, list(data)))
    # the same step fed the numpy data at every call (jit moves it to the device each time),
    # as a training loop feeding host batches is, and as graphdiff's functions are fed
    step.with_host_data = lambda: make(list(data))  # type: ignore[attr-defined]
    return step


def torch_sgd_step(loss_fn: Callable[[], Any], params: Any, lr: float) -> Step:
    """An eager PyTorch SGD step: ``loss_fn()`` reads the leaf tensors ``params`` (a dict or
    list, kept in ``step.params``), then each takes ``lr`` times its gradient."""
    import torch

    values = list(params.values()) if isinstance(params, dict) else list(params)

    def step() -> float:
        loss = loss_fn()
        loss.backward()
        with torch.no_grad():
            for value in values:
                value -= lr * value.grad
                value.grad = None
        return loss.item()

    step.params = params  # type: ignore[attr-defined]
    return step
