"""The self-contained interactive HTML page: one panel per graph (several side by side for
``--stage``), a details pane filled by clicking a node, the text form with the clicked line
highlighted, and an optional memory view. Regions are clusters; clicking a cluster's title strip
folds it (and unfolds it again)."""

from __future__ import annotations

import json
from html import escape

from .drawing import Drawing
from .layout import SVG_STYLE, Cluster, arrange, arrow_marker, geometry, svg_body
from .memory import MemoryTimeline
from .page import CSS, SCRIPT
from .style import legend_styles


def _panel(index: int, title: str, root: Cluster) -> str:
    d = root.drawing
    counts: dict[str, int] = {}
    for kind in d.kinds.values():
        counts[kind] = counts.get(kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    return (f'<section class="panel" data-panel="{index}"><h2><span title="{escape(summary)}">'
            f"{escape(title)} &middot; {len(d.graph)} nodes</span><span>"
            '<button data-zoom="0.8" title="zoom in">+</button>'
            '<button data-zoom="1.25" title="zoom out">&minus;</button>'
            '<button data-zoom="reset" title="fit">fit</button></span></h2>'
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {root.width:.0f} '
            f'{root.height:.0f}" preserveAspectRatio="xMidYMin meet">'
            f'<defs>{arrow_marker(f"p{index}")}</defs>'
            f"{svg_body(root, f'p{index}')}</svg></section>")


def _text_form(index: int, title: str, d: Drawing) -> str:
    from ..ir.printer import format_node

    names = {name for level in d.walk() for name in level.names.values()}
    inputs = set(d.graph.inputs)
    header = ", ".join(f"{d.names[p]}: {p.type}" for p in d.graph.inputs)
    text = [f"graph({header}) {{"]
    blocks = [0]  # numbered across the graph, as print(graph) does
    for node in d.graph.nodes:
        if node not in inputs:
            text += ("  " + format_node(node, d.names, "  ", blocks)).split("\n")
    text += ["  return " + ", ".join(d.names[o] for o in d.graph.outputs), "}"]
    lines = []
    for line in text:  # each node's line, in regions too, is highlighted by its name
        body = line.lstrip()
        name = body.split(": ", 1)[0]
        lines.append(line[:len(line) - len(body)] + (
            f'<span data-name="{escape(name)}">{escape(body)}</span>' if name in names
            else escape(body)))
    return (f"<details><summary>text form: {escape(title)}</summary>"
            f'<pre class="text" data-panel="{index}">' + "\n".join(lines) + "</pre></details>")


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def memory_svg(timeline: MemoryTimeline, names: dict, width: float = 680,
               height: float = 190) -> str:
    """Bytes live per step as stacked bars (arena blue, heap grey), against the planned arena
    (green) and the arena's lower bound (red, dashed). Clicking a bar selects its node."""
    steps = len(timeline.steps)
    top = max([*timeline.live, timeline.arena or 0, 1])
    left, bottom = 60.0, 22.0
    plot_w, plot_h = width - left - 10, height - bottom - 10
    bar = plot_w / max(steps, 1)

    def y(value: float) -> float:
        return 10 + plot_h * (1 - value / top)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="memory" width="{width:.0f}" '
             f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">'
             f"<style>{SVG_STYLE}</style>"]
    for i, node in enumerate(timeline.steps):
        arena, heap = timeline.arena_live[i], timeline.heap_live[i]
        label = f"step {i}: {names.get(node, '?')} = {node.op.name}; live: arena " \
                f"{_bytes(arena)}, heap {_bytes(heap)}"
        x = left + i * bar
        w = max(bar - 0.5, 0.5)
        parts.append(f'<g class="bar" data-step="{i}" data-name="{escape(names.get(node, ""))}">'
                     f"<title>{escape(label)}</title>"
                     f'<rect x="{x:.2f}" y="{y(arena):.2f}" width="{w:.2f}" '
                     f'height="{10 + plot_h - y(arena):.2f}" fill="#4a90d9"/>'
                     f'<rect x="{x:.2f}" y="{y(arena + heap):.2f}" width="{w:.2f}" '
                     f'height="{y(arena) - y(arena + heap):.2f}" fill="#b8b8b8"/></g>')
    lines = [("arena lower bound", timeline.lower_bound, "#c53030")]
    if timeline.arena is not None:
        lines.insert(0, ("planned arena", timeline.arena, "#2f855a"))
    for row, (label, value, colour) in enumerate(lines):
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value):.2f}" '
                     f'y2="{y(value):.2f}" stroke="{colour}" stroke-dasharray="5,3"/>'
                     f'<text x="{left + plot_w - 4 if row == 0 else left + 4}" '
                     f'y="{y(value) - 3:.2f}" class="type" '
                     f'style="text-anchor:{"end" if row == 0 else "start"};fill:{colour}">'
                     f'{label}: '
                     f"{_bytes(value)}</text>")
    parts.append(f'<text x="{left - 4}" y="14" class="type" style="text-anchor:end">'
                 f"{_bytes(top)}</text><text x=\"{left - 4}\" y=\"{10 + plot_h}\" "
                 f'class="type" style="text-anchor:end">0</text>'
                 f'<text x="{left + plot_w / 2}" y="{height - 4}" class="type">schedule step '
                 f"0..{max(steps - 1, 0)} (blue: arena buffers live, grey: heap); resident "
                 f"feeds, variables and constants: {_bytes(timeline.resident)}</text></svg>")
    return "".join(parts)


