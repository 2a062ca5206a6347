"""A layered layout and SVG drawing that need no Graphviz (the HTML page always uses it).

Layers are longest paths from the inputs, then every node moves down to just above its first
user, so a weight is drawn next to the matmul that reads it, not at the very top. Within a
layer, boxes are ordered by a few sweeps of the barycentre heuristic (Sugiyama's), then placed
left to right as near their inputs' centre as the boxes beside them allow.

A node that owns regions is a tall box: its header, then one cluster per region side by side,
each laid out the same way (so nested regions nest), its parameters pinned to its first row and
its return box in its last. x positions are fixed once; y follows from the rows' heights
(:func:`place`), so the HTML page can fold a cluster to its title strip and move up only what
is below it (page.py's ``place`` is the same rule).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from typing import Any

from ..ir.node import Node
from .drawing import Drawing
from .style import OUTPUT_BORDER, REGION, REGION_TITLE, RETURN, STYLES, legend_styles

CHAR_WIDTH = 6.6  # average width of a 11px sans-serif character
BOX_HEIGHT = 34.0
LAYER_GAP = 30.0
BOX_GAP = 14.0
MARGIN = 20.0
PAD = 8.0  # between a frame and what it holds
TITLE = 18.0  # a cluster's title strip
CLUSTER_GAP = 10.0
RETURN_KEY = "return"  # a region's return box among its cluster's boxes (nodes are the rest)


@dataclass
class Box:
    x: float  # centre
    y: float  # top
    width: float
    height: float = BOX_HEIGHT
    clusters: list[Cluster] = field(default_factory=list)  # an owner's regions, inside it


@dataclass
class Cluster:
    """One level laid out: the top graph, or a region inside its owner's box."""

    drawing: Drawing
    boxes: dict[Any, Box]  # by node, and RETURN_KEY for a region
    rows: list[list[Any]]
    x: float  # left
    width: float
    y: float = 0.0  # top
    height: float = 0.0

    def walk(self) -> Iterator[Cluster]:
        """This level, then every region depth first (the order of ``Drawing.walk``)."""
        yield self
        for node in self.drawing.nodes:
            for inner in self.boxes[node].clusters:
                yield from inner.walk()

    def key(self, item: Any) -> str:
        """The page's id of a box: the node's name, or the region's return name."""
        return self.drawing.return_name if item is RETURN_KEY else self.drawing.names[item]


def _preds(d: Drawing) -> dict[Any, list[Any]]:
    """Each box's inputs at this level, in topological order (a region's return box last)."""
    preds: dict[Any, list[Any]] = {node: list(node.inputs) for node in d.nodes}
    if d.block is not None:
        preds[RETURN_KEY] = list(dict.fromkeys(d.graph.outputs))
    return preds


def _users(preds: dict[Any, list[Any]]) -> dict[Any, list[Any]]:
    users: dict[Any, list[Any]] = {key: [] for key in preds}
    for key, near in preds.items():
        for value in near:
            users[value].append(key)
    return users


def _layers(preds: dict[Any, list[Any]], users: dict[Any, list[Any]],
            pinned: set) -> dict[Any, int]:
    """Longest path from the inputs, then each box pulled down to just above its first user
    (so a chain of optimizer arithmetic sits by the update it feeds, not at the top); a
    region's parameters stay pinned to its first row, next to where its operands come in."""
    layer: dict[Any, int] = {}
    for key, near in preds.items():
        layer[key] = 1 + max((layer[v] for v in near), default=-1)
    for key in reversed(list(preds)):
        if users[key] and key not in pinned:
            layer[key] = max(layer[key], min(layer[u] for u in users[key]) - 1)
    return layer


