"""Specialization: concrete shapes for every node, given the shapes of one call's inputs.

Symbols in the graph (``batch``, ``?0``, ``n*4``) are bound from the feeds, then each node's rule
is re-run on concrete operand types with its shape attributes resolved. The result is checked
against the node's static type, binding any symbol seen for the first time (a reshape's ``n*4``)
and rejecting feeds that contradict the graph (two inputs disagreeing on ``batch``, a symbolic
dimension of size 1 where the graph assumed no broadcasting). The runtime does this once per
input signature and caches the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import GraphdiffError, InputError
from ..ir.dims import evaluate_dim
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.types import Shape, TensorType, TupleType, format_shape


def bind_shape(static: Shape, concrete: Sequence[int], env: dict[str, int], what: str) -> None:
    """Unify a static shape with a concrete one, binding symbols in ``env``; raise on conflict."""
    if len(static) != len(concrete):
        raise InputError(f"{what}: expected rank {len(static)} {format_shape(static)}, "
                         f"got shape {tuple(concrete)}")
    for axis, (dim, size) in enumerate(zip(static, concrete)):
        if isinstance(dim, int):
            if dim != size:
                raise InputError(f"{what}: expected shape {format_shape(static)}, got "
                                 f"{tuple(concrete)} (axis {axis} must be {dim})")
        else:
            bound = env.setdefault(dim, int(size))
            if bound != size:
                raise InputError(f"{what}: dimension {dim!r} (axis {axis}) is {size} here but "
                                 f"{bound} elsewhere in this call, shape {tuple(concrete)}")


def resolve_dims(dims: Shape, env: dict[str, int]) -> tuple[int, ...]:
    """Replace symbols by their values (derived ones like ``n[1:]`` evaluated from their parts);
    one unknown symbol becomes -1 (inferred by the op)."""
    values = [evaluate_dim(d, env) for d in dims]
    unknown = [d for d, v in zip(dims, values) if v is None]
    if len(unknown) > 1:
        raise InputError(f"cannot resolve dimensions {format_shape(dims)}: "
                         f"{', '.join(map(str, unknown))} are unknown")
    return tuple(-1 if v is None else v for v in values)


def resolve_attrs(node: Node, env: dict[str, int]) -> dict[str, Any]:
    """The node's attributes with symbolic shape attributes made concrete."""
    if not node.op.shape_attrs:
        return node.attrs
    resolved = dict(node.attrs)
    for name in node.op.shape_attrs:
        resolved[name] = resolve_dims(node.attrs[name], env)
    return resolved


def specialize(nodes: Sequence[Node], source_types: dict[Node, TensorType],
               env: dict[str, int]) -> tuple[dict[Node, TensorType], dict[Node, dict[str, Any]]]:
    """Concrete types and resolved attributes of ``nodes`` (in topological order).

    ``source_types`` gives the concrete types of placeholders, variables and constants; ``env``
    holds the symbols bound from them and is extended in place.
    """
    types: dict[Node, TensorType] = dict(source_types)
    attrs: dict[Node, dict[str, Any]] = {}
    for node in nodes:
        if node in types:
            continue
        resolved = resolve_attrs(node, env)
        try:
            operands = [types[v] for v in node.inputs]
            concrete = node.op.infer(operands, regions=node.regions, **resolved) \
                if node.op.regions else node.op.infer(operands, **resolved)
        except (GraphdiffError, ValueError) as exc:
            raise InputError(f"the inputs do not fit {node.op.name} created at "
                             f"{node.location}: {exc}") from None
        if node.op.elementwise:
            _check_no_symbolic_broadcast(node, [types[v] for v in node.inputs], concrete)
        _bind_type(node.type, concrete, env, f"{node.op.name} created at {node.location}")
        if any(d == -1 for name in node.op.shape_attrs for d in resolved[name]):
            resolved = resolve_attrs(node, env)  # the op inferred the one unknown symbol
        types[node] = concrete
        attrs[node] = resolved
    return types, attrs


def _bind_type(static: Any, concrete: Any, env: dict[str, int], what: str) -> None:
    """bind_shape for every tensor a value holds (a node with several results holds several;
    a stack's length is not a shape)."""
    if isinstance(static, TensorType):
        bind_shape(static.shape, concrete.shape, env, what)
    elif isinstance(static, TupleType):
        for s, c in zip(static.types, concrete.types):
            _bind_type(s, c, env, what)


def _check_no_symbolic_broadcast(node: Node, operands: Sequence[TensorType],
                                 concrete: TensorType) -> None:
    """Reject a feed where a symbolic dim is 1 and numpy would broadcast it.

    The graph was built assuming symbols are never 1 (so ``n`` against ``3`` means ``n == 3``
    and no derivative rule sums over that axis); a feed breaking that assumption is refused.
    """
    out = concrete.shape
    for value, operand in zip(node.inputs, operands, strict=True):
        offset = len(out) - len(operand.shape)
        for axis, (dim, size) in enumerate(zip(value.shape, operand.shape, strict=True)):
            if not isinstance(dim, int) and size != out[offset + axis]:
                raise InputError(
                    f"{node.op.name} created at {node.location}: dimension {dim!r} is {size} "
                    f"and would broadcast to {out[offset + axis]}; graphdiff assumes a symbolic "
                    f"dimension is never 1 when broadcasting (declare it as 1, or feed equal "
                    f"sizes)")


@dataclass
class Specialized:
    """One signature of a compiled function, as a backend receives it.

    ``graph`` is the optimized graph: its inputs are the placeholders in argument order, its
    outputs the function's outputs followed by one update value per entry of ``variables``.
    ``types`` and ``attrs`` are every node's concrete type and resolved attributes for this
    signature (``env`` the symbolic dims bound on the way). ``copies[i]`` says whether
    ``graph.outputs[i]`` must be copied (it may share memory with a feed, a variable, a
    constant or a value returned before it). ``check_finite``: raise on the first node whose
    result holds NaN or Inf where its inputs did not (docs/backends.md).
    """

    graph: Graph
    variables: Sequence[Node]
    types: dict[Node, TensorType]
    attrs: dict[Node, dict[str, Any]]
    env: dict[str, int]
    single: bool
    copies: Sequence[bool]
    check_finite: bool = False

    @property
    def outputs(self) -> Sequence[Node]:
        return self.graph.outputs[:len(self.graph.outputs) - len(self.variables)]

    @property
    def updates(self) -> list[tuple[Node, Node]]:
        n_out = len(self.graph.outputs) - len(self.variables)
        return list(zip(self.variables, self.graph.outputs[n_out:]))
