"""Structured control flow with JAX's semantics: cond, switch, while_loop, fori_loop, scan.

Each function calls the user's Python function once, on fresh symbolic parameters, and records
the graph it builds as a region of one node (``graphdiff/ops/control.py``). Values the function
uses from outside become operands of that node; values it computes from them alone are computed
once, outside (``graphdiff/ir/region.py``). Carries, operands and scanned inputs are pytrees.

>>> import numpy as np, graphdiff as gd
>>> xs = gd.placeholder((None, 2), "float64", name="xs")
>>> total, running = gd.scan(lambda c, x: (c + x, c + x), gd.zeros(2, "float64"), xs)
>>> f = gd.function([xs], [total, running])
>>> [a.tolist() for a in f(np.array([[1.0, 2.0], [3.0, 4.0]]))]
[[4.0, 6.0], [[1.0, 2.0], [4.0, 6.0]]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError, user_location
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.region import close_region, close_regions, next_uid
from ..ir.types import TensorType
from ..ops import control as C
from ..ops.core import results
from ..ops.source import parameter_like
from .convert import as_tensor, is_python_scalar
from .pytree import TreeDef, flatten, unflatten

__all__ = ["cond", "fori_loop", "scan", "switch", "while_loop"]


def where_defined(fn: Callable) -> str:
    """``file:line`` of a user's function, for errors about what it returns."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return repr(fn)
    return f"{code.co_filename}:{code.co_firstlineno}"


def _leaves_as_tensors(tree: Any, what: str) -> tuple[list[Node], TreeDef]:
    leaves, treedef = flatten(tree)
    tensors = []
    for leaf in leaves:
        try:
            tensors.append(as_tensor(leaf))
        except DTypeError as exc:
            raise DTypeError(f"{what}: {exc}") from None
    return tensors, treedef


class _Traced:
    """One call of a user's function on fresh parameters: its closed region and outside values."""

    def __init__(self, fn: Callable, param_types: Sequence[TensorType], args_tree: TreeDef,
                 what: str) -> None:
        start = next_uid()
        params = [parameter_like(t) for t in param_types]
        out = fn(*unflatten(args_tree, params))
        self.location = where_defined(fn)
        self.outputs, self.tree = _leaves_as_tensors(out, f"{what} ({self.location})")
        self.params = params
        self.start = start
        self.what = what

    def close(self) -> tuple[Graph, list[Node]]:
        return close_region(self.params, self.outputs, self.start,
                            parameter_like)


def _check_carry(what: str, location: str, given: TreeDef, given_types: list[TensorType],
                 returned: TreeDef, returned_types: list[TensorType]) -> None:
    if given != returned:
        raise ShapeError(f"{what} ({location}) returns a carry of structure {returned}, but it "
                         f"was given {given} (at {user_location()})")
    for position, (a, b) in enumerate(zip(given_types, returned_types)):
        if a != b:
            raise ShapeError(f"{what} ({location}) returns carry leaf {position} as {b}, but it "
                             f"was given {a}; a carry keeps its dtype and shape "
                             f"(at {user_location()})")


# --- scan ---------------------------------------------------------------------------------

