"""Batching rules of the ops that own regions: each batches its regions and builds a new node.

- ``switch``: with a shared index, one switch over batched branches; with a batched index every
  branch runs and ``where`` picks per example (as JAX turns ``cond`` into ``select``).
- ``scan`` and ``while_loop``: which carries are batched is a fixed point (a carry becomes
  batched when the body makes it so from a batched value); scanned inputs and stacked outputs
  keep the loop axis first, the batch axis second inside the loop. A ``while_loop`` whose
  condition is batched runs while any example's holds, each example's carry frozen once its
  own condition fails.
- ``custom``: the function and its rule regions are batched alike, so derivatives of the
  batched node still use the user's rule; a cotangent for a shared argument sums the examples'.
- ``fused``: the batched expansion into primitives.

The ops declare these rules (``graphdiff/ops``), importing this module when a rule runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.region import inline
from ..ir.types import Dim, is_float
from ..ops import control as C
from ..ops import elementwise as E
from ..ops.batching import lift, materialize
from ..ops.core import results, scalar
from ..ops.custom import custom
from ..ops.reduce import max_, sum_
from ..ops.source import placeholder
from .vmap import BatchingError, batch_region, batch_values, move_axis

Flags = Sequence[bool]


def _select(pred: Node, on_true: Node, on_false: Node) -> Node:
    """where(pred, a, b) per example: the batched predicate (B,) lifted to the values' rank."""
    return E.where(lift(pred, on_true.ndim - 1), on_true, on_false)


# --- switch ---------------------------------------------------------------------------------

def switch_batch(node: Node, inputs: list[Node], batched: Flags, size: Dim) -> list[Node]:
    index, operands = inputs[0], inputs[1:]
    branches = [batch_region(r, batched[1:], size)[0] for r in node.regions]
    if not batched[0]:
        return results(C.switch(index, *operands, regions=tuple(branches)))
    outs = [inline(branch, operands) for branch in branches]
    if index.dtype.kind == "b":
        return [_select(index, t, f) for t, f in zip(outs[1], outs[0])]
    chosen = outs[-1]  # an index out of range is clamped, as the switch itself does
    for k in range(len(outs) - 2, -1, -1):
        pick = E.less_equal(index, scalar(k, index))
        chosen = [_select(pick, a, b) for a, b in zip(outs[k], chosen)]
    return chosen


# --- loops ----------------------------------------------------------------------------------

def _batched_body(body: Graph, before: Flags, carry: list[bool], after: Flags, size: Dim,
                  n_extra: int, extra: bool = False) -> tuple[Graph, list[bool]]:
    """Grow the batched carries until the body keeps them; the body's carry outputs are
    batched exactly where the carry is, its other outputs where they come out so (or all of
    them when ``extra``: the values a loop pushes onto a stack)."""
    while True:
        wanted = [*carry, *([extra] * n_extra)]
        region, out = batch_region(body, [*before, *carry, *after], size, wanted)
        grown = [c or o for c, o in zip(carry, out)]
        if grown == carry:
            return region, out
        carry = grown


def scan_batch(node: Node, inputs: list[Node], batched: Flags, size: Dim) -> list[Node]:
    n_consts, n_carry = node.attrs["n_consts"], node.attrs["n_carry"]
    (body,) = node.regions
    xs_flags = list(batched[n_consts + n_carry:])
    over_stack = isinstance(node.inputs[-1].type, C.StackType)
    if over_stack:  # a batched stack holds batched elements (see while_batch)
        xs_flags = xs_flags * (len(body.inputs) - n_consts - n_carry)
    n_ys = len(body.outputs) - n_carry
    carry_in = list(batched[n_consts:n_consts + n_carry])
    region, out = _batched_body(body, batched[:n_consts], carry_in, xs_flags, size, n_ys)
    carry_flags = out[:n_carry]
    consts = inputs[:n_consts]
    carry = [materialize(c, b, size) if f else c for c, b, f in
             zip(inputs[n_consts:n_consts + n_carry], batched[n_consts:], carry_flags)]
    xs = inputs[n_consts + n_carry:] if over_stack else \
        [move_axis(x, 0, 1) if f else x for x, f in zip(inputs[n_consts + n_carry:], xs_flags)]
    new = results(C.scan(*consts, *carry, *xs, regions=(region,), **node.attrs))
    finals = [materialize(v, f, size) for v, f in zip(new[:n_carry], carry_flags)]
    ys = [move_axis(y, 1, 0) if f else materialize(y, False, size)
          for y, f in zip(new[n_carry:], out[n_carry:])]
    return finals + ys


