"""The onnxruntime backend: ``gd.function(..., backend="onnxruntime", providers=[...])``.

The function's optimized graph is exported when the function is built, through the standard-ops
export (``graphdiff/onnx/export.py``): symbolic dims stay ``dim_param``s, each variable the
function updates is a graph input and each update an extra output, the other variables are
initializers (exported again when one of them changes). An op that cannot be exported fails
there, naming the op and the line that built it. Each input signature then gets its own
``InferenceSession`` over that model, with the symbolic dims of the inputs fixed to this call's
sizes (``add_free_dimension_override_by_name``) so onnxruntime plans for static shapes; an
operation onnxruntime has no kernel for (many lack float64 ones) fails when the session is
made, naming the graphdiff op it lowers.

Variables stay graphdiff's: each call feeds their current values and writes the updates back
only after the session returned all of them, so a failed call changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnxruntime as ort

from ..errors import BackendError, NonFiniteError, OnnxError
from ..ir.dims import evaluate_dim
from ..ir.graph import Graph
from ..ir.node import Node, OpDef
from ..ops.source import VARIABLE
from ..runtime.finite import all_finite
from . import Specialized

_NODE_NAME = re.compile(r"node[^']*'([^']+)'|[Nn]ame:\s*'([^']+)'")


class OnnxRuntimeBackend:
    """Options (``gd.function(..., providers=..., session_options=...)``): ``providers``, the
    execution providers in order of preference (default ``["CPUExecutionProvider"]``), passed to
    every ``InferenceSession`` as given; ``session_options``, an ``ort.SessionOptions`` each
    session starts from."""

    name = "onnxruntime"
    default_passes = "default"

    def __init__(self, providers: Sequence[Any] | None = None,
                 session_options: ort.SessionOptions | None = None) -> None:
        self.providers = list(providers) if providers is not None else ["CPUExecutionProvider"]
        self.session_options = session_options

    def configure(self, *, providers: Sequence[Any] | None = None,
                  session_options: ort.SessionOptions | None = None,
                  **unknown: Any) -> OnnxRuntimeBackend:
        if unknown:
            raise BackendError(f"backend 'onnxruntime' takes the options providers= and "
                               f"session_options=, not {', '.join(map(repr, unknown))}")
        if isinstance(providers, str):
            raise BackendError(f"providers= takes a list of execution providers, got the "
                               f"string {providers!r} (write [{providers!r}])")
        if session_options is not None and not isinstance(session_options, ort.SessionOptions):
            raise BackendError(f"session_options= takes an onnxruntime.SessionOptions, got "
                               f"{type(session_options).__name__}")
        return OnnxRuntimeBackend(providers, session_options)

    def bind(self, graph: Graph, updated: Sequence[Node]) -> BoundOnnxRuntime:
        return BoundOnnxRuntime(self, graph, updated)

    def compile(self, spec: Specialized) -> OnnxRuntimeExecutable:
        return self.bind(spec.graph, spec.variables).compile(spec)

    def missing(self, op: OpDef) -> str | None:
        if op.source or op.onnx is not None:
            return None
        return "onnx= (its ONNX lowering: this backend runs the exported model)"


class BoundOnnxRuntime:
    """The backend for one function: its graph exported, one session per signature.

    Variables the function updates are graph inputs, fed their values at each call. The others
    are baked into the model as initializers, which lets onnxruntime fold and pre-pack them
    (the CNN's inference runs 3-4x faster than with its weights fed): a copy of each is kept,
    and a call that finds one changed (``set_value``, another function's update) exports the
    model again with the new values before it runs.
    """

    default_passes = "default"

    def __init__(self, backend: OnnxRuntimeBackend, graph: Graph, updated: Sequence[Node]) -> None:
        self.name = backend.name
        self.backend = backend
        self.graph = graph
        variables = [n for n in graph.nodes if n.op is VARIABLE]
        updated_set = set(updated)
        self.fed = [v for v in variables if v in updated_set]
        self.baked = [v for v in variables if v not in updated_set]
        self.by_name = {f"{n.op.name}_{n.uid}": n for n in graph.nodes}
        self.generation = 0
        self._export()
        model = self.model
        self.input_names = [i.name for i in model.graph.input]
        self.input_dims = [[d.dim_param for d in i.type.tensor_type.shape.dim if d.dim_param]
                           for i in model.graph.input]
        self.output_names = [o.name for o in model.graph.output]

    def _export(self) -> None:
        from ..onnx.export import DEFAULT_OPSET, build_model

        graph = self.graph
        self.snapshot = [v.data.value.copy() for v in self.baked]
        names = [f"output_{i}" for i in range(len(graph.outputs))]
        try:
            self.model = build_model(graph.inputs, graph.outputs, names, opset=DEFAULT_OPSET,
                                     variable_inputs=self.fed, name_nodes=True)
        except OnnxError as exc:
            raise BackendError(f"the onnxruntime backend runs the function as an ONNX model, "
                               f"and it does not export: {exc}") from exc
        self.bytes = self.model.SerializeToString()

    def refresh(self) -> None:
        """Export again if a baked variable changed since the model was made."""
        for variable, kept in zip(self.baked, self.snapshot):
            if not same_bits(variable.data.value, kept):
                self._export()
                self.generation += 1
                return

    def origin(self, message: str) -> Node | None:
        """The graphdiff node whose lowering holds the ONNX node an onnxruntime message names."""
        for match in _NODE_NAME.finditer(message):
            name = match.group(1) or match.group(2)
            node = self.by_name.get(name.rsplit(".", 1)[0])
            if node is not None:
                return node
        return None

    def describe(self, exc: BaseException) -> str:
        node = self.origin(str(exc))
        where = f" in the lowering of {node.op.name} (created at {node.location})" \
            if node is not None else ""
        return f"{type(exc).__name__}{where}: {exc}"

    def session(self, env: dict[str, int]) -> ort.InferenceSession:
        options = ort.SessionOptions()
        base = self.backend.session_options
        if base is not None:
            for attribute in ("intra_op_num_threads", "inter_op_num_threads",
                              "graph_optimization_level", "execution_mode",
                              "enable_cpu_mem_arena", "enable_mem_pattern", "log_severity_level"):
                setattr(options, attribute, getattr(base, attribute))
        else:
            options.log_severity_level = 3
        # one session per signature: the symbolic input dims are this call's sizes
        for dims in self.input_dims:
            for dim in dims:
                value = evaluate_dim(dim, env)
                if value is not None:
                    options.add_free_dimension_override_by_name(dim, int(value))
        try:
            return ort.InferenceSession(self.bytes, options, providers=self.backend.providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BackendError(f"onnxruntime cannot run this function's model: "
                               f"{self.describe(exc)}") from exc

    def compile(self, spec: Specialized) -> OnnxRuntimeExecutable:
        return OnnxRuntimeExecutable(self, spec)

    def missing(self, op: OpDef) -> str | None:
        return self.backend.missing(op)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of one dtype and shape hold the same bits (NaN equals NaN, -0.0 is not
    0.0: what a baked initializer must match)."""
    if a is b:
        return True
    width = a.dtype.itemsize
    if width in (1, 2, 4, 8) and a.flags.c_contiguous and b.flags.c_contiguous:
        return bool(np.array_equal(a.view(f"u{width}"), b.view(f"u{width}")))
    return a.tobytes() == b.tobytes()


class OnnxRuntimeExecutable:
    def __init__(self, bound: BoundOnnxRuntime, spec: Specialized) -> None:
        self.bound = bound
        self.spec = spec
        self.generation = bound.generation
        self.session = bound.session(spec.env)
        self.placeholders = bound.input_names[:len(spec.graph.inputs)]
        self.variable_feeds = list(zip(bound.input_names[len(spec.graph.inputs):], bound.fed))
        self.n_out = len(spec.outputs)

    def run(self, *feeds: Any) -> Any:
        spec, bound = self.spec, self.bound
        if bound.baked:
            bound.refresh()
            if self.generation != bound.generation:
                self.session = bound.session(spec.env)
                self.generation = bound.generation
        inputs = dict(zip(self.placeholders, feeds))
        for name, variable in self.variable_feeds:
            inputs[name] = variable.data.value
        try:
            results = self.session.run(bound.output_names, inputs)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BackendError(f"onnxruntime failed: {bound.describe(exc)}") from exc
        if spec.check_finite:
            self._check_finite(results, [*feeds, *(v.data.value for v in bound.fed),
                                         *bound.snapshot])
        # onnxruntime returns fresh arrays: nothing here shares memory with a feed
        for variable, value in zip(spec.variables, results[self.n_out:]):
            variable.data.value = value
        return results[0] if spec.single else results[:self.n_out]

    def _check_finite(self, results: list[np.ndarray], sources: list[Any]) -> None:
        if not all(all_finite(s) for s in sources):
            return  # a NaN fed in may travel to the results
        for position, value in enumerate(results):
            if not all_finite(value):
                what = f"output {position}" if position < self.n_out else \
                    f"the update of variable {self.spec.variables[position - self.n_out].name!r}"
                raise NonFiniteError(f"check_finite: {what} holds NaN or Inf from finite "
                                     f"inputs; the onnxruntime backend checks only the results "
                                     f"(the numpy backend names the op that made it)")

    def failed_node(self, exc: BaseException) -> Node | None:
        return None  # run reports onnxruntime's errors itself


BACKEND = OnnxRuntimeBackend()