def _order(preds: dict[Any, list[Any]], users: dict[Any, list[Any]],
           layer: dict[Any, int]) -> list[list[Any]]:
    rows: list[list[Any]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for key in preds:
        rows[layer[key]].append(key)
    position = {n: i for row in rows for i, n in enumerate(row)}
    for sweep in range(4):
        downward = sweep % 2 == 0
        for row in rows[1:] if downward else reversed(rows[:-1]):
            def rank(key: Any, downward: bool = downward) -> float:
                near = preds[key] if downward else users[key]
                ranks = [position[n] for n in near]
                return sum(ranks) / len(ranks) if ranks else position[key]
            row.sort(key=rank)
            position.update({n: i for i, n in enumerate(row)})
    return rows


def box_width(d: Drawing, node: Any) -> float:
    if node is RETURN_KEY:
        return max(56.0, len(d.return_label()) * CHAR_WIDTH + 16.0)
    text = max(len(d.label(node)), len(str(node.type)))
    return max(56.0, text * CHAR_WIDTH + 16.0)


def _shift(cluster: Cluster, dx: float) -> None:
    cluster.x += dx
    for box in cluster.boxes.values():
        box.x += dx
        for inner in box.clusters:
            _shift(inner, dx)


def _arrange(d: Drawing, margin: float) -> Cluster:
    """x positions and widths of a level with its left edge at 0 (regions recursively)."""
    preds = _preds(d)
    users = _users(preds)
    pinned = set(d.graph.inputs) if d.block is not None else set()
    rows = _order(preds, users, _layers(preds, users, pinned))
    boxes: dict[Any, Box] = {}
    for row in rows:
        right = margin
        for key in row:
            inner = [] if key is RETURN_KEY else [_arrange(r, PAD) for r in d.regions.get(key, ())]
            span = sum(c.width for c in inner) + CLUSTER_GAP * (len(inner) - 1) + 2 * PAD
            width = max(box_width(d, key), span if inner else 0.0)
            xs = [boxes[v].x for v in preds[key] if v in boxes]
            wanted = sum(xs) / len(xs) if xs else right + width / 2
            x = max(wanted, right + width / 2)
            left = x - span / 2 + PAD  # the clusters, centred under the owner's header
            for cluster in inner:
                _shift(cluster, left)
                left += cluster.width + CLUSTER_GAP
            boxes[key] = Box(x, 0.0, width, clusters=inner)
            right = x + width / 2 + BOX_GAP
    width = max((b.x + b.width / 2 for b in boxes.values()), default=0.0) + margin
    if d.block is not None:  # room for the title strip
        width = max(width, (len(d.title) + 3) * CHAR_WIDTH + 2 * PAD)
    return Cluster(d, boxes, rows, 0.0, width)


def place(cluster: Cluster, top: float) -> float:
    """Set the y of every box of ``cluster`` from ``top``, row by row, each row as tall as its
    tallest box (an owner's box holds its clusters under its header, a cluster its rows under
    its title strip); returns the bottom of the last row."""
    y = top
    for row in cluster.rows:
        tallest = BOX_HEIGHT
        for key in row:
            box = cluster.boxes[key]
            bottom = y + BOX_HEIGHT
            for inner in box.clusters:
                inner.y = y + BOX_HEIGHT + PAD
                inner.height = place(inner, inner.y + TITLE + PAD) + PAD - inner.y
                bottom = max(bottom, inner.y + inner.height + PAD)
            box.y, box.height = y, bottom - y
            tallest = max(tallest, box.height)
        y += tallest + LAYER_GAP
    return y - LAYER_GAP


def arrange(d: Drawing) -> Cluster:
    """The whole drawing laid out: the top level, its regions' clusters inside their owners."""
    root = _arrange(d, MARGIN)
    root.height = place(root, MARGIN) + LAYER_GAP + MARGIN
    return root


def layout(d: Drawing) -> tuple[dict[Node, Box], float, float]:
    """Box positions of the top level (regions: ``Box.clusters``), and the total size."""
    root = arrange(d)
    return root.boxes, root.width, root.height


def geometry(root: Cluster) -> dict[str, Any]:
    """What the page's script needs to fold clusters: the rows, each box's id, centre and
    drawn top, and the constants of :func:`place`."""
    def level(c: Cluster) -> dict[str, Any]:
        return {"block": c.drawing.block, "x": c.x + c.width / 2, "y": c.y,
                "rows": [[{"key": c.key(k), "x": c.boxes[k].x, "y": c.boxes[k].y,
                           "clusters": [level(inner) for inner in c.boxes[k].clusters]}
                          for k in row] for row in c.rows]}
    return {"box": BOX_HEIGHT, "gap": LAYER_GAP, "pad": PAD, "title": TITLE, "margin": MARGIN,
            "root": level(root)}


def _edge(a: Box, b: Box) -> str:
    x1, y1 = a.x, a.y + a.height
    x2, y2 = b.x, b.y
    bend = max(12.0, (y2 - y1) / 2)
    return f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + bend:.1f} {x2:.1f},{y2 - bend:.1f} " \
           f"{x2:.1f},{y2 - 2:.1f}"


