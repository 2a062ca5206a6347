"""Rematerialization: recompute forward values in the backward pass instead of keeping them.

Reverse mode appends the gradient nodes to the forward graph, and every forward value a VJP rule
reads (a *residual*: ``tanh(a)`` for the derivative ``1 - tanh(a)**2``, a layer's input for its
weight gradient) stays alive from the forward pass until the backward pass reaches it. This pass
trades time for that memory: it drops chosen residuals and recomputes them late, from values it
keeps, with the mechanism of ``gd.checkpoint`` (``autodiff/checkpoint.py: clone_region``): the
recomputation is a copy of the forward nodes reading the kept values through effectful
``remat_input(value, after)`` nodes, so interning never merges it with the forward nodes, and
``after`` is a backward node, so the schedule cannot run the copy before the backward pass gets
there. The values are bit-for-bit the same (same ops on the same inputs).

Which values are forward: those the ``forward`` outputs depend on (default: the graph's first
output, the loss of a training step); every other node is backward. Two policies:

- ``"elementwise"``: a residual computed by a short chain of cheap ops (elementwise, views,
  fused groups) is recomputed from the chain's inputs when that keeps fewer bytes (GELU,
  LayerNorm and softmax leave several residuals per matrix product; one is enough).
- ``"sqrt"``: checkpointing as in Chen et al. 2016, *Training deep nets with sublinear memory
  cost*: the forward order is cut into k segments at points where few bytes cross, the values
  crossing a cut are kept, and each segment but the last is recomputed from them when the
  backward pass reaches it. Kept bytes grow with k and a segment's bytes shrink as 1/k; the
  estimated peak (kept + the largest segment) is smallest near k = sqrt(layers).

The budget bounds the *estimated* bytes of forward values held for the backward pass (sizes of
symbolic dims come from ``dims``, else count as ``residuals.DEFAULT_DIM``): ``budget_bytes``, or
``budget_ratio`` as a share of the estimate without rematerialization. The pass changes nothing
(``changed=False``) when that estimate is within the budget; with no budget it takes the
policy's best plan. Recompute late means more work: ``sqrt`` re-runs about one forward pass.

Loops and branches are kept, never recomputed, and the pass does not step into their regions:
a value inside a body lives for one iteration, so there is no forward/backward split to trade
there; what a loop keeps for its derivative are its stacked residuals, which ``gd.scan``'s
``checkpoint=`` already trades for recomputation, one segment at a time.

>>> import numpy as np, graphdiff as gd
>>> x = gd.placeholder((4, 8), "float64", name="x")
>>> W = gd.variable(np.full((8, 8), 0.1), name="W")
>>> h = x
>>> for _ in range(9):
...     h = gd.tanh(h @ W)
>>> loss = gd.sum(h * h)
>>> graph = gd.Graph([x], [loss, gd.grad(loss, W)])
>>> smaller, changed = rematerialize(graph, policy="sqrt")
>>> changed, graph.op_counts()["tanh"], smaller.op_counts()["tanh"] > 9
(True, 9, True)
>>> rematerialize(graph, budget_ratio=1.0)[1]  # the budget is not binding
False
>>> f = gd.function([x], [loss], passes=["dce", remat_pass(policy="elementwise")])
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ..autodiff.checkpoint import clone_region
from ..errors import GraphdiffError
from ..ir.graph import Graph
from ..ir.node import Node, same_nodes, with_inputs
from ..ops.custom import remat_input
from .residuals import ForwardSplit, cheap, outside_reads, recomputable, recompute_region

POLICIES = ("sqrt", "elementwise")
DEFAULT_POLICY = "sqrt"
MAX_CHAIN = 16  # the most cheap ops the elementwise policy recomputes for one residual
MAX_GATES = 8  # the most backward values one recomputation waits for


@dataclass
class Group:
    """Forward nodes recomputed together: ``members`` in topological order, of which
    ``provides`` are the residuals the backward pass reads; ``position`` is the forward
    position of the last of those."""

    members: list[Node]
    provides: list[Node]
    position: int


@dataclass
class RematPlan:
    """What the pass decided, with its estimates (bytes of forward values held for backward)."""

    policy: str
    before: int  # estimate without rematerialization
    after: int  # estimate with this plan
    groups: list[Group] = field(default_factory=list)
    segments: int = 1  # sqrt: the number of segments chosen

    @property
    def recomputed(self) -> int:
        """Forward nodes recomputed in the backward pass (with repeats across groups)."""
        return sum(len(g.members) for g in self.groups)

    def __str__(self) -> str:
        return (f"remat[{self.policy}]: {len(self.groups)} groups, {self.recomputed} nodes "
                f"recomputed, {self.segments} segments; estimated bytes held for backward "
                f"{self.before} -> {self.after}")


# --- policies: each returns the groups to recompute, and the plan's estimate -----------------

def _elementwise(split: ForwardSplit, budget: int | None) -> tuple[list[Group], int]:
    """Recompute cheap residuals from kept values, earliest first, while the budget asks."""
    kept = {r for r in split.residuals if not cheap(r)}
    recomputed: set[Node] = set()
    held = split.held(set(), set())
    groups = []
    for r in split.residuals:
        if not cheap(r):
            continue
        if budget is not None and held <= budget:
            break
        region = recompute_region(split, [r], lambda v, kept=kept: v in kept or not cheap(v))
        roots = {v for v in outside_reads(split, region) if v not in kept}
        saving = split.size[r] - sum(split.size[v] for v in roots)
        if len(region) > MAX_CHAIN or saving <= 0:
            kept.add(r)
            continue
        kept |= roots
        recomputed.add(r)
        held -= saving
        groups.append(Group(region, [r], split.position[r]))
    return groups, split.held(kept, recomputed)


def _crossing(split: ForwardSplit) -> list[tuple[int, int, Node]]:
    """(defining position, last forward use, value) of values read later in the forward."""
    spans = []
    for node in split.order:
        users = split.forward_users[node]
        if users:
            last = max(split.position[u] for u in users)
            if last > split.position[node]:
                spans.append((split.position[node], last, node))
    return spans


def _cut_bytes(split: ForwardSplit, spans: list[tuple[int, int, Node]]) -> list[int]:
    """Bytes of the values crossing each cut (a cut after position j: defined <= j < used)."""
    delta = [0] * (len(split.order) + 1)
    for start, last, node in spans:
        delta[start] += split.size[node]
        delta[last] -= split.size[node]
    total, result = 0, []
    for step in delta[:-1]:
        total += step
        result.append(total)
    return result


def _place_cuts(split: ForwardSplit, k: int, cumulative: list[int],
                cut_bytes: list[int]) -> list[int]:
    """k - 1 cut positions that split the residual bytes evenly, each moved within a window
    to where the fewest bytes cross."""
    n = len(split.order)
    total = cumulative[-1]
    window = max(1, n // (4 * k))
    cuts: list[int] = []
    for s in range(1, k):
        ideal = bisect.bisect_left(cumulative, total * s / k)
        low, high = max(ideal - window, cuts[-1] + 1 if cuts else 0), min(ideal + window, n - 2)
        if low > high:
            continue
        best = min(range(low, high + 1), key=lambda j: (cut_bytes[j], abs(j - ideal)))
        cuts.append(best)
    return cuts


def _segments(split: ForwardSplit, cuts: list[int], spans: list[tuple[int, int, Node]]
              ) -> tuple[set[Node], list[list[Node]]]:
    """The values kept at the cuts (crossing one, or effectful), and each segment's
    residuals that will be recomputed."""
    kept = {node for start, last, node in spans
            if bisect.bisect_left(cuts, start) < len(cuts)
            and cuts[bisect.bisect_left(cuts, start)] < last}
    kept |= {r for r in split.residuals if not recomputable(r)}
    per_segment: list[list[Node]] = [[] for _ in range(len(cuts) + 1)]
    for r in split.residuals:
        if r not in kept:
            per_segment[bisect.bisect_left(cuts, split.position[r])].append(r)
    return kept, per_segment


def _sqrt(split: ForwardSplit, budget: int | None) -> tuple[list[Group], int, int]:
    """Chen et al.'s segments: the fewest within the budget, else the smallest estimate."""
    if not split.residuals:
        return [], 0, 1
    spans = _crossing(split)
    cut_bytes = _cut_bytes(split, spans)
    residual = set(split.residuals)
    cumulative, running = [], 0
    for node in split.order:
        running += split.size[node] if node in residual else 0
        cumulative.append(running)
    layers = max(1, len(split.residuals))
    best: tuple[int, list[int]] | None = None
    for k in range(1, min(len(split.order), 2 * int(layers ** 0.5) + 3) + 1):
        cuts = _place_cuts(split, k, cumulative, cut_bytes)
        kept, per_segment = _segments(split, cuts, spans)
        largest = max(sum(split.size[r] for r in seg) for seg in per_segment)
        estimate = sum(split.size[v] for v in kept) + largest
        if best is None or estimate < best[0] or (budget is not None and estimate <= budget):
            best = (estimate, cuts)
        if budget is not None and estimate <= budget:
            break
    assert best is not None
    estimate, cuts = best
    kept, per_segment = _segments(split, cuts, spans)
    groups = []
    for segment in per_segment[:-1]:  # the last segment's backward runs right away
        if segment:
            low = split.position[segment[0]]
            start = next((c for c in reversed(cuts) if c < low), -1)
            region = recompute_region(split, segment,
                             lambda v, start=start: v in kept or split.position[v] <= start)
            groups.append(Group(region, segment, split.position[segment[-1]]))
    return groups, estimate, len(cuts) + 1


