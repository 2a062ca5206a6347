"""The canonical text form of a graph: typed SSA, one line per node.

    graph(x: f64[?0,4]) {
      W: f64[4,3] = variable
      %0: f64[?0,3] = matmul x, W
      %1: f64[?0,3] = tanh %0
      return %1
    }

Placeholders and variables print under their names; every other node gets ``%n`` in schedule
order. A node that owns regions (a loop body, a branch) prints each as a nested block after its
operands, with parameters and values named ``%r.n`` for the block ``r``:

    %2: (f64[2], f64[?0,2]) = scan[length=('?0',), n_carry=1, n_consts=1, reverse=False] W, %1, xs {
      region 0 (%0.0: f64[2,2], %0.1: f64[2], %0.2: f64[2]) {
        %0.3: f64[2] = matmul %0.1, %0.0
        ...
        return %0.5, %0.6
      }
    }
 Attributes print in brackets after the op name, sorted by name. Drawings (``graphdiff.viz``)
render the same names, so a line of text and a box in a picture can be matched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .node import Node, Source

if TYPE_CHECKING:
    from .graph import Graph

_INLINE_CONSTANT_SIZE = 8


def node_names(graph: Graph) -> dict[Node, str]:
    """Stable printed names: user names for sources (made unique), ``%n`` for the rest."""
    names: dict[Node, str] = {}
    taken: set[str] = set()
    counter = 0
    ordered = list(graph.inputs) + [n for n in graph.nodes if n not in set(graph.inputs)]
    for node in ordered:
        if node in names:
            continue
        if node.name is not None and node.op.source:
            name = node.name
            suffix = 1
            while name in taken:
                name = f"{node.name}_{suffix}"
                suffix += 1
        else:
            name = f"%{counter}"
            counter += 1
        taken.add(name)
        names[node] = name
    return names


def format_value(value: object) -> str:
    """A short text for an attribute or a constant."""
    if isinstance(value, np.ndarray):
        if value.size <= _INLINE_CONSTANT_SIZE:
            if not value.ndim:
                return repr(value.item())
            # one line: numpy breaks a 2-D array between rows, and the text form is a line
            # per node
            text = np.array2string(value, separator=", ", max_line_width=1 << 30)
            return text.replace("\n", "")
        return f"<{value.dtype.name}{list(value.shape)}>"
    if isinstance(value, np.dtype):
        return value.name
    return repr(value)


def format_node(node: Node, names: dict[Node, str], indent: str = "  ",
                blocks: list[int] | None = None) -> str:
    """One line: ``name: type = op[attrs] operands`` (then the node's regions as blocks)."""
    text = f"{names[node]}: {node.type} = {node.op.name}"
    if node.attrs and not node.op.source:  # a source's attributes are its type
        attrs = ", ".join(f"{k}={format_value(v)}" for k, v in sorted(node.attrs.items()))
        text += f"[{attrs}]"
    if node.inputs:
        text += " " + ", ".join(names[value] for value in node.inputs)
    if node.op.source is Source.CONSTANT:
        text += " " + format_value(node.data)
    if node.regions:
        blocks = [0] if blocks is None else blocks
        inner = indent + "  "
        lines = []
        for k, region in enumerate(node.regions):
            block = blocks[0]
            blocks[0] += 1
            lines += _format_region(region, k, block, inner, blocks)
        text += " {\n" + "\n".join(lines) + f"\n{indent}}}"
    return text


def _format_region(region: Graph, k: int, block: int, indent: str,
                   blocks: list[int]) -> list[str]:
    names = dict(zip(region.inputs, (f"%{block}.{i}" for i in range(len(region.inputs)))))
    counter = len(region.inputs)
    for node in region.nodes:
        if node not in names:
            names[node] = f"%{block}.{counter}"
            counter += 1
    header = ", ".join(f"{names[p]}: {p.type}" for p in region.inputs)
    lines = [f"{indent}region {k} ({header}) {{"]
    params = set(region.inputs)
    for node in region.nodes:
        if node not in params:
            lines.append(indent + "  " + format_node(node, names, indent + "  ", blocks))
    lines.append(f"{indent}  return " + ", ".join(names[o] for o in region.outputs))
    lines.append(indent + "}")
    return lines


def format_graph(graph: Graph) -> str:
    names = node_names(graph)
    header = ", ".join(f"{names[p]}: {p.type}" for p in graph.inputs)
    lines = [f"graph({header}) {{"]
    inputs = set(graph.inputs)
    blocks = [0]
    for node in graph.nodes:
        if node not in inputs:
            lines.append("  " + format_node(node, names, "  ", blocks))
    lines.append("  return " + ", ".join(names[o] for o in graph.outputs))
    lines.append("}")
    return "\n".join(lines)
