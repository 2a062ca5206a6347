"""Drawings of graphs: Graphviz DOT, SVG and a self-contained interactive HTML page.

Anything holding a graph can be drawn: a :class:`~graphdiff.Graph`, a compiled function (its
optimized graph), the result of ``gd.import_onnx`` or an ``.onnx`` path. Boxes carry the text
form's names, so ``print(graph)`` and the picture match line for box; forward, gradient,
optimizer-update, constant and fused nodes are drawn distinctly (see
:mod:`graphdiff.viz.classify`).

>>> import numpy as np, graphdiff as gd
>>> from graphdiff import viz
>>> x = gd.placeholder(("batch", 3), "float32", name="x")
>>> W = gd.variable(np.ones((3, 2), np.float32), name="W")
>>> loss = gd.sum(gd.tanh(x @ W))
>>> text = viz.to_dot(gd.Graph([x], [loss]), locations=False)
>>> 'label="%0 = matmul' in text, '"W" -> "%0";' in text
(True, True)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..ir.graph import Graph
from ..ir.node import Node
from . import dot as _dot
from . import html as _html
from .classify import KINDS, classify
from .drawing import Drawing, drawing, from_graph
from .layout import to_builtin_svg
from .memory import MemoryTimeline, memory_timeline


def to_dot(source: Any, *, gradients: Sequence[Node] | None = None,
           locations: bool = True) -> str:
    """Graphviz DOT text; ``locations`` puts each node's creating file:line in its tooltip."""
    return _dot.to_dot(drawing(source, gradients=gradients), locations=locations)


def to_svg(source: Any, *, gradients: Sequence[Node] | None = None,
           engine: str = "auto") -> str:
    """SVG text: laid out by Graphviz's ``dot`` when installed (``engine="auto"`` or
    ``"dot"``), else by the built-in layered layout (``engine="builtin"``)."""
    if engine not in ("auto", "dot", "builtin"):
        from ..errors import GraphdiffError

        raise GraphdiffError(f"engine must be 'auto', 'dot' or 'builtin', got {engine!r}")
    d = drawing(source, gradients=gradients)
    if engine == "dot" or (engine == "auto" and _dot.dot_available()):
        return _dot.run_dot(_dot.to_dot(d), "svg")
    return to_builtin_svg(d)


def stages(source: Any, passes: Any = "default") -> list[tuple[str, Drawing]]:
    """The graph before the passes and after each one, as (stage name, drawing) pairs.

    For a compiled function the passes rerun on its unoptimized graph (so the last stage is
    ``f.graph``); for a graph they run on it as given.
    """
    from ..passes import run_pipeline
    from ..runtime.function import Function

    if isinstance(source, Function):
        graph = source.reference_graph
        n_out = len(source.outputs)
        targets = list(source.updates)

        def draw(g: Graph, name: str) -> Drawing:
            return from_graph(g, name, g.outputs[:n_out], None, targets)
    else:
        graph = drawing(source).graph

        def draw(g: Graph, name: str) -> Drawing:
            return drawing(g, title=name)
    trace: list[Any] = []
    run_pipeline(graph, passes, trace=trace)
    # a trace record holds the pass name and the graph after it
    return [("input", draw(graph, "input"))] + [(r.name, draw(r.graph, r.name)) for r in trace]


def to_html(source: Any, *, gradients: Sequence[Node] | None = None, title: str | None = None,
            stage: bool = False, passes: Any = "default",
            memory_inputs: Sequence[Any] | None = None) -> str:
    """A self-contained interactive page (pan, zoom, click a node for its details).

    ``stage=True`` shows the graph after each pass side by side. ``memory_inputs`` (arrays or
    shapes for a compiled function's inputs) adds the memory view: bytes live per step.
    """
    if stage:
        panels = stages(source, passes)
    else:
        d = drawing(source, gradients=gradients)
        panels = [(d.title, d)]
    memory = memory_timeline(source, memory_inputs) if memory_inputs is not None else None
    return _html.to_html(panels, title or panels[-1][1].title, memory)


def save(source: Any, path: str | os.PathLike, **options: Any) -> str:
    """Write a drawing, its format chosen by the extension (.dot, .svg, .html); returns path."""
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    writers = {".dot": to_dot, ".gv": to_dot, ".svg": to_svg, ".html": to_html}
    if extension not in writers:
        from ..errors import GraphdiffError

        raise GraphdiffError(f"cannot tell the format of {path!r}: use .dot, .svg or .html")
    text = writers[extension](source, **options)
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(text)
    return path


__all__ = ["KINDS", "Drawing", "MemoryTimeline", "classify", "drawing", "memory_timeline",
           "save", "stages", "to_dot", "to_html", "to_svg"]
