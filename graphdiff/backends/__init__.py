"""Backends: the engines that run a specialized graph, chosen by ``gd.function(..., backend=)``.

Everything before a backend is backend-neutral: the passes optimize the graph, and the first
call with a new input signature specializes it (``runtime/specialize.py``: concrete shapes,
dtypes and resolved attributes of every node). A backend takes it from there. The protocol is
small, three duties:

* **compile a specialized graph**: ``backend.compile(spec)`` takes a :class:`Specialized` (the
  graph, the types and attributes of this signature, which values are returned and which update
  a variable) and returns an :class:`Executable`. It is called once per signature; the
  ``Function`` caches the result.
* **run it**: ``executable.run(*feeds)`` takes one numpy array per input, in order, and returns
  the outputs (one array if ``spec.single``, else a list), each a fresh array the caller owns
  (``spec.copies`` says which may otherwise share memory with a source or an earlier result).
  When a step raises, ``executable.failed_node(exc)`` names the node it ran (or None), so the
  ``Function`` can report the op and the user's ``file:line``.
* **hold the variables**: a variable's value lives in ``variable.data.value`` between calls.
  ``run`` reads it at the start and writes every update there only after all steps succeeded,
  all together: a failed call changes nothing. (A device backend may keep a copy on the device,
  but must write it back by the end of ``run``.)

The ``Function`` around a backend converts and checks the feeds, silences numpy's floating-point
warnings (NaN and Inf are values), serializes concurrent calls (one lock per function, see
docs/backends.md) and turns a failing step into a ``GraphdiffError``.

What an op needs from a backend lives in the op's declaration (``graphdiff/ir/node.py``
``OpDef``): ``kernel`` (``region_kernel`` for an op with regions; ``fast_kernel`` optionally)
for numpy and the reference, ``scalar`` (a scalar expression) for loop generators such as
numba. ``backend.missing(op)`` says what a declaration lacks for that backend (None if
nothing); the registry test of each backend (tests/test_backends.py) fails when an op lacks it.

Two optional hooks: ``backend.configure(**options)`` returns the backend with the options
``gd.function`` passes on (onnxruntime's ``providers=``); ``backend.bind(graph, updated)`` is
called once with a function's optimized graph and the variables it updates, for a backend that
compiles the whole graph once (the onnxruntime backend exports it there), and returns the backend
whose ``compile`` then runs per signature.

Backends are imported only when asked for: ``get_backend(name)`` imports the module of that
name in this package. Engines that need a third-party package are extras
(``pip install graphdiff[numba]``); asking for one that is not installed raises a
:class:`~graphdiff.errors.BackendError` saying how to install it. To add a backend, write one
module here defining ``BACKEND`` (an object with ``name``, ``compile`` and ``missing``), add its
name to ``BACKENDS`` with the extra it needs, and add it to the registry test.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import BackendError
from ..ir.graph import Graph
from ..ir.node import Node, OpDef
from ..ir.types import TensorType
from ..runtime.specialize import Specialized  # noqa: F401 - what a backend compiles

# backend name -> (module in this package, the third-party package it needs or None)
BACKENDS: dict[str, tuple[str, str | None]] = {
    "numpy": ("numpy", None),
    "reference": ("reference", None),
    "numba": ("numba", "numba"),
    "jax": ("jax", "jax"),
    "onnxruntime": ("onnxruntime", "onnxruntime"),
}


class Executable(Protocol):
    """What ``Backend.compile`` returns: one signature, ready to run."""

    def run(self, *feeds: Any) -> Any: ...

    def failed_node(self, exc: BaseException) -> Node | None: ...


class Backend(Protocol):
    """One engine: a name, a compiler for specialized graphs, and what it needs of an op."""

    name: str
    default_passes: str  # what passes="default" runs on it ("fused" on numba)

    def compile(self, spec: Specialized) -> Executable: ...

    def missing(self, op: OpDef) -> str | None: ...


_loaded: dict[str, Backend] = {}


def missing_numpy_kernel(op: OpDef) -> str | None:
    """What ``op``'s declaration lacks for a backend that runs numpy kernels (numpy, reference,
    and those built on them), or None."""
    if op.source:
        return None
    if op.regions:
        return None if op.region_kernel is not None else "region_kernel= (an op with regions)"
    return None if op.kernel is not None else "kernel= (the numpy implementation)"


def get_backend(name: str, **options: Any) -> Backend:
    """The backend called ``name``, imported on first use; with ``options``, the backend
    configured by them (``backend.configure(**options)``: onnxruntime's ``providers=``)."""
    backend = (_loaded.get(name) if isinstance(name, str) else None) or _load(name)
    if not options:
        return backend
    configure = getattr(backend, "configure", None)
    if configure is None:
        raise BackendError(f"backend {name!r} takes no options, got "
                           f"{', '.join(f'{k}=' for k in options)}")
    return configure(**options)


def _load(name: str) -> Backend:
    if not isinstance(name, str) or name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; the backends are "
                           f"{', '.join(repr(b) for b in BACKENDS)}")
    module_name, needs = BACKENDS[name]
    if needs is not None and importlib.util.find_spec(needs) is None:
        raise BackendError(f"backend {name!r} needs the {needs} package, which is not "
                           f"installed: pip install graphdiff[{name}]")
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{module_name}":
            raise BackendError(f"backend {name!r} could not import {exc.name}: "
                               f"pip install graphdiff[{name}]") from exc
        raise BackendError(f"backend {name!r} is not available in this version of graphdiff "
                           f"(the backends here: {', '.join(available())})") from exc
    backend = module.BACKEND
    _loaded[name] = backend
    return backend


def available() -> list[str]:
    """The backends whose module exists in this package (their extras may still be missing)."""
    return [name for name, (module, _) in BACKENDS.items()
            if importlib.util.find_spec(f"{__name__}.{module}") is not None]
