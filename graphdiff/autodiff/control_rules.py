"""Derivative rules of the control-flow ops: each builds new regions from the old ones.

- ``switch``: the JVP runs a branch that computes the primal and its tangents; the VJP runs a
  branch that recomputes the chosen branch and pulls the cotangents back through it.
- ``scan``: the JVP is one scan over the body's JVP (carry tangents found by a fixed point, as
  symbolic zeros never enter a loop). The VJP splits the body's VJP into what depends on the
  per-step values (saved: the forward scan returns those *residuals* as extra per-step outputs)
  and the rest (recomputed); the backward pass is a scan in the other direction over the
  residuals, the scanned inputs and the output cotangents, carrying the carry cotangents and
  the sums of the constants' cotangents.
- ``while_loop``: the JVP is a while loop over the body's JVP. The VJP runs the loop again
  pushing the residuals onto a stack (one element per iteration: the trip count is known only at
  run time), then a scan over that stack, popping in reverse, as TensorFlow 1 does.

The ops declare these rules (``graphdiff/ops/control.py``), importing this module when a rule
runs: differentiating a region needs the derivative drivers, which live in this layer.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir.graph import Graph, topo_order
from ..ir.node import Node
from ..ir.region import substitute
from ..ir.types import TensorType, is_float
from ..ops import control as C
from ..ops import elementwise as E
from ..ops.core import results
from ..ops.source import parameter_like, zeros_like
from .forward import push_tangents
from .reverse import vjp

Tangents = Sequence[Node | None]


def _is_float(node: Node) -> bool:
    return is_float(node.dtype)


# --- forward mode -------------------------------------------------------------------------------

def _region_jvp(region: Graph, seeded: dict[int, Node]) -> dict[int, Node]:
    """Tangents of the region's outputs (by position, nonzero ones only) given tangent nodes of
    some of its parameters (by position)."""
    seeds = {region.inputs[i]: t for i, t in seeded.items()}
    pushed = push_tangents(region.outputs, seeds, leaves=region.inputs)
    out = {}
    for k, o in enumerate(region.outputs):
        tangent = pushed.get(o)
        if tangent is not None and _is_float(o):
            out[k] = tangent
    return out


def _carry_fixed_point(region: Graph, fixed: dict[int, Node], first_carry: int, n_carry: int,
                       nonzero: set[int]) -> tuple[set[int], dict[int, Node], dict[int, Node]]:
    """Which carries have a nonzero tangent: those given one, and those the body makes nonzero
    from the others, until nothing changes. Returns them, the tangent parameters, and the
    body's output tangents."""
    while True:
        params = {first_carry + k: parameter_like(region.inputs[first_carry + k])
                  for k in sorted(nonzero)}
        out = _region_jvp(region, {**fixed, **params})
        grown = nonzero | {k for k in out if k < n_carry and
                           _is_float(region.outputs[k])}
        if grown == nonzero:
            return nonzero, params, out
        nonzero = grown


def _zeros_for(out: dict[int, Node], k: int, like: Node) -> Node:
    return out[k] if k in out else zeros_like(like)


