"""Elementwise fusion: convex groups of elementwise ops become one ``fused`` node.

The node owns the group as its region: an ordinary graph over one parameter per group input (the
node's operands, in order) returning the values that leave the group; a group with several
outputs has several results, read through ``result`` nodes.

Groups grow from a root (an elementwise op, or a sum/max/min reduction of one) towards its
inputs, visiting candidates in decreasing topological position so that every user a candidate
could have inside the group has been decided before it. A candidate elementwise producer joins:

- when all of its users are in the group (the plain chain case);
- as an extra output, when its other users all come after the root in the schedule, so no
  path leaves the group and comes back (the group stays convex);
- as a private copy, when it is cheap (a unary op or an op with a scalar operand) and has
  users elsewhere: recomputing it costs less than materializing it.

A reduction over axes other than the first that keeps its rank (the statistics of LayerNorm and
softmax) joins like an elementwise op: each block of rows holds whole slices. A matmul whose only
users are in the group and whose result has the group's full shape joins as the group's head (the
matmul epilogue: bias, activation). Groups need two ops or more. Loop bodies and branches are
fused inside, by the same pass (``passes/regions.py``); a loop or branch node never joins a
group (it is not elementwise), no group reaches into or out of a region, and a fused node's own
region is never fused again.

``unfuse`` expands every fused node back into its primitives (for ONNX export and for checks).

>>> import graphdiff as gd
>>> x = gd.placeholder(("n", 4), "float64", name="x")
>>> graph, _ = fuse(gd.Graph([x], [gd.tanh(x * 2.0)]))
>>> print(graph)
graph(x: f64[n,4]) {
  %0: f64[] = constant 2.0
  %1: f64[n,4] = fused x, %0 {
    region 0 (%0.0: f64[n,4], %0.1: f64[]) {
      %0.2: f64[n,4] = mul %0.0, %0.1
      %0.3: f64[n,4] = tanh %0.2
      return %0.3
    }
  }
  return %1
}
"""

from __future__ import annotations

import heapq
import weakref

from ..ir.graph import Graph
from ..ir.node import Node, make_node, same_nodes, with_inputs
from ..ops import elementwise as E
from ..ops.core import expand_derived, result
from ..ops.fused import fused, is_renaming
from ..ops.linalg import matmul
from ..ops.source import PLACEHOLDER
from .regions import has_regions, region_pass, rewrite_regions

_WALK_LIMIT = 64  # nodes _no_way_back visits before it gives up (a loss tail takes ~6)
_CHEAP_UNARY = frozenset((E.neg, E.abs_, E.cast, E.square, E.relu, E.sign, E.stop_gradient))


def _is_member(node: Node) -> bool:
    return (node.op.elementwise and not node.op.effectful and not node.op.source) or \
        is_renaming(node)


def _is_row_reduction(node: Node, iteration_shape: tuple) -> bool:
    """A reduction that keeps its rank and every row (axis 0) of the group's iteration space:
    a block of rows holds whole reduced slices, so it can run inside the blocked loop."""
    if node.op.combine is None or not node.attrs["keepdims"]:
        return False
    value = node.inputs[0]
    return (0 not in node.attrs["axes"] and value.ndim == len(iteration_shape) > 0
            and value.shape[0] == iteration_shape[0] and iteration_shape[0] != 1)


def _is_cheap(node: Node) -> bool:
    if node.op in _CHEAP_UNARY:
        return True
    return node.op.elementwise and len(node.inputs) == 2 and \
        any(value.ndim == 0 for value in node.inputs)


class _Group:
    def __init__(self, root: Node) -> None:
        self.root = root
        self.members: set[Node] = {root}
        self.copies: set[Node] = set()  # cheap producers recomputed privately
        self.extra_outputs: list[Node] = []

    def size(self) -> int:
        return len(self.members) + len(self.copies)

    def outputs(self, index: dict[Node, int]) -> list[Node]:
        """The values leaving the group: the root first, then the extras in schedule order."""
        return [self.root] + sorted(self.extra_outputs, key=index.__getitem__)


