"""Compiled functions: ``gd.function(inputs, outputs, updates=..., passes=...)``.

Compiling optimizes the graph (``graphdiff.passes``), fixes a schedule (the topological order),
gives every value a slot and computes where each value is last used. The first call with a new
input signature specializes the graph to concrete shapes and binds every kernel to its resolved
attributes; later calls with that signature reuse the bound program. A call then checks the
feeds, runs the steps, drops each value after its last use, and only after every step has
succeeded writes the variable updates, all together.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DTypeError, GraphdiffError, InputError, user_location
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.types import TensorType
from .specialize import bind_shape, specialize

Step = tuple[Callable[..., Any], tuple[int, ...], int, tuple[int, ...]]


@dataclass
class Program:
    """One specialization: bound kernels in schedule order, ready to run."""

    steps: list[Step]
    types: dict[Node, TensorType]


def _memory_root(node: Node) -> Node:
    """The node whose buffer ``node``'s value may share (it follows views to their base)."""
    while node.op.view and node.inputs:
        node = node.inputs[0]
    return node


def _needs_copy(results: Sequence[Node]) -> list[bool]:
    """For each returned value (outputs, then update values), whether it must be copied.

    A value is copied if it may share memory with a feed, a variable or a constant, or with a
    value returned before it: what a user receives, and what a variable holds, is never shared.
    """
    claimed: set[Node] = set()
    copies = []
    for node in results:
        root = _memory_root(node)
        copies.append(root.op.source or root in claimed)
        claimed.add(root)
    return copies


