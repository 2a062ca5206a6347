"""Fused groups: one node that runs a small subgraph of elementwise ops without full temporaries.

The fusion pass (``graphdiff/passes/fusion.py``) replaces a convex group of elementwise ops, with
possibly a matmul at its head and reductions at its tail, by one ``fused`` node whose ``body``
attribute holds the group as a list of instructions over the group's inputs. The kernel is Python
source generated once per body and input shapes (see ``graphdiff/ops/fused_codegen.py``).

A group with several outputs returns a tuple; ``fused_output`` nodes pick its elements. Both ops
``expand`` back into the primitives they stand for, which is how they are differentiated,
exported to ONNX and checked against the unfused graph.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..ir.node import OPS, Node
from ..ir.types import Shape, TensorType
from .core import defop


@dataclass(frozen=True)
class Instr:
    """One op of a fused body. ``args`` index the body's values: the group inputs first, then
    the results of earlier instructions."""

    op: str
    args: tuple[int, ...]
    attrs: tuple[tuple[str, Any], ...]
    type: TensorType


@dataclass(frozen=True)
class FusedBody:
    """The subgraph of a fused node: typed inputs, instructions, and which values leave it."""

    input_types: tuple[TensorType, ...]
    instrs: tuple[Instr, ...]
    outputs: tuple[int, ...]

    def __post_init__(self) -> None:
        # Generated kernels by input shapes: looked up at every call, so kept on the body
        # (hashing the whole body per call would cost more than a small kernel runs).
        object.__setattr__(self, "kernels", {})

    def value_type(self, index: int) -> TensorType:
        n = len(self.input_types)
        return self.input_types[index] if index < n else self.instrs[index - n].type

    def format_lines(self) -> list[str]:
        """The body in the text form's style, for printing inside the fused node."""
        n = len(self.input_types)

        def name(i: int) -> str:
            return f"in{i}" if i < n else f"t{i - n}"

        lines = []
        for k, instr in enumerate(self.instrs):
            attrs = ", ".join(f"{a}={v!r}" for a, v in instr.attrs)
            text = f"t{k}: {instr.type} = {instr.op}" + (f"[{attrs}]" if attrs else "")
            lines.append(text + " " + ", ".join(name(a) for a in instr.args))
        lines.append("yield " + ", ".join(name(o) for o in self.outputs))
        return lines

    def __repr__(self) -> str:
        return f"<{len(self.instrs)} ops>"


_BODIES: weakref.WeakValueDictionary[FusedBody, FusedBody] = weakref.WeakValueDictionary()


def canonical_body(body: FusedBody) -> FusedBody:
    """The one instance of bodies equal to ``body``: equal groups (every layer of a deep MLP)
    then share their generated kernels, which are cached on the instance."""
    existing = _BODIES.get(body)
    if existing is None:
        _BODIES[body] = existing = body
    return existing


def expand_body(body: FusedBody, inputs: Sequence[Node]) -> list[Node]:
    """Rebuild the body's outputs from primitive nodes applied to ``inputs``."""
    values = list(inputs)
    for instr in body.instrs:
        values.append(OPS[instr.op](*(values[a] for a in instr.args), **dict(instr.attrs)))
    return [values[o] for o in body.outputs]


def body_types(body: FusedBody, types: Sequence[TensorType]) -> list[TensorType]:
    """The types of every value of ``body`` for operands of ``types`` (static or concrete)."""
    if len(types) != len(body.input_types) or any(
            t.dtype != b.dtype or t.ndim != b.ndim for t, b in zip(types, body.input_types)):
        raise ShapeError("operand types differ from the fused body's inputs")
    values = list(types)
    for instr in body.instrs:
        if instr.op == "reshape":  # renames symbolic dims only: the operand's concrete type
            values.append(values[instr.args[0]])
        else:
            values.append(OPS[instr.op].infer([values[a] for a in instr.args],
                                              **dict(instr.attrs)))
    return values


def _fused_type(types: Sequence[TensorType], *, body: FusedBody) -> TensorType:
    # A multi-output group's value is a tuple; its node carries the first output's type and
    # is only read through fused_output.
    return body_types(body, types)[body.outputs[0]]


def _fused_kernel(*inputs: Any, body: FusedBody, out: np.ndarray | None = None) -> Any:
    shapes = tuple([a.shape for a in inputs])
    kernel = body.kernels.get(shapes)
    if kernel is None:
        kernel = fused_codegen.compiled(body, shapes)
    return kernel(*inputs, out=out)


def _fused_bind(attrs: dict, types: Sequence[TensorType]) -> Any:
    return fused_codegen.compiled(attrs["body"], tuple(t.shape for t in types))


fused = defop("fused", _fused_type, _fused_kernel, out_arg=True, bind=_fused_bind,
              expand=lambda node: expand_body(node.attrs["body"], node.inputs)[0],
              onnx=lambda ctx, n, i: ctx.expand(n),
              doc="A fused group with one output (see graphdiff/passes/fusion.py); the runtime "
                  "may hand it the output buffer.")

# A group with several outputs returns a tuple of fresh arrays, so it takes no out= buffer and
# its outputs (read through fused_output) alias nothing the memory planner manages.
fused_multi = defop("fused_multi", _fused_type, _fused_kernel, bind=_fused_bind,
                    expand=lambda node: node,  # read only through fused_output
                    onnx=lambda ctx, n, i: ctx.expand(n),
                    doc="A fused group with several outputs, read through fused_output.")


def _output_type(types: Sequence[TensorType], *, index: int, dtype: np.dtype,
                 shape: Shape) -> TensorType:
    return TensorType(dtype, shape)


def _output_kernel(values: tuple, *, index: int, dtype: np.dtype, shape: tuple) -> Any:
    return values[index]


def _output_expand(node: Node) -> Node:
    group = node.inputs[0]
    return expand_body(group.attrs["body"], group.inputs)[node.attrs["index"]]


fused_output = defop("fused_output", _output_type, _output_kernel,
                     expand=_output_expand, shape_attrs=("shape",),
                     bind=lambda attrs, types: operator.itemgetter(attrs["index"]),
                     onnx=lambda ctx, n, i: ctx.expand(n),
                     doc="Output ``index`` of a fused group with several outputs.")


# Imported last: the generator needs FusedBody and body_types from this module.
from . import fused_codegen  # noqa: E402