def _no_way_back(readers: list[Node], group: _Group, index: dict[Node, int],
                 users: dict[Node, list[Node]], claimed: dict[Node, _Group]) -> bool:
    """Whether no path from ``readers`` (users outside the group) leads back into the group,
    so that a value they read may still leave it as an extra output (the group stays convex).
    Members come before the root, so the walk stops past it; a node of another group stands
    for that whole group (it runs as one node). Long walks count as a way back."""
    end = index[group.root]
    stack = [u for u in readers if index[u] < end]
    seen: set[Node] = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        if node in group.members or node in group.copies or len(seen) >= _WALK_LIMIT:
            return False
        seen.add(node)
        other = claimed.get(node)
        for member in (other.members | other.copies) if other is not None else (node,):
            stack.extend(u for u in users.get(member, ()) if index[u] <= end and u not in seen)
    return True


def _grow(root: Node, index: dict[Node, int], users: dict[Node, list[Node]],
          graph_outputs: set[Node], claimed: dict[Node, _Group],
          copy_readers: dict[Node, list[int]], relax: bool) -> _Group:
    """The group rooted at ``root``. ``copy_readers`` holds, for operands of private copies in
    earlier groups, the positions of those groups' roots: readers the graph does not show.
    ``relax``: a producer read outside the group before the root may join as an extra output
    when no path leads from those readers back into the group (``_no_way_back``)."""
    group = _Group(root)
    iteration_shape = root.inputs[0].shape if root.op.combine is not None else root.shape
    heap = [(-index[v], v.uid, v) for v in root.inputs]
    heapq.heapify(heap)
    seen: set[Node] = set()
    head_operands: set[Node] = set()
    while heap:
        _, _, node = heapq.heappop(heap)
        if node in seen or node in claimed or node in head_operands:
            continue
        seen.add(node)
        if not (_is_member(node) or _is_row_reduction(node, iteration_shape)
                or node.op is matmul):
            continue  # never joins: skip scanning its users (a shared constant has thousands)
        # users in a group that recomputes its own copy of this node do not read it
        readers = [u for u in users[node] if u not in group.members
                   and not (u in claimed and node in claimed[u].copies)]
        outside = [index[u] for u in readers] + copy_readers.get(node, [])
        used_outside = bool(outside) or node in graph_outputs
        after_root = all(position > index[root] for position in outside) or \
            (relax and _no_way_back(readers, group, index, users, claimed))
        if _is_member(node) or _is_row_reduction(node, iteration_shape):
            if not used_outside:
                group.members.add(node)
            elif after_root:
                group.members.add(node)
                group.extra_outputs.append(node)
            elif _is_cheap(node) and _is_member(node):
                group.copies.add(node)
                continue  # its operands become group inputs: do not grow through a copy
            else:
                continue
        elif node.op is matmul and not used_outside and node.shape == iteration_shape:
            # The head runs whole before the blocked loop, so its operands must come from
            # outside the group: they may never join it.
            group.members.add(node)
            head_operands.update(node.inputs)
            continue
        else:
            continue
        for value in node.inputs:
            heapq.heappush(heap, (-index[value], value.uid, value))
    return group


# (position, type) -> the parameter at that position of every group region of that type: the
# regions of equal groups (every layer of a deep MLP) are then built from the same nodes, which
# interning shares, instead of a copy of the group per region (half the cost of the pass).
_PARAMS: weakref.WeakValueDictionary[tuple, Node] = weakref.WeakValueDictionary()


def _param(position: int, value: Node) -> Node:
    """Parameter ``position`` of a group region, standing for ``value``."""
    key = (position, value.type)
    param = _PARAMS.get(key)
    if param is None:
        param = make_node(PLACEHOLDER, (), {"dtype": value.dtype, "shape": value.shape},
                          location=value.location)
        _PARAMS[key] = param
    return param


def _region(group: _Group, index: dict[Node, int]) -> tuple[Graph, list[Node]]:
    """The group as a region, and the values its parameters stand for (the fused node's
    operands, in order of first use)."""
    inside = group.members | group.copies
    ordered = sorted(inside, key=index.__getitem__)
    inputs: list[Node] = []
    mapped: dict[Node, Node] = {}
    for node in ordered:
        for value in node.inputs:
            if value not in mapped and value not in inside:
                mapped[value] = _param(len(inputs), value)
                inputs.append(value)
    params = [mapped[v] for v in inputs]
    for node in ordered:
        mapped[node] = with_inputs(node, tuple(mapped[v] for v in node.inputs))
    return Graph(params, [mapped[o] for o in group.outputs(index)]), inputs


