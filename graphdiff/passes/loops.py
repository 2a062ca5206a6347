"""Rewrites of the nodes that own regions: loop-invariant code motion, choosing a constant
branch, dropping unused results and operands, and merging a loop into a larger twin.

Layouts (``graphdiff/ops/control.py``):

- ``scan(*consts, *carry, *xs)``: body parameters consts, carry, slices of xs (several for a
  scan over one stack); body outputs carry then ys; results the same as the outputs.
- ``while_loop(*cond_consts, *body_consts, *carry)``: the condition's parameters are its consts
  and the carry, the body's its consts and the carry; the body returns the carry, then (with
  ``stack``) the values pushed per iteration; results the carry, then the stack.
- ``switch(index, *operands)``: every branch takes all operands and returns the results.

Each function here looks at one node (and its regions); the passes run them in their walks:
``simplify`` hoists and chooses branches, ``dce`` prunes, ``merge.py`` merges twins (for
``simplify``, ``cse`` and ``merge_loops``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..ir.graph import Graph, topo_order
from ..ir.node import Node, same_nodes
from ..ir.region import inline, substitute
from ..ops import control
from ..ops.source import CONSTANT, parameter_like
from .patterns import uniform_value
from .regions import (
    is_tensor,
    params_used,
    region_pass,
    remake,
    rewrite_regions,
    symbols,
)
from .rewrite import rewrite_graph

LOOPS = (control.scan, control.while_loop)
IndexMap = dict[int, "int | Node"]
Pass = Callable[[Graph], tuple[Graph, bool]]


# --- loop-invariant code motion ---------------------------------------------------------------

def hoist_invariants(node: Node) -> Node | None:
    """``node`` (a scan or while_loop) with the values of its regions that depend on no
    per-iteration parameter computed once, outside, and passed in as extra constants; None
    when there are none. Constants and views of constants stay inside (rules see them there),
    effectful values too (a random draw per iteration), and branches are never hoisted from
    (that would compute a branch's values whichever branch runs)."""
    if node.op is control.scan:
        n = node.attrs["n_consts"]
        moved = _hoist(node.regions[0], n, node.inputs[:n])
        if moved is None:
            return None
        (region, outer) = moved
        return remake(node, (*node.inputs[:n], *outer, *node.inputs[n:]), (region,),
                      n_consts=n + len(outer))
    if node.op is control.while_loop:
        nc, nb = node.attrs["n_cond"], node.attrs["n_body"]
        cond, body = node.regions
        moved_cond = _hoist(cond, nc, node.inputs[:nc])
        moved_body = _hoist(body, nb, node.inputs[nc:nc + nb])
        if moved_cond is None and moved_body is None:
            return None
        cond, extra_cond = moved_cond or (cond, [])
        body, extra_body = moved_body or (body, [])
        inputs = (*node.inputs[:nc], *extra_cond, *node.inputs[nc:nc + nb], *extra_body,
                  *node.inputs[nc + nb:])
        return remake(node, inputs, (cond, body), n_cond=nc + len(extra_cond),
                      n_body=nb + len(extra_body))
    return None


def _hoist(region: Graph, n_invariant: int, operands: Sequence[Node]
           ) -> tuple[Graph, list[Node]] | None:
    """The region with its maximal invariant values as new parameters after the first
    ``n_invariant`` (the loop's constants, fed by ``operands``), and those values computed
    outside; None when nothing is invariant."""
    params = region.inputs
    invariant_params = params[:n_invariant]
    per_step = set(params[n_invariant:])
    varies: dict[Node, bool] = {}
    free: set[Node] = set()  # constants, and views of constants: rules read them, they stay
    for node in region.nodes:
        if node in per_step or node.op.effectful:  # a random draw differs per iteration
            varies[node] = True
        elif node.op.source or not node.inputs:
            varies[node] = False
            if node.op is CONSTANT or not node.op.source:  # a constant, a fill
                free.add(node)
        else:
            varies[node] = any(varies[v] for v in node.inputs)
            if node.op.view and all(v in free for v in node.inputs):
                free.add(node)
    boundary: list[Node] = []
    chosen: set[Node] = set()

    def consider(value: Node) -> None:
        if not varies[value] and value not in chosen and value not in free \
                and not value.op.source and is_tensor(value):
            chosen.add(value)
            boundary.append(value)

    for node in region.nodes:
        if varies.get(node) and node not in per_step:
            for value in node.inputs:
                consider(value)
    for value in region.outputs:
        consider(value)
    if not boundary:
        return None
    position = {node: i for i, node in enumerate(region.nodes)}
    boundary.sort(key=position.__getitem__)
    outer = substitute(boundary, dict(zip(invariant_params, operands)))
    if not _resolvable(outer, operands):
        return None
    new_params = [parameter_like(b) for b in boundary]
    outputs = substitute(region.outputs, dict(zip(boundary, new_params)))
    return Graph([*invariant_params, *new_params, *params[n_invariant:]], outputs), outer


def _resolvable(values: Sequence[Node], operands: Sequence[Node]) -> bool:
    """True if the run time can resolve every symbolic shape attribute of the hoisted nodes
    (from the loop's operands or the node's own operands: a symbol a region parameter names
    but its operand does not would be unknown outside)."""
    known = set().union(*(symbols(v) for v in operands))
    for node in topo_order(values, set(operands)):
        for name in node.op.shape_attrs:
            bound = known.union(*(symbols(v) for v in node.inputs))
            if any(isinstance(d, str) and d not in bound for d in node.attrs[name]):
                return False
    return True


# --- choosing a branch, loops that do not run ---------------------------------------------------

def known_control(n: Node, inlined: dict[Node, list[Node]]) -> Node | None:
    """A rule for ``result`` nodes: result k of a ``switch`` whose index is a constant is
    output k of the branch it chooses, inlined (once per switch: ``inlined`` caches it, so an
    effectful value of the branch stays one value); result k of a ``while_loop`` whose
    condition is constantly false, or of a scan of length 0, is carry k's initial value."""
    (whole,) = n.inputs
    k = n.attrs["index"]
    op = whole.op
    if op is control.switch:
        index = uniform_value(whole.inputs[0])
        if index is None:
            return None
        if whole not in inlined:
            last = len(whole.regions) - 1
            chosen = whole.regions[min(max(int(index), 0), last)]
            inlined[whole] = inline(chosen, whole.inputs[1:])
        value = inlined[whole][k]
    elif op is control.while_loop:
        n_carry = len(whole.inputs) - whole.attrs["n_cond"] - whole.attrs["n_body"]
        test = whole.regions[0].outputs[0]
        if k >= n_carry or test.op is not CONSTANT or bool(np.asarray(test.data)):
            return None
        value = whole.inputs[whole.attrs["n_cond"] + whole.attrs["n_body"] + k]
    elif op is control.scan:
        if k >= whole.attrs["n_carry"] or tuple(whole.attrs["length"]) != (0,):
            return None
        value = whole.inputs[whole.attrs["n_consts"] + k]
    else:
        return None
    return value if value.type == n.type else None


# --- unused results and operands ------------------------------------------------------------------

def prune(node: Node, used: set[int] | None, dce_fn: Pass) -> tuple[Node, IndexMap | None]:
    """``node`` without what nothing reads, and where each old result went: a new index, or
    the value it equals (a carry passed through: its initial value); None when the results
    did not move. ``used``: the result indices read (None: all). ``dce_fn`` is the
    dead-code pass, run on every pruned region (so loops nested in it lose their unused parts
    too). Dropped: a scan's or while_loop's carry whose result is unread and which nothing but
    its own new value reads in the body (and, for a while_loop, not the condition), a carry the
    body passes through unchanged (a constant: its result is the initial value), a scan's ys
    output nothing reads (or that repeats another one), a while_loop's stack nothing reads, a
    switch's unread outputs; constants, scanned inputs and switch operands no region reads, and
    repeated ones."""
    op = node.op
    if op is control.scan:
        return _prune_scan(node, used, dce_fn)
    if op is control.while_loop:
        return _prune_while(node, used, dce_fn)
    if op is control.switch:
        return _prune_switch(node, used, dce_fn)
    return rewrite_regions(node, dce_fn), None  # an op this module does not know: bodies only


def _live(params: Sequence[Node], outputs: Sequence[Node], live: set[int],
          carry_param: dict[int, Node], dce_fn: Pass, extra: Sequence[Node] = ()
          ) -> tuple[set[int], Graph]:
    """The output indices that must stay (``live`` and every carry whose parameter they read,
    to a fixed point), and the region computing them with its dead code removed."""
    while True:
        region, _ = dce_fn(Graph(params, [*(outputs[k] for k in sorted(live)), *extra]))
        used = params_used(region)
        grown = live | {k for k, p in carry_param.items() if p in used}
        if grown == live:
            return live, region
        live = grown


def _dedupe(operands: Sequence[Node], params: Sequence[Node], keep: list[int],
            candidates: range) -> tuple[list[int], dict[Node, Node]]:
    """``keep`` without the positions in ``candidates`` whose operand and parameter type repeat
    an earlier kept one, and the parameter substitution that merges them."""
    first: dict[tuple, int] = {}
    merged: dict[Node, Node] = {}
    result_keep = []
    for i in keep:
        if i in candidates:
            key = (operands[i], params[i].type)
            if key in first:
                merged[params[i]] = params[first[key]]
                continue
            first[key] = i
        result_keep.append(i)
    return result_keep, merged


def _merged(region: Graph, params: Sequence[Node], merged: dict[Node, Node]) -> Graph:
    if not merged:
        return Graph(params, region.outputs)
    return Graph(params, substitute(region.outputs, merged))


def _prune_scan(node: Node, used: set[int] | None, dce_fn: Pass) -> tuple[Node, IndexMap | None]:
    n_consts, n_carry = node.attrs["n_consts"], node.attrs["n_carry"]
    (body,) = node.regions
    params, outputs, inputs = body.inputs, body.outputs, node.inputs
    n_out = len(outputs)
    over_stack = len(inputs) == n_consts + n_carry + 1 and not is_tensor(inputs[-1])
    if used is None:
        used = set(range(n_out))
    through = {k for k in range(n_carry) if outputs[k] is params[n_consts + k]}
    carry_param = {k: params[n_consts + k] for k in range(n_carry) if k not in through}
    live, region = _live(params, outputs, set(used) - through, carry_param, dce_fn)
    kept_out = sorted(live)
    # a ys output the body returns twice is stacked once
    value_of = dict(zip(kept_out, region.outputs))
    first_y: dict[Node, int] = {}
    repeated: dict[int, int] = {}
    for k in kept_out:
        if k >= n_carry:
            repeated_of = first_y.setdefault(value_of[k], k)
            if repeated_of != k:
                repeated[k] = repeated_of
    if repeated:
        kept_out = [k for k in kept_out if k not in repeated]
        region = Graph(region.inputs, [value_of[k] for k in kept_out])
    reads = params_used(region)
    n_params = len(params)
    consts = [i for i in range(n_consts) if params[i] in reads]
    consts += [n_consts + k for k in sorted(through) if params[n_consts + k] in reads]
    carries = [n_consts + k for k in kept_out if k < n_carry]
    first_x = n_consts + n_carry
    xs = list(range(first_x, n_params)) if over_stack else \
        [i for i in range(first_x, n_params) if params[i] in reads]
    if not xs and n_params > first_x and not isinstance(node.attrs["length"][0], int):
        xs = [first_x]  # the scanned input may be what binds a symbolic length: one stays
    # params and operands line up one to one except over a stack (several params, one operand)
    operand_of = list(range(n_params)) if not over_stack else \
        list(range(first_x)) + [first_x] * (n_params - first_x)
    operands = [inputs[operand_of[i]] for i in range(n_params)]
    consts, merged_c = _dedupe(operands, params, consts, range(n_params))
    if not over_stack:
        xs, merged_x = _dedupe(operands, params, xs, range(first_x, n_params))
        merged_c.update(merged_x)
    order = consts + carries + xs
    index_map: IndexMap = {k: j for j, k in enumerate(kept_out)}
    for k, first in repeated.items():
        index_map[k] = index_map[first]
    for k in through:
        index_map[k] = inputs[n_consts + k]  # the initial value
    if order == list(range(n_params)) and kept_out == list(range(n_out)) and not merged_c:
        new = node if same_nodes(region.outputs, body.outputs) else remake(node, inputs, (region,))
        return new, None
    new_inputs = [operands[i] for i in order]
    if over_stack:
        new_inputs = new_inputs[:len(consts) + len(carries)] + [inputs[-1]]
    new_region = _merged(region, [params[i] for i in order], merged_c)
    new = remake(node, new_inputs, (new_region,), n_consts=len(consts), n_carry=len(carries))
    return new, index_map


def _prune_while(node: Node, used: set[int] | None, dce_fn: Pass) -> tuple[Node, IndexMap | None]:
    nc, nb = node.attrs["n_cond"], node.attrs["n_body"]
    cond, body = node.regions
    inputs = node.inputs
    n_carry = len(inputs) - nc - nb
    stacked = bool(node.attrs["stack"])
    if used is None:
        used = set(range(n_carry + stacked))
    outputs = body.outputs
    through = {k for k in range(n_carry) if outputs[k] is body.inputs[nb + k]}
    cond, _ = dce_fn(cond)
    cond_reads = params_used(cond)
    carry_param = {k: body.inputs[nb + k] for k in range(n_carry) if k not in through}
    live = {k for k in used if k < n_carry} | \
        {k for k in carry_param if cond.inputs[nc + k] in cond_reads}
    keep_stack = stacked and n_carry in used
    extra = outputs[n_carry:] if keep_stack else ()
    live, region = _live(body.inputs, outputs, live - through, carry_param, dce_fn, extra)
    kept = sorted(live)
    body_reads = params_used(region)
    # a carry passed through becomes a constant of the condition and of the body
    cond_consts = [i for i in range(nc) if cond.inputs[i] in cond_reads]
    cond_through = [k for k in sorted(through) if cond.inputs[nc + k] in cond_reads]
    body_consts = [i for i in range(nb) if body.inputs[i] in body_reads]
    body_through = [k for k in sorted(through) if body.inputs[nb + k] in body_reads]
    carry_ops = [inputs[nc + nb + k] for k in range(n_carry)]
    index_map = {k: j for j, k in enumerate(kept)}
    if keep_stack:
        index_map[n_carry] = len(kept)
    for k in through:
        index_map[k] = carry_ops[k]
    unchanged = len(cond_consts) == nc and len(body_consts) == nb and not through \
        and kept == list(range(n_carry)) and keep_stack == stacked
    c_ops = [inputs[i] for i in cond_consts] + [carry_ops[k] for k in cond_through]
    c_params = [cond.inputs[i] for i in cond_consts] + [cond.inputs[nc + k] for k in cond_through]
    b_ops = [inputs[nc + i] for i in body_consts] + [carry_ops[k] for k in body_through]
    b_params = [body.inputs[i] for i in body_consts] + [body.inputs[nb + k] for k in body_through]
    keep_c, merged_c = _dedupe(c_ops, c_params, list(range(len(c_ops))), range(len(c_ops)))
    keep_b, merged_b = _dedupe(b_ops, b_params, list(range(len(b_ops))), range(len(b_ops)))
    if unchanged and not merged_c and not merged_b:
        if same_nodes(cond.outputs, node.regions[0].outputs) \
                and same_nodes(region.outputs, body.outputs):
            return node, None
        return remake(node, inputs, (Graph(node.regions[0].inputs, cond.outputs),
                                     Graph(body.inputs, region.outputs))), None
    new_cond = _merged(cond, [c_params[i] for i in keep_c] +
                       [cond.inputs[nc + k] for k in kept], merged_c)
    new_body = _merged(region, [b_params[i] for i in keep_b] +
                       [body.inputs[nb + k] for k in kept], merged_b)
    new_inputs = [c_ops[i] for i in keep_c] + [b_ops[i] for i in keep_b] + \
        [carry_ops[k] for k in kept]
    new = remake(node, new_inputs, (new_cond, new_body), n_cond=len(keep_c),
                 n_body=len(keep_b), stack=keep_stack if isinstance(node.attrs["stack"], bool)
                 else int(keep_stack))
    return new, index_map


def _prune_switch(node: Node, used: set[int] | None, dce_fn: Pass) -> tuple[Node, IndexMap | None]:
    n_out = len(node.type.types)
    if used is None:
        used = set(range(n_out))
    kept_out = sorted(used)
    branches = [dce_fn(Graph(b.inputs, [b.outputs[k] for k in kept_out]))[0]
                for b in node.regions]
    reads = [params_used(b) for b in branches]
    operands = node.inputs[1:]
    keep = [i for i in range(len(operands)) if any(b.inputs[i] in r
                                                    for b, r in zip(branches, reads))]
    # repeated operands: merged when every branch's parameters have the same types
    first: dict[Node, int] = {}
    merged = [dict() for _ in branches]
    deduped = []
    for i in keep:
        j = first.get(operands[i])
        if j is not None and all(b.inputs[i].type == b.inputs[j].type for b in branches):
            for m, b in zip(merged, branches):
                m[b.inputs[i]] = b.inputs[j]
            continue
        first.setdefault(operands[i], i)
        deduped.append(i)
    if deduped == list(range(len(operands))) and kept_out == list(range(n_out)):
        if all(same_nodes(b.outputs, old.outputs) for b, old in zip(branches, node.regions)):
            return node, None
        return remake(node, node.inputs, [Graph(old.inputs, b.outputs)
                                          for b, old in zip(branches, node.regions)]), None
    new_branches = [_merged(b, [b.inputs[i] for i in deduped], m)
                    for b, m in zip(branches, merged)]
    new = remake(node, [node.inputs[0], *(operands[i] for i in deduped)], new_branches)
    return new, {k: j for j, k in enumerate(kept_out)}


# --- merging a loop into a larger twin ---------------------------------------------------------

def twins(nodes: Sequence[Node]) -> dict[Node, Node]:
    """Loops to merge: each maps to a loop over the same operands with the same attributes (a
    while_loop may also have a stack the other lacks) whose region computes everything the
    first one's does and more (its outputs extend the other's: for a scan, carries then ys;
    for a while_loop, the carries, with the same condition). The reverse-mode rule of a loop
    creates exactly this, a copy of the primal loop that also returns its residuals."""
    groups: dict[tuple, list[Node]] = {}
    for node in nodes:
        if node.op in LOOPS:
            attrs = tuple(sorted((k, v) for k, v in node.attrs.items() if k != "stack"))
            groups.setdefault((node.op.name, node.inputs, attrs), []).append(node)
    into: dict[Node, Node] = {}
    for group in groups.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda n: -len(n.type.types))
        targets: list[Node] = []
        for node in group:
            for big in targets:
                if _extends(big, node):
                    into[node] = big
                    break
            else:
                targets.append(node)
    return into


def _extends(big: Node, small: Node) -> bool:
    """True if ``big``'s results begin with ``small``'s (same operands and attributes given)."""
    if big.op is control.scan:
        return _prefix(big.regions[0], small.regions[0], len(small.regions[0].outputs))
    if small.attrs["stack"] or not big.attrs["stack"]:
        return False
    n_carry = len(small.type.types)
    return _same(big.regions[0], small.regions[0]) and \
        _prefix(big.regions[1], small.regions[1], n_carry)


def _same(a: Graph, b: Graph) -> bool:
    return a is b or a.structure() == b.structure()


def _prefix(big: Graph, small: Graph, count: int) -> bool:
    if len(big.outputs) <= count or len(small.outputs) != count:
        return False
    if same_nodes(big.inputs, small.inputs) and same_nodes(big.outputs[:count], small.outputs):
        return True
    return Graph(big.inputs, big.outputs[:count]).structure() == small.structure()



@region_pass
def hoist(graph: Graph) -> tuple[Graph, bool]:
    """Loop-invariant code motion alone (``simplify`` does it too, with its rules): every
    loop's invariant values, in regions too, computed once outside."""
    return rewrite_graph(graph, hoist_invariants, regions=hoist)