def scan(f: Callable, init: Any, xs: Any = None, length: int | str | None = None,
         reverse: bool = False, checkpoint: int | str | None = None) -> tuple[Any, Any]:
    """``carry, ys = scan(f, init, xs)``: ``f(carry, x) -> (carry, y)`` once per slice of ``xs``
    along axis 0 (from the last slice with ``reverse=True``); ``ys`` stacks the ``y`` s.

    ``xs`` may have a symbolic leading dimension: one compiled function then runs sequences of
    any length. Without ``xs``, ``length`` (an int or a symbolic dimension) says how many steps.

    ``checkpoint=k`` (or ``"sqrt"``: k near the square root of the length) trades time for
    memory in reverse mode: the steps run in segments of k, only the carry at each segment's
    start is kept, and the backward pass recomputes one segment at a time, so a length-T scan
    keeps O(T/k + k) steps of residuals instead of O(T). It needs a static length.
    """
    if checkpoint is not None:
        return _segmented_scan(f, init, xs, length, reverse, checkpoint)
    carry, carry_tree = _leaves_as_tensors(init, "scan: init")
    xs_leaves, xs_tree = _leaves_as_tensors(xs, "scan: xs")
    for x in xs_leaves:
        if x.ndim == 0:
            raise ShapeError(f"scan: a scanned input must have a leading axis, got {x.type} "
                             f"(at {user_location()})")
    lengths = {x.shape[0] for x in xs_leaves}
    if length is not None:
        lengths.add(length)
    if len(lengths) != 1:
        detail = ", ".join(str(x.type) for x in xs_leaves)
        raise ShapeError(f"scan: the scanned inputs and length disagree on the number of steps "
                         f"({detail}; length={length}) (at {user_location()})" if lengths else
                         f"scan: give xs or length (at {user_location()})")
    (steps,) = lengths
    return _scan(f, carry, carry_tree, xs_leaves, xs_tree, steps, reverse)


def _scan(f: Callable, carry: list[Node], carry_tree: TreeDef, xs_leaves: list[Node],
          xs_tree: TreeDef, steps: int | str, reverse: bool, remat: bool = False) -> tuple:
    slice_types = [TensorType(x.dtype, x.shape[1:]) for x in xs_leaves]
    carry_types = [c.type for c in carry]
    args_tree = TreeDef("tuple", (carry_tree, xs_tree))
    traced = _Traced(f, carry_types + slice_types, args_tree, "the scan body")
    if traced.tree.kind != "tuple" or len(traced.tree.children) != 2:
        raise ShapeError(f"the scan body ({traced.location}) must return a pair (carry, y), "
                         f"got structure {traced.tree} (at {user_location()})")
    new_carry_tree, y_tree = traced.tree.children
    n_carry = len(carry)
    _check_carry("the scan body", traced.location, carry_tree, carry_types, new_carry_tree,
                 [o.type for o in traced.outputs[:n_carry]])
    body, consts = traced.close()
    # the region's parameters: the outside values first, then carry and slices
    n_own = len(traced.params)
    body = Graph(body.inputs[n_own:] + body.inputs[:n_own], body.outputs)
    node = C.scan(*consts, *carry, *xs_leaves, regions=(body,), n_consts=len(consts),
                  n_carry=n_carry, length=(steps,), reverse=bool(reverse), remat=bool(remat))
    values = results(node)
    return (unflatten(carry_tree, values[:n_carry]), unflatten(y_tree, values[n_carry:]))


def _segmented_scan(f: Callable, init: Any, xs: Any, length: int | None, reverse: bool,
                    checkpoint: int | str) -> tuple[Any, Any]:
    """A scan of T steps as an outer scan over segments of k steps whose body, an inner scan,
    reverse mode recomputes from the segment's first carry (the outer scan has remat=True);
    the T mod k steps left over run as a plain scan after (or, reversed, before) them."""
    xs_leaves, xs_tree = _leaves_as_tensors(xs, "scan: xs")
    steps = xs_leaves[0].shape[0] if xs_leaves else length
    if not isinstance(steps, int):
        raise ShapeError(f"scan: checkpoint= needs a static length, got {steps!r} "
                         f"(at {user_location()})")
    k = max(1, round(steps ** 0.5)) if checkpoint == "sqrt" else checkpoint
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ShapeError(f"scan: checkpoint must be a positive int or 'sqrt', got {checkpoint!r} "
                         f"(at {user_location()})")
    segments, tail = divmod(steps, k)
    from .indexing import concatenate, getitem
    from .shape import reshape

    def part(lo: int, hi: int) -> list[Node]:
        return [getitem(x, slice(lo, hi)) for x in xs_leaves]

    def segment(carry: Any, xseg: Any) -> tuple[Any, Any]:
        return scan(f, carry, xseg, length=None if xs_leaves else k, reverse=reverse)

    body_span = (tail, steps) if reverse else (0, segments * k)
    tail_span = (0, tail) if reverse else (segments * k, steps)
    seg_xs = [reshape(x, (segments, k, *x.shape[1:])) for x in part(*body_span)]
    carry, carry_tree = _leaves_as_tensors(init, "scan: init")
    if segments:
        carry_values, ys_seg = _scan(segment, carry, carry_tree, seg_xs, xs_tree, segments,
                                     reverse, remat=True)
        carry, _ = _leaves_as_tensors(carry_values, "scan")
        ys_seg_leaves, y_tree = flatten(ys_seg)
        ys_seg_leaves = [reshape(y, (segments * k, *y.shape[2:])) for y in ys_seg_leaves]
    if not tail:
        return unflatten(carry_tree, carry), unflatten(y_tree, ys_seg_leaves)
    tail_xs = part(*tail_span)
    final, ys_tail = _scan(f, carry, carry_tree, tail_xs, xs_tree, tail, reverse)
    if not segments:
        return final, ys_tail
    ys_tail_leaves, _ = flatten(ys_tail)
    joined = [concatenate([t, s] if reverse else [s, t]) for s, t in
              zip(ys_seg_leaves, ys_tail_leaves)]
    return final, unflatten(y_tree, joined)


