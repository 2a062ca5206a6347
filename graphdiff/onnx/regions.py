"""Lowering control flow: ``switch`` to ``If``, ``while_loop`` to ``Loop``, ``scan`` to ``Scan``
(or ``Loop``).

Each region becomes an ONNX subgraph built in a :meth:`ExportContext.scope`. A region's
parameters that stand for operands of the node (a branch's operands, a loop's constants) are
not subgraph inputs: ONNX subgraphs read the values of the enclosing graphs by name, so the
parameters are bound to those names. Only what changes per iteration (the carry, the slices of
the scanned inputs, the iteration number) enters a loop body as an input. Subgraph inputs and
outputs carry full types, symbolic dims as ``dim_param``.

* ``switch`` on a bool is one ``If`` (``then`` is branch 1). On an integer index with N
  branches it is a chain of N-1 ``If`` s, each in the ``else`` branch of the previous one, on
  ``index <= k``: an index out of range takes the first or last branch, as the op clamps.
* ``while_loop`` is a ``Loop`` without a trip count whose body computes the condition on the new
  carry (ONNX evaluates a loop's condition at the end of its body); the condition on the initial
  carry is computed before it, in the enclosing graph. The values a loop saves for its
  derivative (a stack) are the ``Loop`` 's scan outputs, one tensor per value.
* ``scan`` over tensors is a ``Scan`` (``reverse`` as the input and output directions); a scan
  without scanned inputs, or over a stack, is a ``Loop`` with the trip count, which reads the
  slices with ``Gather`` at the step (onnxruntime's ``Scan`` cannot run zero steps, and a while
  loop may have run none).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.types import TensorType

_INT64_SCALAR = TensorType(np.dtype(np.int64), ())
_BOOL_SCALAR = TensorType(np.dtype(np.bool_), ())


class RegionLowerings:
    """Mixin of :class:`ExportContext`: the lowerings of the ops that own regions."""

    nodes: list
    values: dict
    op: Any
    constant: Any
    dim: Any
    shape: Any
    fresh: Any
    declare_dims: Any
    scope: Any
    slice: Any

    # --- the pieces ---------------------------------------------------------------------------

    def several(self, op_type: str, inputs: Sequence[str], count: int, **attrs: Any) -> list:
        """Emit one node with ``count`` outputs; their names, always as a list."""
        names = [self.fresh(op_type) for _ in range(count)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attrs))
        return names

    def region(self, region: Graph, arguments: Sequence[str]) -> list:
        """Emit ``region`` in this context with its parameters bound to the ONNX values
        ``arguments``; the names of its results."""
        from .export import emit_nodes

        for param, name in zip(region.inputs, arguments, strict=True):
            self.values[param] = name
            self.declare_dims(name, param.shape)
        return emit_nodes(self, region.outputs)

    def subgraph(self, name: str, inputs: Sequence[tuple[str, TensorType]],
                 outputs: Sequence[str], types: Sequence[TensorType]) -> onnx.GraphProto:
        """The nodes of this (scope) context as a graph: ``inputs`` are (name, type) pairs,
        ``outputs`` the values it returns (each gets its own name and ``types``)."""
        from .export import value_info

        results = []
        for value, type_ in zip(outputs, types, strict=True):
            out = self.fresh(f"{name}_out")
            self.nodes.append(helper.make_node("Identity", [value], [out]))
            results.append(value_info(out, type_))
        return helper.make_graph(self.nodes, name, [value_info(n, t) for n, t in inputs],
                                 results)

    def _branch(self, region: Graph, operands: Sequence[str],
                types: Sequence[TensorType]) -> onnx.GraphProto:
        scope = self.scope()
        return scope.subgraph("branch", [], scope.region(region, operands), types)

    # --- switch -------------------------------------------------------------------------------

    def switch(self, node: Node, inputs: Sequence[str]) -> list:
        """``If`` on a bool; a chain of ``If`` s on ``index <= k`` for an integer index."""
        index, operands = inputs[0], list(inputs[1:])
        types = list(node.type.types)
        branches = node.regions
        if node.inputs[0].dtype == np.bool_:
            return self.several("If", [index], len(types),
                                then_branch=self._branch(branches[1], operands, types),
                                else_branch=self._branch(branches[0], operands, types))
        if node.inputs[0].dtype != np.int64:
            index = self.op("Cast", [index], to=onnx.TensorProto.INT64)
        tests = [self.op("LessOrEqual", [index, self.constant(np.int64(k))])
                 for k in range(len(branches) - 1)]
        return self._choose(0, tests, branches, operands, types)

    def _choose(self, k: int, tests: list[str], branches: Sequence[Graph],
                operands: Sequence[str], types: Sequence[TensorType]) -> list:
        """Branch k if ``tests[k]`` (index <= k), else the choice among the later branches."""
        if k == len(branches) - 1:
            return self.scope(inline=True).region(branches[k], operands)
        later = self.scope()
        rest = later.subgraph("branch", [], later._choose(k + 1, tests, branches, operands,
                                                          types), types)
        return self.several("If", [tests[k]], len(types),
                            then_branch=self._branch(branches[k], operands, types),
                            else_branch=rest)

    # --- while_loop ---------------------------------------------------------------------------

    def while_loop(self, node: Node, inputs: Sequence[str]) -> list:
        """A ``Loop`` with no trip count: the body computes the next carry, then the condition
        on it; the condition on the initial carry is computed before the loop."""
        n_cond, n_body, n_stack = (node.attrs[k] for k in ("n_cond", "n_body", "stack"))
        cond_consts = list(inputs[:n_cond])
        body_consts = list(inputs[n_cond:n_cond + n_body])
        init = list(inputs[n_cond + n_body:])
        test, step = node.regions
        carry_types = list(node.type.types[:len(init)])
        saved_types = list(node.type.types[-1].types) if n_stack else []
        # a stack of empty entries still has a length: the iteration numbers carry it
        numbered = bool(n_stack) and not saved_types

        (first,) = self.scope(inline=True).region(test, cond_consts + init)
        body = self.scope()
        iteration, condition = body.fresh("iteration"), body.fresh("condition")
        carry = [body.fresh("carry") for _ in init]
        new = body.region(step, body_consts + carry) + ([iteration] if numbered else [])
        saved_types += [_INT64_SCALAR] if numbered else []
        (again,) = body.scope(inline=True).region(test, cond_consts + new[:len(init)])
        graph = body.subgraph(
            "while_body",
            [(iteration, _INT64_SCALAR), (condition, _BOOL_SCALAR)] + list(zip(carry, carry_types)),
            [again] + new, [_BOOL_SCALAR] + carry_types + saved_types)
        bound = node.attrs["max_steps"]  # the trip count M: the loop's bound, if it has one
        trips = "" if bound is None else self.constant(np.array(bound, np.int64))
        outs = self.several("Loop", [trips, first] + init, len(init) + len(saved_types),
                            body=graph)
        final = outs[:len(init)]
        return (final + [tuple(outs[len(init):])]) if n_stack else final

    # --- scan ---------------------------------------------------------------------------------

    def scan(self, node: Node, inputs: Sequence[Any]) -> list:
        """``Scan`` over tensors; ``Loop`` without scanned inputs or over a stack."""
        n_consts, n_carry, reverse = (node.attrs[k] for k in ("n_consts", "n_carry", "reverse"))
        consts = list(inputs[:n_consts])
        init = list(inputs[n_consts:n_consts + n_carry])
        xs = list(inputs[n_consts + n_carry:])
        carry_types = list(node.type.types[:n_carry])
        ys_types = [TensorType(t.dtype, t.shape[1:]) for t in node.type.types[n_carry:]]
        operand_types = [v.type for v in node.inputs[n_consts + n_carry:]]
        (body,) = node.regions
        if len(xs) == 1 and isinstance(xs[0], tuple):  # a stack: one step per entry
            slice_types = list(operand_types[0].types)
            count = self._count(self.op("Shape", [xs[0][0]], start=0, end=1))
            xs = list(xs[0]) if slice_types else []  # else the iteration numbers
        elif xs:
            slice_types = [TensorType(t.dtype, t.shape[1:]) for t in operand_types]
            return self._scan_as_scan(body, consts, init, xs, carry_types, slice_types,
                                      ys_types, reverse)
        else:
            (length,) = node.attrs["length"]
            slice_types = []
            count = self.constant(np.int64(length)) if isinstance(length, int) else \
                self._count(self.dim(length))
        return self._scan_as_loop(body, consts, init, xs, count, carry_types, slice_types,
                                  ys_types, node.type.types[n_carry:], reverse)

    def _count(self, dim: str) -> str:
        """A trip count (an int64 scalar) from an int64 [1] tensor."""
        return self.op("Squeeze", [dim, self.constant(np.array([0], np.int64))])

    def _scan_as_scan(self, body: Graph, consts: list, init: list, xs: list,
                      carry_types: list, slice_types: list, ys_types: list,
                      reverse: bool) -> list:
        scope = self.scope()
        carry = [scope.fresh("carry") for _ in init]
        slices = [scope.fresh("slice") for _ in xs]
        outs = scope.region(body, consts + carry + slices)
        graph = scope.subgraph("scan_body", list(zip(carry, carry_types)) +
                               list(zip(slices, slice_types)), outs, carry_types + ys_types)
        directions = {}
        if reverse:
            directions["scan_input_directions"] = [1] * len(xs)
            if ys_types:
                directions["scan_output_directions"] = [1] * len(ys_types)
        return self.several("Scan", init + xs, len(init) + len(ys_types), body=graph,
                            num_scan_inputs=len(xs), **directions)

    def _scan_as_loop(self, body: Graph, consts: list, init: list, xs: list, count: str,
                      carry_types: list, slice_types: list, ys_types: list,
                      stacked_types: Sequence[TensorType], reverse: bool) -> list:
        scope = self.scope()
        iteration, condition = scope.fresh("iteration"), scope.fresh("condition")
        carry = [scope.fresh("carry") for _ in init]
        slices = []
        if xs:
            position = iteration
            if reverse:  # step t reads slice count - 1 - t
                last = self.op("Sub", [count, self.constant(np.int64(1))])
                position = scope.op("Sub", [last, iteration])
            slices = [scope.op("Gather", [x, position], axis=0) for x in xs]
        outs = scope.region(body, consts + carry + slices)
        graph = scope.subgraph(
            "scan_body",
            [(iteration, _INT64_SCALAR), (condition, _BOOL_SCALAR)] + list(zip(carry, carry_types)),
            [condition] + outs, [_BOOL_SCALAR] + carry_types + ys_types)
        keep_going = self.constant(np.bool_(True))
        results = self.several("Loop", [count, keep_going] + init, len(init) + len(ys_types),
                               body=graph)
        ys = results[len(init):]
        for k, t in enumerate(stacked_types):
            if reverse:  # the Loop stacked the steps in the order they ran
                ys[k] = self.slice(ys[k], [(None, None, -1)] + [(None, None, 1)] * (t.ndim - 1))
            if not all(isinstance(d, int) for d in t.shape[1:]):
                # onnxruntime gives a Loop that ran no step zeros for the symbolic dims
                ys[k] = self.op("Reshape", [ys[k], self.shape(t.shape)])
        return results[:len(init)] + ys