class Function:
    """A compiled graph. Call it with numpy arrays (positionally or by input name)."""

    def __init__(self, inputs: Sequence[Node], outputs: Sequence[Node],
                 updates: Mapping[Node, Node], passes: Any = "default",
                 allow_downcast: bool = False, single_output: bool = False) -> None:
        from ..passes import run_pipeline

        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.updates = dict(updates)
        self.allow_downcast = allow_downcast
        self._single = single_output
        self.reference_graph = Graph(self.inputs, self.outputs + tuple(self.updates.values()))
        _check_placeholders(self.reference_graph)
        self.graph = run_pipeline(self.reference_graph, passes)
        self._compile_schedule()
        self._programs: dict[tuple, Program] = {}

    # --- compile time ------------------------------------------------------------------------

    def _compile_schedule(self) -> None:
        graph = self.graph
        self.schedule = [n for n in graph.nodes if not n.op.source]
        self.sources = [n for n in graph.nodes if n.op.source]
        self.slot = {node: i for i, node in enumerate(graph.nodes)}
        n_out = len(self.outputs)
        self.output_slots = [self.slot[n] for n in graph.outputs[:n_out]]
        self.update_targets = list(self.updates.keys())
        self.update_slots = [self.slot[n] for n in graph.outputs[n_out:]]
        kept = set(self.output_slots) | set(self.update_slots)
        last_use: dict[int, int] = {}
        for step, node in enumerate(self.schedule):
            for value in node.inputs:
                last_use[self.slot[value]] = step
        frees: list[list[int]] = [[] for _ in self.schedule]
        for slot, step in last_use.items():
            if slot not in kept:
                frees[step].append(slot)
        self._frees = [tuple(f) for f in frees]
        self._copy_output = _needs_copy(graph.outputs)
        self._feed_slots = [self.slot.get(p) for p in self.inputs]
        self._template: list[Any] = [None] * len(graph.nodes)
        for node in self.sources:
            if node.op.name == "constant":
                self._template[self.slot[node]] = node.data

    def _program(self, signature: tuple, env: dict[str, int]) -> Program:
        program = self._programs.get(signature)
        if program is not None:
            return program
        source_types = {n: n.type if n.op.name != "placeholder" else
                        TensorType(n.dtype, shape) for n, shape in
                        zip(self.sources, self._source_shapes(signature))}
        types, attrs = specialize(self.graph.nodes, source_types, env)
        steps = []
        for node, free in zip(self.schedule, self._frees):
            kernel = node.op.kernel
            bound = attrs[node]
            if bound:
                kernel = functools.partial(kernel, **bound)
            steps.append((kernel, tuple(self.slot[v] for v in node.inputs), self.slot[node], free))
        program = Program(steps, types)
        self._programs[signature] = program
        return program

    def _source_shapes(self, signature: tuple) -> list[tuple]:
        feed_shapes = dict(zip(self.inputs, signature))
        return [feed_shapes.get(n, n.shape) for n in self.sources]

    # --- call time ---------------------------------------------------------------------------

    def _feeds(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[np.ndarray]:
        if len(args) > len(self.inputs):
            raise InputError(f"expected {len(self.inputs)} inputs, got {len(args)}")
        by_name = {p.name: i for i, p in enumerate(self.inputs) if p.name}
        values: list[Any] = list(args) + [_MISSING] * (len(self.inputs) - len(args))
        for name, value in kwargs.items():
            if name not in by_name:
                raise InputError(f"unknown input name {name!r}; inputs are "
                                 f"{', '.join(by_name) or 'unnamed'}")
            values[by_name[name]] = value
        feeds = []
        for placeholder, value in zip(self.inputs, values):
            label = _label(placeholder)
            if value is _MISSING:
                raise InputError(f"missing input {label} ({placeholder.type})")
            feeds.append(self._convert(value, placeholder, label))
        return feeds

    def _convert(self, value: Any, placeholder: Node, label: str) -> np.ndarray:
        expected = placeholder.dtype
        if isinstance(value, bool | int | float) and not isinstance(value, np.generic):
            # Python scalars are weak (NEP 50): fine if they fit the input's kind
            try:
                array = np.asarray(value, dtype=expected)
            except OverflowError:  # an int out of the input's range
                array = None
            if array is None or np.result_type(expected, value) != expected:
                raise DTypeError(f"input {label}: {value!r} does not fit {expected.name}")
            return array
        array = np.asarray(value)
        if array.dtype != expected:
            casting = "same_kind" if self.allow_downcast else "safe"
            if not np.can_cast(array.dtype, expected, casting=casting):
                hint = "" if self.allow_downcast else \
                    " (cast it first, or compile with allow_downcast=True)"
                raise DTypeError(f"input {label}: expected {expected.name}, got "
                                 f"{array.dtype.name}, which does not convert safely{hint}")
            array = array.astype(expected)
        return array

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        feeds = self._feeds(args, kwargs)
        env: dict[str, int] = {}
        for placeholder, array in zip(self.inputs, feeds):
            bind_shape(placeholder.shape, array.shape, env, f"input {_label(placeholder)}")
        signature = tuple(a.shape for a in feeds)
        program = self._program(signature, env)

        values = list(self._template)
        for position, array in zip(self._feed_slots, feeds):
            if position is not None:  # an input the outputs do not use has no slot
                values[position] = array
        for node in self.sources:
            if node.op.name == "variable":
                values[self.slot[node]] = node.data.value
        self._run(program, values)

        results = [np.array(values[s], copy=True) if copy else np.asarray(values[s])
                   for s, copy in zip(self.output_slots, self._copy_output)]
        n_out = len(self.output_slots)
        new_values = [np.array(values[s], copy=True) if copy else np.asarray(values[s])
                      for s, copy in zip(self.update_slots, self._copy_output[n_out:])]
        for variable, value in zip(self.update_targets, new_values):
            variable.data.value = value
        return results[0] if self._single else results

    def _run(self, program: Program, values: list[Any]) -> None:
        index = 0
        steps = program.steps
        try:
            with np.errstate(all="ignore"):  # NaN and Inf are values here, as in the graph
                for index, (kernel, args, out, free) in enumerate(steps):
                    values[out] = kernel(*[values[a] for a in args])
                    for slot in free:
                        values[slot] = None
        except GraphdiffError:
            raise
        except Exception as exc:
            node = self.schedule[index]
            raise GraphdiffError(f"running {node.op.name} (created at {node.location}) "
                                 f"failed: {type(exc).__name__}: {exc}") from exc


_MISSING = object()


def _label(placeholder: Node) -> str:
    return repr(placeholder.name) if placeholder.name else f"<unnamed {placeholder.type}>"


def _check_placeholders(graph: Graph) -> None:
    declared = set(graph.inputs)
    for node in graph.inputs:
        if not isinstance(node, Node) or node.op.name != "placeholder":
            raise InputError(f"function inputs must be placeholders, got {node!r} "
                             f"(at {user_location()})")
    for node in graph.nodes:
        if node.op.name == "placeholder" and node not in declared:
            raise InputError(f"the outputs depend on placeholder {_label(node)} ({node.type}, "
                             f"created at {node.location}), which is not among the inputs "
                             f"(at {user_location()})")


def function(inputs: Node | Sequence[Node], outputs: Node | Sequence[Node], *,
             updates: Mapping[Node, Any] | None = None, passes: Any = "default",
             allow_downcast: bool = False) -> Function:
    """Compile a graph into a callable taking and returning numpy arrays.

    ``updates`` maps variables to new-value expressions, computed from the old values and
    written together after a successful call. ``passes`` is "default", "none" or a list.
    """
    from ..api.convert import as_tensor

    single_input = isinstance(inputs, Node)
    single_output = isinstance(outputs, Node)
    input_list = [inputs] if single_input else list(inputs)
    output_list = [outputs] if single_output else list(outputs)
    for position, value in enumerate(output_list):
        if not isinstance(value, Node):
            raise InputError(f"output {position} is {type(value).__name__}, not a tensor "
                             f"(at {user_location()})")
    checked: dict[Node, Node] = {}
    for variable, value in (updates or {}).items():
        if not isinstance(variable, Node) or variable.op.name != "variable":
            raise InputError(f"updates keys must be variables, got {variable!r} "
                             f"(at {user_location()})")
        value = as_tensor(value)
        if value.type.shape != variable.type.shape or value.dtype != variable.dtype:
            raise InputError(f"update of variable {variable.name!r} has type {value.type}, but "
                             f"the variable is {variable.type} (at {user_location()})")
        checked[variable] = value
    return Function(input_list, output_list, checked, passes, allow_downcast, single_output)
