"""Control flow: ops that own regions and run them, once, on a choice, or in a loop.

``switch(index, *operands)`` runs one of its branch regions; ``while_loop(*consts, *init)`` runs
its body region while its condition region says so; ``scan(*consts, *init, *xs)`` runs its body
once per slice of ``xs`` along axis 0, threading a carry and stacking per-step outputs. Each
node has several results (a :class:`TupleType`), read through ``result`` nodes.

The op says how to choose or loop; how a region's graph runs is the runtime's business:
``region_kernel`` receives ``compile_region(graph, param_types) -> run(*arrays) -> list`` from
the executor that called it (a planned sub-program, or the reference interpreter), once per
signature.

A ``stack`` is the value a loop with a run-time trip count saves for its derivative: one
tuple of arrays per iteration, in order. Its type is a :class:`StackType` (element types only:
the length is not a shape), so no shape downstream depends on the data. A ``scan`` whose ``xs``
is one stack runs once per element (the reverse-mode loop of a ``while_loop``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.dims import evaluate_dim
from ..ir.graph import Graph
from ..ir.types import Dim, Shape, TensorType, TupleType
from .core import defop, jnp, lax, lazy_rule

CompileRegion = Callable[[Graph, Sequence[TensorType]], Callable[..., list]]


@dataclass(frozen=True, slots=True)
class StackType:
    """The type of a stack: what each pushed element holds (its length is known at run time)."""

    types: tuple[TensorType, ...]

    def __str__(self) -> str:
        return "stack(" + ", ".join(str(t) for t in self.types) + ")"


# --- matching a region's parameters with operands -------------------------------------------

def match_types(params: Sequence[TensorType], actual: Sequence[Any], what: str) -> dict:
    """Bind the symbols of ``params`` (a region's parameter types) to the dims of ``actual``;
    raise ShapeError naming both types where they cannot be the same."""
    env: dict[str, Dim] = {}
    if len(params) != len(actual):
        raise ShapeError(f"{what}: {len(params)} parameters for {len(actual)} operands")
    for position, (p, a) in enumerate(zip(params, actual)):
        if not isinstance(a, TensorType) or p.dtype != a.dtype or p.ndim != a.ndim:
            raise ShapeError(f"{what}: parameter {position} is {p}, the operand is {a}")
        for dim, size in zip(p.shape, a.shape):
            if isinstance(dim, int):
                if dim != size:
                    raise ShapeError(f"{what}: parameter {position} is {p}, the operand is {a}")
            elif env.setdefault(dim, size) != size:
                raise ShapeError(f"{what}: dimension {dim!r} of parameter {position} ({p}) is "
                                 f"both {env[dim]} and {size}")
    return env


def substitute(t: TensorType, env: dict) -> TensorType:
    """``t`` with the symbols bound in ``env`` replaced (derived dims evaluated when concrete)."""
    concrete = {k: v for k, v in env.items() if isinstance(v, int)}
    shape = []
    for dim in t.shape:
        if isinstance(dim, str) and dim in env:
            dim = env[dim]
        elif isinstance(dim, str):
            value = evaluate_dim(dim, concrete)
            dim = dim if value is None else value
        shape.append(dim)
    return TensorType(t.dtype, tuple(shape))


def region_results(region: Graph, operand_types: Sequence[Any], what: str) -> list[TensorType]:
    """The result types of ``region`` applied to operands of ``operand_types``."""
    env = match_types([p.type for p in region.inputs], operand_types, what)
    return [substitute(o.type, env) for o in region.outputs]


def _same_types(a: Sequence[TensorType], b: Sequence[TensorType], what: str) -> None:
    if len(a) != len(b) or any(x != y for x, y in zip(a, b)):
        raise ShapeError(f"{what}: ({', '.join(map(str, a))}) vs ({', '.join(map(str, b))})")


# --- switch -----------------------------------------------------------------------------------

def _switch_type(types: Sequence[Any], *, regions: Sequence[Graph]) -> TupleType:
    index, operands = types[0], types[1:]
    if index.ndim != 0 or index.dtype.kind not in "biu":
        raise DTypeError(f"the branch index must be a bool or integer scalar, got {index}")
    if index.dtype == np.bool_ and len(regions) != 2:
        raise ShapeError(f"a bool predicate chooses between 2 branches, not {len(regions)}")
    if not regions:
        raise ShapeError("switch needs at least one branch")
    first = region_results(regions[0], operands, "branch 0")
    for k, branch in enumerate(regions[1:], start=1):
        _same_types(first, region_results(branch, operands, f"branch {k}"),
                    f"branch {k} returns other types than branch 0")
    return TupleType(tuple(first))


def _switch_bind(attrs: dict, types: Sequence[TensorType], *, regions: Sequence[Graph],
                 compile_region: CompileRegion) -> Callable[..., tuple]:
    runs = [compile_region(branch, types[1:]) for branch in regions]
    last = len(runs) - 1

    def run_switch(index: Any, *operands: np.ndarray) -> tuple:
        # an index out of range is clamped, as lax.switch does (documented in control-flow.md)
        return tuple(runs[min(max(int(index), 0), last)](*operands))
    return run_switch


def _switch_jax(index: Any, *operands: Any, types: Sequence[Any], out_type: Any,
                regions: Sequence[Graph], ctx: Any) -> tuple:
    branches = [ctx.region(branch, types[1:]) for branch in regions]
    # lax.switch clamps the index into range, as the numpy kernel does
    chosen = jnp().asarray(index).astype("int32")
    return tuple(lax().switch(chosen, [lambda *v, b=b: tuple(b(*v)) for b in branches],
                              *operands))


switch = defop("switch", _switch_type, None, regions=True, region_kernel=_switch_bind,
               jax=_switch_jax,
               onnx=lambda ctx, n, i: ctx.switch(n, i),
               vjp=lazy_rule("control_rules", "switch_vjp"),
               jvp=lazy_rule("control_rules", "switch_jvp"),
               batch=lazy_rule("vmap_rules", "switch_batch"),
               doc="Run branch ``index`` (clamped into range; a bool picks branch 1 when true) "
                   "on the operands; its results are the node's.")


# --- while_loop -------------------------------------------------------------------------------

def _while_type(types: Sequence[Any], *, regions: Sequence[Graph], n_cond: int, n_body: int,
                stack: bool, max_steps: int | None) -> TupleType:
    cond, body = regions
    carry = list(types[n_cond + n_body:])
    test = region_results(cond, list(types[:n_cond]) + carry, "the loop condition")
    if len(test) != 1 or test[0].dtype != np.bool_ or test[0].ndim != 0:
        raise DTypeError(f"the loop condition must return one bool scalar, got "
                         f"{', '.join(map(str, test))}")
    new = region_results(body, list(types[n_cond:n_cond + n_body]) + carry, "the loop body")
    _same_types(carry, new[:len(carry)], "the loop body returns a carry of other types than "
                                         "it was given")
    if len(new) != len(carry) and not stack:
        raise ShapeError(f"the loop body returns {len(new)} values for {len(carry)} carries")
    saved = (StackType(tuple(new[len(carry):])),) if stack else ()
    return TupleType(tuple(carry) + saved)


def _while_bind(attrs: dict, types: Sequence[TensorType], *, regions: Sequence[Graph],
                compile_region: CompileRegion) -> Callable[..., tuple]:
    n_cond, n_body, n_stack = attrs["n_cond"], attrs["n_body"], attrs["stack"]
    bound = attrs["max_steps"]
    carry_types = list(types[n_cond + n_body:])
    test = compile_region(regions[0], list(types[:n_cond]) + carry_types)
    body = compile_region(regions[1], list(types[n_cond:n_cond + n_body]) + carry_types)
    n_carry = len(carry_types)

    def run_while(*arrays: np.ndarray) -> tuple:
        cond_consts, body_consts = arrays[:n_cond], arrays[n_cond:n_cond + n_body]
        carry = list(arrays[n_cond + n_body:])
        pushed: list[tuple] = []
        steps = 0
        while (bound is None or steps < bound) and test(*cond_consts, *carry)[0]:
            steps += 1
            out = body(*body_consts, *carry)
            carry = out[:n_carry]
            if n_stack:
                pushed.append(tuple(out[n_carry:]))
        carry = _owned(carry, arrays)
        return tuple(carry) + ((pushed,) if n_stack else ())
    return run_while


class JaxStack(tuple):
    """A stack in JAX: ``(count, buffers)``, one buffer per pushed value with room for
    ``capacity`` entries along axis 0 (XLA needs static sizes); entries past ``count`` are
    unused. A tuple, so it passes through ``lax`` control flow as a pytree."""

    __slots__ = ()


def _while_jax(*operands: Any, types: Sequence[Any], out_type: Any, regions: Sequence[Graph],
               ctx: Any, n_cond: int, n_body: int, stack: bool, max_steps: int | None) -> tuple:
    """``lax.while_loop`` with the step count in its carry (for ``max_steps`` and the random
    draws of the body). With ``stack`` the values pushed go into buffers of ``max_steps``
    entries, or of the capacity the backend chose (``ctx.stack_capacity``): when the loop would
    run past it, the call reports an overflow and the backend runs it again with more room."""
    np_, lax_ = jnp(), lax()
    node = ctx.current
    carry_types = list(types[n_cond + n_body:])
    test = ctx.region(regions[0], list(types[:n_cond]) + carry_types)
    body = ctx.region(regions[1], list(types[n_cond:n_cond + n_body]) + carry_types)
    cond_consts, body_consts = operands[:n_cond], operands[n_cond:n_cond + n_body]
    init = tuple(operands[n_cond + n_body:])
    n_carry = len(init)
    pushed = list(out_type.types[-1].types) if stack else []
    room = (max_steps if max_steps is not None else ctx.stack_capacity(node)) if stack else None
    bound = room if stack else max_steps

    def go_on(state: tuple) -> Any:
        steps, carry = state[0], state[1]
        more = test(*cond_consts, *carry)[0]
        return more if bound is None else np_.logical_and(more, steps < bound)

    def step(state: tuple) -> tuple:
        steps, carry = state[0], state[1]
        with ctx.iteration(steps):
            out = body(*body_consts, *carry)
        if not stack:
            return steps + 1, tuple(out[:n_carry])
        buffers = tuple(lax_.dynamic_update_index_in_dim(b, v, steps, 0)
                        for b, v in zip(state[2], out[n_carry:]))
        return steps + 1, tuple(out[:n_carry]), buffers

    buffers = tuple(np_.zeros((room, *t.shape), t.dtype) for t in pushed)
    start = (np_.asarray(0, "int32"), init) + ((buffers,) if stack else ())
    final = lax_.while_loop(go_on, step, start)
    if not stack:
        return tuple(final[1])
    if max_steps is None:  # stopped by the capacity while the condition still held
        ctx.overflowed(node, np_.logical_and(final[0] == room,
                                             test(*cond_consts, *final[1])[0]))
    return tuple(final[1]) + (JaxStack((final[0], final[2])),)


while_loop = defop(
    "while_loop", _while_type, None, regions=True, region_kernel=_while_bind, jax=_while_jax,
    onnx=lambda ctx, n, i: ctx.while_loop(n, i),
    vjp=lazy_rule("control_rules", "while_vjp"), jvp=lazy_rule("control_rules", "while_jvp"),
    batch=lazy_rule("vmap_rules", "while_batch"),
    doc="Run the body region on the carry while the condition region returns true. Operands: "
        "the condition's constants (n_cond), the body's (n_body), then the initial carry. With "
        "stack=True the body also returns values per iteration, pushed onto a stack (the last "
        "result) for the reverse-mode loop. max_steps (an int, or None) stops the loop after "
        "that many iterations whatever the condition says: a bound that engines needing static "
        "sizes (XLA, an ONNX Loop's trip count) use for the stack.")


# --- scan -------------------------------------------------------------------------------------

def _scan_type(types: Sequence[Any], *, regions: Sequence[Graph], n_consts: int, n_carry: int,
               length: Shape, reverse: bool, remat: bool) -> TupleType:
    (body,) = regions
    consts = list(types[:n_consts])
    carry = list(types[n_consts:n_consts + n_carry])
    xs = list(types[n_consts + n_carry:])
    (steps,) = length
    if len(xs) == 1 and isinstance(xs[0], StackType):
        slices, steps = list(xs[0].types), None  # one step per element pushed
    else:
        slices = []
        for position, x in enumerate(xs):
            if not isinstance(x, TensorType) or x.ndim == 0 or x.shape[0] != steps:
                raise ShapeError(f"scanned input {position} is {x}; its leading dimension "
                                 f"must be the length {steps}")
            slices.append(TensorType(x.dtype, x.shape[1:]))
    new = region_results(body, consts + carry + slices, "the scan body")
    _same_types(carry, new[:n_carry], "the scan body returns a carry of other types than it "
                                      "was given")
    ys = new[n_carry:]
    if steps is None and ys:
        raise ShapeError("a scan over a stack has no per-step outputs (its length is known only "
                         "at run time)")
    return TupleType(tuple(carry) + tuple(TensorType(y.dtype, (steps, *y.shape)) for y in ys))


def _scan_bind(attrs: dict, types: Sequence[TensorType], *, regions: Sequence[Graph],
               compile_region: CompileRegion) -> Callable[..., tuple]:
    n_consts, n_carry, reverse = attrs["n_consts"], attrs["n_carry"], attrs["reverse"]
    xs_types = list(types[n_consts + n_carry:])
    over_stack = len(xs_types) == 1 and isinstance(xs_types[0], StackType)
    slices = list(xs_types[0].types) if over_stack else \
        [TensorType(x.dtype, x.shape[1:]) for x in xs_types]
    body = compile_region(regions[0], list(types[:n_consts + n_carry]) + slices)
    out_types = _scan_type(types, regions=regions, **attrs).types[n_carry:]
    steps = None if over_stack else int(attrs["length"][0])
    return _scan_loop(body, n_consts, n_carry, len(slices) if over_stack else len(xs_types),
                      [(tuple(int(d) for d in t.shape), t.dtype) for t in out_types],
                      steps, reverse)


def _scan_loop(body: Callable[..., list], n_consts: int, n_carry: int, n_xs: int,
               ys: Sequence[tuple[tuple[int, ...], np.dtype]], steps: int | None,
               reverse: bool) -> Callable[..., tuple]:
    """The loop of one scan signature as generated straight-line Python, for example::

        def run_scan(k0, h0, x0):
            y0 = _empty(_shape0, _dtype0)
            for t in _steps:                 # range(T), or reversed
                h0, v0 = _body(k0, h0, x0[t])
                y0[t] = v0
            return (*_owned([h0], (k0, h0, x0)), y0)

    Operands, carries and per-step values are locals, the body's results are unpacked straight
    into them: an iteration costs the body's call, one view per scanned input and one copy per
    per-step output, and nothing else (no argument lists built and spread, no slicing).
    ``steps`` None: ``x0`` is a stack, one tuple of ``n_xs`` arrays per element."""
    consts = [f"k{i}" for i in range(n_consts)]
    carry = [f"h{i}" for i in range(n_carry)]
    outputs = [f"v{i}" for i in range(len(ys))]
    stacked = [f"y{i}" for i in range(len(ys))]
    bound: dict[str, Any] = {"_body": body, "_owned": _owned, "_empty": np.empty}
    if steps is None:
        params = [*consts, *carry, "x0"]
        elements = [f"e{i}" for i in range(n_xs)]
        lines = [f"for {_targets(elements)} in (reversed(x0) if {reverse} else x0):",
                 f"    {_targets(carry)} = _body({', '.join(consts + carry + elements)})"]
    else:
        xs = [f"x{i}" for i in range(n_xs)]
        params = [*consts, *carry, *xs]
        bound["_steps"] = range(steps - 1, -1, -1) if reverse else range(steps)
        lines = []
        for i, (shape, dtype) in enumerate(ys):
            bound[f"_shape{i}"], bound[f"_dtype{i}"] = shape, dtype
            lines.append(f"y{i} = _empty(_shape{i}, _dtype{i})")
        lines.append("for t in _steps:")
        lines.append(f"    {_targets(carry + outputs)} = "
                     f"_body({', '.join(consts + carry + [f'{x}[t]' for x in xs])})")
        lines += [f"    y{i}[t] = v{i}" for i in range(len(ys))]
    owned = f"*_owned([{', '.join(carry)}], ({', '.join(params)},))," if carry else ""
    lines.append(f"return ({owned}{''.join(f' {y},' for y in stacked)})")
    body_text = "\n".join(f"        {line}" for line in lines)
    source = (f"def _make({', '.join(bound)}):\n"
              f"    def run_scan({', '.join(params)}):\n{body_text}\n"
              f"    return run_scan\n")
    namespace: dict[str, Any] = {"__name__": __name__}  # warnings name us
    exec(compile(source, "<graphdiff scan loop>", "exec"), namespace)  # noqa: S102 - ours
    return namespace["_make"](*bound.values())


def _targets(names: Sequence[str]) -> str:
    """An assignment target unpacking a list of ``len(names)`` values (``_`` for none)."""
    if not names:
        return "_"
    return ", ".join(names) + ("," if len(names) == 1 else "")


def _scan_jax(*operands: Any, types: Sequence[Any], out_type: Any, regions: Sequence[Graph],
              ctx: Any, n_consts: int, n_carry: int, length: tuple, reverse: bool,
              remat: bool) -> tuple:
    """``lax.scan`` over tensors (a step counter in the carry keys the body's random draws);
    over a stack, a ``fori_loop`` over its ``count`` entries."""
    np_, lax_ = jnp(), lax()
    consts = operands[:n_consts]
    init = tuple(operands[n_consts:n_consts + n_carry])
    xs = operands[n_consts + n_carry:]
    xs_types = list(types[n_consts + n_carry:])
    if len(xs_types) == 1 and isinstance(xs_types[0], StackType):
        count, buffers = xs[0]
        body = ctx.region(regions[0], list(types[:n_consts + n_carry]) + list(xs_types[0].types))

        def entry(i: Any, carry: tuple) -> tuple:
            at = count - 1 - i if reverse else i
            with ctx.iteration(i):
                return tuple(body(*consts, *carry, *(lax_.dynamic_index_in_dim(
                    b, at, 0, keepdims=False) for b in buffers)))
        return tuple(lax_.fori_loop(np_.asarray(0, count.dtype), count, entry, init))
    slices = [TensorType(t.dtype, t.shape[1:]) for t in xs_types]
    body = ctx.region(regions[0], list(types[:n_consts + n_carry]) + slices)

    def step(state: tuple, x: tuple) -> tuple:
        steps, carry = state
        with ctx.iteration(steps):
            out = body(*consts, *carry, *x)
        return (steps + 1, tuple(out[:n_carry])), tuple(out[n_carry:])

    (_, carry), ys = lax_.scan(step, (np_.asarray(0, "int32"), init), tuple(xs),
                               length=int(length[0]), reverse=reverse)
    return carry + tuple(ys)


scan = defop(
    "scan", _scan_type, None, regions=True, region_kernel=_scan_bind, shape_attrs=("length",),
    jax=_scan_jax,
    onnx=lambda ctx, n, i: ctx.scan(n, i),
    vjp=lazy_rule("control_rules", "scan_vjp"), jvp=lazy_rule("control_rules", "scan_jvp"),
    batch=lazy_rule("vmap_rules", "scan_batch"),
    doc="Run the body region once per step, threading a carry: operands are the body's "
        "constants (n_consts), the initial carry (n_carry), then the scanned inputs; results "
        "are the final carry, then each per-step output stacked along a new axis 0. With "
        "remat=True reverse mode saves only the carry of each step and recomputes the body "
        "(gd.scan's checkpoint= builds segments of such scans).")


def _owned(carry: Sequence[np.ndarray], operands: Sequence[Any]) -> list[np.ndarray]:
    """The final carry, with any array that is one of the loop's operands copied (a loop that
    ran zero times, or a carry passed through unchanged): results never alias operands."""
    ids = {id(a) for a in operands}
    return [np.array(c, copy=True) if id(c) in ids else c for c in carry]

