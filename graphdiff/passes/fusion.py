"""Elementwise fusion: convex groups of elementwise ops become one ``fused`` node.

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
group (it is not elementwise), and no group reaches into or out of a region.

``unfuse`` expands every fused node back into its primitives (for ONNX export and for checks).
"""

from __future__ import annotations

import heapq

from ..ir.graph import Graph
from ..ir.node import OPS, Node, with_inputs
from ..ops.core import expand_derived
from ..ops.fused import FusedBody, Instr, canonical_body, fused, fused_multi, fused_output
from .regions import has_regions, region_pass, rewrite_regions

_REDUCTION_ROOTS = {"sum", "max", "min"}
_CHEAP_UNARY = {"neg", "abs", "cast", "square", "relu", "sign", "stop_gradient"}


def _is_member(node: Node) -> bool:
    if OPS.get(node.op.name) is not node.op:  # bodies name their ops: registered ones only
        return False
    return (node.op.elementwise and not node.op.effectful and not node.op.source) or \
        _is_renaming(node)


def _is_renaming(node: Node) -> bool:
    """A reshape that only renames symbolic dims (same rank, same known sizes): the same array
    at run time, so a group passes straight through it."""
    if node.op.name != "reshape":
        return False
    before, after = node.inputs[0].shape, node.shape
    return len(before) == len(after) and all(
        a == b or not (isinstance(a, int) and isinstance(b, int)) for a, b in zip(before, after))


def _is_row_reduction(node: Node, iteration_shape: tuple) -> bool:
    """A reduction that keeps its rank and every row (axis 0) of the group's iteration space:
    a block of rows holds whole reduced slices, so it can run inside the blocked loop."""
    if node.op.name not in _REDUCTION_ROOTS or not node.attrs["keepdims"]:
        return False
    value = node.inputs[0]
    return (0 not in node.attrs["axes"] and value.ndim == len(iteration_shape) > 0
            and value.shape[0] == iteration_shape[0] and iteration_shape[0] != 1)


def _is_cheap(node: Node) -> bool:
    if node.op.name in _CHEAP_UNARY:
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


def _grow(root: Node, index: dict[Node, int], users: dict[Node, list[Node]],
          graph_outputs: set[Node], claimed: dict[Node, _Group],
          copy_readers: dict[Node, list[int]]) -> _Group:
    """The group rooted at ``root``. ``copy_readers`` holds, for operands of private copies in
    earlier groups, the positions of those groups' roots: readers the graph does not show."""
    group = _Group(root)
    iteration_shape = root.inputs[0].shape if root.op.name in _REDUCTION_ROOTS else root.shape
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
                or node.op.name == "matmul"):
            continue  # never joins: skip scanning its users (a shared constant has thousands)
        # users in a group that recomputes its own copy of this node do not read it
        outside = [index[u] for u in users[node] if u not in group.members
                   and not (u in claimed and node in claimed[u].copies)]
        outside += copy_readers.get(node, [])
        used_outside = bool(outside) or node in graph_outputs
        after_root = all(position > index[root] for position in outside)
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
        elif node.op.name == "matmul" and not used_outside and node.shape == iteration_shape:
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


def _body(group: _Group, index: dict[Node, int]) -> tuple[FusedBody, list[Node]]:
    inside = group.members | group.copies
    ordered = sorted(inside, key=index.__getitem__)
    inputs: list[Node] = []
    position: dict[Node, int] = {}
    for node in ordered:
        for value in node.inputs:
            if value not in position and value not in inside:
                position[value] = len(inputs)
                inputs.append(value)
    instrs = []
    for node in ordered:
        instrs.append(Instr(node.op.name, tuple(position[v] for v in node.inputs),
                            tuple(sorted(node.attrs.items())), node.type))
        position[node] = len(inputs) + len(instrs) - 1
    body = canonical_body(FusedBody(tuple(v.type for v in inputs), tuple(instrs),
                                    tuple(position[o] for o in group.outputs(index))))
    return body, inputs


@region_pass
def fuse(graph: Graph) -> tuple[Graph, bool]:
    """Replace fusible groups by fused nodes (in the regions of loops and branches too: a
    group never spans a region's boundary)."""
    order = graph.nodes
    index = {node: i for i, node in enumerate(order)}
    users = graph.users()
    graph_outputs = set(graph.outputs)
    claimed: dict[Node, _Group] = {}
    copy_readers: dict[Node, list[int]] = {}
    groups: list[_Group] = []
    for node in reversed(order):
        if node in claimed:
            continue
        root_ok = _is_member(node) or (node.op.name in _REDUCTION_ROOTS
                                        and _is_member(node.inputs[0]))
        if not root_ok:
            continue
        group = _grow(node, index, users, graph_outputs, claimed, copy_readers)
        if group.size() >= 2:
            groups.append(group)
            for member in group.members:
                claimed[member] = group
            for copy in group.copies:  # the copy's operands must stay available to this group
                for value in copy.inputs:
                    copy_readers.setdefault(value, []).append(index[node])
    if not groups and not has_regions(graph):
        return graph, False

    mapped: dict[Node, Node] = {}
    for node in order:
        group = claimed.get(node)
        if group is not None and node is not group.root:
            continue  # built with its group's root; extra outputs are mapped there
        if group is not None:
            body, inputs = _body(group, index)
            outs = group.outputs(index)
            op = fused if len(outs) == 1 else fused_multi
            new = op(*(mapped[v] for v in inputs), body=body)
            if len(outs) == 1:
                mapped[node] = new
            else:
                for i, out in enumerate(outs):
                    mapped[out] = fused_output(new, index=i, dtype=out.dtype, shape=out.shape)
            continue
        mapped[node] = _rebuild(node, mapped)
    outputs = [mapped[o] for o in graph.outputs]
    if all(new is old for new, old in zip(outputs, graph.outputs)):
        return graph, False
    return graph.with_outputs(outputs), True


def _rebuild(node: Node, mapped: dict[Node, Node]) -> Node:
    inputs = tuple(mapped[v] for v in node.inputs)
    if node.regions:
        return rewrite_regions(node, fuse, inputs)
    return node if inputs == node.inputs else with_inputs(node, inputs)


def unfuse(graph: Graph) -> Graph:
    """Expand every fused node back into the primitives it stands for."""
    mapped = expand_derived(graph.outputs)
    return graph.with_outputs([mapped[o] for o in graph.outputs])