def scan_jvp(node: Node, tangents: Tangents) -> list[Node | None]:
    n_consts, n_carry = node.attrs["n_consts"], node.attrs["n_carry"]
    (body,) = node.regions
    n_xs = len(node.inputs) - n_consts - n_carry
    consts, carry, xs = _split(node.inputs, n_consts, n_carry)
    t_consts, t_carry, t_xs = _split(list(tangents), n_consts, n_carry)
    fixed: dict[int, Node] = {}
    for base, group in ((0, t_consts), (n_consts + n_carry, t_xs)):
        for i, t in enumerate(group):
            if t is not None:
                fixed[base + i] = parameter_like(body.inputs[base + i])
    start = {k for k, t in enumerate(t_carry) if t is not None}
    nonzero, carry_params, out = _carry_fixed_point(body, fixed, n_consts, n_carry, start)
    carried = sorted(nonzero)
    ys_out = sorted(k for k in out if k >= n_carry)
    p_consts, p_carry, p_xs = _split(body.inputs, n_consts, n_carry)
    tc = [fixed[i] for i in range(n_consts) if i in fixed]
    tx = [fixed[n_consts + n_carry + i] for i in range(n_xs) if n_consts + n_carry + i in fixed]
    th = [carry_params[n_consts + k] for k in carried]
    new_body = Graph(
        [*p_consts, *tc, *p_carry, *th, *p_xs, *tx],
        [*body.outputs[:n_carry], *(_zeros_for(out, k, body.outputs[k]) for k in carried),
         *body.outputs[n_carry:], *(out[k] for k in ys_out)])
    operands = [*consts, *(t for t in t_consts if t is not None), *carry,
                *(t_carry[k] if t_carry[k] is not None else zeros_like(carry[k])
                  for k in carried),
                *xs, *(t for t in t_xs if t is not None)]
    new = C.scan(*operands, regions=(new_body,), n_consts=n_consts + len(tc),
                 n_carry=n_carry + len(carried), length=node.attrs["length"],
                 reverse=node.attrs["reverse"], remat=node.attrs["remat"])
    values = results(new)
    width = n_carry + len(carried)
    tangents_out: list[Node | None] = [None] * len(node.type.types)
    for j, k in enumerate(carried):
        tangents_out[k] = values[n_carry + j]
    for j, k in enumerate(ys_out):
        tangents_out[k] = values[width + (len(body.outputs) - n_carry) + j]
    return tangents_out


def while_jvp(node: Node, tangents: Tangents) -> list[Node | None]:
    n_cond, n_body = node.attrs["n_cond"], node.attrs["n_body"]
    test, body = node.regions
    cond_consts = node.inputs[:n_cond]
    body_consts = node.inputs[n_cond:n_cond + n_body]
    carry = node.inputs[n_cond + n_body:]
    t_body = tangents[n_cond:n_cond + n_body]
    t_carry = tangents[n_cond + n_body:]
    n_carry = len(carry)
    fixed = {i: parameter_like(body.inputs[i]) for i, t in enumerate(t_body) if t is not None}
    start = {k for k, t in enumerate(t_carry) if t is not None}
    nonzero, carry_params, out = _carry_fixed_point(body, fixed, n_body, n_carry, start)
    carried = sorted(nonzero)
    th = [carry_params[n_body + k] for k in carried]
    tb = [fixed[i] for i in sorted(fixed)]
    new_body = Graph([*body.inputs[:n_body], *tb, *body.inputs[n_body:], *th],
                     [*body.outputs, *(_zeros_for(out, k, body.outputs[k]) for k in carried)])
    new_test = Graph([*test.inputs, *(parameter_like(t) for t in th)], test.outputs)
    operands = [*cond_consts, *body_consts, *(t for t in t_body if t is not None), *carry,
                *(t_carry[k] if t_carry[k] is not None else zeros_like(carry[k])
                  for k in carried)]
    new = C.while_loop(*operands, regions=(new_test, new_body), n_cond=n_cond,
                       n_body=n_body + len(tb), stack=False, max_steps=node.attrs["max_steps"])
    values = results(new)
    tangents_out: list[Node | None] = [None] * len(node.type.types)
    for j, k in enumerate(carried):
        tangents_out[k] = values[n_carry + j]
    return tangents_out


def switch_jvp(node: Node, tangents: Tangents) -> list[Node | None]:
    operands = node.inputs[1:]
    seeded = {i: t for i, t in enumerate(tangents[1:]) if t is not None}
    branch_params = [{i: parameter_like(b.inputs[i]) for i in seeded} for b in node.regions]
    outs = [_region_jvp(b, p) for b, p in zip(node.regions, branch_params)]
    nonzero = sorted(set().union(*outs))
    branches = []
    for b, p, out in zip(node.regions, branch_params, outs):
        params = [*b.inputs, *(p[i] for i in sorted(seeded))]
        branches.append(Graph(params, [*b.outputs, *(_zeros_for(out, k, b.outputs[k])
                                                      for k in nonzero)]))
    new = C.switch(node.inputs[0], *operands, *(seeded[i] for i in sorted(seeded)),
                   regions=tuple(branches))
    values = results(new)
    n_out = len(node.type.types)
    tangents_out: list[Node | None] = [None] * n_out
    for j, k in enumerate(nonzero):
        tangents_out[k] = values[n_out + j]
    return tangents_out


