"""The reference executor: a plain interpreter over the graph's own order, with no planning.

``gd.function(..., passes="none")`` runs graphs this way: every kernel allocates its result, each
value is dropped after its last use, nothing is written in place. It is deliberately simple, so
tests can hold the planned executor (``runtime/program.py``) against it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import AllocationError, GraphdiffError
from ..ir.graph import Graph
from ..ir.node import Node
from ..ops.source import CONSTANT
from .finite import all_finite, checked

Step = tuple[Callable[..., Any], tuple[int, ...], int, tuple[int, ...]]


class Interpreter:
    """Slots for every value of ``nodes`` and, per signature, the kernels bound to attributes."""

    def __init__(self, nodes: Sequence[Node], kept: Sequence[Node]) -> None:
        self.schedule = [n for n in nodes if not n.op.source]
        self.slot = {node: i for i, node in enumerate(nodes)}
        self.size = len(nodes)
        kept_slots = {self.slot[n] for n in kept}
        last_use: dict[int, int] = {}
        for step, node in enumerate(self.schedule):
            for value in node.inputs:
                last_use[self.slot[value]] = step
        frees: list[list[int]] = [[] for _ in self.schedule]
        for slot, step in last_use.items():
            if slot not in kept_slots:
                frees[step].append(slot)
        self.frees = [tuple(f) for f in frees]

    def bind(self, attrs: dict[Node, dict[str, Any]], types: dict[Node, Any]) -> list[Step]:
        """The steps of one signature: each kernel with its resolved attributes bound (a loop
        or branch runs its regions through this interpreter too)."""
        steps = []
        for node, free in zip(self.schedule, self.frees):
            kernel = node.op.kernel
            if node.op.regions:
                kernel = node.op.region_kernel(attrs[node], [types[v] for v in node.inputs],
                                               regions=node.regions,
                                               compile_region=reference_region)
            elif attrs[node]:
                kernel = functools.partial(kernel, **attrs[node])
            steps.append((kernel, tuple(self.slot[v] for v in node.inputs), self.slot[node],
                          free))
        return steps

    def run(self, steps: list[Step], sources: dict[Node, Any],
            check_finite: bool = False) -> list[Any]:
        """Run the steps from the values of the sources; returns every slot's value.
        ``check_finite``: raise at the first step making NaN or Inf from finite operands."""
        values: list[Any] = [None] * self.size
        finite: list[bool] = [True] * self.size
        for node, value in sources.items():
            if node in self.slot:
                values[self.slot[node]] = value
                if check_finite:
                    finite[self.slot[node]] = all_finite(value)
        index = 0
        try:
            for kernel, args, out, free in steps:
                values[out] = kernel(*[values[a] for a in args])
                if check_finite:
                    finite[out] = checked(values[out], self.schedule[index],
                                          *[finite[a] for a in args])
                for slot in free:
                    values[slot] = None
                index += 1
        except GraphdiffError:
            raise
        except Exception as exc:
            raise step_error(self.schedule[index], exc) from exc
        return values


def step_error(node: Node, exc: Exception) -> GraphdiffError:
    """The error reported when ``node``'s kernel raised ``exc`` during a call."""
    kind = AllocationError if isinstance(exc, MemoryError) else GraphdiffError
    return kind(f"running {node.op.name} (created at {node.location}) failed: "
                f"{type(exc).__name__}: {exc}")


def reference_region(region: Graph, param_types: Sequence[Any]) -> Callable[..., list]:
    """A region run by the interpreter, for the reference executor's loops and branches."""
    from .program import specialize_region

    types, attrs = specialize_region(region, param_types)
    interpreter = Interpreter(region.nodes, region.outputs)
    steps = interpreter.bind(attrs, types)
    constants = {n: n.data for n in region.nodes if n.op is CONSTANT}
    params = region.inputs
    slots = [interpreter.slot[o] for o in region.outputs]

    def run(*arrays: Any) -> list:
        values = interpreter.run(steps, {**constants, **dict(zip(params, arrays))})
        # fresh arrays: a result never shares memory with a parameter or another result
        return [np.array(values[s], copy=True) for s in slots]
    return run
