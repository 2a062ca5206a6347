"""Running one step on every core: the worker pool, and large elementwise steps in chunks.

numpy runs one ufunc on one core, and a large elementwise step is bound by memory bandwidth,
which one core does not saturate: a (256, 784, 256) float32 outer product (the per-example
gradient of a 784-256 layer, 205 MB written) took 57 ms on one thread and 29 ms in two halves
on two threads (``cd tools && python bench.py threads``). numpy releases the GIL inside its
inner loops, so chunks of one ufunc call on several Python threads run in parallel.

``count()`` is how many threads graphdiff uses (``set_num_threads``; the environment variable
``GRAPHDIFF_NUM_THREADS``; else the cores this process may run on). The numba backend runs its
compiled loop nests through the same ``run_chunks``.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..errors import InputError
from ..ir.types import TensorType

# Smaller elementwise steps run on the calling thread alone: handing chunks to other threads
# costs tens of microseconds, and a worker preempted in the middle of its chunk delays the call
# by a time slice, which only large calls can afford (the crossover: ``bench.py threads``).
PARALLEL_FROM = 1 << 18  # elements of the result
CHUNKS_PER_THREAD = 2  # a late worker's chunks are taken by the others

_POOL: dict[int, ThreadPoolExecutor] = {}  # worker count -> the pool, made on first use
_POOL_LOCK = threading.Lock()
_threads: int | None = None  # set_num_threads; None: the environment, else the cores


def count() -> int:
    """How many threads a step may run on (the caller's among them)."""
    if _threads is not None:
        return _threads
    configured = os.environ.get("GRAPHDIFF_NUM_THREADS")
    if configured and configured.isdigit() and int(configured) > 0:
        return int(configured)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)


def set_num_threads(threads: int | None) -> None:
    """Use ``threads`` threads per step from now on (None: back to the default)."""
    global _threads
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise InputError(f"set_num_threads: want a positive int or None, got {threads!r}")
    _threads = threads


def _workers(n: int) -> ThreadPoolExecutor:
    with _POOL_LOCK:
        pool = _POOL.get(n)
        if pool is None:
            pool = _POOL[n] = ThreadPoolExecutor(n, thread_name_prefix="graphdiff")
        return pool


class Choice:
    """One step's choice between its chunks on the calling thread alone and on every core,
    made by timing both: the faster runs, and the other is tried again every ``PROBE_EVERY``
    calls, so the choice follows the machine.

    Whether the workers pay depends on more than the size: a worker preempted in the middle of
    its chunk (another process has its core), or holding the GIL when it is, holds the call
    until the scheduler runs it again, a time slice or more. On this 2-core machine at a load
    average of 14, a (4800, 256) float32 add took 14.5 ms in chunks on two threads and 1.9 ms
    on one; at a load average of 1, a 16M-element outer product took 2.4 ms on two threads and
    4.2 ms on one (``bench.py threads``).
    """

    PROBE_EVERY = 16
    KEPT = 3  # the choice compares the medians of the last KEPT timings of each

    def __init__(self) -> None:
        self.seconds: tuple[list[float], list[float]] = ([], [])  # serial, parallel
        self.calls = 0

    def parallel(self) -> bool:
        self.calls += 1
        serial, parallel = self.seconds
        if len(serial) < 1 or len(parallel) < 1:
            return len(serial) >= 1  # measure each once, serial first
        faster = statistics.median(parallel) < statistics.median(serial)
        return faster != (self.calls % self.PROBE_EVERY == 0)

    def record(self, parallel: bool, seconds: float) -> None:
        kept = self.seconds[parallel]
        kept.append(seconds)
        if len(kept) > self.KEPT:
            del kept[0]


