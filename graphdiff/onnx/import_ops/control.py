"""Import of ONNX control flow: If, Loop and Scan become gd.cond, gd.scan and gd.while_loop.

Each subgraph is imported inside the user function the control-flow call traces, so the values
it reads from the enclosing graphs by name become operands of the region (and values computed
from them alone are computed once, outside). Where ONNX decides at run time what graphdiff's
static graphs must know when they are built, the decision is taken at import when the value is
known:

* ``If`` on a known condition imports only the branch taken (shapes may then differ between
  the branches, as ONNX allows); on a computed one it is a ``cond`` whose branches return the
  same types.
* ``Loop`` that runs a known number of steps (a trip count known, or a symbolic dim, and a
  condition that stays true: absent, or passed through the body unchanged, or a constant) is a
  ``scan`` of that length; its scan outputs are the scan's stacked outputs. A body that needs
  the iteration number as a known value (``Slice`` starting at it) is unrolled instead, up to
  ``UNROLL_LIMIT`` steps. Any other ``Loop`` is a ``while_loop`` over (iteration, condition,
  carry...) and may have no scan outputs: their number of rows would be known only at run time.
* ``Scan`` is a ``scan``: per-input and per-output axes by transposes, mixed directions by
  reversing the inputs and outputs that go the other way. The opset-8 form (a batch axis first,
  no ``sequence_lens``) runs one scan per batch entry.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx

import graphdiff as gd

from ...api.control import cond as gd_cond
from ...api.control import scan as gd_scan
from ...api.control import while_loop as gd_while_loop
from ...errors import OnnxError
from ...ir.node import Node
from ...ir.types import normalize_axis
from ...ops.source import CONSTANT
from ..importer import DimsValue, ImportContext, OnnxNode, Value, onnx_import
from ..load import tensor_to_array

UNROLL_LIMIT = 256  # the most steps of a Loop unrolled because its body reads i as a known value


def _tensors(ctx: ImportContext, values: Sequence[Value]) -> tuple[Node, ...]:
    return tuple(ctx.materialize(v) for v in values)


def _known(value: Value | None) -> np.ndarray | None:
    """The value of an input known at import (a constant, or dims that are all ints)."""
    if value is None:
        return None
    if isinstance(value, DimsValue):
        if all(isinstance(d, int) for d in value.dims):
            return np.array(value.dims, np.int64)
        return None
    return value.data if value.op is CONSTANT else None


def _scalar(node: OnnxNode, x: Node, what: str) -> Node:
    if x.ndim and x.type.static_size() != 1:
        raise node.fail(f"{what} must hold one element, got {x.type}")
    return gd.reshape(x, ()) if x.ndim else x


# --- If ---------------------------------------------------------------------------------------

@onnx_import("If")
def _if(ctx: ImportContext, node: OnnxNode) -> list[Value]:
    then_graph, else_graph = node.graph("then_branch"), node.graph("else_branch")
    count = len(node.proto.output)
    for graph, name in ((then_graph, "then_branch"), (else_graph, "else_branch")):
        if len(graph.output) != count:
            raise node.fail(f"{name} returns {len(graph.output)} values for {count} outputs")
    known = _known(node.inputs[0] if node.inputs else None)
    if known is not None:  # only the branch taken exists
        if np.size(known) != 1:
            raise node.fail(f"the condition must hold one element, got shape {np.shape(known)}")
        taken = then_graph if bool(np.asarray(known).reshape(-1)[0]) else else_graph
        return ctx.subgraph(taken, [], f"{node.label} branch")
    pred = _scalar(node, ctx.tensor(node, 0), "the condition")
    if pred.dtype != np.bool_:
        raise node.fail(f"the condition must be bool, got {pred.dtype.name}")

    def branch(graph: onnx.GraphProto, name: str):
        return lambda: _tensors(ctx, ctx.subgraph(graph, [], f"{node.label} {name}"))

    return list(gd_cond(pred, branch(then_graph, "then_branch"),
                        branch(else_graph, "else_branch")))


# --- Loop -------------------------------------------------------------------------------------

def _reads(graph: onnx.GraphProto, name: str) -> bool:
    """Whether any node of ``graph`` (or of its subgraphs) reads ``name``."""
    for inner in graph.node:
        if name in inner.input:
            return True
        for attribute in inner.attribute:
            graphs = list(attribute.graphs) + ([attribute.g] if attribute.HasField("g") else [])
            if any(_reads(g, name) for g in graphs):
                return True
    return any(o.name == name for o in graph.output)


def _stays_true(body: onnx.GraphProto) -> bool:
    """Whether the body's condition output is its condition input passed on (through
    Identity nodes) or a constant true: the loop then stops only at its trip count."""
    name, condition = body.output[0].name, body.input[1].name
    producers = {out: n for n in body.node for out in n.output}
    for _ in range(len(body.node) + 1):
        if name == condition:
            return True
        producer = producers.get(name)
        if producer is None:
            return False
        if producer.op_type == "Identity" and len(producer.input) == 1:
            name = producer.input[0]
            continue
        if producer.op_type == "Constant":
            value = [a for a in producer.attribute if a.name in ("value", "value_int")]
            if len(value) == 1 and value[0].type == onnx.AttributeProto.TENSOR:
                try:
                    array = tensor_to_array(value[0].t, "the condition", None)
                except OnnxError:
                    return False
                return array.dtype == np.bool_ and array.size == 1 and bool(array.reshape(-1)[0])
            if len(value) == 1 and value[0].type == onnx.AttributeProto.INT:
                return bool(value[0].i)
        return False
    return False


@onnx_import("Loop")
def _loop(ctx: ImportContext, node: OnnxNode) -> list[Value]:
    body = node.graph("body")
    trip = node.inputs[0] if node.inputs else None
    start = node.inputs[1] if len(node.inputs) > 1 else None
    init = [ctx.tensor(node, i) for i in range(2, len(node.inputs))]
    n_carry = len(init)
    if len(body.input) != n_carry + 2 or len(body.output) < n_carry + 1:
        raise node.fail(f"the body takes {len(body.input)} inputs and returns "
                        f"{len(body.output)} values for {n_carry} loop-carried values "
                        "(it takes the iteration number, the condition and the carry, and "
                        "returns the condition, the carry and the scan outputs)")
    n_scan = len(body.output) - 1 - n_carry
    iteration = body.input[0].name

    steps: int | str | None = None  # the number of steps, when known at import
    if isinstance(trip, DimsValue) and len(trip.dims) == 1:
        steps = trip.dims[0]
    elif _known(trip) is not None:
        steps = max(int(np.asarray(_known(trip)).reshape(-1)[0]), 0)
    initially = None if start is None else _known(start)
    if initially is not None:
        initially = bool(np.asarray(initially).reshape(-1)[0])
    if initially is False:
        steps = 0  # the body never runs
    elif not (start is None or initially) or not _stays_true(body):
        steps = None
    if steps is not None:
        try:
            return _loop_as_scan(ctx, node, body, init, steps, n_scan,
                                 _reads(body, iteration))
        except OnnxError as exc:
            # a body that needs the iteration number as a known value (a Slice at i) is
            # unrolled when the trip count is known and small
            if "must be known" not in str(exc) or not isinstance(steps, int) or \
                    not 0 < steps <= UNROLL_LIMIT:
                raise
            return _loop_unrolled(ctx, node, body, init, steps)
    if n_scan:
        raise node.fail(f"a Loop with scan outputs must run a number of steps known when the "
                        f"model is imported (a trip count that must be known and a condition "
                        f"that stays true), got trip count {trip} and condition {start}")
    if trip is None and start is None:
        raise node.fail("a Loop with neither a trip count nor a condition never ends")
    return _loop_as_while(ctx, node, body, init, trip, start)


def _loop_as_scan(ctx: ImportContext, node: OnnxNode, body: onnx.GraphProto,
                  init: list[Node], steps: int | str, n_scan: int,
                  counted: bool) -> list[Node]:
    n_carry = len(init)
    true = gd.constant(np.bool_(True))

    def step(carry: tuple, _: None) -> tuple:
        # the iteration number is carried only when the body reads it
        i, values = (carry[0], carry[1:]) if counted else (None, carry)
        outs = _tensors(ctx, ctx.subgraph(body, [i if counted else true, true, *values],
                                          f"{node.label} body"))
        new = outs[1:1 + n_carry]
        return ((i + np.int64(1), *new) if counted else tuple(new)), tuple(outs[1 + n_carry:])

    first = (gd.constant(np.int64(0)),) if counted else ()
    final, ys = gd_scan(step, first + tuple(init), length=steps)
    return list(final[1:] if counted else final) + list(ys)


def _loop_unrolled(ctx: ImportContext, node: OnnxNode, body: onnx.GraphProto,
                   init: list[Node], steps: int) -> list[Node]:
    n_carry = len(init)
    values: list[Value] = list(init)
    rows: list[list[Node]] = []
    true = gd.constant(np.bool_(True))
    for i in range(steps):
        outs = ctx.subgraph(body, [gd.constant(np.int64(i)), true, *values],
                            f"{node.label} body (step {i})")
        values = outs[1:1 + n_carry]
        rows.append(list(_tensors(ctx, outs[1 + n_carry:])))
    stacked = [gd.stack([row[k] for row in rows], axis=0) for k in range(len(rows[0]))]
    return list(_tensors(ctx, values)) + stacked


def _loop_as_while(ctx: ImportContext, node: OnnxNode, body: onnx.GraphProto,
                   init: list[Node], trip: Value | None, start: Value | None) -> list[Node]:
    limit = None if trip is None else \
        gd.astype(_scalar(node, ctx.materialize(trip), "the trip count"), "int64")
    first = gd.constant(np.bool_(True)) if start is None else \
        _scalar(node, ctx.materialize(start), "the condition")
    if first.dtype != np.bool_:
        raise node.fail(f"the condition must be bool, got {first.dtype.name}")

    def test(carry: tuple) -> Node:
        i, going = carry[0], carry[1]
        if limit is None:
            return going
        below = i < limit
        return below if start is None else gd.logical_and(going, below)

    def step(carry: tuple) -> tuple:
        i, going, values = carry[0], carry[1], carry[2:]
        outs = _tensors(ctx, ctx.subgraph(body, [i, going, *values], f"{node.label} body"))
        again = _scalar(node, outs[0], "the condition the body returns")
        if again.dtype != np.bool_:
            raise node.fail(f"the body's condition must be bool, got {again.dtype.name}")
        return (i + np.int64(1), again if start is not None else going, *outs[1:])

    final = gd_while_loop(test, step, (gd.constant(np.int64(0)), first, *init))
    return list(final[2:])


# --- Scan -------------------------------------------------------------------------------------

def _reverse(x: Node) -> Node:
    return x[::-1]


def _move(x: Node, source: int, destination: int) -> Node:
    if source == destination:
        return x
    order = [a for a in range(x.ndim) if a != source]
    order.insert(destination, source)
    return gd.transpose(x, tuple(order))


@onnx_import("Scan")
def _scan(ctx: ImportContext, node: OnnxNode) -> list[Value]:
    body = node.graph("body")
    n_xs = node.int("num_scan_inputs")
    if n_xs is None or n_xs < 1:
        raise node.fail("num_scan_inputs must be at least 1")
    batched = node.opset < 9
    first = 1 if batched else 0
    if batched and len(node.inputs) and node.inputs[0] is not None:
        raise node.fail("sequence_lens is not supported (every sequence runs its full length)")
    operands = [ctx.tensor(node, i) for i in range(first, len(node.inputs))]
    n_carry = len(operands) - n_xs
    if n_carry < 0:
        raise node.fail(f"{len(operands)} inputs for {n_xs} scan inputs")
    n_ys = len(body.output) - n_carry
    if len(body.input) != n_carry + n_xs or n_ys < 0:
        raise node.fail(f"the body takes {len(body.input)} inputs and returns "
                        f"{len(body.output)} values for {n_carry} states and {n_xs} scan "
                        "inputs")
    if batched:
        directions = node.ints("directions", [0] * n_xs)
        in_axes, out_axes, out_directions = [0] * n_xs, [0] * n_ys, [0] * n_ys
    else:
        directions = node.ints("scan_input_directions", [0] * n_xs)
        in_axes = node.ints("scan_input_axes", [0] * n_xs)
        out_directions = node.ints("scan_output_directions", [0] * n_ys)
        out_axes = node.ints("scan_output_axes", [0] * n_ys)
    for name, values, count in (("directions", directions, n_xs), ("axes", in_axes, n_xs),
                                ("output directions", out_directions, n_ys),
                                ("output axes", out_axes, n_ys)):
        if len(values) != count:
            raise node.fail(f"{len(values)} scan {name} for {count} values")
    if any(d not in (0, 1) for d in directions + out_directions):
        raise node.fail("scan directions must be 0 (forward) or 1 (reverse)")
    init, xs = operands[:n_carry], operands[n_carry:]
    if not batched:
        return _scan_one(ctx, node, body, init, xs, directions, in_axes, out_directions,
                         out_axes)
    # opset 8: axis 0 of every input is a batch axis; one scan per entry
    sizes = {v.shape[0] if v.ndim else None for v in operands}
    if len(sizes) != 1 or not isinstance(next(iter(sizes)), int):
        raise node.fail(f"the batch axis must have one static size, got {sorted(map(str, sizes))}")
    (batch,) = sizes
    rows = [_scan_one(ctx, node, body, [s[b] for s in init], [x[b] for x in xs], directions,
                      in_axes, out_directions, out_axes) for b in range(batch)]
    return [gd.stack([row[k] for row in rows], axis=0) for k in range(n_carry + n_ys)]


def _scan_one(ctx: ImportContext, node: OnnxNode, body: onnx.GraphProto, init: list[Node],
              xs: list[Node], directions: list[int], in_axes: list[int],
              out_directions: list[int], out_axes: list[int]) -> list[Node]:
    n_carry = len(init)
    reverse = len(set(directions)) == 1 and directions[0] == 1
    moved = []
    for x, direction, axis in zip(xs, directions, in_axes, strict=True):
        if x.ndim == 0:
            raise node.fail(f"a scan input must have an axis to scan, got {x.type}")
        x = _move(x, normalize_axis(axis, x.ndim), 0)
        moved.append(_reverse(x) if bool(direction) != reverse else x)

    def step(carry: tuple, slices: tuple) -> tuple:
        outs = _tensors(ctx, ctx.subgraph(body, [*carry, *slices], f"{node.label} body"))
        return tuple(outs[:n_carry]), tuple(outs[n_carry:])

    final, ys = gd_scan(step, tuple(init), tuple(moved), reverse=reverse)
    results = list(final)
    for y, direction, axis in zip(ys, out_directions, out_axes, strict=True):
        y = _reverse(y) if bool(direction) != reverse else y
        results.append(_move(y, 0, normalize_axis(axis, y.ndim)))
    return results
