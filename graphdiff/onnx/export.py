"""Export: graphdiff graphs, compiled functions and whole training steps to ONNX models.

Each node is lowered by its op's own ``onnx`` mapping (see ``context.py`` for the protocol).
Symbolic dims become ``dim_param``s and stay symbolic: shapes that hold symbols are computed in
the graph from the ``Shape`` of the inputs that define them. Variables become initializers, or
graph inputs when the model is a training step (whose outputs then include the new values).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import OnnxError, user_location
from ..ir.graph import topo_order
from ..ir.node import Node, Source
from ..ir.types import TensorType
from ..ops.control import StackType
from ..ops.source import CONSTANT, PLACEHOLDER, VARIABLE
from .context import ExportContext
from .dtypes import onnx_elem_type

DEFAULT_OPSET = 18
MIN_OPSET, MAX_OPSET = 15, 21


def value_info(name: str, type_: TensorType) -> onnx.ValueInfoProto:
    """An ONNX tensor type with ``dim_param`` for each symbolic dim."""
    shape = [d if isinstance(d, int) else str(d) for d in type_.shape]
    return helper.make_tensor_value_info(name, onnx_elem_type(type_.dtype), shape)


def emit_nodes(ctx: ExportContext, outputs: Sequence[Node],
               name_nodes: bool = False) -> list[str]:
    """Lower every node ``outputs`` depend on that has no ONNX value yet; return their names.

    ``name_nodes``: name the ONNX nodes of each node's lowering ``<op>_<uid>`` (then
    ``<op>_<uid>.1``, ...), so an onnxruntime error naming one leads back to the graphdiff node.
    """
    for node in topo_order(outputs):
        if node in ctx.values:
            continue
        start = len(ctx.nodes)
        if node.op.source:
            ctx.values[node] = _emit_source(ctx, node)
            continue
        mapping = node.op.onnx
        inputs = [ctx.values[v] for v in node.inputs]
        if mapping is None:
            raise OnnxError(f"op {node.op.name!r} has no ONNX mapping (node {node.type} created "
                            f"at {node.location}); declare onnx= in its defop")
        if isinstance(mapping, str):
            ctx.values[node] = ctx.op(mapping, inputs)
        else:
            ctx.values[node] = mapping(ctx, node, inputs)
        if name_nodes:
            for k, proto in enumerate(ctx.nodes[start:]):
                proto.name = f"{node.op.name}_{node.uid}" + (f".{k}" if k else "")
    return [ctx.values[node] for node in outputs]


def _emit_source(ctx: ExportContext, node: Node) -> str:
    if node.op is PLACEHOLDER:
        raise OnnxError(f"placeholder {node.name or node.type} (created at {node.location}) "
                        "is used but is not among the exported inputs")
    if node.op is CONSTANT:  # a Constant node: import keeps it constant
        return ctx.op("Constant", [], value=numpy_helper.from_array(np.asarray(node.data)))
    if node.op is VARIABLE:
        name = ctx.claim(node.name or "variable")
        ctx.initializers.append(numpy_helper.from_array(node.data.value, name))
        return name
    raise OnnxError(f"source op {node.op.name!r} cannot be exported")


def build_model(inputs: Sequence[Node], outputs: Sequence[Node], output_names: Sequence[str],
                *, opset: int = DEFAULT_OPSET, variable_inputs: Sequence[Node] = (),
                graph_name: str = "graphdiff", name_nodes: bool = False) -> onnx.ModelProto:
    """The ONNX model computing ``outputs`` from ``inputs`` (placeholders), and from the
    ``variable_inputs`` as graph inputs too (other variables become initializers);
    ``name_nodes`` as in :func:`emit_nodes`."""
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise OnnxError(f"opset {opset} is not supported (use {MIN_OPSET}..{MAX_OPSET}; "
                        f"at {user_location()})")
    if len(output_names) != len(outputs):
        raise OnnxError(f"{len(output_names)} output names for {len(outputs)} outputs "
                        f"(at {user_location()})")
    for position, node in enumerate(outputs):
        if not isinstance(node.type, TensorType):
            what = "a stack (the values a loop saves for its derivative)" \
                if isinstance(node.type, StackType) else "a node with several results"
            raise OnnxError(f"output {position} is {what}, {node.type}, not a tensor (created "
                            f"at {node.location}); export its results (graphdiff.ops.core."
                            f"result) instead")
    ctx = ExportContext(opset)
    graph_inputs = []
    for position, node in enumerate(list(inputs) + list(variable_inputs)):
        fed = isinstance(node, Node) and node.op.source in (Source.PLACEHOLDER, Source.VARIABLE)
        if not fed:
            raise OnnxError(f"input {position} is {node!r}, not a placeholder or variable "
                            f"(at {user_location()})")
        name = ctx.claim(node.name or f"input_{position}")
        ctx.values[node] = name
        ctx.declare_dims(name, node.shape)
        graph_inputs.append(value_info(name, node.type))
    names = emit_nodes(ctx, outputs, name_nodes)
    graph_outputs = []
    for node, value, wanted in zip(outputs, names, output_names, strict=True):
        name = ctx.claim(wanted)
        # An Identity per output gives every output its own name, even when two outputs are
        # one node or an output is an input.
        ctx.nodes.append(helper.make_node("Identity", [value], [name]))
        graph_outputs.append(value_info(name, node.type))
    graph = helper.make_graph(ctx.nodes, graph_name, graph_inputs, graph_outputs,
                              initializer=ctx.initializers)
    opset_id = helper.make_opsetid("", opset)
    model = helper.make_model(graph, opset_imports=[opset_id], producer_name="graphdiff",
                              ir_version=helper.find_min_ir_version_for([opset_id]))
    return model


def _save(model: onnx.ModelProto, path: str | os.PathLike | None) -> onnx.ModelProto:
    if path is not None:
        onnx.save_model(model, os.fspath(path))
    return model


def _output_names(outputs: Sequence[Node]) -> list[str]:
    return [node.name or f"output_{i}" for i, node in enumerate(outputs)]


def export_onnx(path: str | os.PathLike | None, inputs: Any, outputs: Any = None, *,
                opset: int = DEFAULT_OPSET,
                output_names: Sequence[str] | None = None) -> onnx.ModelProto:
    """Write an ONNX model to ``path`` (None: do not write) and return the ModelProto.

    ``export_onnx(path, inputs, outputs)`` exports the graph from placeholders to outputs;
    variables become initializers. ``export_onnx(path, function)`` exports a compiled
    ``gd.Function`` as it runs (its optimized graph): with updates, each updated variable is a
    graph input too and its new value an extra output named ``<variable>_new``.

    >>> import numpy as np, graphdiff as gd
    >>> x = gd.placeholder(("n", 3), "float32", name="x")
    >>> model = gd.export_onnx(None, [x], [gd.tanh(x) * 2])
    >>> [node.op_type for node in model.graph.node]
    ['Tanh', 'Constant', 'Mul', 'Identity']
    >>> model.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    'n'
    """
    from ..runtime.function import Function

    if isinstance(inputs, Function):
        if outputs is not None:
            raise OnnxError(f"export_onnx(path, function) takes no outputs (at {user_location()})")
        return _save(_function_model(inputs, opset, output_names), path)
    single_input, single_output = isinstance(inputs, Node), isinstance(outputs, Node)
    inputs = [inputs] if single_input else list(inputs)
    outputs = [outputs] if single_output else list(outputs or ())
    if not outputs:
        raise OnnxError(f"export_onnx needs at least one output (at {user_location()})")
    for position, value in enumerate(outputs):
        if not isinstance(value, Node):
            raise OnnxError(f"output {position} is {type(value).__name__}, not a tensor "
                            f"(at {user_location()})")
    names = list(output_names) if output_names is not None else _output_names(outputs)
    return _save(build_model(inputs, outputs, names, opset=opset), path)


def _function_model(function: Any, opset: int,
                    output_names: Sequence[str] | None) -> onnx.ModelProto:
    graph = function.graph
    targets = list(function.updates)
    outputs = list(graph.outputs)
    names = list(output_names) if output_names is not None else \
        _output_names(function.outputs) + [f"{v.name or 'variable'}_new" for v in targets]
    return build_model(function.inputs, outputs, names, opset=opset, variable_inputs=targets)


def export_training_step(path: str | os.PathLike | None, inputs: Sequence[Node], loss: Node,
                         params: Sequence[Node], update: Callable[[Node, Node], Node], *,
                         opset: int = DEFAULT_OPSET,
                         passes: Any = "default") -> onnx.ModelProto:
    """Export one training step as a standard-ops-only ONNX model.

    The graph inputs are ``inputs`` followed by the parameters (variables, by name); the outputs
    are ``loss``, then ``<param>_grad`` for each parameter, then ``<param>_new =
    update(param, grad)``. The gradients are graphdiff's own symbolic gradient nodes, so stock
    onnxruntime runs the step (no training build, no ``Gradient`` op).

    >>> import numpy as np, graphdiff as gd
    >>> x = gd.placeholder((None, 2), "float32", name="x")
    >>> W = gd.variable(np.ones((2, 1), np.float32), name="W")
    >>> model = gd.export_training_step(None, [x], gd.mean((x @ W) ** 2), [W],
    ...                                 update=lambda p, g: p - 0.1 * g)
    >>> [o.name for o in model.graph.output]
    ['loss', 'W_grad', 'W_new']
    """
    from ..autodiff import grad
    from ..runtime.function import function

    params = list(params)
    for param in params:
        if not isinstance(param, Node) or param.op is not VARIABLE:
            raise OnnxError(f"training-step parameters must be variables, got {param!r} "
                            f"(at {user_location()})")
    grads = grad(loss, params)
    step = function(list(inputs), [loss, *grads],
                    updates={p: update(p, g) for p, g in zip(params, grads, strict=True)},
                    passes=passes)
    labels = [p.name or f"param_{i}" for i, p in enumerate(params)]
    names = ["loss", *(f"{p}_grad" for p in labels), *(f"{p}_new" for p in labels)]
    return _save(_function_model(step, opset, names), path)
