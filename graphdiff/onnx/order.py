"""Reading a model's graph before any node is built: the order its nodes can be imported in,
the names their subgraphs read from outside, and the declared types of its inputs."""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np
import onnx

from ..errors import OnnxError
from .dtypes import numpy_dtype


def value_shape(info: onnx.ValueInfoProto, where: str) -> tuple[np.dtype, tuple]:
    """The dtype and shape of a graph input (a ``dim_param`` or an unnamed dim stays
    symbolic: its name, or None)."""
    if info.type.WhichOneof("value") != "tensor_type":
        raise OnnxError(f"{where}: only tensor inputs are supported, got "
                        f"{info.type.WhichOneof('value') or 'no type'}")
    tensor_type = info.type.tensor_type
    dtype = numpy_dtype(tensor_type.elem_type, where)
    if not tensor_type.HasField("shape"):
        raise OnnxError(f"{where}: the input has no shape (its rank must be known)")
    dims: list[Any] = []
    for dim in tensor_type.shape.dim:
        kind = dim.WhichOneof("value")
        if kind == "dim_value":
            if dim.dim_value < 0:
                raise OnnxError(f"{where}: negative dimension {dim.dim_value}")
            dims.append(int(dim.dim_value))
        else:
            dims.append(dim.dim_param if kind == "dim_param" and dim.dim_param else None)
    return dtype, tuple(dims)


def sorted_nodes(graph: onnx.GraphProto, available: set[str]) -> list[onnx.NodeProto]:
    """The nodes in dependency order (the file's order where it allows); a cycle, a dangling
    input or a value defined twice is an OnnxError."""
    producers: dict[str, int] = {}
    for index, node in enumerate(graph.node):
        for name in node.output:
            if name and (name in producers or name in available):
                raise OnnxError(f"value {name!r} is defined twice (node {index}, "
                                f"{node.op_type})")
            if name:
                producers[name] = index
    pending = [0] * len(graph.node)
    users: dict[int, list[int]] = {}
    for index, node in enumerate(graph.node):
        # a node with subgraphs also waits for the values they read from this graph
        for name in dict.fromkeys(list(node.input) + sorted(outer_reads(node))):
            if not name or name in available:
                continue
            if name not in producers:
                raise OnnxError(f"node {index} ({node.op_type} {node.name!r}) reads {name!r}, "
                                "which no node, input or initializer defines")
            pending[index] += 1
            users.setdefault(producers[name], []).append(index)
    ready = [i for i, count in enumerate(pending) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for user in users.get(index, ()):
            pending[user] -= 1
            if pending[user] == 0:
                heapq.heappush(ready, user)
    if len(order) != len(graph.node):
        stuck = sorted({graph.node[i].op_type for i, count in enumerate(pending) if count})
        raise OnnxError(f"the graph has a cycle (nodes never ready: {', '.join(stuck[:5])})")
    return [graph.node[i] for i in order]


def outer_reads(node: onnx.NodeProto) -> set[str]:
    """The names the subgraphs of ``node`` (a branch, a loop body, nested ones) read from the
    enclosing graphs: what they use and do not define."""
    reads: set[str] = set()
    for attribute in node.attribute:
        graphs = list(attribute.graphs) + ([attribute.g] if attribute.HasField("g") else [])
        for graph in graphs:
            defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
            used: set[str] = set()
            for inner in graph.node:
                used.update(n for n in inner.input if n)
                used |= outer_reads(inner)
                defined.update(inner.output)
            used.update(o.name for o in graph.output)
            reads |= used - defined
    return reads
