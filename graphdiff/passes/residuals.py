"""What rematerialization reasons about: the forward/backward split of a training graph, its
residuals (forward values that backward nodes read) with their estimated sizes, and which forward
nodes are cheap and allowed to recompute. The policies in ``remat.py`` choose from this."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..ir.dims import evaluate_dim
from ..ir.graph import Graph, topo_order
from ..ir.node import Node
from ..ir.types import TensorType
from ..ops.core import result
from ..ops.fused import fused
from ..ops.reduce import prod
from ..ops.source import CONSTANT

DEFAULT_DIM = 64  # the size assumed for a symbolic dim that ``dims`` does not give


class _AnyDim(dict):
    """Sizes of symbolic dims: the given ones, ``DEFAULT_DIM`` for every other symbol."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> int:
        return DEFAULT_DIM


class ForwardSplit:
    """The forward/backward split of a graph, forward positions, residuals and sizes."""

    def __init__(self, graph: Graph, forward: Sequence[Node], dims: Mapping[str, int]) -> None:
        env = _AnyDim(dims)
        forward_set = set(topo_order(forward))
        self.graph = graph
        self.free = constant_derived(graph.nodes)
        self.order = [n for n in graph.nodes
                      if n in forward_set and not n.op.source and n not in self.free]
        self.position = {n: i for i, n in enumerate(self.order)}
        self.backward = [n for n in graph.nodes if n not in forward_set]
        self.size = {n: nbytes(n, env) for n in self.order}
        returned = set(graph.outputs)
        self.forward_users: dict[Node, list[Node]] = {n: [] for n in self.order}
        used_by_backward: set[Node] = set()
        for node in self.order:
            for value in node.inputs:
                if value in self.position:
                    self.forward_users[value].append(node)
        for node in self.backward:
            used_by_backward.update(v for v in node.inputs if v in self.position)
        # residuals, in forward order; outputs are held anyway
        self.residuals = [n for n in self.order if n in used_by_backward and n not in returned]
        self.level = self._levels()

    def _levels(self) -> dict[Node, float]:
        """For each backward node: the smallest forward position of a residual it reads,
        directly or through backward nodes (inf: none). Backward nodes of level t run after
        every recomputation of residuals before t, and never need one at or after t."""
        level: dict[Node, float] = {}
        for node in self.backward:
            best = float("inf")
            for value in node.inputs:
                if value in self.position:
                    best = min(best, self.position[value])
                elif value in level:
                    best = min(best, level[value])
            level[node] = best
        return level

    def held(self, kept: set[Node], recomputed: set[Node]) -> int:
        """Bytes of the residuals still held plus the values kept for recomputing others."""
        residual = sum(self.size[r] for r in self.residuals if r not in recomputed)
        return residual + sum(self.size[v] for v in kept - set(self.residuals))


def constant_derived(nodes: Sequence[Node]) -> set[Node]:
    """Constants and pure values computed from constants only (the runtime folds those)."""
    free: set[Node] = set()
    for node in nodes:
        if node.op is CONSTANT or (
                not node.op.source and not node.op.effectful and node.inputs
                and not node.regions and all(v in free for v in node.inputs)):
            free.add(node)
    return free


def nbytes(node: Node, env: Mapping[str, int]) -> int:
    if type(node.type) is not TensorType:
        return 0  # several results (counted at their result nodes) or a stack (its length
        #           is known only at run time)
    size = node.dtype.itemsize
    for dim in node.shape:
        value = evaluate_dim(dim, env)
        size *= DEFAULT_DIM if value is None else value
    return size


def cheap(node: Node) -> bool:
    """Cheap to recompute: elementwise, a view, or a fused group of such ops (and row
    reductions; a group with a matrix product at its head is not cheap)."""
    op = node.op
    if op.effectful:
        return False
    if op.elementwise or op.view:
        return True
    group = node.inputs[0] if op is result and node.inputs else node
    if group.op is not fused:
        return False
    (region,) = group.regions
    params = set(region.inputs)
    # reductions are cheap inside a fused group: the ones a group holds (``combine``), and prod
    return all(n.op.elementwise or n.op.view or n.op.combine is not None or n.op is prod
               for n in region.nodes if n not in params)


def recomputable(node: Node) -> bool:
    """Pure computed tensors and fused groups; loops and branches, and the results read from
    them, are kept (recomputing a loop in the backward pass would re-run every step)."""
    if node.op.effectful or node.op.source:
        return False
    if node.op is fused:
        return True
    return not node.regions and type(node.type) is TensorType and not (
        node.op is result and node.inputs[0].regions and node.inputs[0].op is not fused)


def recompute_region(split: ForwardSplit, targets: Sequence[Node],
                     stop: Callable[[Node], bool]) -> list[Node]:
    """The forward nodes needed to recompute ``targets`` from the nodes where ``stop`` holds
    (and sources, constant-derived and effectful values), in forward order."""
    seen: set[Node] = set()
    stack = list(targets)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(v for v in node.inputs if v in split.position and recomputable(v)
                     and not stop(v))
    return sorted(seen, key=split.position.__getitem__)


def outside_reads(split: ForwardSplit, region: Sequence[Node], *,
                  sources: bool = False) -> set[Node]:
    """Computed forward values ``region`` reads from outside itself; with ``sources``, also
    placeholders and variables (constants and values derived from them only are shared)."""
    members = set(region)
    return {v for n in region for v in n.inputs if v not in members and (
        v in split.position or (sources and v.op.source and v not in split.free))}
