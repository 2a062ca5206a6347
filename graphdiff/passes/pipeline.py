"""The pass pipeline: an ordered tuple of passes, each ``Graph -> (Graph, changed)``.

``run_pipeline(graph, "default")`` is what ``gd.function`` does; ``"none"`` returns the graph
unchanged; a list runs exactly those passes (by name or as functions), in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import GraphdiffError
from ..ir.graph import Graph

Pass = Callable[[Graph], tuple[Graph, bool]]

PASSES: dict[str, Pass] = {}

DEFAULT_PIPELINE: tuple[str, ...] = ()


def resolve(passes: Any) -> list[tuple[str, Pass]]:
    """Turn "default", "none" or a list of names/functions into (name, pass) pairs."""
    if isinstance(passes, str):
        if passes == "default":
            passes = DEFAULT_PIPELINE
        elif passes == "none":
            passes = ()
        else:
            raise GraphdiffError(f"passes must be 'default', 'none' or a list, got {passes!r}")
    resolved = []
    for item in passes:
        if callable(item):
            resolved.append((getattr(item, "__name__", "pass"), item))
        elif item in PASSES:
            resolved.append((item, PASSES[item]))
        else:
            known = ", ".join(sorted(PASSES)) or "none registered"
            raise GraphdiffError(f"unknown pass {item!r} (known: {known})")
    return resolved


def run_pipeline(graph: Graph, passes: Any = "default",
                 trace: list[tuple[str, Graph]] | None = None) -> Graph:
    """Run the passes in order; with ``trace``, append (pass name, graph after it)."""
    for name, function in resolve(passes):
        graph, _changed = function(graph)
        if trace is not None:
            trace.append((name, graph))
    return graph

