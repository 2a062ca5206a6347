"""Small helpers the rewrite rules read like math with: known values, types, node builders.

Everything here inspects a node locally (its op, attributes and operands); nothing walks the
graph, so a rule costs O(1) per node and the rewrite stays linear.
"""

from __future__ import annotations

import numpy as np

from ..ir.node import Node
from ..ops import elementwise as E
from ..ops import shape as S
from ..ops.source import CONSTANT, FILL, constant
from .rewrite import build

_UNIFORM_CHECK_LIMIT = 1 << 12  # larger constants are not scanned for a uniform value
_VIEWS_OF_ONE_VALUE = (S.broadcast_to, S.reshape, S.transpose)


def uniform_value(node: Node) -> np.generic | None:
    """The one value every element of ``node`` holds, when known at compile time: a constant
    whose elements are all equal (the same bits, so -0.0 and 0.0 differ), a ``fill``, or a
    reshape / transpose / broadcast of one. NaN never counts as uniform (NaN != NaN)."""
    while node.op in _VIEWS_OF_ONE_VALUE:
        node = node.inputs[0]
    if node.op is FILL:
        return np.asarray(node.attrs["value"], dtype=node.attrs["dtype"])[()]
    if node.op is not CONSTANT:
        return None
    data = node.data
    if data.size == 0 or data.size > _UNIFORM_CHECK_LIMIT:
        return None
    first = data.flat[0]
    if data.size > 1:
        if not np.all(data == first):
            return None
        if data.dtype.kind == "f" and not np.all(np.signbit(data) == np.signbit(first)):
            return None
    return first[()] if isinstance(first, np.ndarray) else first


def is_value(node: Node, value: float) -> bool:
    """True if every element of ``node`` equals ``value`` (``0`` matches -0.0 too)."""
    known = uniform_value(node)
    return known is not None and bool(known == value)


def is_exact_zero(node: Node, *, negative: bool) -> bool:
    """True if every element is a zero of the given sign (for floats; any int zero matches)."""
    known = uniform_value(node)
    if known is None or known != 0:
        return False
    return node.dtype.kind != "f" or bool(np.signbit(known)) == negative


def is_integer_type(node: Node) -> bool:
    return node.dtype.kind in "iu"


def fits(shape: tuple, target: tuple) -> bool:
    """True if ``shape`` broadcasts to exactly ``target``.

    Two different symbols count as equal: the rules see them where broadcasting already
    assumed so (``x`` fed as ``?1`` times a ``?0`` tensor), and the runtime checks it.
    """
    if len(shape) > len(target):
        return False
    lead = len(target) - len(shape)
    for dim, want in zip(shape, target[lead:]):
        both_symbols = not isinstance(dim, int) and not isinstance(want, int)
        if not (dim == want or dim == 1 or both_symbols):
            return False
    return True


def fit(node: Node, value: Node) -> Node | None:
    """``value`` with ``node``'s type (broadcast up if needed), or None if it cannot be."""
    if value.type == node.type:
        return value
    if value.dtype != node.dtype or not fits(value.shape, node.shape):
        return None
    return build(S.broadcast_to, [value], {"shape": node.shape}, like=node)


def filled(node: Node, value: float) -> Node:
    """A tensor of ``node``'s type holding ``value`` everywhere: a scalar constant, broadcast."""
    scalar = constant(np.asarray(value, dtype=node.dtype))
    if node.ndim == 0:
        return scalar
    return build(S.broadcast_to, [scalar], {"shape": node.shape}, like=node)


def scalar_of(node: Node) -> Node | None:
    """The rank-0 constant of a uniform ``node`` of higher rank, else None."""
    known = uniform_value(node)
    if known is None or node.ndim == 0:
        return None
    return constant(np.asarray(known, dtype=node.dtype))


def negate(node: Node, value: Node) -> Node:
    return build(E.neg, [value], {}, like=node)


def is_swap(perm: tuple[int, ...]) -> bool:
    """True for the permutation that swaps the last two axes and keeps the rest."""
    n = len(perm)
    return n >= 2 and perm == tuple(range(n - 2)) + (n - 1, n - 2)


def swap_last(node: Node, value: Node) -> Node:
    n = value.ndim
    return build(S.transpose, [value], {"perm": tuple(range(n - 2)) + (n - 1, n - 2)},
                 like=node)


def is_swapped(node: Node) -> bool:
    return node.op is S.transpose and is_swap(node.attrs["perm"])


def power_of_two_reciprocal(node: Node) -> np.generic | None:
    """1/c when ``node`` is a uniform float constant c = +-2^k whose reciprocal is exactly
    representable (so ``x / c == x * (1/c)`` bit for bit), else None."""
    known = uniform_value(node)
    if known is None or node.dtype.kind != "f" or not np.isfinite(known) or known == 0:
        return None
    mantissa, _ = np.frexp(known)
    if abs(mantissa) != 0.5:
        return None
    with np.errstate(all="ignore"):
        inverse = np.reciprocal(known)
    if not np.isfinite(inverse) or inverse * known != 1 or np.frexp(inverse)[0] not in (0.5, -0.5):
        return None
    return inverse
