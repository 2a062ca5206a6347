"""The reference backend: the plain interpreter of ``runtime/reference.py``.

Every kernel allocates its result, each value is dropped after its last use, nothing is written
in place and nothing is planned: deliberately simple, so tests hold every other backend against
it. ``gd.function(..., passes="none")`` runs the graph as built on this backend. An op needs a
``kernel``; an op with regions (loops, branches, fused groups) a ``region_kernel`` that runs
its regions through the interpreter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir.node import Node, OpDef
from ..ops.source import CONSTANT, VARIABLE
from ..runtime.reference import Interpreter, Step
from . import Specialized, missing_numpy_kernel


class ReferenceExecutable:
    def __init__(self, spec: Specialized) -> None:
        graph = spec.graph
        self.spec = spec
        self.interpreter = Interpreter(graph.nodes, graph.outputs)
        self.steps: list[Step] = self.interpreter.bind(spec.attrs, spec.types)
        self.constants = {n: n.data for n in graph.nodes if n.op is CONSTANT}
        self.variables = [n for n in graph.nodes if n.op is VARIABLE]
        slot = self.interpreter.slot
        self.returned = [(slot[n], copy) for n, copy in zip(graph.outputs, spec.copies)]

    def run(self, *feeds: Any) -> Any:
        spec = self.spec
        sources: dict[Node, Any] = dict(zip(spec.graph.inputs, feeds))
        sources.update(self.constants)
        for variable in self.variables:
            sources[variable] = variable.data.value
        values = self.interpreter.run(self.steps, sources, spec.check_finite)
        returned = [np.array(values[s], copy=True) if copy else np.asarray(values[s])
                    for s, copy in self.returned]
        n_out = len(returned) - len(spec.variables)
        for variable, value in zip(spec.variables, returned[n_out:]):
            variable.data.value = value
        return returned[0] if spec.single else returned[:n_out]

    def failed_node(self, exc: BaseException) -> Node | None:
        return None  # the interpreter reports the failing node itself


class ReferenceBackend:
    name = "reference"
    default_passes = "default"

    def compile(self, spec: Specialized) -> ReferenceExecutable:
        return ReferenceExecutable(spec)

    def missing(self, op: OpDef) -> str | None:
        return missing_numpy_kernel(op)


BACKEND = ReferenceBackend()