# --- applying a plan --------------------------------------------------------------------------

def _gate_finder(split: ForwardSplit) -> Callable[[int], tuple[Node, ...]]:
    """For a forward position p: the backward nodes a value recomputed (or read) for the
    backward part of positions <= p waits for; empty when nothing follows in the backward.

    They are the nodes of the lowest level above p that hand a value to a lower level (the
    cotangents entering that part of the backward pass). They read no residual at or before p,
    so waiting for them cannot form a cycle.
    """
    by_level: dict[float, list[Node]] = {}
    for node in split.backward:
        by_level.setdefault(split.level[node], []).append(node)
    finite = sorted(t for t in by_level if t != float("inf"))
    lower_user: set[Node] = set()
    for node in split.backward:
        for value in node.inputs:
            if value in split.level and split.level[node] < split.level[value]:
                lower_user.add(value)

    def gates(position: int) -> tuple[Node, ...]:
        above = bisect.bisect_right(finite, position)
        if above == len(finite):
            return ()
        level = by_level[finite[above]]
        return tuple(([n for n in level if n in lower_user] or level[-1:])[:MAX_GATES])

    return gates


def _apply(split: ForwardSplit, groups: list[Group], delay: bool) -> Graph:
    """Clone each group after its gates and rewire the backward nodes to the clones; with
    ``delay``, the backward pass also reads each kept residual through a ``remat_input`` after
    the same gates, so no schedule can run its part of the backward pass early (inside the
    forward pass, where it would hold derivative factors such as ``1 - tanh(a)**2`` alongside
    the forward values)."""
    gate_at = _gate_finder(split)
    gates: dict[Node, tuple[Node, ...]] = {}  # residual -> what its reads wait for
    source_of: dict[Node, int] = {}
    for index, group in enumerate(groups):
        waits = gate_at(group.position)
        for r in group.provides:
            if waits and r not in source_of:
                source_of[r], gates[r] = index, waits
    if delay:
        for r in split.residuals:
            if r not in source_of and gate_at(split.position[r]):
                gates[r] = gate_at(split.position[r])
    backward = set(split.backward)
    new: dict[Node, Node] = {}
    clones: dict[int, dict[Node, Node]] = {}
    leaves: dict[tuple[Node, ...], dict[Node, Node]] = {}
    afters: dict[tuple[Node, ...], Node] = {}

    def needs(node: Node) -> Iterator[Node]:
        for value in node.inputs:
            if value in backward:
                yield value
            elif value in gates:
                yield from gates[value]

    def after(waits: tuple[Node, ...]) -> tuple[Node, dict[Node, Node]]:
        """One node standing for all of ``waits`` (a chain of remat_input), and its leaves."""
        if waits not in afters:
            node = new[waits[0]]
            for other in waits[1:]:
                node = remat_input(node, new[other])
            afters[waits] = node
        return afters[waits], leaves.setdefault(waits, {})

    def read(value: Node) -> Node:
        if value in source_of:
            index = source_of[value]
            if index not in clones:
                members = groups[index].members
                clones[index] = clone_region(members, outside_reads(split, members, sources=True),
                                             *after(gates[value]))
            return clones[index][value]
        if value in gates:
            return clone_region([], [value], *after(gates[value]))[value]
        return new.get(value, value)

    for node in _dependency_order(split.graph.outputs, backward, needs):
        inputs = tuple(read(v) for v in node.inputs)
        new[node] = node if same_nodes(inputs, node.inputs) else with_inputs(node, inputs)
    return split.graph.with_outputs([new.get(o, o) for o in split.graph.outputs])


