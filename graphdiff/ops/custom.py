"""Functions with derivatives of their own: ``custom`` (a region op) and ``remat_input``.

``custom(*args, *captured)`` owns the function as a region and its derivative rule as more
regions, all over the same parameters (the arguments, then the values the function and its
rules read from outside); its value is the function's. ``kind`` says what the rule regions are:

- ``"jvp"`` (``gd.custom_jvp``): regions (function, rule); the rule takes the parameters and
  one tangent per float argument and returns the output tangent. Reverse mode transposes it.
- ``"vjp"`` (``gd.custom_vjp``): regions (function, fwd, bwd); fwd returns the output and the
  residuals, bwd takes the parameters, the residuals and the output cotangent and returns one
  cotangent per float argument. There is no forward-mode rule.
- ``"checkpoint"`` (``gd.checkpoint``): region (function,); reverse mode recomputes it in the
  backward pass and differentiates the copy.

Differentiation never looks inside the function: the rule regions are inlined (their parameters
replaced by the node's operands) and what they compute is ordinary nodes, which print, optimize,
export and differentiate again. The optimizing pipeline inlines the function itself
(``expand``), so a compiled function runs its primitives, fused and planned like any others.

``remat_input(x, after)`` is ``x``, available only once ``after`` has been computed. Gradient
checkpointing feeds the recomputed region's inputs through it, with ``after`` the cotangent
arriving at the region: the copy then depends on a value of the backward pass, so it is
scheduled there, and being effectful it is never merged with (nor folded into) the forward one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import GradientError
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.region import inline
from ..ir.types import TensorType
from .batching import materialize
from .control import region_results
from .core import defop, lazy_rule

KINDS = {"jvp": 2, "vjp": 3, "checkpoint": 1}  # kind -> number of regions


def _custom_type(types: Sequence[TensorType], *, regions: Sequence[Graph], kind: str,
                 n_args: int, name: str) -> TensorType:
    if KINDS.get(kind) != len(regions):
        raise GradientError(f"custom function {name}: kind {kind!r} with {len(regions)} regions")
    return region_results(regions[0], types, f"custom function {name}")[0]


def _custom_bind(attrs: dict, types: Sequence[TensorType], *, regions: Sequence[Graph],
                 compile_region: Callable) -> Callable[..., Any]:
    run = compile_region(regions[0], types)
    return lambda *arrays: run(*arrays)[0]


custom = defop(
    "custom", _custom_type, None, regions=True, region_kernel=_custom_bind,
    expand=lambda node: inline(node.regions[0], node.inputs)[0],
    vjp=lazy_rule("custom", "custom_vjp_rule"), jvp=lazy_rule("custom", "custom_jvp_rule"),
    batch=lazy_rule("vmap_rules", "custom_batch"),
    onnx=lambda ctx, node, inputs: ctx.expand(node),
    jax=lambda *operands, types, out_type, regions, ctx, **attrs:
        ctx.region(regions[0], types)(*operands)[0],
    doc="A function (region 0) whose derivative rules are its other regions; see ``kind``.")


def _first(primal: Any, *rest: Any, **attrs: Any) -> Any:
    return primal


def _identity_onnx(ctx: Any, node: Node, inputs: Sequence[str]) -> str:
    return ctx.op("Identity", [inputs[0]])


remat_input = defop(
    "remat_input", lambda types: types[0], _first, view=True, effectful=True,
    onnx=_identity_onnx, jax=lambda primal, *rest, ctx: primal,
    vjp=lambda node, g: [g, None],                     # d(x) = dx; ``after`` orders only
    jvp=lambda node, tangents: tangents[0],
    batch=lambda node, i, b, size: remat_input(materialize(i[0], b[0], size), i[1]),
    doc="x, computed only after ``after`` (recomputation in the backward pass).")
