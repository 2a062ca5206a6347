"""The numpy backend (the default): the planned executor of ``runtime/program.py``.

Per signature, small fused groups are expanded back into primitives where numpy runs them faster
(``runtime/unfuse.py``), memory is planned into one arena over the best of several schedules,
and a straight-line Python function over the bound numpy kernels is generated. An op needs a
``kernel`` (called as ``kernel(*arrays, **attrs)``, with ``out=`` if ``out_arg``; a ``fast_kernel``
may make a faster one for the concrete shapes); an op with regions a ``region_kernel``.
"""

from __future__ import annotations

from typing import Any

from ..ir.node import Node, OpDef
from ..ir.types import TensorType
from ..runtime.memory import needs_copy
from ..runtime.program import Program, build_program
from ..runtime.specialize import specialize
from ..runtime.unfuse import without_small_groups
from . import Specialized, missing_numpy_kernel


class NumpyBackend:
    """The planned executor. A backend that compiles some nodes itself (numba: fused groups)
    can subclass it: ``kernel_for`` returns its own kernel for a node (None: the op's), and
    ``unfuse_at_most`` its threshold for expanding small fused groups (None: numpy's)."""

    name = "numpy"
    default_passes = "default"  # what passes="default" runs on this backend
    unfuse_at_most: int | None = None

    def kernel_for(self, node: Node, operand_types: list[TensorType]) -> Any:
        return None

    def compile(self, spec: Specialized) -> Program:
        types, attrs = spec.types, spec.attrs
        graph = without_small_groups(spec.graph, types, self.unfuse_at_most)
        copies = spec.copies
        if graph is not spec.graph:
            # only the expanded primitives are new: every other node keeps its type
            types, new_attrs = specialize(graph.nodes, types, spec.env)
            attrs = {**attrs, **new_attrs}
            copies = needs_copy(graph.outputs)
        n_out = len(spec.outputs)
        updates = list(zip(spec.variables, graph.outputs[n_out:]))
        sources = [n for n in graph.nodes if n.op.source]
        return build_program(graph.inputs, sources, graph.outputs[:n_out], updates, graph.nodes,
                             types, attrs, spec.single, copies,
                             kernels=None if type(self) is NumpyBackend else self.kernel_for,
                             check_finite=spec.check_finite)

    def missing(self, op: OpDef) -> str | None:
        return missing_numpy_kernel(op)


BACKEND = NumpyBackend()
