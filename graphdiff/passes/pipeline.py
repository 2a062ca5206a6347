"""The pass pipeline: an ordered tuple of passes, each ``Graph -> (Graph, changed)``.

``run_pipeline(graph, "default")`` is what ``gd.function`` does; ``"fused"`` adds the fusion
pass; ``"none"`` returns the graph unchanged; a list runs exactly those passes (by name or as
functions), in order. Order matters and is written down once, here:

0. ``inline_custom``: functions with custom derivatives (``gd.custom_jvp``, ``gd.custom_vjp``,
   ``gd.checkpoint``) become their primitives; their rules were applied when the graph was
   differentiated, and the passes below should see what runs.
1. ``constant_folding``: evaluate nodes whose operands are all constants (size-capped), so the
   rules below see literal values (``where(2.0 == 0, ...)`` from ``x ** 2`` becomes a choice).
2. ``simplify``: the algebraic rule table, applied to a fixed point in one walk. It folds
   constants too, since a rewrite can expose new constant subexpressions. It first merges
   each loop into a larger twin (``merge_loops``: the forward loop reverse mode runs again for
   its residuals), moves loop-invariant values out of loop bodies and inlines the branch a
   constant index chooses.
3. ``cse``: merges what interning misses: commutative ops with permuted operands (``b * a``
   becomes the ``a * b`` seen first), equal large constants, and loops or branches whose
   regions are equal up to such permutations.
4. ``dce``: keep only what the outputs depend on, and drop the carries, per-step outputs and
   operands of loops (and the outputs of branches) that nothing reads.
5. ``onehot`` (with ``passes="fused"``): a scatter of one update per row whose users are all
   elementwise (the picked logit's gradient in a cross-entropy) becomes an elementwise select,
   so the next pass puts it in the loop that reads it.
6. ``fuse`` (with ``passes="fused"``): convex groups of elementwise ops (with reductions and a
   matmul head) become one ``fused`` node with a generated, cache-blocked kernel
   (``docs/fusion.md``). Last, because the rewrites above see primitives only.

Every pass also runs inside the regions of loops and branches (``passes/regions.py``), nested
ones included.

``gd.optimize(graph, trace=True)`` prints one line per pass (node counts and time), so a user
can watch what each pass did:

>>> import graphdiff as gd
>>> x = gd.placeholder((3,), "float64", name="x")
>>> g = gd.Graph([x], [gd.grad(gd.sum(x ** 2), x)])
>>> records = []
>>> small = gd.optimize(g, trace=records)
>>> [r.name for r in records]
['inline_custom', 'constant_folding', 'simplify', 'cse', 'dce']
>>> len(g), len(small)
(13, 3)
>>> print(small)
graph(x: f64[3]) {
  %0: f64[] = constant 2.0
  %1: f64[3] = mul %0, x
  return %1
}
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import GraphdiffError, user_location
from ..ir.graph import Graph, region_walk
from ..ir.node import Node, collector_paused
from ..ops.source import graph_of
from .constant_folding import constant_folding
from .cse import cse
from .dce import dce
from .fusion import fuse
from .inline import inline_custom
from .loops import hoist
from .merge import merge_loops
from .onehot import onehot
from .remat import remat
from .simplify import simplify

Pass = Callable[[Graph], tuple[Graph, bool]]

PASSES: dict[str, Pass] = {
    "inline_custom": inline_custom,
    "constant_folding": constant_folding,
    "simplify": simplify,
    "cse": cse,
    "dce": dce,
    "onehot": onehot,
    "fuse": fuse,
    "remat": remat,
    # run by simplify (and cse), registered to run alone too
    "merge_loops": merge_loops,
    "hoist": hoist,
}

DEFAULT_PIPELINE: tuple[str, ...] = ("inline_custom", "constant_folding", "simplify", "cse",
                                     "dce")
# Fusion pays on arrays larger than the cache and loses a little below (docs/fusion.md), so it
# is opt-in: passes="fused" (the default pipeline, then fuse) or a list naming "fuse".
FUSED_PIPELINE: tuple[str, ...] = (*DEFAULT_PIPELINE, "onehot", "fuse")


@dataclass(frozen=True)
class PassRecord:
    """What one pass did: its name, the graph after it, the node counts and the time taken."""

    name: str
    graph: Graph
    changed: bool
    nodes_before: int
    nodes_after: int
    seconds: float

    def __str__(self) -> str:
        delta = self.nodes_after - self.nodes_before
        status = "changed" if self.changed else "unchanged"
        return (f"{self.name}: {self.nodes_before} -> {self.nodes_after} nodes ({delta:+d}, "
                f"{status}) in {self.seconds * 1e3:.1f} ms")


Trace = bool | str | list | None


def resolve(passes: Any) -> list[tuple[str, Pass]]:
    """Turn "default", "fused", "none" or a list of names/functions into (name, pass) pairs."""
    if isinstance(passes, str):
        presets = {"default": DEFAULT_PIPELINE, "fused": FUSED_PIPELINE, "none": ()}
        if passes not in presets:
            raise GraphdiffError(f"passes must be 'default', 'fused', 'none' or a list, got "
                                 f"{passes!r}")
        passes = presets[passes]
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


def run_pipeline(graph: Graph, passes: Any = "default", trace: Trace = None, *,
                 verify: bool = False) -> Graph:
    """Run the passes in order and return the final graph.

    ``trace``: None/False (quiet); a list (a :class:`PassRecord` is appended per pass); True
    (print one line per pass); "graphs" (print each line and the graph after the pass).
    ``verify``: run the verifier after every pass (the test suite does).
    """
    if trace not in (None, False, True, "graphs") and not isinstance(trace, list):
        raise GraphdiffError(f"trace must be a bool, 'graphs' or a list, got {trace!r}")
    if trace and not isinstance(trace, list):
        print(f"input: {graph_size(graph)} nodes", file=sys.stdout)
    with collector_paused():
        return _run(graph, resolve(passes), trace, verify)


def _run(graph: Graph, passes: list[tuple[str, Pass]], trace: Trace, verify: bool) -> Graph:
    for name, function in passes:
        start = time.perf_counter()
        new_graph, changed = function(graph)
        seconds = time.perf_counter() - start
        if verify:
            new_graph.verify()
        record = PassRecord(name, new_graph, changed, graph_size(graph), graph_size(new_graph),
                            seconds)
        if isinstance(trace, list):
            trace.append(record)
        elif trace:
            print(record, file=sys.stdout)
            if trace == "graphs":
                print(new_graph, file=sys.stdout)
        graph = new_graph
    return graph


def graph_size(graph: Graph) -> int:
    """Nodes of the graph, those of its regions included (what the trace lines count)."""
    if not any(node.regions for node in graph.nodes):
        return len(graph)
    return sum(1 for _ in region_walk(graph))


def optimize(graph: Graph | Node | Sequence[Node], passes: Any = "default", *,
             trace: Trace = None, verify: bool = False) -> Any:
    """Optimize a graph with the pipeline (the public name of :func:`run_pipeline`).

    Given a tensor or a list of tensors instead of a :class:`Graph`, optimize the graph from
    the placeholders they depend on and return the optimized tensor(s) in the same form.
    """
    if isinstance(graph, Graph):
        return run_pipeline(graph, passes, trace, verify=verify)
    single = isinstance(graph, Node)
    outputs = [graph] if single else list(graph) if isinstance(graph, list | tuple) else None
    if outputs is None or not all(isinstance(o, Node) for o in outputs):
        raise GraphdiffError(f"optimize takes a gd.Graph, a tensor or a list of tensors, got "
                             f"{type(graph).__name__} (at {user_location()})")
    optimized = run_pipeline(graph_of(outputs), passes, trace, verify=verify).outputs
    return optimized[0] if single else list(optimized)
