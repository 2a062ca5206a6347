"""A layered layout and SVG drawing that need no Graphviz (the HTML page always uses it).

Layers are longest paths from the inputs, then every node moves down to just above its first
user, so a weight is drawn next to the matmul that reads it, not at the very top. Within a
layer, boxes are ordered by a few sweeps of the barycentre heuristic (Sugiyama's), then placed
left to right as near their inputs' centre as the boxes beside them allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from ..ir.node import Node
from .drawing import Drawing
from .style import OUTPUT_BORDER, STYLES

CHAR_WIDTH = 6.6  # average width of a 11px sans-serif character
BOX_HEIGHT = 34.0
LAYER_GAP = 30.0
BOX_GAP = 14.0
MARGIN = 20.0


@dataclass
class Box:
    x: float  # centre
    y: float  # top
    width: float
    height: float = BOX_HEIGHT


def _layers(d: Drawing) -> dict[Node, int]:
    """Longest path from the inputs, then each node pulled down to just above its first user
    (so a chain of optimizer arithmetic sits by the update it feeds, not at the top)."""
    layer: dict[Node, int] = {}
    for node in d.graph.nodes:
        layer[node] = 1 + max((layer[v] for v in node.inputs), default=-1)
    users = d.graph.users()
    for node in reversed(d.graph.nodes):
        if users[node]:
            layer[node] = max(layer[node], min(layer[u] for u in users[node]) - 1)
    return layer


def _order(d: Drawing, layer: dict[Node, int]) -> list[list[Node]]:
    rows: list[list[Node]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for node in d.graph.nodes:
        rows[layer[node]].append(node)
    users = d.graph.users()
    position = {n: i for row in rows for i, n in enumerate(row)}
    for sweep in range(4):
        downward = sweep % 2 == 0
        for row in rows[1:] if downward else reversed(rows[:-1]):
            def key(node: Node, downward: bool = downward) -> float:
                near = node.inputs if downward else users[node]
                ranks = [position[n] for n in near]
                return sum(ranks) / len(ranks) if ranks else position[node]
            row.sort(key=key)
            position.update({n: i for i, n in enumerate(row)})
    return rows


def box_width(d: Drawing, node: Node) -> float:
    text = max(len(d.label(node)), len(str(node.type)))
    return max(56.0, text * CHAR_WIDTH + 16.0)


def layout(d: Drawing) -> tuple[dict[Node, Box], float, float]:
    """Box positions, and the total width and height."""
    rows = _order(d, _layers(d))
    boxes: dict[Node, Box] = {}
    for index, row in enumerate(rows):
        y = MARGIN + index * (BOX_HEIGHT + LAYER_GAP)
        right = MARGIN
        for node in row:
            width = box_width(d, node)
            xs = [boxes[v].x for v in node.inputs if v in boxes]
            wanted = sum(xs) / len(xs) if xs else right + width / 2
            x = max(wanted, right + width / 2)
            boxes[node] = Box(x, y, width)
            right = x + width / 2 + BOX_GAP
    width = max((b.x + b.width / 2 for b in boxes.values()), default=0.0) + MARGIN
    height = MARGIN * 2 + len(rows) * (BOX_HEIGHT + LAYER_GAP)
    return boxes, width, height


def _edge(a: Box, b: Box) -> str:
    x1, y1 = a.x, a.y + a.height
    x2, y2 = b.x, b.y
    bend = max(12.0, (y2 - y1) / 2)
    return f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + bend:.1f} {x2:.1f},{y2 - bend:.1f} " \
           f"{x2:.1f},{y2 - 2:.1f}"


def svg_body(d: Drawing, boxes: dict[Node, Box], id_prefix: str = "") -> str:
    """Edges, then boxes; each box is ``<g class="node kind-K" data-node="i">``."""
    parts = ['<g class="edges">']
    for node in d.graph.nodes:
        for value in node.inputs:
            parts.append(f'<path class="edge" d="{_edge(boxes[value], boxes[node])}" '
                         f'marker-end="url(#{id_prefix}arrow)"/>')
    parts.append("</g><g class=\"nodes\">")
    for index, node in enumerate(d.graph.nodes):
        box, kind = boxes[node], d.kinds[node]
        style = STYLES[kind]
        left = box.x - box.width / 2
        stroke = OUTPUT_BORDER if node in d.output_labels else style.width
        dash = ' stroke-dasharray="4,3"' if style.dash else ""
        title = escape(f"{d.details(node)['text']}\n{node.location}")
        parts.append(
            f'<g class="node kind-{kind}" data-node="{index}" '
            f'data-name="{escape(d.names[node])}"><title>{title}</title>'
            f'<rect x="{left:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
            f'height="{box.height:.1f}" rx="6" fill="{style.fill}" stroke="{style.border}" '
            f'stroke-width="{stroke:g}"{dash}/>')
        if style.double:
            parts.append(f'<rect x="{left + 3:.1f}" y="{box.y + 3:.1f}" '
                         f'width="{box.width - 6:.1f}" height="{box.height - 6:.1f}" rx="4" '
                         f'fill="none" stroke="{style.border}"/>')
        parts.append(f'<text x="{box.x:.1f}" y="{box.y + 14:.1f}" class="label">'
                     f'{escape(d.label(node))}</text>'
                     f'<text x="{box.x:.1f}" y="{box.y + 27:.1f}" class="type">'
                     f'{escape(str(node.type))}</text>')
        if node in d.output_labels:
            parts.append(f'<text x="{box.x:.1f}" y="{box.y + box.height + 11:.1f}" '
                         f'class="out">{escape(d.output_labels[node])}</text>')
        parts.append("</g>")
    parts.append("</g>")
    return "".join(parts)


SVG_STYLE = (
    ".edge{fill:none;stroke:#888;stroke-width:1}"
    "text{font-family:Helvetica,Arial,sans-serif;text-anchor:middle}"
    ".label{font-size:11px;fill:#111}.type{font-size:10px;fill:#555}"
    ".out{font-size:9px;fill:#2f855a;font-style:italic}"
)


def arrow_marker(id_prefix: str = "") -> str:
    return (f'<marker id="{id_prefix}arrow" viewBox="0 0 8 8" refX="7" refY="4" '
            f'markerWidth="7" markerHeight="7" orient="auto">'
            f'<path d="M0,0 L8,4 L0,8 z" fill="#888"/></marker>')


def legend_svg(x: float, y: float) -> str:
    parts = []
    for i, style in enumerate(STYLES.values()):
        dash = ' stroke-dasharray="4,3"' if style.dash else ""
        parts.append(f'<rect x="{x:.0f}" y="{y + i * 18:.0f}" width="14" height="12" rx="3" '
                     f'fill="{style.fill}" stroke="{style.border}"{dash}/>'
                     f'<text x="{x + 20:.0f}" y="{y + i * 18 + 10:.0f}" class="type" '
                     f'style="text-anchor:start">{style.legend}</text>')
    return "".join(parts)


def to_builtin_svg(d: Drawing) -> str:
    """A standalone SVG document drawn with the built-in layout."""
    boxes, width, height = layout(d)
    legend_width = 150.0
    total = width + legend_width
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{total:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {total:.0f} {height:.0f}">'
            f"<style>{SVG_STYLE}</style><defs>{arrow_marker()}</defs>"
            f'<rect width="100%" height="100%" fill="white"/>'
            f"{svg_body(d, boxes)}{legend_svg(width + 10, MARGIN)}</svg>\n")
