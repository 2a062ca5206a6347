"""Ops that carry a user's derivative rule: ``custom_call`` and ``remat_input``.

``custom_call(primal, *operands, rule=id, n_args=k)`` is the identity on ``primal``, a value
computed by ordinary nodes. Its derivative rules are not its own: they look up the registered
rule named by the ``rule`` attribute (``gd.custom_jvp``, ``gd.custom_vjp``, ``gd.checkpoint``
register them), and that rule builds ordinary graph nodes. The first ``n_args`` operands after
the primal are the function's arguments, the rest are values the rule needs (residuals). Since
nodes are interned by (op, inputs, attrs), the rule id in the attributes keeps calls of different
rules apart. The primal gets no derivative through this op, so differentiating a custom call
never looks inside the function's body: the rule is what gets differentiated.

``remat_input(x, after)`` is ``x``, available only once ``after`` has been computed. Gradient
checkpointing feeds a region's inputs through it, with ``after`` the region's output cotangent:
the recomputed region then depends on a value of the backward pass, so it is scheduled there, and
being effectful it is never merged with (nor folded into) the forward computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ..errors import GradientError
from ..ir.node import Node
from ..ir.types import TensorType
from .core import defop


class CustomRule(Protocol):
    """The derivative rules of one custom function, called with the ``custom_call`` node."""

    name: str

    def vjp(self, node: Node, g: Node) -> Sequence[Node | None]:
        """Cotangents of every operand of ``node`` (None for the primal and residuals)."""

    def jvp(self, node: Node, tangents: Sequence[Node | None]) -> Node | None:
        """The output tangent given tangents of every operand of ``node``."""


RULES: dict[str, CustomRule] = {}


def register_rule(rule: CustomRule, key: str | None = None) -> str:
    """Register ``rule`` and return the id its calls carry (``key``, else ``name#n``)."""
    if key is None:
        key = f"{rule.name}#{len(RULES)}"
    if key in RULES:
        raise GradientError(f"a custom derivative rule with id {key!r} already exists")
    RULES[key] = rule
    return key


def rule_of(node: Node) -> CustomRule:
    return RULES[node.attrs["rule"]]


def _custom_type(types: Sequence[TensorType], *, rule: str, n_args: int) -> TensorType:
    if rule not in RULES:
        raise GradientError(f"no custom derivative rule is registered as {rule!r}")
    if not 0 <= n_args < len(types):
        raise GradientError(f"n_args={n_args} with {len(types) - 1} operands after the primal")
    return types[0]


def _first(primal: Any, *rest: Any, **attrs: Any) -> Any:
    return primal


def _identity_onnx(ctx: Any, node: Node, inputs: Sequence[str]) -> str:
    return ctx.op("Identity", [inputs[0]])


custom_call = defop(
    "custom_call", _custom_type, _first, view=True, onnx=_identity_onnx,
    vjp=lambda node, g: rule_of(node).vjp(node, g),
    jvp=lambda node, tangents: rule_of(node).jvp(node, tangents),
    doc="The primal (operand 0), differentiated by the registered rule named in ``rule``.")


remat_input = defop(
    "remat_input", lambda types: types[0], _first, view=True, effectful=True,
    onnx=_identity_onnx,
    vjp=lambda node, g: [g, None],                     # d(x) = dx; ``after`` orders only
    jvp=lambda node, tangents: tangents[0],
    doc="x, computed only after ``after`` (recomputation in the backward pass).")