def _any(pred: Node) -> Node:
    return max_(pred, axes=(0,), keepdims=False)


def while_batch(node: Node, inputs: list[Node], batched: Flags, size: Dim) -> list[Node]:
    n_cond, n_body, stack = node.attrs["n_cond"], node.attrs["n_body"], node.attrs["stack"]
    cond, body = node.regions
    cond_flags, body_flags = batched[:n_cond], batched[n_cond:n_cond + n_body]
    carry_flags = list(batched[n_cond + n_body:])
    n_pushed = len(body.outputs) - len(carry_flags)
    while True:
        body_b, out = _batched_body(body, body_flags, carry_flags, (), size, n_pushed, True)
        out = out[:len(carry_flags)]
        cond_b, (pred_batched,) = batch_region(cond, [*cond_flags, *out], size, [False])
        if not pred_batched or all(out):
            break
        carry_flags = [True] * len(carry_flags)  # a batched condition batches every carry
    carry = [materialize(c, b, size) if f else c
             for c, b, f in zip(inputs[n_cond + n_body:], batched[n_cond + n_body:], out)]
    cond_consts, body_consts = inputs[:n_cond], inputs[n_cond:n_cond + n_body]
    if not pred_batched:
        new = results(C.while_loop(*cond_consts, *body_consts, *carry, regions=(cond_b, body_b),
                                   **node.attrs))
        return [materialize(v, f, size) for v, f in zip(new, out)] + new[len(out):]
    if stack:
        raise BatchingError(f"vmap of the gradient of a while_loop whose condition differs "
                            f"per example is not supported: the reverse loop would run every "
                            f"example for the longest trip count (node created at "
                            f"{node.location})")
    # run while any example's condition holds; an example whose own fails keeps its carry
    any_cond = Graph(cond_b.inputs, [_any(cond_b.outputs[0])])
    params = [placeholder(v.shape, v.dtype) for v in [*cond_consts, *body_consts, *carry]]
    p_cond, p_body, p_carry = (params[:n_cond], params[n_cond:n_cond + n_body],
                               params[n_cond + n_body:])
    (pred,) = inline(cond_b, [*p_cond, *p_carry])
    stepped = inline(body_b, [*p_body, *p_carry])
    guarded = Graph(params, [_select(pred, s, c) for s, c in zip(stepped, p_carry)])
    new = C.while_loop(*cond_consts, *cond_consts, *body_consts, *carry,
                       regions=(any_cond, guarded), **{**node.attrs, "n_body": n_cond + n_body})
    return results(new)


# --- custom rules and fused groups ------------------------------------------------------------

def custom_batch(node: Node, inputs: list[Node], batched: Flags, size: Dim) -> Node:
    kind, n = node.attrs["kind"], node.attrs["n_args"]
    float_args = [b for x, b in zip(node.inputs[:n], batched) if is_float(x.dtype)]
    function = batch_region(node.regions[0], batched, size)[0]
    regions = [function]
    if kind == "jvp":  # the rule's parameters: the operands, then a tangent per float argument
        regions.append(batch_region(node.regions[1], [*batched, *float_args], size)[0])
    elif kind == "vjp":  # fwd returns (output, residuals); bwd takes them and the cotangent
        fwd = batch_region(node.regions[1], batched, size)[0]
        n_res = len(fwd.outputs) - 1
        bwd = batch_region(node.regions[2], [*batched, *([True] * (n_res + 1))], size)[0]
        shared_sum = [o if b else sum_(o, axes=(0,), keepdims=False)
                      for o, b in zip(bwd.outputs, float_args)]
        regions += [fwd, Graph(bwd.inputs, shared_sum)]
    return custom(*inputs, regions=tuple(regions), **node.attrs)


def expanded_batch(node: Node, inputs: list[Node], batched: Flags, size: Dim) -> object:
    """A node defined by its expansion (a fused group): batch the primitives it stands for."""
    expanded = node.op.expand(node)
    parts = expanded if node.is_tuple else [expanded]
    seeds = {v: new for v, new, b in zip(node.inputs, inputs, batched) if b}
    values = batch_values(parts, seeds, size, leaves=node.inputs)
    out = [materialize(values.get(p, p), p in values, size) for p in parts]
    return out if node.is_tuple else out[0]
