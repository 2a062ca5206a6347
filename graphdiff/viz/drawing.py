"""What gets drawn: a graph, its printed names, each node's kind and a label per node.

:func:`drawing` accepts anything that holds a graph: a :class:`~graphdiff.Graph`, a compiled
function (its optimized ``f.graph``; declared outputs are forward, the rest are variable
updates), the result of ``gd.import_onnx`` or a path to an ``.onnx`` file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import GraphdiffError, user_location
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.printer import format_node, format_value, node_names
from .classify import classify


@dataclass
class Drawing:
    """A graph ready to render. ``names`` are the text form's names (``%3``, ``W``)."""

    graph: Graph
    kinds: dict[Node, str]
    names: dict[Node, str]
    title: str = "graph"
    # output node -> label shown under it ("output 0", "W <- (update)")
    output_labels: dict[Node, str] = field(default_factory=dict)
    _users: dict[Node, list[Node]] | None = field(default=None, repr=False)

    def label(self, node: Node) -> str:
        """First line of a box: ``name = op``; sources show their name, scalar constants their
        value."""
        name = self.names[node]
        if node.op.name == "constant" and node.data is not None and node.data.size == 1:
            return f"{name} = {_short(node.data.item())}"
        if node.op.source:
            return name
        return f"{name} = {node.op.name}"

    def details(self, node: Node) -> dict[str, Any]:
        """Everything the interactive page shows when the node is clicked."""
        if self._users is None:
            self._users = self.graph.users()
        users = list(dict.fromkeys(self.names[u] for u in self._users[node]))
        info: dict[str, Any] = {
            "name": self.names[node], "op": node.op.name, "kind": self.kinds[node],
            "dtype": node.dtype.name, "shape": [str(d) for d in node.shape],
            "type": str(node.type), "location": node.location,
            "attrs": {k: format_value(v) for k, v in sorted(node.attrs.items())
                      if not node.op.source and not hasattr(v, "format_lines")},
            "inputs": [self.names[v] for v in node.inputs], "users": users,
            "text": format_node(node, self.names),
        }
        for value in node.attrs.values():
            if hasattr(value, "format_lines"):  # a fused group's body
                info["body"] = value.format_lines()
        if node.name:
            info["user_name"] = node.name
        if node in self.output_labels:
            info["output"] = self.output_labels[node]
        return info


def _short(value: object) -> str:
    """A scalar in a few characters: floats to 4 significant digits, still reading as floats."""
    if not isinstance(value, float):
        return str(value)
    text = f"{value:.4g}"
    return text if any(c in text for c in ".einf") else text + ".0"


def from_graph(graph: Graph, title: str, forward_outputs: Sequence[Node] | None,
               gradients: Sequence[Node] | None, update_targets: Sequence[Node] = ()) -> Drawing:
    """A drawing of ``graph`` whose last ``len(update_targets)`` outputs update those
    variables (the rest are forward outputs, ``forward_outputs`` when given)."""
    kinds = classify(graph, forward_outputs, gradients)
    names = node_names(graph)
    n_forward = len(graph.outputs) - len(update_targets)
    labels: dict[Node, str] = {}
    for position, node in enumerate(graph.outputs[:n_forward]):
        labels.setdefault(node, f"output {position}")
    for target, node in zip(update_targets, graph.outputs[n_forward:], strict=False):
        labels[node] = f"{names.get(target, target.name)} <- (update)"
    return Drawing(graph, kinds, names, title, labels)


def drawing(source: Any, *, gradients: Sequence[Node] | None = None,
            title: str | None = None) -> Drawing:
    """Normalize ``source`` (Graph, Function, imported ONNX model, .onnx path) to a Drawing."""
    from ..runtime.function import Function

    if isinstance(source, Drawing):
        return source
    if isinstance(source, Function):
        n_out = len(source.outputs)
        return from_graph(source.graph, title or "function", source.graph.outputs[:n_out],
                           gradients, list(source.updates))
    if isinstance(source, Graph):
        return from_graph(source, title or "graph", None, gradients)
    if isinstance(source, (str, os.PathLike)) or type(source).__name__ == "ModelProto":
        from .. import import_onnx  # type: ignore[attr-defined]

        label = os.path.basename(os.fspath(source)) if not hasattr(source, "graph") \
            else "onnx model"
        source = import_onnx(source)
        return drawing(source, gradients=gradients, title=title or label)
    graph = getattr(source, "graph", None)
    if isinstance(graph, Graph):
        return from_graph(graph, title or "graph", None, gradients)
    raise GraphdiffError(f"cannot draw a {type(source).__name__}: expected a Graph, a compiled "
                         f"function, an imported ONNX model or a .onnx path "
                         f"(at {user_location()})")