def placement_svg(timeline: MemoryTimeline, names: dict, width: float = 680,
                  height: float = 190) -> str:
    """The arena as the planner laid it out: one rectangle per buffer, spanning the steps it is
    live (x) at its offset (y); free gaps show as white."""
    steps = max(len(timeline.steps), 1)
    top = max(timeline.arena or 0, 1)
    left, bottom = 60.0, 22.0
    plot_w, plot_h = width - left - 10, height - bottom - 10
    step_w = plot_w / steps
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="placement" width="{width:.0f}" '
             f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">'
             f"<style>{SVG_STYLE}</style>"
             f'<rect x="{left}" y="10" width="{plot_w:.1f}" height="{plot_h:.1f}" fill="white" '
             f'stroke="#2f855a" stroke-dasharray="5,3"/>']
    palette = ("#4a90d9", "#63b3ed", "#3182ce", "#90cdf4", "#2c5282")
    for i, p in enumerate(sorted(timeline.placements, key=lambda p: (p.start, p.offset))):
        name = names.get(p.owner, "?")
        label = f"{name} = {p.owner.op.name}: {_bytes(p.nbytes)} at offset {p.offset}, " \
                f"live steps {p.start}..{p.end}"
        y = 10 + plot_h * (1 - (p.offset + p.nbytes) / top)
        parts.append(f'<g class="buffer bar" data-name="{escape(name)}">'
                     f"<title>{escape(label)}</title>"
                     f'<rect x="{left + p.start * step_w:.2f}" y="{y:.2f}" '
                     f'width="{max((p.end - p.start + 1) * step_w - 0.5, 0.5):.2f}" '
                     f'height="{max(plot_h * p.nbytes / top, 0.5):.2f}" '
                     f'fill="{palette[i % len(palette)]}" stroke="white" stroke-width="0.3"/></g>')
    parts.append(f'<text x="{left - 4}" y="14" class="type" style="text-anchor:end">'
                 f"{_bytes(top)}</text><text x=\"{left - 4}\" y=\"{10 + plot_h}\" "
                 f'class="type" style="text-anchor:end">offset 0</text>'
                 f'<text x="{left + plot_w / 2}" y="{height - 4}" class="type">arena placement: '
                 f"each buffer over the steps it is live, at its offset</text></svg>")
    return "".join(parts)


def to_html(panels: list[tuple[str, Drawing]], title: str,
            memory: MemoryTimeline | None = None) -> str:
    """The page for one or more drawings (side by side), with an optional memory view."""
    roots = [arrange(d) for _, d in panels]
    data = {"panels": [{"title": t, "geometry": geometry(root),
                        "nodes": [level.details(n) for level in d.walk() for n in level.nodes]}
                       for (t, d), root in zip(panels, roots, strict=True)]}
    legend = "".join(f'<span><i style="background:{s.fill};border-color:{s.border};'
                     f'{"border-style:dashed;" if s.dash else ""}'
                     f'{"border-style:double;border-width:3px;" if s.double else ""}"></i>'
                     f"{escape(s.legend)}</span>"
                     for s in legend_styles(any(d.regions for _, d in panels)))
    memory_html = ""
    if memory is not None:
        names = panels[-1][1].names
        memory_html = (f'<section id="memory"><b>Memory:</b> bytes live at each step of the '
                       f"schedule (peak {_bytes(memory.peak)} at step {memory.peak_step})"
                       f'<div class="charts">{memory_svg(memory, names)}'
                       f"{placement_svg(memory, names) if memory.placements else ''}</div>"
                       f"</section>")
    texts = "".join(_text_form(i, t, d) for i, (t, d) in enumerate(panels))
    body = "".join(_panel(i, t, root) for i, ((t, _), root) in enumerate(zip(panels, roots)))
    # "</" inside the JSON would end the script element early
    payload = json.dumps(data).replace("</", "<\\/")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{CSS}{SVG_STYLE}</style></head><body>"
            f"<header><h1>{escape(title)}</h1><div class=\"legend\">{legend}</div>"
            f"<small>drag to pan, wheel to zoom, click a node (a region's title folds it)"
            f"</small></header>"
            f'<main><div id="panels">{body}</div><aside><div id="details">'
            f"<h3>Click a node</h3><p>Its op, type and the line of your code that created it "
            f"show here.</p></div>{texts}</aside></main>{memory_html}"
            f'<script type="application/json" id="graph-data">{payload}</script>'
            f"<script>{SCRIPT}</script></body></html>\n")

