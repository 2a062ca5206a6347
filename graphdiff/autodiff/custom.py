"""Custom derivatives: give a function your own JVP or VJP rule (cf. ``jax.custom_jvp/vjp``).

A wrapped function is one ``custom`` node (``graphdiff/ops/custom.py``) that owns the function
and its rule as regions, traced once per call on fresh parameters. Differentiating the graph
inlines the rule, never the function's body, and the rule builds ordinary nodes, so the
derivative prints, optimizes, exports and differentiates again like any other. The optimizing
pipeline then inlines the function too (``passes/inline.py``).

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

from ..errors import GradientError, GraphdiffError, raised_at, user_location
from ..ir.graph import topo_order
from ..ir.node import Node
from ..ir.region import close_regions, inline, next_uid
from ..ir.types import is_float
from ..ops.custom import custom, remat_input
from ..ops.source import CONSTANT, parameter_like, zeros_like
from .forward import push_tangents
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


class Traced:
    """User code run on fresh parameters standing for ``values``; ``extra`` more parameters
    (tangents, residuals, a cotangent) follow them."""

    def __init__(self, values: Sequence[Node], build: Callable[..., list[Node]],
                 extra: Sequence[Node] = ()) -> None:
        self.start = next_uid()
        self.params = [parameter_like(v) for v in values]
        self.extra = [parameter_like(v) for v in extra]
        self.outputs = build(self.params, self.extra)


def make_custom(args: Sequence[Node], traced: Sequence[Traced], kind: str, name: str) -> Node:
    """The ``custom`` node owning ``traced`` as regions over the same parameters: the
    arguments, the outside values any of them reads, then each region's own extra ones.
    Random draws are outside values: a rule, or a recomputation, sees the forward's."""
    regions, outside = close_regions([(t.params, t.extra, t.outputs, t.start) for t in traced],
                                     parameter_like, hoist_effectful=True)
    return custom(*args, *outside, regions=tuple(regions), kind=kind, n_args=len(args),
                  name=name)


def _run_rule(rule: Callable[..., Any], what: str, *args: Any) -> Any:
    """``rule(*args)``; a raw exception in the user's rule becomes a GradientError naming the
    rule and the line of the user's code that raised."""
    try:
        return rule(*args)
    except GraphdiffError:
        raise  # ours already name the op and the user's line
    except Exception as exc:
        code = getattr(rule, "__code__", None)
        defined = f"; defined at {code.co_filename}:{code.co_firstlineno}" if code else ""
        raise GradientError(f"{what} raised {type(exc).__name__}: {exc} (at "
                            f"{raised_at(exc.__traceback__)}{defined})") from exc


def _name(fn: Callable) -> str:
    name = getattr(fn, "__name__", "custom")
    return "lambda" if name == "<lambda>" else name


class custom_jvp:  # noqa: N801 - a decorator, named like jax.custom_jvp
    """``fn`` with a forward-mode rule of your own, used by forward and reverse mode.

    The rule receives the primal arguments and their tangents (a zero tensor for a float
    argument without one, None for integer arguments) and returns the output tangent. Reverse
    mode transposes it, so it must be linear in the tangents.
    """

    def __init__(self, fn: Callable[..., Any], jvp: JvpRule | None = None) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = _name(fn)
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
        function = Traced(primals, lambda p, _: [_output(self.fn(*p), self.name)])
        floats = [x for x in primals if is_float(x.dtype)]
        rule = Traced(primals, lambda p, t: [self._tangent(p, t)], floats)
        return make_custom(primals, [function, rule], "jvp", self.name)

    def _tangent(self, primals: Sequence[Node], tangents: Sequence[Node]) -> Node:
        assert self.rule is not None
        given = iter(tangents)
        full = tuple(next(given) if is_float(x.dtype) else None for x in primals)
        tangent = _run_rule(self.rule, f"the JVP rule of {self.name}", tuple(primals), full)
        if tangent is None:
            return zeros_like(self.fn(*primals))
        return _output(tangent, f"the JVP rule of {self.name}")

    def __repr__(self) -> str:
        return f"<custom_jvp {self.name}>"