# --- reverse mode -------------------------------------------------------------------------------

def switch_vjp(node: Node, g: list[Node | None]) -> list[Node | None]:
    operands = node.inputs[1:]
    wrt = [i for i, v in enumerate(operands) if _is_float(v)]
    given = [k for k, c in enumerate(g) if c is not None]
    branches = []
    for b in node.regions:
        cts = [parameter_like(b.outputs[k]) for k in given]
        grads = vjp([b.outputs[k] for k in given], [b.inputs[i] for i in wrt], cts,
                    unconnected="zero", leaves=b.inputs) if wrt else []
        branches.append(Graph([*b.inputs, *cts], grads))
    new = C.switch(node.inputs[0], *operands, *(g[k] for k in given), regions=tuple(branches))
    values = results(new)
    cotangents: list[Node | None] = [None] * len(node.inputs)
    for j, i in enumerate(wrt):
        cotangents[1 + i] = values[j]
    return cotangents


class _SplitVjp:
    """The VJP of one loop step, split into saved residuals and a backward step.

    ``body`` maps (consts, carry, per-step inputs) to (carry, per-step outputs). Values that
    depend on the carry or the per-step inputs and that the backward step reads are residuals;
    values that depend on constants alone are recomputed inside the backward step. With
    ``remat`` only the carry is saved, and the backward step recomputes the rest from it.
    """

    def __init__(self, body: Graph, n_consts: int, n_carry: int, given_ys: Sequence[int],
                 remat: bool = False) -> None:
        p_consts, p_carry, p_xs = _split(body.inputs, n_consts, n_carry)
        self.float_consts = [i for i, p in enumerate(p_consts) if _is_float(p)]
        self.float_carry = [k for k, p in enumerate(p_carry) if _is_float(p)]
        self.float_xs = [i for i, p in enumerate(p_xs) if _is_float(p)]
        self.given_ys = list(given_ys)
        self.ct_carry = [parameter_like(p_carry[k]) for k in self.float_carry]
        self.ct_ys = [parameter_like(body.outputs[n_carry + k]) for k in self.given_ys]
        outputs = [body.outputs[k] for k in self.float_carry] + \
            [body.outputs[n_carry + k] for k in self.given_ys]
        wrt = [p_consts[i] for i in self.float_consts] + \
            [p_carry[k] for k in self.float_carry] + [p_xs[i] for i in self.float_xs]
        grads = vjp(outputs, wrt, self.ct_carry + self.ct_ys, unconnected="zero",
                    leaves=body.inputs) if wrt and outputs else \
            [zeros_like(w) for w in wrt]
        nc, nh = len(self.float_consts), len(self.float_carry)
        self.d_consts, self.d_carry, self.d_xs = grads[:nc], grads[nc:nc + nh], grads[nc + nh:]

        # per-step values: the carry and the inputs, and what depends on them
        varying = set(p_carry) | set(p_xs)
        for n in () if remat else body.nodes:
            if n not in varying and any(v in varying for v in n.inputs):
                varying.add(n)
        read = topo_order(grads, varying | set(body.inputs))
        read_set = set(read)
        self.x_params = [p for p in p_xs if p in read_set]  # fed from the scanned inputs
        scanned = set(p_xs)
        self.saved = [n for n in read if n in varying and n not in scanned]
        self.saved_params = [parameter_like(n) if not n.op.source else n for n in self.saved]
        mapping = {n: p for n, p in zip(self.saved, self.saved_params) if n is not p}
        self.d_consts, self.d_carry, self.d_xs = (
            substitute(part, mapping) if mapping else part
            for part in (self.d_consts, self.d_carry, self.d_xs))
        self.p_consts = p_consts

    def backward_body(self) -> Graph:
        """(consts; carry cotangents, sums of const cotangents; residuals, inputs, output
        cotangents) -> (carry cotangents, sums, input cotangents)."""
        sums = [parameter_like(self.p_consts[i]) for i in self.float_consts]
        new_sums = [E.add(s, d) for s, d in zip(sums, self.d_consts)]
        return Graph([*self.p_consts, *self.ct_carry, *sums, *self.saved_params,
                      *self.x_params, *self.ct_ys],
                     [*self.d_carry, *new_sums, *self.d_xs])


