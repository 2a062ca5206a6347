"""What gets drawn: a graph, its printed names, each node's kind and a label per node.

:func:`drawing` accepts anything that holds a graph: a :class:`~graphdiff.Graph`, a compiled
function (its optimized ``f.graph``; declared outputs are forward, the rest are variable
updates), the result of ``gd.import_onnx`` or a path to an ``.onnx`` file.

A node that owns regions (a loop body, the branches of a cond) has one nested Drawing per region,
drawn as a cluster: its parameters, its nodes (named ``%block.n`` as in the text form, blocks
numbered in the same order) and a box for what it returns. Each parameter is joined to the
owner's operand passed to it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..errors import GraphdiffError, user_location
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.printer import format_node, format_value, node_names
from ..ir.types import TensorType
from ..ops import control
from ..ops.core import result
from ..ops.custom import custom
from ..ops.fused import fused
from ..ops.source import CONSTANT
from .classify import classify, region_kinds


@dataclass
class Drawing:
    """A graph ready to render. ``names`` are the text form's names (``%3``, ``W``)."""

    graph: Graph
    kinds: dict[Node, str]
    names: dict[Node, str]
    title: str = "graph"
    # output node -> label shown under it ("output 0", "W <- (update)")
    output_labels: dict[Node, str] = field(default_factory=dict)
    # a node owning regions -> one drawing per region (whose nodes may own regions in turn)
    regions: dict[Node, list[Drawing]] = field(default_factory=dict)
    # a region's text-form block number (None: the top level), and per parameter the name of
    # the owner's operand passed to it (None where the op's operand order says none is)
    block: int | None = None
    feeds: list[str | None] = field(default_factory=list)
    _users: dict[Node, list[Node]] | None = field(default=None, repr=False)

    @cached_property
    def nodes(self) -> list[Node]:
        """The boxes of this level; a region shows every parameter, used or not."""
        if self.block is None:
            return self.graph.nodes
        return list(dict.fromkeys([*self.graph.inputs, *self.graph.nodes]))

    @property
    def return_name(self) -> str:
        """The id of a region's results box (no text-form name has a letter after the dot)."""
        return f"%{self.block}.return"

    def return_label(self) -> str:
        return "return " + ", ".join(self.names[o] for o in self.graph.outputs)

    def walk(self) -> Iterator[Drawing]:
        """This level, then every region depth first: the text form's block order."""
        yield self
        for node in self.nodes:
            for region in self.regions.get(node, ()):
                yield from region.walk()

    def edges(self) -> Iterator[tuple[str, str, str]]:
        """(from, to, kind) by name at this level: ``data`` between its boxes (a region's
        results into its return box), ``param`` from an owner's operand to the parameter it is
        passed as, ``return`` from a region's return box to its owner. An operand passed to no
        parameter (a switch's index) is a data edge into the owner."""
        for node in self.nodes:
            regions = self.regions.get(node, ())
            fed = {name for r in regions for name in r.feeds}
            for value in node.inputs:
                if self.names[value] not in fed:
                    yield self.names[value], self.names[node], "data"
            for region in regions:
                for param, feed in zip(region.graph.inputs, region.feeds, strict=True):
                    if feed is not None:
                        yield feed, region.names[param], "param"
                yield region.return_name, self.names[node], "return"
        if self.block is not None:
            for output in dict.fromkeys(self.graph.outputs):
                yield self.names[output], self.return_name, "data"

    def label(self, node: Node) -> str:
        """First line of a box: ``name = op``; sources show their name, scalar constants their
        value."""
        name = self.names[node]
        if node.op is CONSTANT and node.data is not None and node.data.size == 1:
            return f"{name} = {_short(node.data.item())}"
        if node.op.source:
            return name
        if node.op is result:
            return f"{name} = result[{node.attrs['index']}]"
        return f"{name} = {node.op.name}"

    def details(self, node: Node) -> dict[str, Any]:
        """Everything the interactive page shows when the node is clicked."""
        if self._users is None:
            self._users = self.graph.users()
        users = list(dict.fromkeys(self.names[u] for u in self._users.get(node, ())))
        tensor = isinstance(node.type, TensorType)  # not a loop's tuple of results, a stack
        regions = self.regions.get(node, [])
        text = format_node(node, self.names, "", [regions[0].block] if regions else None)
        info: dict[str, Any] = {
            "name": self.names[node], "op": node.op.name, "kind": self.kinds[node],
            "dtype": node.type.dtype.name if tensor else None,
            "shape": [str(d) for d in node.type.shape] if tensor else None,
            "type": str(node.type), "location": node.location,
            "attrs": {k: format_value(v) for k, v in sorted(node.attrs.items())
                      if not node.op.source},
            "inputs": [self.names[v] for v in node.inputs], "users": users,
            "text": text.split(" {\n", 1)[0] if node.regions else text,
        }
        if node.regions:  # the regions as the text form prints them, block numbers included
            info["body"] = text.split("\n")[1:-1]
        position = next((i for i, p in enumerate(self.graph.inputs) if p is node), None)
        if position is not None and self.block is not None:
            info["operand"] = self.feeds[position] or "-"
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
    d = Drawing(graph, kinds, names, title, labels)
    d.regions = _regions(d, [0])
    return d