def svg_body(root: Cluster, id_prefix: str = "") -> str:
    """Cluster frames, then edges, then boxes; each box is ``<g class="node kind-K"
    data-node="i">`` with ``i`` counting the nodes of ``root.drawing.walk()`` in order, and
    everything the page moves carries ``data-key``."""
    levels = list(root.walk())
    named: dict[str, Box] = {c.key(k): b for c in levels for k, b in c.boxes.items()}
    parts = ['<g class="frames">']
    for c in levels[1:]:
        title = escape(c.drawing.title)
        parts.append(
            f'<g class="cluster" data-key="block:{c.drawing.block}" '
            f'data-block="{c.drawing.block}"><rect class="frame" x="{c.x:.1f}" y="{c.y:.1f}" '
            f'width="{c.width:.1f}" height="{c.height:.1f}" rx="6" fill="{REGION.fill}" '
            f'stroke="{REGION.border}"/><g class="cluster-title"><title>{title}: click to '
            f'fold or unfold</title><rect x="{c.x:.1f}" y="{c.y:.1f}" width="{c.width:.1f}" '
            f'height="{TITLE:.1f}" rx="6" fill="{REGION_TITLE}"/><text x="{c.x + PAD:.1f}" '
            f'y="{c.y + 13:.1f}" class="label" style="text-anchor:start">'
            f'<tspan class="fold">\u25be</tspan> {title}</text></g></g>')
    parts.append('</g><g class="edges">')
    for c in levels:
        for source, target, kind in c.drawing.edges():
            if kind == "return":  # the return box sits inside its owner already
                continue
            parts.append(f'<path class="edge{" param" if kind == "param" else ""}" '
                         f'data-from="{escape(source)}" data-to="{escape(target)}" '
                         f'd="{_edge(named[source], named[target])}" '
                         f'marker-end="url(#{id_prefix}arrow)"/>')
    parts.append("</g><g class=\"nodes\">")
    index = 0
    for c in levels:
        d = c.drawing
        for node in d.nodes:
            parts.append(_node_svg(d, node, c.boxes[node], index))
            index += 1
        if d.block is not None:
            box = c.boxes[RETURN_KEY]
            left = box.x - box.width / 2
            parts.append(f'<g class="return" data-key="{escape(d.return_name)}">'
                         f'<rect x="{left:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
                         f'height="{box.height:.1f}" fill="{RETURN.fill}" '
                         f'stroke="{RETURN.border}"/><text x="{box.x:.1f}" '
                         f'y="{box.y + 21:.1f}" class="label">'
                         f"{escape(d.return_label())}</text></g>")
    parts.append("</g>")
    return "".join(parts)