def scan_vjp(node: Node, g: list[Node | None]) -> list[Node | None]:
    n_consts, n_carry = node.attrs["n_consts"], node.attrs["n_carry"]
    (body,) = node.regions
    consts, carry, xs = _split(node.inputs, n_consts, n_carry)
    g_carry, g_ys = g[:n_carry], g[n_carry:]
    given = [k for k, c in enumerate(g_ys) if c is not None]
    split = _SplitVjp(body, n_consts, n_carry, given, node.attrs["remat"])
    # the forward scan again, returning the residuals as extra per-step outputs (the loop
    # merge pass runs it once, together with the primal scan)
    forward = C.scan(*node.inputs, regions=(Graph(body.inputs, [*body.outputs, *split.saved]),),
                     **node.attrs)
    stacks = results(forward)[len(body.outputs):]
    p_xs = body.inputs[n_consts + n_carry:]
    position = {p: i for i, p in enumerate(p_xs)}
    fed = [xs[position[p]] for p in split.x_params]
    init = [g_carry[k] if g_carry[k] is not None else zeros_like(carry[k])
            for k in split.float_carry] + [zeros_like(consts[i]) for i in split.float_consts]
    backward = C.scan(*consts, *init, *stacks, *fed, *(g_ys[k] for k in given),
                      regions=(split.backward_body(),), n_consts=n_consts,
                      n_carry=len(init), length=node.attrs["length"],
                      reverse=not node.attrs["reverse"], remat=False)
    values = results(backward)
    return _scatter_cotangents(len(node.inputs), n_consts, split, values,
                               first_xs=n_consts + n_carry)


def while_vjp(node: Node, g: list[Node | None]) -> list[Node | None]:
    n_cond, n_body = node.attrs["n_cond"], node.attrs["n_body"]
    test, body = node.regions
    body_consts = node.inputs[n_cond:n_cond + n_body]
    carry = node.inputs[n_cond + n_body:]
    split = _SplitVjp(body, n_body, len(carry), [])
    forward = C.while_loop(
        *node.inputs, regions=(test, Graph(body.inputs, [*body.outputs, *split.saved])),
        n_cond=n_cond, n_body=n_body, stack=True, max_steps=node.attrs["max_steps"])
    stack = results(forward)[-1]
    init = [g[k] if g[k] is not None else zeros_like(carry[k]) for k in split.float_carry] + \
        [zeros_like(body_consts[i]) for i in split.float_consts]
    backward = C.scan(*body_consts, *init, stack, regions=(split.backward_body(),),
                      n_consts=n_body, n_carry=len(init), length=(-1,), reverse=True,
                      remat=False)
    values = results(backward)
    cotangents = _scatter_cotangents(len(node.inputs) - n_cond, n_body, split, values,
                                     first_xs=len(node.inputs))
    return [None] * n_cond + cotangents


def _scatter_cotangents(count: int, n_consts: int, split: _SplitVjp, values: list[Node],
                        first_xs: int) -> list[Node | None]:
    """Cotangents by operand position from the backward scan's results (carry cotangents, sums
    of the consts' cotangents, then the per-step inputs' cotangents)."""
    out: list[Node | None] = [None] * count
    nh, nc = len(split.float_carry), len(split.float_consts)
    for j, k in enumerate(split.float_carry):
        out[n_consts + k] = values[j]
    for j, i in enumerate(split.float_consts):
        out[i] = values[nh + j]
    for j, i in enumerate(split.float_xs):
        out[first_xs + i] = values[nh + nc + j]
    return out


def _split(values: Sequence, n_consts: int, n_carry: int) -> tuple[list, list, list]:
    values = list(values)
    return values[:n_consts], values[n_consts:n_consts + n_carry], values[n_consts + n_carry:]


__all__ = ["TensorType", "scan_jvp", "scan_vjp", "switch_jvp", "switch_vjp", "while_jvp",
           "while_vjp"]