def _regions(d: Drawing, blocks: list[int]) -> dict[Node, list[Drawing]]:
    """The drawings of the regions of ``d``'s nodes; ``blocks[0]`` is the next block number."""
    found: dict[Node, list[Drawing]] = {}
    for owner in d.nodes:
        for k, region in enumerate(owner.regions):
            block = blocks[0]
            blocks[0] += 1
            # the printer's names: parameters %b.0.., then the nodes in order
            names = {p: f"%{block}.{i}" for i, p in enumerate(region.inputs)}
            counter = len(region.inputs)
            for node in region.nodes:
                if node not in names:
                    names[node] = f"%{block}.{counter}"
                    counter += 1
            feeds = [None if v is None else d.names[v] for v in region_operands(owner, k)]
            sub = Drawing(region, region_kinds(region, d.kinds[owner]), names,
                          region_title(owner, k), block=block, feeds=feeds)
            sub.regions = _regions(sub, blocks)  # nested blocks number before the next region
            found.setdefault(owner, []).append(sub)
    return found


def region_operands(owner: Node, k: int) -> list[Node | None]:
    """The operand of ``owner`` passed to each parameter of its region ``k``, from each op's
    operand order (graphdiff/ops/control.py); None for all when the op is not known."""
    params = owner.regions[k].inputs
    operands = owner.inputs
    if owner.op is control.while_loop:  # condition consts, body consts, then the carry
        n_cond, n_body = owner.attrs["n_cond"], owner.attrs["n_body"]
        own = operands[:n_cond] if k == 0 else operands[n_cond:n_cond + n_body]
        operands = own + operands[n_cond + n_body:]
    elif owner.op is control.switch:  # the index chooses; every branch gets the rest
        operands = operands[1:]
    elif owner.op is custom and len(params) > len(operands):  # a rule: tangents after
        return [*operands, *[None] * (len(params) - len(operands))]
    if len(operands) != len(params):
        return [None] * len(params)
    return list(operands)


def region_title(owner: Node, k: int) -> str:
    """What the region is to its owner: a scan's body, a cond's branch."""
    if owner.op is control.scan:
        return "body"
    if owner.op is control.while_loop:
        return ("condition", "body")[k]
    if owner.op is control.switch:
        bool_index = owner.inputs[0].type.dtype == bool
        return f"branch {k}" + (f" ({'true' if k else 'false'})" if bool_index else "")
    if owner.op is fused:
        return "group"
    if owner.op is custom and k < 3:  # a function with its derivative rules
        rules = {"jvp": "jvp rule", "vjp": ("fwd rule", "bwd rule")[k - 1] if k else ""}
        return "function" if k == 0 else rules.get(owner.attrs.get("kind"), f"rule {k}")
    return f"region {k}"


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