# --- while_loop and fori_loop ------------------------------------------------------------------

def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any, *,
               max_steps: int | None = None) -> Any:
    """``while cond_fun(val): val = body_fun(val)``, returning the final ``val`` (a pytree whose
    leaves keep their types). The trip count may depend on the data; reverse mode pushes what
    the body's derivative needs onto a stack (see docs/control-flow.md).

    ``max_steps`` stops the loop after that many iterations even if ``cond_fun`` is still true
    (as Equinox's bounded ``while_loop``): an engine that needs static sizes (XLA) sizes the
    reverse-mode stack by it."""
    if max_steps is not None and (not isinstance(max_steps, int | np.integer)
                                  or isinstance(max_steps, bool) or max_steps < 0):
        raise ShapeError(f"while_loop: max_steps must be a non-negative int or None, got "
                         f"{max_steps!r} (at {user_location()})")
    carry, carry_tree = _leaves_as_tensors(init_val, "while_loop: init_val")
    carry_types = [c.type for c in carry]
    test = _Traced(cond_fun, carry_types, _single(carry_tree), "the loop condition")
    if len(test.outputs) != 1 or test.outputs[0].type != TensorType(np.dtype(bool), ()):
        got = ", ".join(str(o.type) for o in test.outputs)
        raise DTypeError(f"the loop condition ({test.location}) must return a bool scalar, got "
                         f"{got} (at {user_location()})")
    body = _Traced(body_fun, carry_types, _single(carry_tree), "the loop body")
    _check_carry("the loop body", body.location, carry_tree, carry_types, body.tree,
                 [o.type for o in body.outputs])
    test_region, test_consts = _consts_first(*test.close(), len(carry))
    body_region, body_consts = _consts_first(*body.close(), len(carry))
    node = C.while_loop(*test_consts, *body_consts, *carry, regions=(test_region, body_region),
                        n_cond=len(test_consts), n_body=len(body_consts), stack=False,
                        max_steps=None if max_steps is None else int(max_steps))
    return unflatten(carry_tree, results(node))


def fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any) -> Any:
    """``for i in range(lower, upper): val = body_fun(i, val)``. Bounds that are ints or
    symbolic dimensions give a scan of ``upper - lower`` steps; tensor bounds (computed from the
    data) give a while_loop. ``i`` is an int64 scalar tensor."""
    if _static_bound(lower) and _static_bound(upper):
        start = int(lower) if not isinstance(lower, str) else lower
        if isinstance(start, int) and isinstance(upper, int):
            steps: int | str = max(upper - start, 0)
        elif start == 0:
            steps = upper
        else:
            raise ShapeError(f"fori_loop: a symbolic upper bound needs lower=0, got {lower} "
                             f"(at {user_location()})")
        first = as_tensor(np.int64(start if isinstance(start, int) else 0))

        def step(carry: Any, _: Any) -> Any:
            i, val = carry
            return (i + 1, body_fun(i, val)), None
        (_, val), _ = scan(step, (first, init_val), length=steps)
        return val
    lo = as_tensor(lower, "int64") if not isinstance(lower, Node) else lower
    hi = as_tensor(upper, "int64") if not isinstance(upper, Node) else upper
    for bound, name in ((lo, "lower"), (hi, "upper")):
        if bound.ndim != 0 or bound.dtype.kind not in "iu":
            raise DTypeError(f"fori_loop: the {name} bound must be an integer scalar, got "
                             f"{bound.type} (at {user_location()})")
    lo = lo.astype("int64")
    hi = hi.astype("int64")
    _, _, val = while_loop(lambda c: c[0] < c[1],
                           lambda c: (c[0] + 1, c[1], body_fun(c[0], c[2])), (lo, hi, init_val))
    return val


def _static_bound(bound: Any) -> bool:
    return isinstance(bound, str) or (isinstance(bound, int | np.integer)
                                      and not isinstance(bound, bool))


def _single(tree: TreeDef) -> TreeDef:
    return TreeDef("tuple", (tree,))


def _consts_first(region: Graph, consts: list[Node], n_own: int) -> tuple[Graph, list[Node]]:
    return Graph(region.inputs[n_own:] + region.inputs[:n_own], region.outputs), consts


# --- cond and switch --------------------------------------------------------------------------

def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``; only the chosen branch
    runs. ``pred`` is a bool scalar; both branches return the same structure and types."""
    if isinstance(pred, bool | np.bool_):
        return (true_fun if pred else false_fun)(*operands)
    pred = as_tensor(pred)
    if pred.ndim != 0 or pred.dtype != np.bool_:
        raise DTypeError(f"cond: the predicate must be a bool scalar, got {pred.type}; compare "
                         f"first (x > 0) or use gd.switch for an integer index "
                         f"(at {user_location()})")
    return _branch(pred, [false_fun, true_fun], operands, "cond")


def switch(index: Any, branches: Sequence[Callable], *operands: Any) -> Any:
    """``branches[index](*operands)``, with ``index`` clamped into range (as ``lax.switch``)."""
    branches = list(branches)
    if not branches:
        raise ShapeError(f"switch needs at least one branch (at {user_location()})")
    if is_python_scalar(index) or isinstance(index, np.integer):
        return branches[min(max(int(index), 0), len(branches) - 1)](*operands)
    index = as_tensor(index)
    if index.ndim != 0 or index.dtype.kind not in "iu":
        raise DTypeError(f"switch: the index must be an integer scalar, got {index.type} "
                         f"(at {user_location()})")
    if len(branches) == 1:
        return branches[0](*operands)
    return _branch(index, branches, operands, "switch")


def _branch(index: Node, branches: list[Callable], operands: tuple, what: str) -> Any:
    args, args_tree = _leaves_as_tensors(operands, f"{what}: operands")
    types = [a.type for a in args]
    traced = [_Traced(fn, types, args_tree, f"branch {k}") for k, fn in enumerate(branches)]
    first = traced[0]
    for k, other in enumerate(traced[1:], start=1):
        if other.tree != first.tree or [o.type for o in other.outputs] != \
                [o.type for o in first.outputs]:
            a = ", ".join(str(o.type) for o in first.outputs)
            b = ", ".join(str(o.type) for o in other.outputs)
            raise ShapeError(f"{what}: branch {k} ({other.location}) returns {other.tree} of "
                             f"({b}), branch 0 ({first.location}) {first.tree} of ({a}); "
                             f"branches must agree (at {user_location()})")
    regions, outside = close_regions(
        [(t.params, (), t.outputs, t.start) for t in traced], parameter_like)
    node = C.switch(index, *args, *outside, regions=tuple(regions))
    return unflatten(first.tree, results(node))
