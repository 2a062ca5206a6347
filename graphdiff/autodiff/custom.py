"""Custom derivatives: give a function your own JVP or VJP rule (cf. ``jax.custom_jvp/vjp``).

A wrapped function computes its value with ordinary nodes and marks the result with one
``custom_call`` node whose ``rule`` attribute names the registered rule. Differentiating the
graph calls the rule, never the function's body, and the rule builds ordinary nodes, so the
derivative prints, optimizes, exports and differentiates again like any other.

``custom_jvp(fn)`` with ``@f.defjvp`` rule ``(primals, tangents) -> output tangent``. It serves
both modes: reverse mode transposes the rule (the rule must be linear in the tangents, as any
JVP is). ``custom_vjp(fn)`` with ``f.defvjp(fwd, bwd)``: ``fwd(*primals) -> (out, residuals)``,
``bwd(residuals, g) -> cotangent per primal``; it has no forward-mode rule.

A numerically stable softplus, log(1 + e^x) = max(x, 0) + log1p(e^-|x|), with the derivative
sigmoid(x) given directly:

>>> import numpy as np, graphdiff as gd
>>> softplus = gd.custom_jvp(lambda x: gd.maximum(x, 0.0) + gd.log1p(gd.exp(-gd.abs(x))))
>>> @softplus.defjvp
... def _(primals, tangents):
...     return gd.sigmoid(primals[0]) * tangents[0]
>>> x = gd.placeholder((3,), "float64", name="x")
>>> gx = gd.grad(gd.sum(softplus(x)), x)
>>> gd.function([x], gx)(np.array([-800.0, 0.0, 800.0]))
array([0. , 0.5, 1. ])
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import GradientError, user_location
from ..ir.graph import topo_order
from ..ir.node import Node
from ..ir.types import is_float
from ..ops.custom import custom_call, register_rule
from ..ops.source import placeholder, zeros_like
from .reverse import vjp as reverse_vjp

JvpRule = Callable[[tuple[Node, ...], tuple[Node | None, ...]], Any]
Fwd = Callable[..., tuple[Any, Sequence[Any]]]
Bwd = Callable[[tuple[Node, ...], Node], Sequence[Any]]


def _as_tensors(args: Sequence[Any]) -> list[Node]:
    from ..api.convert import as_tensor

    return [as_tensor(a) for a in args]


def _output(value: Any, name: str) -> Node:
    if not isinstance(value, Node):
        raise GradientError(f"custom function {name} must return one tensor, got "
                            f"{type(value).__name__} (at {user_location()})")
    return value


def _check_cotangent(value: Any, x: Node, name: str, position: int) -> Node | None:
    """A rule's cotangent for primal ``x``: None (zero), or a tensor of x's type."""
    from ..api.convert import as_tensor, cast_to

    if value is None or not is_float(x.dtype):
        return None
    value = cast_to(as_tensor(value), x.dtype)
    if value.shape != x.shape:
        raise GradientError(f"custom rule of {name} returned shape {value.shape} for argument "
                            f"{position} of shape {x.shape}")
    return value


class _Custom:
    """The part common to both kinds: a registered id, and calling the wrapped function."""

    name: str
    rule_id: str

    def __init__(self, fn: Callable[..., Any]) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = getattr(fn, "__name__", "custom")
        if self.name == "<lambda>":
            self.name = "lambda"
        self.rule_id = register_rule(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.rule_id}>"


class custom_jvp(_Custom):  # noqa: N801 - a decorator, named like jax.custom_jvp
    """``fn`` with a forward-mode rule of your own, used by forward and reverse mode.

    The rule receives the primal arguments and their tangents (a zero tensor for a float
    argument without one, None for integer arguments) and returns the output tangent. Reverse
    mode transposes it, so it must be linear in the tangents.
    """

    def __init__(self, fn: Callable[..., Any], jvp: JvpRule | None = None) -> None:
        super().__init__(fn)
        self.rule: JvpRule | None = jvp

    def defjvp(self, rule: JvpRule) -> JvpRule:
        """Set the rule ``(primals, tangents) -> output tangent``; usable as a decorator."""
        self.rule = rule
        return rule

    def __call__(self, *args: Any) -> Node:
        if self.rule is None:
            raise GradientError(f"custom_jvp {self.name} has no rule: define one with "
                                f"@{self.name}.defjvp (at {user_location()})")
        primals = _as_tensors(args)
        out = _output(self.fn(*primals), self.name)
        return custom_call(out, *primals, rule=self.rule_id, n_args=len(primals))

    def _tangent(self, primals: Sequence[Node], tangents: Sequence[Node | None]) -> Node | None:
        assert self.rule is not None
        full = tuple(None if not is_float(x.dtype) else zeros_like(x) if t is None else t
                     for x, t in zip(primals, tangents, strict=True))
        tangent = self.rule(tuple(primals), full)
        return None if tangent is None else _output(tangent, f"the JVP rule of {self.name}")

    def jvp(self, node: Node, tangents: Sequence[Node | None]) -> Node | None:
        n = node.attrs["n_args"]
        return self._tangent(node.inputs[1:1 + n], tangents[1:1 + n])

    def vjp(self, node: Node, g: Node) -> list[Node | None]:
        """The transpose of the JVP rule: differentiate its (linear) tangent output in reverse
        mode with respect to stand-in tangents, which the result must not depend on."""
        n = node.attrs["n_args"]
        primals = node.inputs[1:1 + n]
        positions = [i for i, x in enumerate(primals) if is_float(x.dtype)]
        stand_ins = [placeholder(primals[i].shape, primals[i].dtype, name=f"tangent{i}")
                     for i in positions]
        tangents: list[Node | None] = [None] * n
        for i, stand_in in zip(positions, stand_ins, strict=True):
            tangents[i] = stand_in
        tangent = self._tangent(primals, tangents)
        result: list[Node | None] = [None] * len(node.inputs)
        if tangent is None or not stand_ins:
            return result
        cotangents = reverse_vjp([tangent], stand_ins, [g], unconnected="zero")
        if set(stand_ins) & set(topo_order(cotangents)):
            raise GradientError(f"the JVP rule of custom_jvp {self.name} is not linear in the "
                                f"tangents, so reverse mode cannot transpose it")
        for i, cotangent in zip(positions, cotangents, strict=True):
            result[1 + i] = cotangent
        return result


class custom_vjp(_Custom):  # noqa: N801 - a decorator, named like jax.custom_vjp
    """``fn`` with a reverse-mode rule of your own (``defvjp(fwd, bwd)``).

    ``fwd(*primals) -> (out, residuals)`` computes the value and the tensors the backward rule
    needs; ``fwd=None`` means ``(fn(*primals), primals)``. ``bwd(residuals, g)`` returns one
    cotangent per primal (None for zero). Residuals become operands of the call, so the
    compiled function keeps them alive until the backward pass.
    """

    def __init__(self, fn: Callable[..., Any], fwd: Fwd | None = None,
                 bwd: Bwd | None = None) -> None:
        super().__init__(fn)
        self.fwd = fwd
        self.bwd = bwd

    def defvjp(self, fwd: Fwd | None, bwd: Bwd) -> None:
        """Set the forward rule (or None) and the backward rule."""
        self.fwd = fwd
        self.bwd = bwd

    def __call__(self, *args: Any) -> Node:
        if self.bwd is None:
            raise GradientError(f"custom_vjp {self.name} has no rule: define one with "
                                f"{self.name}.defvjp(fwd, bwd) (at {user_location()})")
        primals = _as_tensors(args)
        if self.fwd is None:
            out, residuals = self.fn(*primals), primals
        else:
            pair = self.fwd(*primals)
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise GradientError(f"the fwd rule of custom_vjp {self.name} must return "
                                    f"(output, residuals) (at {user_location()})")
            out, residuals = pair
        out = _output(out, self.name)
        return custom_call(out, *primals, *_as_tensors(residuals), rule=self.rule_id,
                           n_args=len(primals))

    def vjp(self, node: Node, g: Node) -> list[Node | None]:
        assert self.bwd is not None
        n = node.attrs["n_args"]
        primals, residuals = node.inputs[1:1 + n], node.inputs[1 + n:]
        cotangents = self.bwd(tuple(residuals), g)
        if not isinstance(cotangents, Sequence) or len(cotangents) != n:
            raise GradientError(f"the bwd rule of custom_vjp {self.name} must return a tuple of "
                                f"{n} cotangents (one per argument)")
        checked = [_check_cotangent(c, x, self.name, i)
                   for i, (c, x) in enumerate(zip(cotangents, primals, strict=True))]
        return [None, *checked, *([None] * len(residuals))]

    def jvp(self, node: Node, tangents: Sequence[Node | None]) -> Node | None:
        raise GradientError(f"custom_vjp {self.name} has only a reverse-mode rule, so forward "
                            f"mode (jvp, jacobian(mode='fwd'), hessian, hvp) cannot go through "
                            f"it; declare it with gd.custom_jvp to have both")
