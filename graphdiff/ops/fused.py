"""Fused groups: one node that owns a group of elementwise ops as a region.

The fusion pass (``graphdiff/passes/fusion.py``) replaces a convex group of elementwise ops, with
possibly a matmul at its head and reductions at its tail, by one ``fused`` node. Its one region
is an ordinary graph of the group: its parameters stand for the group's inputs (the node's
operands, in order) and its outputs are the values that leave the group. A group with one output
has that output's type; a group with several has a :class:`TupleType`, read through ``result``
nodes, like a loop's results.

The kernel is Python source generated from the region's nodes, once per region structure and
operand shapes (``graphdiff/ops/fused_codegen.py``): equal groups, such as every layer of a deep
MLP, share their kernels. ``expand`` rebuilds the group's outputs from the primitives over the
operands; that is how fused graphs are differentiated, exported to ONNX and checked against the
unfused graph, and how the runtime runs small groups (``graphdiff/runtime/unfuse.py``). The
fusion pass's docstring prints a fused node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.region import inline
from ..ir.types import TensorType, TupleType
from .core import defop, lazy_rule
from .shape import reshape


def is_renaming(node: Node) -> bool:
    """A reshape that only renames symbolic dims (same rank, same known sizes): the same array
    at run time, so a group passes straight through it."""
    if node.op is not reshape:
        return False
    before, after = node.inputs[0].shape, node.shape
    return len(before) == len(after) and all(
        a == b or not (isinstance(a, int) and isinstance(b, int)) for a, b in zip(before, after))


def region_types(region: Graph, types: Sequence[Any]) -> dict[Node, TensorType]:
    """The type of every value of a fused region for operands of ``types`` (static, or the
    concrete types of one call signature).

    Each node's rule is re-run on its operands' types; a reshape in a group only renames
    symbolic dims (``is_renaming``), so it keeps the operand's concrete sizes and its own
    names elsewhere.
    """
    params = region.inputs
    if len(types) != len(params) or any(
            not isinstance(t, TensorType) or t.dtype != p.dtype or t.ndim != p.ndim
            for t, p in zip(types, params)):
        raise ShapeError("operand types differ from the fused group's parameters: "
                         f"({', '.join(map(str, types))}) for "
                         f"({', '.join(str(p.type) for p in params)})")
    values: dict[Node, TensorType] = dict(zip(params, types))
    for node in region.nodes:
        if node in values:
            continue
        if node.op.source:
            values[node] = node.type
        elif is_renaming(node):
            values[node] = _renamed(node.type, values[node.inputs[0]])
        else:
            values[node] = node.op.infer([values[v] for v in node.inputs], **node.attrs)
    return values


def _renamed(static: TensorType, operand: TensorType) -> TensorType:
    """A renaming view's type: its own known sizes, else the operand's, else its own names."""
    shape = tuple(d if isinstance(d, int) or not isinstance(o, int) else o
                  for d, o in zip(static.shape, operand.shape))
    return TensorType(static.dtype, shape)


def _fused_type(types: Sequence[Any], *, regions: Sequence[Graph]) -> TensorType | TupleType:
    (region,) = regions
    if all(t == p.type for t, p in zip(types, region.inputs)) and len(types) == len(
            region.inputs):  # the region's own types: its nodes were inferred from these
        outputs = [o.type for o in region.outputs]
    else:
        values = region_types(region, types)
        outputs = [values[o] for o in region.outputs]
    return outputs[0] if len(outputs) == 1 else TupleType(tuple(outputs))


def expand_group(node: Node) -> Node | list[Node]:
    """The group's outputs rebuilt from primitives over the node's operands: one node, or a
    list of them (one per result) for a group with several outputs."""
    outputs = inline(node.regions[0], node.inputs)
    return outputs[0] if len(outputs) == 1 else outputs


def _fused_bind(attrs: dict, types: Sequence[TensorType], *, regions: Sequence[Graph],
                compile_region: Callable) -> Callable[..., Any]:
    (region,) = regions
    if fused_codegen.generates(region):
        return fused_codegen.compiled(region, tuple(t.shape for t in types))
    return _as_kernel(compile_region(region, types), len(region.outputs))


def _fused_jax(*operands: Any, types: Sequence[TensorType], out_type: Any,
               regions: Sequence[Graph], ctx: Any) -> Any:
    """A fused group in JAX: its body inlined (XLA does the fusing)."""
    outputs = ctx.region(regions[0], types)(*operands)
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _as_kernel(run: Callable[..., list], n_outputs: int) -> Callable[..., Any]:
    """A region the generator does not handle (a pass rewrote it into something other than a
    group), run as a sub-program with the fused kernel's calling convention."""
    def kernel(*arrays: np.ndarray, out: np.ndarray | None = None) -> Any:
        values = run(*arrays)
        if n_outputs > 1:
            return tuple(values)
        if out is None:
            return values[0]
        np.copyto(out, values[0])
        return out
    return kernel


fused = defop(
    "fused", _fused_type, None, regions=True, out_arg=True, region_kernel=_fused_bind,
    expand=expand_group, onnx=lambda ctx, n, i: ctx.expand(n), jax=_fused_jax,
    batch=lazy_rule("vmap_rules", "expanded_batch"),
    doc="A fused group (region 0; see graphdiff/passes/fusion.py). With one output the runtime "
        "may hand it the output buffer; several outputs are read through result.")


# Imported last: the generator needs region_types from this module.
from . import fused_codegen  # noqa: E402
