"""Derived symbolic dimensions: how ops name them, and how the runtime evaluates them.

An op whose output size is a function of a symbolic size names the result by its formula, so
the same computation always gets the same name (the verifier re-runs rules and must agree):
``n[1:]`` (a slice), ``a+b+2`` (a sum: concatenation, padding), ``n*4`` or ``(a+b)*4`` (a
product: reshape). When a compiled function runs, a derived name is bound from the first
concrete shape that holds it; a formula needed before that (a gradient graph that never
computes the forward value of ``n[1:]``) is evaluated from its parts with :func:`evaluate_dim`.

>>> slice_dim("n", 1, None, 1), sum_dims(["n", 1, 1])
('n[1:]', 'n+2')
>>> evaluate_dim("(n+2)[1:]", {"n": 5}), evaluate_dim("n*4", {"n": 3}), evaluate_dim("m", {})
(6, 12, None)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ..errors import ShapeError
from .types import Dim

# --- naming ---------------------------------------------------------------------------------------

def _format_slice(start: int | None, stop: int | None, step: int) -> str:
    text = f"{'' if start is None else start}:{'' if stop is None else stop}"
    return text if step == 1 else f"{text}:{step}"


def _as_base(dim: str) -> str:
    """A dim as the operand of a postfix slice: formulas are parenthesized (``(a+b)[1:]``)."""
    return dim if _SYMBOL.fullmatch(dim) else f"({dim})"


def slice_dim(dim: Dim, start: int | None, stop: int | None, step: int) -> Dim:
    """The length of ``range(dim)[start:stop:step]``; symbolic when it depends on ``dim``.

    A slice of a symbolic dim keeps the symbol when it takes the whole axis, is static when
    both ends count from the same end of the axis (``[:3]``, ``[-2:]``, ``[2:5]``; the run-time
    check rejects a size too small for it), and is a derived symbol otherwise.

    >>> slice_dim(10, 1, None, 2), slice_dim("n", None, None, -1), slice_dim("n", -3, None, 1)
    (5, 'n', 3)
    """
    if step == 0:
        raise ShapeError("slice step cannot be zero")
    if isinstance(dim, int):
        return len(range(*slice(start, stop, step).indices(dim)))
    first = start if start is not None else (0 if step > 0 else -1)
    # Each end is an offset from the front (>= 0) or from the back (< 0) of the axis; a missing
    # stop is the far end in the direction of the step.
    if stop is None:
        last, last_from_back = (0, True) if step > 0 else (-1, False)
    else:
        last, last_from_back = stop, stop < 0
    if (first < 0) == last_from_back:  # both ends anchored alike: the size cancels out
        return len(range(first, last, step))
    if stop is None and first == (0 if step > 0 else -1) and abs(step) == 1:
        return dim  # the whole axis, forwards or backwards
    return f"{_as_base(dim)}[{_format_slice(start, stop, step)}]"


def _terms(dim: Dim) -> list[Dim]:
    """The top-level ``+`` terms of a dimension (bracketed parts stay whole)."""
    if isinstance(dim, int):
        return [dim]
    terms, depth, start = [], 0, 0
    for i, char in enumerate(dim):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if char == "+" and depth == 0:
            terms.append(dim[start:i])
            start = i + 1
    terms.append(dim[start:])
    return [int(t) if t.isdigit() else t for t in terms]


def sum_dims(dims: Sequence[Dim]) -> Dim:
    """The sum of some dimensions: an int when all are static, else a normalized formula.

    >>> sum_dims([2, 3]), sum_dims(["b", "a+2", 1])
    (5, 'a+b+3')
    """
    constant, symbols = 0, []
    for dim in dims:
        for term in _terms(dim):
            if isinstance(term, int):
                constant += term
            else:
                symbols.append(term)
    if not symbols:
        return constant
    return "+".join(sorted(symbols) + ([str(constant)] if constant else []))


def as_factor(dim: Dim) -> Dim:
    """A dim as a factor of a product: a sum is parenthesized (``(a+b)*4``, not ``a+b*4``)."""
    return dim if len(_terms(dim)) == 1 else f"({dim})"


# --- evaluation ----------------------------------------------------------------------------------

_SYMBOL = re.compile(r"[A-Za-z_?][A-Za-z0-9_?]*")
_TOKEN = re.compile(r"\s*(-?\d+|[A-Za-z_?][A-Za-z0-9_?]*|[-+*()\[\]:])")


class _Unknown(Exception):
    """A formula refers to a symbol with no value yet, or is not a formula at all."""


class _Evaluator:
    """Recursive descent over: sum := product ('+' product)*; product := postfix ('*' postfix)*;
    postfix := atom ('[' slice ']')*; atom := int | symbol | '(' sum ')'."""

    def __init__(self, text: str, env: Mapping[str, int]) -> None:
        self.tokens = _TOKEN.findall(text)
        if "".join(self.tokens) != text.replace(" ", ""):
            raise _Unknown(text)
        self.env = env
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _Unknown(expected)
        self.position += 1
        return token

    def whole(self) -> int:
        value = self.sum()
        if self.peek() is not None:
            raise _Unknown(self.peek())
        return value

    def sum(self) -> int:
        value = self.product()
        while self.peek() == "+":
            self.take()
            value += self.product()
        return value

    def product(self) -> int:
        value = self.postfix()
        while self.peek() == "*":
            self.take()
            value *= self.postfix()
        return value

    def postfix(self) -> int:
        value = self.atom()
        while self.peek() == "[":
            self.take()
            bounds: list[int | None] = [None, None, None]
            slot = 0
            while self.peek() != "]":
                token = self.take()
                if token == ":":
                    slot += 1
                elif slot < 3 and bounds[slot] is None:
                    bounds[slot] = int(token)
                else:
                    raise _Unknown(token)
            self.take("]")
            value = len(range(*slice(*bounds).indices(value)))
        return value

    def atom(self) -> int:
        token = self.take()
        if token == "(":
            value = self.sum()
            self.take(")")
            return value
        if token.lstrip("-").isdigit():
            return int(token)
        if token in self.env:
            return self.env[token]
        raise _Unknown(token)


def evaluate_dim(dim: Dim, env: Mapping[str, int]) -> int | None:
    """The size of ``dim`` given the sizes of symbols in ``env``; None if it is not known."""
    if isinstance(dim, int):
        return dim
    if dim in env:
        return env[dim]
    try:
        return _Evaluator(dim, env).whole()
    except (_Unknown, ValueError):
        return None
