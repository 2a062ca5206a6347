"""Symbolic dimensions as expressions: how ops name derived sizes, how the names simplify, and
how the runtime evaluates them.

A symbolic dim is a string. Placeholders bring plain symbols (``batch``, ``?0``); an op whose
output size is a function of symbolic sizes names the result by its formula, written in one
normal form so that equal sizes get equal names (the verifier re-runs rules and must agree,
broadcasting compares names): a polynomial in the symbols with integer coefficients, its terms
sorted, each a product of symbols with its coefficient last (``a+b+3``, ``n*4``, ``a*4+b*4``,
``m*n-1``). Sizes that are not polynomials stay whole as atoms of it: the length of a slice
(``n[1:]``, ``(a+b)[::2]``) and a floor division that is not exact (``(n//2)``).

Because the form is canonical, arithmetic simplifies: ``(batch*4)/4`` is ``batch``, which is
what a reshape with ``-1`` over a derived dim needs (:func:`exact_quotient`). When a compiled
function runs, a derived name is bound from the first concrete shape that holds it; a formula
needed before that is evaluated from its parts with :func:`evaluate_dim`.

>>> slice_dim("n", 1, None, 1), sum_dims(["n", 1, 1]), product_dims(["a+b", 4])
('n[1:]', 'n+2', 'a*4+b*4')
>>> exact_quotient(product_dims(["batch", 4, 10]), 40), exact_quotient("n*6", "n*4")
('batch', None)
>>> evaluate_dim("(n+2)[1:]", {"n": 5}), evaluate_dim("n*4", {"n": 3}), evaluate_dim("m", {})
(6, 12, None)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

from ..errors import ShapeError
from .types import Dim

# A parsed dim: an int, a symbol, (operator, left, right) for + - * //, or
# ("[]", base, (start, stop, step)) for the length of range(base)[start:stop:step].
DimExpr = int | str | tuple

# --- parsing --------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(//|[*+\-()\[\]:]|[^\s*+\-/()\[\]:]+)")
_LEVELS = (("+", "-"), ("*", "//"))


def parse_dim(text: str) -> DimExpr:
    """Parse ``text``: integers, symbols, ``+ - * //``, parentheses (usual precedence) and
    postfix slices.

    >>> parse_dim("4*n"), parse_dim("(a+b)//2"), parse_dim("n[1:-1]+2")
    (('*', 4, 'n'), ('//', ('+', 'a', 'b'), 2), ('+', ('[]', 'n', (1, -1, 1)), 2))
    """
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or not match.group(1):
            break
        tokens.append(match.group(1))
        position = match.end()
    if text[position:].strip():
        raise ShapeError(f"cannot parse the symbolic dimension {text!r}")
    expr, rest = _parse_level(tokens, 0, text)
    if rest:
        raise ShapeError(f"cannot parse the symbolic dimension {text!r}")
    return expr


def _parse_level(tokens: list[str], level: int, text: str) -> tuple[DimExpr, list[str]]:
    if level == len(_LEVELS):
        return _parse_postfix(tokens, text)
    left, tokens = _parse_level(tokens, level + 1, text)
    while tokens and tokens[0] in _LEVELS[level]:
        operator = tokens[0]
        right, tokens = _parse_level(tokens[1:], level + 1, text)
        left = (operator, left, right)
    return left, tokens


def _parse_postfix(tokens: list[str], text: str) -> tuple[DimExpr, list[str]]:
    expr, tokens = _parse_primary(tokens, text)
    while tokens and tokens[0] == "[":
        spec, tokens = _parse_slice(tokens[1:], text)
        expr = ("[]", expr, spec)
    return expr, tokens


def _parse_slice(tokens: list[str], text: str) -> tuple[tuple, list[str]]:
    parts: list[int | None] = [None]
    while tokens and tokens[0] != "]":
        head, tokens = tokens[0], tokens[1:]
        if head == ":":
            parts.append(None)
        elif head == "-" and tokens and tokens[0].isdigit():
            parts[-1], tokens = -int(tokens[0]), tokens[1:]
        elif head.isdigit():
            parts[-1] = int(head)
        else:
            raise ShapeError(f"cannot parse the slice in the symbolic dimension {text!r}")
    if not tokens or len(parts) not in (2, 3):
        raise ShapeError(f"cannot parse the slice in the symbolic dimension {text!r}")
    start, stop = parts[0], parts[1]
    step = parts[2] if len(parts) == 3 and parts[2] is not None else 1
    return (start, stop, step), tokens[1:]


def _parse_primary(tokens: list[str], text: str) -> tuple[DimExpr, list[str]]:
    if not tokens or tokens[0] in ("*", "+", "-", "//", ")", "[", "]", ":"):
        raise ShapeError(f"cannot parse the symbolic dimension {text!r}")
    head, rest = tokens[0], tokens[1:]
    if head == "(":
        inner, rest = _parse_level(rest, 0, text)
        if not rest or rest[0] != ")":
            raise ShapeError(f"unbalanced parentheses in the symbolic dimension {text!r}")
        return inner, rest[1:]
    return (int(head) if head.isdigit() else head), rest


def dim_symbols(expr: DimExpr) -> set[str]:
    """The symbols a parsed dim reads."""
    if isinstance(expr, int):
        return set()
    if isinstance(expr, str):
        return {expr}
    if expr[0] == "[]":
        return dim_symbols(expr[1])
    return dim_symbols(expr[1]) | dim_symbols(expr[2])


# --- the normal form: a polynomial over atoms -------------------------------------------------

# A monomial is a sorted tuple of atoms (repeated for powers; () is the constant term); an atom
# is a symbol or the text of a slice length or an inexact floor division.
Monomial = tuple[str, ...]
Poly = dict[Monomial, int]


def _poly(dim: Dim) -> Poly:
    return _to_poly(dim if isinstance(dim, int) else parse_dim(dim))


def _to_poly(expr: DimExpr) -> Poly:
    if isinstance(expr, int):
        return {(): expr} if expr else {}
    if isinstance(expr, str):
        return {(expr,): 1}
    if expr[0] == "[]":
        _, base, (start, stop, step) = expr
        whole = _to_poly(base)
        length = slice_dim(_format(whole), start, stop, step)
        if isinstance(length, int):
            return _to_poly(length)
        return whole if length == _format(whole) else {(length,): 1}
    operator, left, right = expr
    a, b = _to_poly(left), _to_poly(right)
    if operator == "+":
        return _add(a, b)
    if operator == "-":
        return _add(a, _scale(b, -1))
    if operator == "*":
        return _multiply(a, b)
    return _floor_divide(a, b)


def _add(a: Poly, b: Poly) -> Poly:
    total = dict(a)
    for monomial, coefficient in b.items():
        total[monomial] = total.get(monomial, 0) + coefficient
    return {m: c for m, c in total.items() if c}


def _scale(a: Poly, k: int) -> Poly:
    return {m: c * k for m, c in a.items() if c * k}


def _multiply(a: Poly, b: Poly) -> Poly:
    product: Poly = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            product = _add(product, {tuple(sorted(ma + mb)): ca * cb})
    return product


def _constant(a: Poly) -> int | None:
    """The value of a polynomial without atoms, else None."""
    return a.get((), 0) if set(a) <= {()} else None


def _divide(a: Poly, b: Poly) -> Poly | None:
    """The polynomial q with a == q * b, or None when b does not divide a exactly (polynomial
    long division in graded lexicographic order; exact quotients have integer
    coefficients)."""
    if not b:
        return None
    atoms = sorted({atom for m in (*a, *b) for atom in m})

    def order(monomial: Monomial) -> tuple:
        counts = Counter(monomial)
        return (len(monomial), tuple(counts[atom] for atom in atoms))

    lead_b = max(b, key=order)
    quotient: Poly = {}
    rest = dict(a)
    while rest:
        lead = max(rest, key=order)
        left = Counter(lead)
        left.subtract(Counter(lead_b))
        if any(n < 0 for n in left.values()) or rest[lead] % b[lead_b]:
            return None
        term = {tuple(sorted(left.elements())): rest[lead] // b[lead_b]}
        quotient = _add(quotient, term)
        rest = _add(rest, _scale(_multiply(term, b), -1))
    return quotient


def _floor_divide(a: Poly, b: Poly) -> Poly:
    exact = _divide(a, b)
    if exact is not None:
        return exact
    ca, cb = _constant(a), _constant(b)
    if ca is not None and cb:
        return _to_poly(ca // cb)
    return {(f"({_format(a)}//{as_factor(_format(b))})",): 1}


def _format_term(monomial: Monomial, coefficient: int) -> str:
    factors = [as_factor(atom) for atom in monomial]
    magnitude = abs(coefficient)
    if magnitude != 1 or not factors:
        factors.append(str(magnitude))
    return "*".join(factors)


def _format(a: Poly) -> Dim:
    constant = _constant(a)
    if constant is not None:
        return constant
    # positive terms first (sorted, the constant last), then the negative ones: a+b-1, m*n-n
    terms = sorted((m for m in a if m), key=lambda m: "*".join(m))
    if () in a:
        terms.append(())
    ordered = [m for m in terms if a[m] > 0] + [m for m in terms if a[m] < 0]
    text = ""
    for monomial in ordered:
        sign = "-" if a[monomial] < 0 else ("+" if text else "")
        text += sign + _format_term(monomial, a[monomial])
    return text if not text.startswith("-") else "0" + text


def normalize_dim(dim: Dim) -> Dim:
    """``dim`` in the normal form (an int when it is static)."""
    return _format(_poly(dim))


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


def sum_dims(dims: Sequence[Dim]) -> Dim:
    """The sum of some dimensions: an int when all are static, else the normal form.

    >>> sum_dims([2, 3]), sum_dims(["b", "a+2", 1])
    (5, 'a+b+3')
    """
    total: Poly = {}
    for dim in dims:
        total = _add(total, _poly(dim))
    return _format(total)


def difference_dims(a: Dim, b: Dim) -> Dim:
    """``a - b`` in the normal form (``difference_dims("n+3", 1) == "n+2"``)."""
    return _format(_add(_poly(a), _scale(_poly(b), -1)))


def product_dims(dims: Sequence[Dim]) -> Dim:
    """The product of some dimensions (an element count): an int when all are static.

    >>> product_dims([2, 3]), product_dims(["n", 4]), product_dims(["n", 0])
    (6, 'n*4', 0)
    """
    total: Poly = {(): 1}
    for dim in dims:
        total = _multiply(total, _poly(dim))
    return _format(total)


def exact_quotient(a: Dim, b: Dim) -> Dim | None:
    """``a / b`` when ``b`` divides ``a`` for every value of the symbols, else None."""
    quotient = _divide(_poly(a), _poly(b))
    return None if quotient is None else _format(quotient)


def floor_quotient(a: Dim, b: Dim) -> Dim:
    """``a // b``: the exact quotient where there is one, else a floor-division atom."""
    return _format(_floor_divide(_poly(a), _poly(b)))