def run_chunks(kernel: Callable[..., None], args: Sequence[Any], n_chunks: int,
               threads: int, choice: Choice | None = None) -> None:
    """Run ``kernel(c_lo, c_hi, *args)`` over chunks ``0 .. n_chunks - 1`` on up to
    ``threads`` threads (the caller's among them); ``choice`` (the step's) decides by timing
    whether the other threads take part this time.

    Each thread takes the next chunk until none is left, and the call returns when every chunk
    is done: it never waits for a worker that has not started. On a shared machine a worker
    may not get a core for milliseconds; numba's ``prange`` waits for every thread of its team
    at the end of the loop (on this 2-core machine under load: median 15 ms instead of 0.9 ms
    for a 2048x1024 float32 kernel), here the caller does the late worker's chunks itself.
    """
    if threads <= 1 or n_chunks <= 1:
        kernel(0, n_chunks, *args)
        return
    parallel = choice is None or choice.parallel()
    start = time.perf_counter()
    if parallel:
        _on_every_core(kernel, args, n_chunks, threads)
    else:
        kernel(0, n_chunks, *args)
    if choice is not None:
        choice.record(parallel, time.perf_counter() - start)


def _on_every_core(kernel: Callable[..., None], args: Sequence[Any], n_chunks: int,
                   threads: int) -> None:
    taken = itertools.count()  # next() on a count is atomic under the GIL
    finished = itertools.count(1)
    done = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        while (chunk := next(taken)) < n_chunks:
            try:
                kernel(chunk, chunk + 1, *args)
            except BaseException as exc:  # re-raised by the caller
                errors.append(exc)
            if next(finished) == n_chunks:
                done.set()

    pool = _workers(threads - 1)
    for _ in range(threads - 1):
        # in a copy of the caller's context: numpy's error state (the executor's "ignore")
        # is a context variable, which a pool thread would otherwise not see
        pool.submit(contextvars.copy_context().run, work)
    work()
    done.wait()
    if errors:
        raise errors[0]


def chunked_elementwise(kernel: Callable[..., Any], attrs: dict[str, Any],
                        operand_types: Sequence[TensorType], result: TensorType
                        ) -> Callable[..., Any] | None:
    """``kernel`` (an elementwise op's, taking ``out=``) split along one axis of the result
    and run on every core, called as ``kernel(*operands, out=None)``; None for a result too
    small to gain from it. The thread count is read at each call (``set_num_threads``)."""
    shape = tuple(int(d) for d in result.shape)
    if int(np.prod(shape, dtype=np.int64)) < PARALLEL_FROM:
        return None
    # the first axis longer than 1, so that every chunk of a C-contiguous result (and of each
    # operand) is contiguous: some kernels reshape their ``out`` (relu's row-by-row compare)
    axis = next((a for a, extent in enumerate(shape) if extent > 1), None)
    if axis is None:
        return None
    rank, extent, dtype = len(shape), shape[axis], result.dtype
    after = (slice(None),) * (rank - 1 - axis)
    before = (slice(None),) * axis
    # an operand is cut where it has the split axis (aligned from the right, numpy's
    # broadcasting) with more than one entry; otherwise every chunk reads all of it
    cut = [len(t.shape) > rank - 1 - axis and int(t.shape[axis - rank]) != 1
           for t in operand_types]

    def chunks(lo: int, hi: int, bounds: list[int], operands: tuple, out: np.ndarray) -> None:
        # chunks lo .. hi - 1 are adjacent rows: one kernel call (all of them when serial)
        rows = slice(bounds[lo], bounds[hi])
        pieces = [x[(Ellipsis, rows) + after] if cuts else x for x, cuts in zip(operands, cut)]
        kernel(*pieces, out=out[before + (rows,)], **attrs)

    choice = Choice()

    def run(*operands: Any, out: np.ndarray | None = None) -> np.ndarray:
        threads = min(count(), extent)
        if threads <= 1:
            return kernel(*operands, out=out, **attrs)
        target = np.empty(shape, dtype) if out is None else out
        n_chunks = min(extent, CHUNKS_PER_THREAD * threads)
        bounds = [extent * c // n_chunks for c in range(n_chunks + 1)]
        run_chunks(chunks, (bounds, operands, target), n_chunks, threads, choice)
        return target

    return run
