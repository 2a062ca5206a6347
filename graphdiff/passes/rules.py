"""The algebraic rewrite rules: one table of (op, rule), each with its identity beside it.

A rule takes a node whose operands are already simplified and returns a replacement node, or
None when it does not apply. ``simplify`` (``passes/simplify.py``) tries the rules of the
node's op in table order, then the rules for every elementwise op, and walks the replacement
again, so rules compose to a fixed point.

Exactness policy. A rule is applied only if the optimized graph computes bit-identical results
to the unoptimized one for every input, NaN, Inf and -0.0 included (only the sign bit of a NaN,
which IEEE 754 leaves unspecified, may differ), except five rules the design asks for, which
are exact in real arithmetic but may round differently in the last bits (documented in
``docs/passes.md``): ``x**3``/``x**4`` to multiplications, ``exp(log x)``, ``log(exp x)``,
transposes folded around a matmul, and the float sum of a broadcast as a product. Rules that
change which elements are NaN or Inf are never applied: ``x * 0 -> 0`` and ``x - x -> 0`` only
for integers (for floats, ``inf * 0`` and ``inf - inf`` are NaN).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..ir.node import Node, OpDef
from ..ir.types import Shape
from ..ops import control as C
from ..ops import elementwise as E
from ..ops import linalg as L
from ..ops import reduce as R
from ..ops import shape as S
from ..ops.core import result
from ..ops.source import CONSTANT, FILL, constant
from .loops import hoist_invariants, known_control
from .patterns import (
    filled,
    fit,
    fits,
    is_exact_zero,
    is_integer_type,
    is_swap,
    is_swapped,
    is_value,
    negate,
    power_of_two_reciprocal,
    scalar_of,
    swap_last,
    uniform_value,
)
from .rewrite import build

Rule = Callable[[Node], Node | None]
ELEMENTWISE = None  # table key: a rule tried on every elementwise op


def _operands(node: Node) -> list[tuple[Node, Node]]:
    """(this operand, the other operand) pairs of a commutative binary node, both orders."""
    a, b = node.inputs
    return [(a, b), (b, a)]


# --- arithmetic identities --------------------------------------------------------------------

def mul_by_one(n: Node) -> Node | None:
    for one, x in _operands(n):
        if is_value(one, 1):
            return fit(n, x)
    return None


def mul_by_minus_one(n: Node) -> Node | None:
    for minus_one, x in _operands(n):
        if n.dtype.kind in "fi" and is_value(minus_one, -1):
            return fit(n, negate(n, x))
    return None


def int_mul_by_zero(n: Node) -> Node | None:
    if is_integer_type(n) and any(is_value(zero, 0) for zero, _ in _operands(n)):
        return filled(n, 0)
    return None


def add_zero(n: Node) -> Node | None:
    for zero, x in _operands(n):
        if is_exact_zero(zero, negative=True) or (n.dtype.kind != "f" and is_value(zero, 0)):
            return fit(n, x)
    return None


def add_negated(n: Node) -> Node | None:
    for neg_y, x in _operands(n):
        if neg_y.op is E.neg:
            return build(E.sub, [x, neg_y.inputs[0]], {}, like=n)
    return None


def sub_zero(n: Node) -> Node | None:
    x, zero = n.inputs
    return fit(n, x) if is_exact_zero(zero, negative=False) else None


def sub_negated(n: Node) -> Node | None:
    x, neg_y = n.inputs
    return build(E.add, [x, neg_y.inputs[0]], {}, like=n) if neg_y.op is E.neg else None


def zero_minus(n: Node) -> Node | None:
    zero, x = n.inputs
    return fit(n, negate(n, x)) if is_exact_zero(zero, negative=True) else None


def int_self_sub(n: Node) -> Node | None:
    x, y = n.inputs
    return filled(n, 0) if x is y and is_integer_type(n) else None


def div_by_one(n: Node) -> Node | None:
    x, one = n.inputs
    return fit(n, x) if is_value(one, 1) else None


def div_by_power_of_two(n: Node) -> Node | None:
    x, c = n.inputs
    inverse = power_of_two_reciprocal(c)
    if inverse is None or is_value(c, 1):
        return None
    return build(E.mul, [x, constant(np.asarray(inverse, dtype=n.dtype))], {}, like=n)


def double_negation(n: Node) -> Node | None:
    (y,) = n.inputs
    return y.inputs[0] if y.op is E.neg else None


def _negated_constant(c: Node) -> Node | None:
    """-c for a uniform constant c (negation is exact), else None."""
    known = uniform_value(c)
    if known is None or c.dtype.kind not in "fi":
        return None
    return constant(np.negative(np.asarray(known, dtype=c.dtype)))


def negated_product(n: Node) -> Node | None:
    (y,) = n.inputs
    if y.op is not E.mul:
        return None
    for c, x in _operands(y):
        minus_c = _negated_constant(c)
        if minus_c is not None:
            return fit(n, build(E.mul, [x, minus_c], {}, like=n))
    return None


def mul_of_negated(n: Node) -> Node | None:
    for c, neg_x in _operands(n):
        if neg_x.op is E.neg:
            minus_c = _negated_constant(c)
            if minus_c is not None:
                return fit(n, build(E.mul, [neg_x.inputs[0], minus_c], {}, like=n))
    return None


def sum_of_negated(n: Node, single_use: Callable[[Node], bool]) -> Node | None:
    (y,) = n.inputs
    if y.op is not E.neg or not single_use(y) or n.dtype != y.dtype:
        return None
    return negate(n, build(n.op, [y.inputs[0]], n.attrs, like=n))


# --- powers -------------------------------------------------------------------------------------

def pow_small_exponent(n: Node) -> Node | None:
    x, exponent = n.inputs
    k = uniform_value(exponent)
    if k is None:
        return None
    if k == 1:
        return fit(n, x)
    if k == 0:
        return filled(n, 1)
    if n.dtype.kind != "f" and k < 0:
        return None  # numpy refuses integers to negative powers; the kernel says so
    unary = {2: E.square, -1: E.reciprocal, 0.5: E.sqrt}.get(float(k))
    if unary is not None:
        return fit(n, build(unary, [x], {}, like=n))
    if k == 3:
        return fit(n, build(E.mul, [x, build(E.square, [x], {}, like=n)], {}, like=n))
    if k == 4:
        return fit(n, build(E.square, [build(E.square, [x], {}, like=n)], {}, like=n))
    return None


# --- exp and log --------------------------------------------------------------------------------

NONNEGATIVE_OR_NAN = frozenset({E.exp, E.sigmoid, E.square, E.abs_})  # never -0.0 either
BOUNDED_BY_ONE_OR_NAN = frozenset({E.tanh, E.sin, E.cos, E.erf, E.sigmoid})


def exp_of_log(n: Node) -> Node | None:
    (y,) = n.inputs
    if y.op is E.log and y.inputs[0].op in NONNEGATIVE_OR_NAN:
        return y.inputs[0]
    return None


def log_of_exp(n: Node) -> Node | None:
    (y,) = n.inputs
    if y.op is E.exp and y.inputs[0].op in BOUNDED_BY_ONE_OR_NAN:
        return y.inputs[0]
    return None


# --- where and cast -------------------------------------------------------------------------------

def where_known_condition(n: Node) -> Node | None:
    condition, a, b = n.inputs
    known = uniform_value(condition)
    if known is None:
        return None
    return fit(n, a if known else b)


def where_same_branches(n: Node) -> Node | None:
    _, a, b = n.inputs
    return fit(n, a) if a is b else None


def cast_to_same(n: Node) -> Node | None:
    (x,) = n.inputs
    return x if x.dtype == n.dtype else None


# --- shapes -------------------------------------------------------------------------------------

def transpose_identity(n: Node) -> Node | None:
    perm = n.attrs["perm"]
    return n.inputs[0] if perm == tuple(range(len(perm))) else None


def transpose_of_transpose(n: Node) -> Node | None:
    (y,) = n.inputs
    if y.op is not S.transpose:
        return None
    inner, outer = y.attrs["perm"], n.attrs["perm"]
    return build(S.transpose, [y.inputs[0]], {"perm": tuple(inner[p] for p in outer)}, like=n)


def matmul_of_transposes(n: Node) -> Node | None:
    a, b = n.inputs
    if not (is_swapped(a) and is_swapped(b)):
        return None
    product = build(L.matmul, [b.inputs[0], a.inputs[0]], {}, like=n)
    return swap_last(n, product)


def transpose_of_matmul(n: Node, single_use: Callable[[Node], bool]) -> Node | None:
    (m,) = n.inputs
    if m.op is not L.matmul or not is_swap(n.attrs["perm"]) or not single_use(m):
        return None
    a, b = m.inputs
    if not (is_swapped(a) or is_swapped(b)):
        return None  # only when it removes a transpose: (A^T B)^T = B^T A
    return build(L.matmul, [swap_last(n, b), swap_last(n, a)], {}, like=n)


def reshape_identity(n: Node) -> Node | None:
    return n.inputs[0] if n.inputs[0].shape == n.shape else None


def reshape_of_reshape(n: Node) -> Node | None:
    (y,) = n.inputs
    if y.op is not S.reshape:
        return None
    return build(S.reshape, [y.inputs[0]], {"shape": n.shape}, like=n)


def reshape_of_uniform(n: Node) -> Node | None:
    (y,) = n.inputs
    if y.op is S.broadcast_to and y.inputs[0].ndim == 0:
        return filled_like(n, y.inputs[0])
    scalar = scalar_of(y)
    if scalar is None or y.op is CONSTANT and y.data.size == 1:
        return None  # a one-element constant is folded instead
    return filled_like(n, scalar)


def reshape_of_kept_sum(n: Node, single_use: Callable[[Node], bool]) -> Node | None:
    (y,) = n.inputs
    if y.op is not R.sum_ or not y.attrs["keepdims"] or not single_use(y):
        return None
    attrs = {"axes": y.attrs["axes"], "keepdims": False}
    dropped = tuple(d for i, d in enumerate(y.shape) if i not in attrs["axes"])
    return build(y.op, [y.inputs[0]], attrs, like=n) if dropped == n.shape else None


def filled_like(n: Node, scalar: Node) -> Node:
    return scalar if n.ndim == 0 else build(S.broadcast_to, [scalar], {"shape": n.shape}, like=n)


def broadcast_identity(n: Node) -> Node | None:
    return n.inputs[0] if n.inputs[0].shape == n.shape else None


def _without_leading_ones(shape: Shape) -> Shape:
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def broadcast_of_broadcast(n: Node) -> Node | None:
    (y,) = n.inputs
    if y.op is S.reshape:
        # Only a reshape that adds or drops leading 1s acts like a (right-aligned) broadcast.
        if _without_leading_ones(y.shape) != _without_leading_ones(y.inputs[0].shape):
            return None
    elif y.op is not S.broadcast_to:
        return None
    if not fits(y.inputs[0].shape, n.shape):
        return None
    return build(S.broadcast_to, [y.inputs[0]], {"shape": n.shape}, like=n)


def broadcast_of_uniform(n: Node) -> Node | None:
    (y,) = n.inputs
    scalar = scalar_of(y)
    return None if scalar is None else filled_like(n, scalar)


def fill_to_broadcast(n: Node) -> Node | None:
    return None if n.ndim == 0 else filled(n, n.attrs["value"])


def sum_of_size_one_axes(n: Node) -> Node | None:
    (x,) = n.inputs
    if any(x.shape[a] != 1 for a in n.attrs["axes"]):
        return None
    kept = x if x.shape == n.shape else build(S.reshape, [x], {"shape": n.shape}, like=n)
    return kept if kept.dtype == n.dtype else build(E.cast, [kept], {"dtype": n.dtype}, like=n)


def reduction_of_broadcast(n: Node, *, repeats_scale: bool) -> Node | None:
    """sum/max/min over axes that a ``broadcast_to`` repeats, computed on its operand.

    Over a repeated axis of static length k, max and min see one value k times (exact), and a
    sum adds it k times: ``sum(broadcast(y)) = sum(y) * k`` (``repeats_scale``), exact for
    integers, and for floats one rounding where the sum had k - 1 (documented in
    docs/passes.md). The axes the operand has are reduced on it as before, so
    ``sum(zeros((10**9, 10**9)))`` or a bias broadcast over a huge batch is never iterated.
    An empty repeated axis sums to 0 (``inf * 0`` would be NaN).
    """
    (x,) = n.inputs
    if x.op is not S.broadcast_to:
        return None
    y = x.inputs[0]
    lead = x.ndim - y.ndim
    inner, repeats = [], 1
    for axis in n.attrs["axes"]:
        j = axis - lead
        if j >= 0 and y.shape[j] == x.shape[axis] and y.shape[j] != 1:
            inner.append(j)  # an axis of the operand: reduced on it
        elif (j < 0 or y.shape[j] == 1) and isinstance(x.shape[axis], int):
            repeats *= x.shape[axis]
        else:
            return None  # a symbolic repeat count: left to the kernel
    if repeats == 1:
        return None
    if repeats == 0:
        return filled(n, 0)
    keepdims = n.attrs["keepdims"]
    part = build(n.op, [y], {"axes": tuple(inner), "keepdims": True}, like=n) if inner else y
    if part.dtype != n.dtype:
        part = build(E.cast, [part], {"dtype": n.dtype}, like=n)
    if repeats_scale:
        part = build(E.mul, [part, constant(np.asarray(repeats, dtype=n.dtype))], {}, like=n)
        if not inner and n.dtype.kind == "f":  # numpy's sum of -0.0s is +0.0: so is -0.0 * k + 0
            part = build(E.add, [part, constant(np.zeros((), n.dtype))], {}, like=n)
    if not keepdims:  # drop the reduced axes the operand has (all of length 1 by now)
        reduced = set(n.attrs["axes"])
        shape = tuple(d for j, d in enumerate(part.shape) if j + lead not in reduced)
        if shape != part.shape:
            part = build(S.reshape, [part], {"shape": shape}, like=n)
    return fit(n, part)


# --- elementwise ops and broadcasts -------------------------------------------------------------

def _unbroadcast(value: Node) -> Node:
    """The smaller tensor an operand was broadcast from (a scalar for a uniform constant)."""
    if value.op is S.broadcast_to:
        return value.inputs[0]
    if value.op is CONSTANT and value.ndim > 0:
        scalar = scalar_of(value)
        if scalar is not None:
            return scalar
    return value


def elementwise_of_broadcasts(n: Node) -> Node | None:
    # Computes f on the un-broadcast operands (fewer elements). If a stripped broadcast has
    # other users it stays for them: one more view node, never more arithmetic.
    if not n.inputs or n.op.effectful or n.op.shape_attrs:
        return None
    inputs = [_unbroadcast(value) for value in n.inputs]
    if all(new is old for new, old in zip(inputs, n.inputs)):
        return None
    return fit(n, build(n.op, inputs, n.attrs, like=n))


# --- the table ------------------------------------------------------------------------------------

def table(single_use: Callable[[Node], bool]) -> list[tuple[OpDef | None, Rule]]:
    """The rules, in the order they are tried. ``single_use(node)`` says whether a node has one
    user (a rule that looks through a computing node must not duplicate its work)."""
    inlined: dict[Node, list[Node]] = {}  # a switch's chosen branch, inlined once per run
    return [
        (E.mul, mul_by_one),                        # x * 1 -> x
        (E.mul, mul_by_minus_one),                  # x * -1 -> -x
        (E.mul, int_mul_by_zero),                   # x * 0 -> 0            (integers only)
        (E.add, add_zero),                          # x + (-0.0) -> x; x + 0 -> x for integers
        (E.add, add_negated),                       # x + (-y) -> x - y
        (E.sub, sub_zero),                          # x - (+0.0) -> x
        (E.sub, sub_negated),                       # x - (-y) -> x + y
        (E.sub, zero_minus),                        # (-0.0) - x -> -x; 0 - x -> -x for ints
        (E.sub, int_self_sub),                      # x - x -> 0            (integers only)
        (E.div, div_by_one),                        # x / 1 -> x
        (E.div, div_by_power_of_two),               # x / 2^k -> x * 2^-k   (2^-k exact)
        (E.neg, double_negation),                   # -(-x) -> x
        (E.neg, negated_product),                   # -(x * c) -> x * (-c)
        (E.mul, mul_of_negated),                    # (-x) * c -> x * (-c)
        (R.sum_,                                     # sum(-x) -> -sum(x)
         lambda n: sum_of_negated(n, single_use)),
        (E.pow_, pow_small_exponent),                # x^1 -> x, x^0 -> 1, x^2 -> square x,
                                                    # x^0.5 -> sqrt x, x^-1 -> 1/x,
                                                    # x^3 -> x * x^2, x^4 -> (x^2)^2
        (E.exp, exp_of_log),                        # exp(log x) -> x       (x >= 0 or NaN)
        (E.log, log_of_exp),                        # log(exp x) -> x       (|x| <= 1 or NaN)
        (E.where, where_known_condition),           # where(True, a, b) -> a; (False) -> b
        (E.where, where_same_branches),             # where(c, a, a) -> a
        (E.cast, cast_to_same),                     # cast(x: T, T) -> x
        (S.transpose, transpose_identity),          # transpose(x, id) -> x
        (S.transpose, transpose_of_transpose),      # transpose(transpose(x, p), q) -> x[p[q]]
        (S.transpose,                               # (A^T B)^T -> B^T A
         lambda n: transpose_of_matmul(n, single_use)),
        (L.matmul, matmul_of_transposes),           # A^T B^T -> (B A)^T
        (S.reshape, reshape_identity),              # reshape(x, x.shape) -> x
        (S.reshape, reshape_of_reshape),            # reshape(reshape(x, s), t) -> reshape(x, t)
        (S.reshape, reshape_of_uniform),            # reshape(c everywhere) -> broadcast(c)
        (S.reshape,                                 # reshape(sum(x, keepdims), kept shape)
         lambda n: reshape_of_kept_sum(n, single_use)),  # -> sum(x) without keepdims
        (S.broadcast_to, broadcast_identity),       # broadcast_to(x, x.shape) -> x
        (S.broadcast_to, broadcast_of_broadcast),   # broadcast(broadcast(x, s), t) -> bcast(x, t)
        (S.broadcast_to, broadcast_of_uniform),     # broadcast(c everywhere) -> broadcast(c: [])
        (FILL, fill_to_broadcast),                # fill(v, s) -> broadcast_to(v: [], s)
        (R.sum_, sum_of_size_one_axes),              # sum over size-1 axes -> reshape
        (R.sum_, lambda n: reduction_of_broadcast(   # sum(broadcast(y), repeated k times)
            n, repeats_scale=True)),                #   -> sum(y) * k
        (R.max_, lambda n: reduction_of_broadcast(   # max(broadcast(y)) -> max(y)
            n, repeats_scale=False)),
        (R.min_, lambda n: reduction_of_broadcast(   # min(broadcast(y)) -> min(y)
            n, repeats_scale=False)),
        (ELEMENTWISE, elementwise_of_broadcasts),   # f(bcast a, b) -> bcast(f(a, b))
        (C.scan, hoist_invariants),                 # loop-invariant values -> extra consts
        (C.while_loop, hoist_invariants),           # (the same, condition and body)
        (result,                                  # switch(c, ...)[k] -> branch c's output k;
         lambda n: known_control(n, inlined)),      # a loop that never runs: carry k's init
    ]