def _groups(order: list[Node], index: dict[Node, int], users: dict[Node, list[Node]],
            graph_outputs: set[Node], relax: bool) -> dict[Node, _Group]:
    """The groups, grown from roots in reverse order: each member -> its group."""
    claimed: dict[Node, _Group] = {}
    copy_readers: dict[Node, list[int]] = {}
    for node in reversed(order):
        if node in claimed:
            continue
        root_ok = _is_member(node) or (node.op.combine is not None
                                        and _is_member(node.inputs[0]))
        if not root_ok:
            continue
        group = _grow(node, index, users, graph_outputs, claimed, copy_readers, relax)
        if group.size() >= 2:
            for member in group.members:
                claimed[member] = group
            for copy in group.copies:  # the copy's operands must stay available to this group
                for value in copy.inputs:
                    copy_readers.setdefault(value, []).append(index[node])
    return claimed


def _schedule(order: list[Node], index: dict[Node, int], claimed: dict[Node, _Group],
              inputs_of: dict[_Group, list[Node]]) -> list[Node | _Group] | None:
    """The nodes outside groups and the groups, in an order where each comes after what it
    reads (a group after all of its inputs, its readers after it), near the original one; None
    if the groups depend on each other in a cycle. An extra output may be read before its
    group's root in the original order, so the root's position is not enough."""
    def unit(node: Node) -> Node | _Group:
        return claimed.get(node, node)

    units: list[Node | _Group] = [n for n in order if n not in claimed or claimed[n].root is n]
    units = [unit(n) for n in units]
    position = {u: index[u.root if isinstance(u, _Group) else u] for u in units}
    waiting: dict[Node | _Group, int] = {}
    readers: dict[Node | _Group, list] = {u: [] for u in units}
    for u in units:
        reads = {unit(v) for v in (inputs_of[u] if isinstance(u, _Group) else u.inputs)}
        waiting[u] = len(reads)
        for r in reads:
            readers[r].append(u)
    ready = [(position[u], i, u) for i, u in enumerate(units) if waiting[u] == 0]
    heapq.heapify(ready)
    scheduled = []
    serial = {u: i for i, u in enumerate(units)}
    while ready:
        _, _, u = heapq.heappop(ready)
        scheduled.append(u)
        for r in readers[u]:
            waiting[r] -= 1
            if waiting[r] == 0:
                heapq.heappush(ready, (position[r], serial[r], r))
    return scheduled if len(scheduled) == len(units) else None


@region_pass
def fuse(graph: Graph) -> tuple[Graph, bool]:
    """Replace fusible groups by fused nodes (in the regions of loops and branches too: a
    group never spans a region's boundary)."""
    order = graph.nodes
    index = {node: i for i, node in enumerate(order)}
    users = graph.users()
    graph_outputs = set(graph.outputs)
    for relax in (True, False):  # the strict rule cannot make a cycle between groups
        claimed = _groups(order, index, users, graph_outputs, relax)
        groups = {g for g in claimed.values()}
        regions = {g: _region(g, index) for g in groups}
        schedule = _schedule(order, index, claimed, {g: r[1] for g, r in regions.items()})
        if schedule is not None:
            break
    if not groups and not has_regions(graph):
        return graph, False

    mapped: dict[Node, Node] = {}
    for unit in schedule:
        if isinstance(unit, _Group):
            region, inputs = regions[unit]
            new = fused(*(mapped[v] for v in inputs), regions=(region,))
            outs = unit.outputs(index)
            if len(outs) == 1:
                mapped[unit.root] = new
            else:  # several results, read through result nodes
                for i, out in enumerate(outs):
                    mapped[out] = result(new, index=i)
            continue
        mapped[unit] = _rebuild(unit, mapped)
    outputs = [mapped[o] for o in graph.outputs]
    if all(new is old for new, old in zip(outputs, graph.outputs)):
        return graph, False
    return graph.with_outputs(outputs), True


def _rebuild(node: Node, mapped: dict[Node, Node]) -> Node:
    inputs = tuple(mapped[v] for v in node.inputs)
    if node.regions and node.op is not fused:  # a group is not fused again inside
        return rewrite_regions(node, fuse, inputs)
    return node if same_nodes(inputs, node.inputs) else with_inputs(node, inputs)


def unfuse(graph: Graph) -> Graph:
    """Expand every fused node back into the primitives it stands for."""
    mapped = expand_derived(graph.outputs)
    return graph.with_outputs([mapped[o] for o in graph.outputs])