def as_factor(dim: Dim) -> Dim:
    """A dim as a factor of a product: a sum is parenthesized (``(a+b)*4``, not ``a+b*4``)."""
    if isinstance(dim, int):
        return dim
    depth = 0
    for char in dim:
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if char in "+-" and depth == 0:
            return f"({dim})"
    return dim


# --- evaluation ----------------------------------------------------------------------------------

_SYMBOL = re.compile(r"[A-Za-z_?][A-Za-z0-9_?]*")


class _Unknown(Exception):
    """A formula refers to a symbol with no value yet."""


def _evaluate(expr: DimExpr, env: Mapping[str, int]) -> int:
    if isinstance(expr, int):
        return expr
    if isinstance(expr, str):
        if expr not in env:
            raise _Unknown(expr)
        return env[expr]
    if expr[0] == "[]":
        _, base, spec = expr
        return len(range(*slice(*spec).indices(_evaluate(base, env))))
    operator, left, right = expr
    a, b = _evaluate(left, env), _evaluate(right, env)
    if operator == "+":
        return a + b
    if operator == "-":
        return a - b
    if operator == "*":
        return a * b
    if b == 0:
        raise _Unknown(expr)
    return a // b


def evaluate_dim(dim: Dim, env: Mapping[str, int]) -> int | None:
    """The size of ``dim`` given the sizes of symbols in ``env``; None if it is not known."""
    if isinstance(dim, int):
        return dim
    if dim in env:
        return env[dim]
    try:
        return _evaluate(parse_dim(dim), env)
    except (_Unknown, ShapeError):
        return None
