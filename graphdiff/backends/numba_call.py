"""Compiling and calling the kernels ``numba_fused`` generates: the on-disk module cache, and
the caller that allocates outputs, runs chunks of rows on every core (``runtime/threads.py``)
and combines the per-chunk results of reductions over rows."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..ir.graph import Graph
from ..ops.core import reuse_or_empty
from ..ops.fused_codegen import POOL_SIZE
from ..runtime.threads import CHUNKS_PER_THREAD, PARALLEL_FROM, Choice, count, run_chunks
from .numba_fused import Shapes, _Plan, plan


def cache_dir() -> Path:
    """Where generated kernel modules and numba's cache live (``GRAPHDIFF_CACHE_DIR``, else
    ``~/.cache/graphdiff``)."""
    root = os.environ.get("GRAPHDIFF_CACHE_DIR") or Path.home() / ".cache" / "graphdiff"
    return Path(root) / "numba"


_LOCK = threading.Lock()
_DISPATCHERS: dict[str, Any] = {}  # source hash -> numba dispatcher


def _dispatcher(source: str) -> Any:
    """The compiled function of ``source``: a module file named by its hash in cache_dir(),
    imported once per process (numba's on-disk cache holds its machine code)."""
    key = hashlib.sha256(source.encode()).hexdigest()[:24]
    with _LOCK:
        found = _DISPATCHERS.get(key)
        if found is not None:
            return found
        directory = cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"fused_{key}.py"
        if not path.exists():  # written whole, then renamed: another process never sees half
            fd, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
            with os.fdopen(fd, "w") as file:
                file.write(source)
            os.replace(temporary, path)
        name = f"graphdiff_numba_{key}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _DISPATCHERS[key] = module.kernel
        return module.kernel


def compiled(region: Graph, shapes: Shapes) -> Callable[..., Any]:
    """The fused kernel for ``region`` on operands of ``shapes``, with the numpy kernel's
    calling convention (``kernel(*operands, out=None)``, a tuple for several outputs)."""
    source, arguments, analysis = plan(region, shapes)
    dispatch = _dispatcher(source)
    return _Caller(dispatch, arguments, analysis)


class _Caller:
    """Allocates outputs and partial results, runs the compiled loop nest, combines the
    per-chunk results of reductions over rows."""

    def __init__(self, dispatch: Any, arguments: list[tuple[str, int]], analysis: _Plan) -> None:
        self.size = int(np.prod(analysis.space, dtype=np.int64))
        self.choice = Choice()  # whether the other threads pay, timed
        self.dispatch = dispatch
        self.arguments = arguments
        self.space = analysis.space
        self.outputs = analysis.outputs
        self.types = analysis.types
        self.nodes = analysis.nodes
        self.heads = [(i, analysis.args[i]) for i, k in enumerate(analysis.kinds) if k == "head"]
        self.reduction = analysis.reduction
        self.partial_dtype = {i: analysis._partial_dtype(i) for i, k in self.reduction.items()
                              if k.startswith("rows")}
        self.pools: dict[int, list] = {}
        self.write_shape = {i: analysis.write_shape(i) for i in analysis.outputs}
        self.kept_shape = {i: analysis.kept_shape(i) for i in analysis.reduction}

    def _output(self, index: int, out: np.ndarray | None) -> np.ndarray:
        shape, dtype = self.write_shape[index], self.types[index].dtype
        if out is not None and out.shape == shape and out.flags.c_contiguous:
            return out
        if out is not None:
            return np.empty(shape, dtype)
        return reuse_or_empty(self.pools.setdefault(index, []), shape, dtype, POOL_SIZE)

    def __call__(self, *operands: np.ndarray, out: np.ndarray | None = None) -> Any:
        values: dict[int, Any] = {}
        for i, array in enumerate(operands):
            array = np.asarray(array)
            values[i] = array[()] if array.ndim == 0 else np.ascontiguousarray(array)
        for i, (a, b) in self.heads:
            values[i] = np.matmul(operands[a], operands[b])
        rows = int(self.space[0])
        threads = count() if self.size >= PARALLEL_FROM else 1
        n_chunks = max(1, min(rows, CHUNKS_PER_THREAD * threads if threads > 1 else 1))
        results: dict[int, np.ndarray] = {}
        args: list[Any] = [n_chunks] + [int(d) for d in self.space]
        for role, i in self.arguments:
            if role == "in":
                args.append(values[i])
            elif role == "const":
                args.append(np.ascontiguousarray(self.nodes[i].data))
            elif role == "out":
                first = i == self.outputs[0]
                results[i] = self._output(i, out if first else None)
                args.append(results[i])
            elif role == "scratch":
                args.append(np.empty(self.kept_shape[i], self.types[i].dtype))
            else:  # per-chunk results of a reduction over rows
                shape = (n_chunks,) if self.reduction[i] == "rows_full" else \
                    (n_chunks,) + self.kept_shape[i]
                results[i] = np.empty(shape, self.partial_dtype[i])
                args.append(results[i])
        run_chunks(self.dispatch, args, n_chunks, threads, self.choice)
        finished = []
        for i in self.outputs:
            value = results[i]
            if self.reduction.get(i, "").startswith("rows"):
                combine = self.nodes[i].op.combine
                value = combine.reduce(value, axis=0).astype(self.types[i].dtype, copy=False)
            shape = tuple(int(d) for d in self.types[i].shape)
            finished.append(np.asarray(value).reshape(shape))
        if out is not None and finished[0] is not out:
            np.copyto(out, finished[0])
            finished[0] = out
        return finished[0] if len(finished) == 1 else tuple(finished)

