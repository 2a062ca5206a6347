"""Compiled functions: ``gd.function(inputs, outputs, updates=..., passes=...)``.

Compiling optimizes the graph (``graphdiff.passes``). The first call with a new input signature
specializes the graph to concrete shapes (``runtime/specialize.py``), plans its memory
(``runtime/memory.py``, over the best of several schedules from ``runtime/schedule.py``) and
hands the specialized graph to a backend (``graphdiff/backends``: ``"numpy"``, the planned
executor of ``runtime/program.py``, by default), which compiles it once; later calls with that
signature check the feeds and run it. Variable updates are written only after every step has
succeeded, all together.

``passes="none"`` runs on the reference backend unless told otherwise: the graph as built, run by
a plain interpreter with no planning (``runtime/reference.py``), which tests hold the planned
executor against.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..api.pytree import TreeDef, flatten, flatten_like, unflatten
from ..errors import GraphdiffError, InputError, user_location
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.types import TensorType
from ..ops.random import RandomStream, random_streams
from ..ops.source import PLACEHOLDER, VARIABLE
from .finite import enabled_by_environment
from .memory import needs_copy
from .profile import MemoryReport, Profile, memory_report, profile_program
from .program import Program
from .reference import step_error
from .specialize import Specialized, bind_shape, specialize

try:  # numpy's own error-state switch: errstate() costs ~0.7 us per call, this ~0.1 us
    from numpy._core.umath import _extobj_contextvar, _make_extobj

    _IGNORE = _make_extobj(all="ignore")

    def _quiet() -> Any:
        return _extobj_contextvar.set(_IGNORE)

    def _loud(token: Any) -> None:
        _extobj_contextvar.reset(token)
except ImportError:  # pragma: no cover - other numpy versions
    def _quiet() -> Any:
        state = np.errstate(all="ignore")
        state.__enter__()
        return state

    def _loud(token: Any) -> None:
        token.__exit__(None, None, None)


class Function:
    """A compiled graph. Call it with numpy arrays (positionally or by input name).

    ``backend`` names the engine (``graphdiff/backends``); by default the reference runs when
    ``passes == "none"`` and the numpy backend otherwise. ``executor`` ("planned" or
    "reference") is the older name of the same choice.
    """

    def __init__(self, inputs: Sequence[Node], outputs: Sequence[Node],
                 updates: Mapping[Node, Node], passes: Any = "default",
                 allow_downcast: bool = False, single_output: bool = False,
                 executor: str | None = None, trace: Any = None,
                 backend: str | None = None, check_finite: bool | None = None,
                 backend_options: Mapping[str, Any] | None = None) -> None:
        from ..backends import get_backend
        from ..passes import run_pipeline

        if executor is not None:
            if executor not in _EXECUTORS:
                raise GraphdiffError(f"executor must be 'planned' or 'reference', got "
                                     f"{executor!r}")
            backend = _EXECUTORS[executor]
        if backend is None:
            backend = "reference" if isinstance(passes, str) and passes == "none" else "numpy"
        # before the passes: a bad name or option fails at once
        self.backend = get_backend(backend, **(backend_options or {}))
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.updates = dict(updates)
        self.allow_downcast = allow_downcast
        self.check_finite = enabled_by_environment() if check_finite is None else check_finite
        self._single = single_output
        # one call at a time: the numpy backend computes in one arena per signature, and an
        # update reads a variable's value and writes its new one (docs/backends.md, threads)
        self._lock = threading.Lock()
        self.reference_graph = Graph(self.inputs, self.outputs + tuple(self.updates.values()))
        _check_placeholders(self.reference_graph)
        if isinstance(passes, str) and passes == "default":
            passes = self.backend.default_passes  # the numba backend fuses by default
        self.graph = run_pipeline(self.reference_graph, passes, trace)
        graph = self.graph
        bind = getattr(self.backend, "bind", None)
        if bind is not None:  # a backend that compiles the whole graph once (onnxruntime)
            self.backend = bind(graph, list(self.updates))
        self.sources = [n for n in graph.nodes if n.op.source]
        n_out = len(self.outputs)
        self._copies = needs_copy(graph.outputs)
        self._update_pairs = list(zip(self.updates.keys(), graph.outputs[n_out:]))
        self._dtypes = [p.dtype for p in self.inputs]
        self._programs: dict[tuple, Any] = {}
        self._last: Any = None

    @property
    def random_streams(self) -> tuple[RandomStream, ...]:
        """The generators of this function's random nodes (dropout masks, samples), in graph
        order: ``gd.train.fit`` checkpoints their ``state()`` so a resumed run draws on."""
        return random_streams(self.graph)

    @property
    def executor(self) -> str:
        """"planned" for the numpy backend, else the backend's name."""
        return "planned" if self.backend.name == "numpy" else self.backend.name

    # --- specialization ------------------------------------------------------------------------

    def _specialize(self, feeds: Sequence[np.ndarray]) -> tuple[dict, dict, dict]:
        """Concrete types and attributes of every node for these feeds (checks the shapes), and
        the symbols bound on the way."""
        env: dict[str, int] = {}
        for placeholder, array in zip(self.inputs, feeds):
            bind_shape(placeholder.shape, array.shape, env, f"input {_label(placeholder)}")
        shapes = {p: a.shape for p, a in zip(self.inputs, feeds)}
        source_types = {n: TensorType(n.dtype, shapes[n]) if n in shapes else n.type
                        for n in self.sources}
        types, attrs = specialize(self.graph.nodes, source_types, env)
        return types, attrs, env

    def _program(self, feeds: Sequence[np.ndarray]) -> Any:
        """The backend's executable for the signature of ``feeds`` (compiled on first use)."""
        signature = tuple([a.shape for a in feeds])
        program = self._programs.get(signature)
        if program is None:
            types, attrs, env = self._specialize(feeds)
            spec = Specialized(self.graph, list(self.updates), types, attrs, env, self._single,
                               self._copies, self.check_finite)
            program = self.backend.compile(spec)
            self._programs[signature] = program
        self._last = program
        return program

    # --- call time -----------------------------------------------------------------------------

    def _feeds(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[np.ndarray]:
        if len(args) > len(self.inputs):
            raise InputError(f"expected {len(self.inputs)} inputs, got {len(args)}")
        by_name = {p.name: i for i, p in enumerate(self.inputs) if p.name}
        values: list[Any] = list(args) + [_MISSING] * (len(self.inputs) - len(args))
        for name, value in kwargs.items():
            if name not in by_name:
                raise InputError(f"unknown input name {name!r}; inputs are "
                                 f"{', '.join(by_name) or 'unnamed'}")
            if by_name[name] < len(args):
                raise InputError(f"input {name!r} given twice: as argument {by_name[name]} and "
                                 f"by name")
            values[by_name[name]] = value
        feeds = []
        for placeholder, value in zip(self.inputs, values):
            label = _label(placeholder)
            if value is _MISSING:
                raise InputError(f"missing input {label} ({placeholder.type})")
            feeds.append(self._convert(value, placeholder, label))
        return feeds

    def _convert(self, value: Any, placeholder: Node, label: str) -> np.ndarray:
        from ..api.convert import as_array

        return as_array(value, placeholder.dtype, f"input {label}", self.allow_downcast)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        feeds: Sequence[Any] = args
        if kwargs or len(args) != len(self._dtypes):
            feeds = self._feeds(args, kwargs)
        else:
            for array, dtype in zip(args, self._dtypes):
                if type(array) is not np.ndarray or array.dtype != dtype:
                    feeds = self._feeds(args, kwargs)
                    break
        with self._lock:
            program = self._programs.get(tuple([a.shape for a in feeds])) or \
                self._program(feeds)
            token = _quiet()  # NaN and Inf are values here, as in the graph
            try:
                return program.run(*feeds)
            except GraphdiffError:
                raise
            except Exception as exc:
                node = program.failed_node(exc)
                if node is None:
                    raise
                raise step_error(node, exc) from exc
            finally:
                _loud(token)

    # --- inspection ----------------------------------------------------------------------------

    def _example_program(self, args: Sequence[Any]) -> Program:
        from ..backends.numpy import NumpyBackend

        if not isinstance(self.backend, NumpyBackend):  # numpy, and numba built on it
            raise GraphdiffError(f"the {self.backend.name} backend makes no memory plan and "
                                 "generates no Python program (the numpy backend does)")
        if args:
            return self._program(self._feeds(args, {}))
        if self._last is not None:
            return self._last
        if all(isinstance(d, int) for p in self.inputs for d in p.shape):
            return self._program([np.empty(p.shape, p.dtype) for p in self.inputs])
        raise GraphdiffError("the inputs have symbolic shapes: call the function once, or pass "
                             f"example inputs (at {user_location()})")

    def memory_report(self, *inputs: Any) -> MemoryReport:
        """The memory plan for these example inputs (default: the last call's signature)."""
        return memory_report(self._example_program(inputs))

    def program_source(self, *inputs: Any) -> str:
        """The generated Python code run for these inputs (default: the last call's)."""
        return self._example_program(inputs).source

    def profile(self, *inputs: Any, repeats: int = 20) -> Profile:
        """Time each node (median over ``repeats`` replays) and whole calls for these inputs.

        Variables are restored afterwards: profiling a training step trains nothing.
        """
        feeds = self._feeds(inputs, {})
        program = self._example_program(inputs)
        saved = [(v, v.data.value) for v, _ in self._update_pairs]
        token = _quiet()
        try:
            return profile_program(program, feeds, lambda: self(*feeds), repeats)
        finally:
            _loud(token)
            for variable, value in saved:
                variable.data.value = value


_MISSING = object()
_EXECUTORS = {"planned": "numpy", "reference": "reference"}


def _label(placeholder: Node) -> str:
    return repr(placeholder.name) if placeholder.name else f"<unnamed {placeholder.type}>"


def _check_placeholders(graph: Graph) -> None:
    declared = set(graph.inputs)
    positions: dict[Node, int] = {}
    named: dict[str, int] = {}
    for position, node in enumerate(graph.inputs):
        if not isinstance(node, Node) or node.op is not PLACEHOLDER:
            raise InputError(f"function inputs must be placeholders, got {node!r} "
                             f"(at {user_location()})")
        if node in positions:
            raise InputError(f"input {_label(node)} is listed twice, at positions "
                             f"{positions[node]} and {position} (at {user_location()})")
        positions[node] = position
        # keyword calls find an input by its name, which must then be unique
        if node.name and node.name in named:
            raise InputError(f"inputs {named[node.name]} and {position} are two placeholders "
                             f"named {node.name!r}: a call by name would be ambiguous (give "
                             f"them distinct names; at {user_location()})")
        if node.name:
            named[node.name] = position
    for node in graph.nodes:
        if node.op is PLACEHOLDER and node not in declared:
            raise InputError(f"the outputs depend on placeholder {_label(node)} ({node.type}, "
                             f"created at {node.location}), which is not among the inputs "
                             f"(at {user_location()})")


class TreeFunction(Function):
    """A compiled function whose inputs and outputs are pytrees (nested dicts, lists and
    tuples of tensors): called with arguments of the inputs' structure (the elements of a
    top-level list or tuple as positional arguments, a top-level dict as keywords or as one
    dict), it answers in the outputs' structure."""

    def __init__(self, in_tree: TreeDef, out_tree: TreeDef, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_tree, self.out_tree = in_tree, out_tree

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _flat(self.in_tree):  # positional or by name, as a plain function
            return unflatten(self.out_tree, super().__call__(*args, **kwargs))
        if self.in_tree.kind in ("list", "tuple"):
            given: Any = list(args)
        elif self.in_tree.kind == "dict" and kwargs and not args:
            given = kwargs
        elif len(args) == 1 and not kwargs:
            given = args[0]
        else:
            raise InputError(f"the inputs are one {self.in_tree.kind} {self.in_tree}: pass it "
                             f"as one argument (got {len(args)} arguments and keywords "
                             f"{sorted(kwargs)})")
        leaves = flatten_like(self.in_tree, given)
        if leaves is None:
            _, tree = flatten(given)
            raise InputError(f"the arguments have the structure {tree}, the inputs {self.in_tree}")
        return unflatten(self.out_tree, super().__call__(*leaves))


def _flat(tree: TreeDef) -> bool:
    """A list or tuple of tensors: how plain functions take their inputs."""
    return tree.kind in ("list", "tuple") and all(c.kind == "leaf" for c in tree.children)


def _update_pairs(updates: Any) -> list[tuple[Any, Any]]:
    """(variable, new value) pairs from ``updates``: a dict of variable -> value, a pair
    ``(variables, values)`` of two trees of one structure, or a dict or sequence of these."""
    if updates is None:
        return []
    if isinstance(updates, Mapping):
        if all(isinstance(k, Node) for k in updates):
            return list(updates.items())
        return [p for value in updates.values() for p in _update_pairs(value)]
    if isinstance(updates, tuple) and len(updates) == 2 and not any(
            isinstance(u, Mapping) and any(isinstance(k, Node) for k in u) for u in updates):
        targets, tree = flatten(updates[0])
        values = flatten_like(tree, updates[1])
        if values is not None and targets and all(
                isinstance(t, Node) and t.op is VARIABLE for t in targets):
            return list(zip(targets, values))
    if isinstance(updates, list | tuple):
        return [p for item in updates for p in _update_pairs(item)]
    raise InputError(f"updates must map variables to new values (a dict, a pair of trees "
                     f"(variables, values), or a list of these), got {type(updates).__name__} "
                     f"(at {user_location()})")


def function(inputs: Any, outputs: Any, *, updates: Any = None, passes: Any = "default",
             allow_downcast: bool = False, trace: Any = None,
             backend: str | None = None, check_finite: bool | None = None,
             **backend_options: Any) -> Function:
    """Compile a graph into a callable taking and returning numpy arrays.

    ``inputs`` (placeholders) and ``outputs`` are a tensor, a list of tensors, or any pytree
    (nested dicts, lists and tuples): the function is then called with arguments of the inputs'
    structure and answers in the outputs' (``TreeFunction``). ``updates`` maps variables to
    new-value expressions, computed from the old values and written together after a
    successful call: a dict, a pair ``(variables, values)`` of two trees of one structure, or
    a list or dict of these. ``passes`` is "default", "none" or a list of
    pass names (``graphdiff.passes.PASSES``). ``trace=True`` prints one line per pass (node
    counts, time), ``trace="graphs"`` also prints the graph after each pass, and a list
    collects a ``PassRecord`` per pass; ``f.graph`` is the final, optimized graph.
    ``backend`` names the engine that runs it (``graphdiff/backends``, docs/backends.md):
    ``"numpy"`` (the default), ``"reference"`` (the default with ``passes="none"``), or an
    optional one such as ``"numba"`` once installed (``pip install graphdiff[numba]``); other
    keyword arguments are that backend's options (``providers=`` for ``"onnxruntime"``).
    ``check_finite=True`` (default: the ``GRAPHDIFF_CHECK_FINITE`` environment variable) raises
    a ``NonFiniteError`` at the first node that makes NaN or Inf from finite operands, naming
    the op and the line that built it; off, it costs nothing. Calls from several threads at
    once are serialized (one lock per function). Other keywords are options of the backend:
    ``backend="jax"`` takes ``device=``, ``data_parallel=``, ``mesh=`` and ``sharding=``
    (docs/scaling.md).
    """
    from ..api.convert import as_tensor

    single_output = isinstance(outputs, Node)
    input_list, in_tree = flatten([inputs] if isinstance(inputs, Node) else inputs)
    output_list, out_tree = flatten(outputs)
    for position, value in enumerate(output_list):
        if not isinstance(value, Node):
            raise InputError(f"output {position} is {type(value).__name__}, not a tensor "
                             f"(at {user_location()})")
    checked: dict[Node, Node] = {}
    for variable, value in _update_pairs(updates):
        if not isinstance(variable, Node) or variable.op is not VARIABLE:
            raise InputError(f"updates keys must be variables, got {variable!r} "
                             f"(at {user_location()})")
        if variable in checked:
            raise InputError(f"variable {variable.name!r} is updated twice "
                             f"(at {user_location()})")
        value = as_tensor(value)
        if value.type.shape != variable.type.shape or value.dtype != variable.dtype:
            raise InputError(f"update of variable {variable.name!r} has type {value.type}, but "
                             f"the variable is {variable.type} (at {user_location()})")
        checked[variable] = value
    options = {"trace": trace, "backend": backend, "check_finite": check_finite,
               "backend_options": backend_options}
    if _flat(in_tree) and (single_output or (_flat(out_tree) and out_tree.kind == "list")):
        return Function(input_list, output_list, checked, passes, allow_downcast, single_output,
                        **options)
    return TreeFunction(in_tree, out_tree, input_list, output_list, checked, passes,
                        allow_downcast, False, **options)