def _dependency_order(roots: Sequence[Node], backward: set[Node],
                      needs: Callable[[Node], Iterator[Node]]) -> list[Node]:
    """Backward nodes, each after its backward operands and the gates of the clones it reads
    (an iterative depth-first walk)."""
    order: list[Node] = []
    seen: set[Node] = set()
    for root in roots:
        if root not in backward or root in seen:
            continue
        seen.add(root)
        stack = [(root, needs(root))]
        while stack:
            node, pending = stack[-1]
            for child in pending:
                if child not in seen:
                    seen.add(child)
                    stack.append((child, needs(child)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


# --- public API -------------------------------------------------------------------------------

def plan(graph: Graph, budget_bytes: int | None = None, *, budget_ratio: float | None = None,
         policy: str = DEFAULT_POLICY, forward: Node | Sequence[Node] | None = None,
         dims: Mapping[str, int] | None = None) -> RematPlan:
    """What :func:`rematerialize` would recompute, with its byte estimates."""
    split = _split(graph, forward, dims)
    return _plan(split, budget_bytes, budget_ratio, policy)


def _split(graph: Graph, forward: Node | Sequence[Node] | None,
           dims: Mapping[str, int] | None) -> ForwardSplit:
    if forward is None:
        forward = graph.outputs[:1]
    elif isinstance(forward, Node):
        forward = [forward]
    return ForwardSplit(graph, list(forward), dims or {})


def _plan(split: ForwardSplit, budget_bytes: int | None, budget_ratio: float | None,
          policy: str) -> RematPlan:
    if policy not in POLICIES:
        raise GraphdiffError(f"remat: unknown policy {policy!r} (known: {', '.join(POLICIES)})")
    if budget_bytes is not None and budget_ratio is not None:
        raise GraphdiffError("remat: give budget_bytes or budget_ratio, not both")
    before = split.held(set(), set())
    budget = budget_bytes if budget_ratio is None else int(budget_ratio * before)
    if budget is not None and before <= budget:
        return RematPlan(policy, before, before)
    if policy == "elementwise":
        groups, after = _elementwise(split, budget)
        return RematPlan(policy, before, after, groups)
    groups, after, segments = _sqrt(split, budget)
    return RematPlan(policy, before, after, groups, segments)


def rematerialize(graph: Graph, budget_bytes: int | None = None, *,
                  budget_ratio: float | None = None, policy: str = DEFAULT_POLICY,
                  forward: Node | Sequence[Node] | None = None,
                  dims: Mapping[str, int] | None = None) -> tuple[Graph, bool]:
    """Recompute chosen forward values in the backward pass (see the module docstring).

    ``forward``: the values whose ancestors are the forward pass (default: the first output).
    ``dims``: sizes of symbolic dims for the byte estimates. Returns ``(graph, changed)``.
    """
    split = _split(graph, forward, dims)
    chosen = _plan(split, budget_bytes, budget_ratio, policy)
    if not chosen.groups:
        return graph, False
    result = _apply(split, chosen.groups, delay=True)
    return result, not same_nodes(result.outputs, graph.outputs)


@dataclass(frozen=True)
class RematPass:
    """The pass with its settings: ``gd.function(..., passes=[..., RematPass(...)])``."""

    budget_bytes: int | None = None
    budget_ratio: float | None = None
    policy: str = DEFAULT_POLICY
    dims: Mapping[str, int] | None = None

    __name__ = "remat"  # what pass traces print

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise GraphdiffError(f"remat: unknown policy {self.policy!r} "
                                 f"(known: {', '.join(POLICIES)})")

    def __call__(self, graph: Graph) -> tuple[Graph, bool]:
        return rematerialize(graph, self.budget_bytes, budget_ratio=self.budget_ratio,
                             policy=self.policy, dims=self.dims)

    def plan(self, graph: Graph) -> RematPlan:
        """What this pass would do to ``graph``."""
        return plan(graph, self.budget_bytes, budget_ratio=self.budget_ratio,
                    policy=self.policy, dims=self.dims)


def remat_pass(budget_bytes: int | None = None, *, budget_ratio: float | None = None,
               policy: str = DEFAULT_POLICY, dims: Mapping[str, int] | None = None
               ) -> RematPass:
    """A pass for ``gd.function(..., passes=[..., remat_pass(...)])`` with these settings."""
    return RematPass(budget_bytes, budget_ratio, policy, dims)


remat = RematPass()
"""The registered pass ``"remat"``: the default policy with no budget."""