def _node_svg(d: Drawing, node: Node, box: Box, index: int) -> str:
    kind = d.kinds[node]
    style = STYLES[kind]
    left = box.x - box.width / 2
    stroke = OUTPUT_BORDER if node in d.output_labels else style.width
    dash = ' stroke-dasharray="4,3"' if style.dash else ""
    title = escape(f"{d.details(node)['text']}\n{node.location}")
    name = escape(d.names[node])
    parts = [f'<g class="node kind-{kind}" data-node="{index}" data-name="{name}" '
             f'data-key="{name}"><title>{title}</title>']
    if box.clusters:  # the owner's frame around its regions (no fill: edges show through)
        parts.append(f'<rect class="frame" x="{left:.1f}" y="{box.y:.1f}" '
                     f'width="{box.width:.1f}" height="{box.height:.1f}" rx="6" fill="none" '
                     f'stroke="{style.border}" stroke-width="{stroke:g}"/>')
    parts.append(f'<rect x="{left:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
                 f'height="{BOX_HEIGHT:.1f}" rx="6" fill="{style.fill}" stroke="{style.border}" '
                 f'stroke-width="{stroke:g}"{dash}/>')
    if style.double:
        parts.append(f'<rect x="{left + 3:.1f}" y="{box.y + 3:.1f}" '
                     f'width="{box.width - 6:.1f}" height="{BOX_HEIGHT - 6:.1f}" rx="4" '
                     f'fill="none" stroke="{style.border}"/>')
    parts.append(f'<text x="{box.x:.1f}" y="{box.y + 14:.1f}" class="label">'
                 f'{escape(d.label(node))}</text>'
                 f'<text x="{box.x:.1f}" y="{box.y + 27:.1f}" class="type">'
                 f'{escape(str(node.type))}</text>')
    if node in d.output_labels:
        parts.append(f'<text x="{box.x:.1f}" y="{box.y + box.height + 11:.1f}" '
                     f'class="out">{escape(d.output_labels[node])}</text>')
    parts.append("</g>")
    return "".join(parts)


SVG_STYLE = (
    ".edge{fill:none;stroke:#888;stroke-width:1}"
    "text{font-family:Helvetica,Arial,sans-serif;text-anchor:middle}"
    ".label{font-size:11px;fill:#111}.type{font-size:10px;fill:#555}"
    ".out{font-size:9px;fill:#2f855a;font-style:italic}"
    ".edge.param{stroke-dasharray:4,3}.cluster-title{cursor:pointer}"
)


def arrow_marker(id_prefix: str = "") -> str:
    return (f'<marker id="{id_prefix}arrow" viewBox="0 0 8 8" refX="7" refY="4" '
            f'markerWidth="7" markerHeight="7" orient="auto">'
            f'<path d="M0,0 L8,4 L0,8 z" fill="#888"/></marker>')


def legend_svg(x: float, y: float, regions: bool = False) -> str:
    parts = []
    for i, style in enumerate(legend_styles(regions)):
        dash = ' stroke-dasharray="4,3"' if style.dash else ""
        parts.append(f'<rect x="{x:.0f}" y="{y + i * 18:.0f}" width="14" height="12" rx="3" '
                     f'fill="{style.fill}" stroke="{style.border}"{dash}/>'
                     f'<text x="{x + 20:.0f}" y="{y + i * 18 + 10:.0f}" class="type" '
                     f'style="text-anchor:start">{style.legend}</text>')
    return "".join(parts)


def to_builtin_svg(d: Drawing) -> str:
    """A standalone SVG document drawn with the built-in layout."""
    root = arrange(d)
    legend_width = 150.0
    total = root.width + legend_width
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{total:.0f}" '
            f'height="{root.height:.0f}" viewBox="0 0 {total:.0f} {root.height:.0f}">'
            f"<style>{SVG_STYLE}</style><defs>{arrow_marker()}</defs>"
            f'<rect width="100%" height="100%" fill="white"/>'
            f"{svg_body(root)}{legend_svg(root.width + 10, MARGIN, bool(d.regions))}</svg>\n")