class custom_vjp:  # noqa: N801 - a decorator, named like jax.custom_vjp
    """``fn`` with a reverse-mode rule of your own (``defvjp(fwd, bwd)``).

    ``fwd(*primals) -> (out, residuals)`` computes the value and the tensors the backward rule
    needs; ``fwd=None`` means ``(fn(*primals), primals)``. ``bwd(residuals, g)`` returns one
    cotangent per primal (None for zero). Residuals are recomputed from the arguments where the
    backward rule runs (the forward pass computes them once: interning merges the two).
    """

    def __init__(self, fn: Callable[..., Any], fwd: Fwd | None = None,
                 bwd: Bwd | None = None) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = _name(fn)
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
        out, residuals = self._forward(primals)
        function = Traced(primals, lambda p, _: [_output(self.fn(*p), self.name)])
        fwd = Traced(primals, lambda p, _: (lambda o, r: [o, *r])(*self._forward(p)))
        bwd = Traced(primals, lambda p, extra: self._backward(p, extra), [*residuals, out])
        return make_custom(primals, [function, fwd, bwd], "vjp", self.name)

    def _forward(self, primals: Sequence[Node]) -> tuple[Node, list[Node]]:
        if self.fwd is None:
            return _output(self.fn(*primals), self.name), list(primals)
        pair = _run_rule(self.fwd, f"the fwd rule of custom_vjp {self.name}", *primals)
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise GradientError(f"the fwd rule of custom_vjp {self.name} must return "
                                f"(output, residuals) (at {user_location()})")
        return _output(pair[0], self.name), _as_tensors(pair[1])

    def _backward(self, primals: Sequence[Node], extra: Sequence[Node]) -> list[Node]:
        assert self.bwd is not None
        residuals, g = tuple(extra[:-1]), extra[-1]
        cotangents = _run_rule(self.bwd, f"the bwd rule of custom_vjp {self.name}", residuals, g)
        n = len(primals)
        if not isinstance(cotangents, Sequence) or len(cotangents) != n:
            raise GradientError(f"the bwd rule of custom_vjp {self.name} must return a tuple of "
                                f"{n} cotangents (one per argument) (at {user_location()})")
        checked = [_check_cotangent(c, x, self.name, i)
                   for i, (c, x) in enumerate(zip(cotangents, primals, strict=True))]
        return [c if c is not None else zeros_like(x)
                for c, x in zip(checked, primals) if is_float(x.dtype)]

    def __repr__(self) -> str:
        return f"<custom_vjp {self.name}>"


# --- the rules of the custom op, by kind ----------------------------------------------------

def custom_jvp_rule(node: Node, tangents: Sequence[Node | None]) -> Node | None:
    kind, n = node.attrs["kind"], node.attrs["n_args"]
    if kind == "vjp":
        raise GradientError(f"custom_vjp {node.attrs['name']} has only a reverse-mode rule, so "
                            f"forward mode (jvp, jacobian(mode='fwd'), hessian, hvp) cannot go "
                            f"through it; declare it with gd.custom_jvp to have both")
    if kind == "checkpoint":  # forward mode keeps every value anyway: push through the body
        body = node.regions[0]
        (out,) = inline(body, node.inputs)
        seeds = {v: t for v, t in zip(node.inputs, tangents) if t is not None}
        return push_tangents([out], seeds, leaves=node.inputs).get(out)
    rule = node.regions[1]
    floats = [x for x in node.inputs[:n] if is_float(x.dtype)]
    given = [t if t is not None else zeros_like(x)
             for x, t in zip(node.inputs[:n], tangents[:n]) if is_float(x.dtype)]
    assert len(given) == len(floats)
    return inline(rule, [*node.inputs, *given])[0]


def custom_vjp_rule(node: Node, g: Node) -> list[Node | None]:
    kind, n = node.attrs["kind"], node.attrs["n_args"]
    positions = [i for i, x in enumerate(node.inputs[:n]) if is_float(x.dtype)]
    result: list[Node | None] = [None] * len(node.inputs)
    if kind == "jvp":
        cotangents = _transpose_rule(node, g, positions)
    elif kind == "vjp":
        _, fwd, bwd = node.regions
        out, *residuals = inline(fwd, node.inputs)
        cotangents = inline(bwd, [*node.inputs, *residuals, g])
    else:
        return _checkpoint_vjp(node, g)
    for i, cotangent in zip(positions, cotangents, strict=True):
        result[i] = cotangent
    return result


def _transpose_rule(node: Node, g: Node, positions: list[int]) -> list[Node]:
    """The transpose of the JVP rule: its tangent output, in terms of stand-in tangents (the
    rule region's own tangent parameters), differentiated in reverse mode with respect to them;
    the result must not depend on them (the rule is linear)."""
    rule = node.regions[1]
    stand_ins = list(rule.inputs[len(node.inputs):])
    (tangent,) = inline(rule, [*node.inputs, *stand_ins])
    if not stand_ins:
        return []
    cotangents = reverse_vjp([tangent], stand_ins, [g], unconnected="zero")
    if set(stand_ins) & set(topo_order(cotangents)):
        raise GradientError(f"the JVP rule of custom_jvp {node.attrs['name']} is not linear in "
                            f"the tangents, so reverse mode cannot transpose it")
    return cotangents


def _checkpoint_vjp(node: Node, g: Node) -> list[Node | None]:
    """Recompute the body on ``remat_input(operand, g)`` (scheduled in the backward pass, never
    merged with the forward values) and differentiate the copy."""
    fresh = [remat_input(v, g) if v.op is not CONSTANT else v for v in node.inputs]
    (out,) = inline(node.regions[0], fresh)
    wanted = [(i, f) for i, (v, f) in enumerate(zip(node.inputs, fresh))
              if is_float(v.dtype) and f is not v]
    cotangents = reverse_vjp([out], [f for _, f in wanted], [g], unconnected="zero",
                             leaves=set(fresh))
    result: list[Node | None] = [None] * len(node.inputs)
    for (i, _), cotangent in zip(wanted, cotangents):
        result[i] = cotangent
    return result
