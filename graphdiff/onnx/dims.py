"""Symbolic dimension expressions: parsing the names graphdiff gives derived dims.

A symbolic dim is a string. Placeholders bring plain symbols (``batch``, ``?0``); ops derive
others and name them by formula (``4*n``, ``n+m``). Export computes each such dim inside the
ONNX graph from the ``Shape`` of the input that defines its symbols, so the formula is parsed
into a small tree: an int, a symbol, ``(operator, left, right)`` or ``('[]', base,
(start, stop, step))`` for the length of a slice.

>>> parse_dim("4*n")
('*', 4, 'n')
>>> parse_dim("?0")
'?0'
>>> parse_dim("(a+b)//2")
('//', ('+', 'a', 'b'), 2)
>>> parse_dim("n[1:-1]+2")
('+', ('[]', 'n', (1, -1, 1)), 2)
"""

from __future__ import annotations

import re

from ..errors import OnnxError

DimExpr = int | str | tuple

_TOKEN = re.compile(r"\s*(//|[*+\-()\[\]:]|[^\s*+\-/()\[\]:]+)")
_LEVELS = (("+", "-"), ("*", "//"))


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise OnnxError(f"cannot parse the symbolic dimension {text!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def parse_dim(text: str) -> DimExpr:
    """Parse ``text``: integers, symbols, ``+ - * //`` and parentheses (usual precedence)."""
    tokens = _tokens(text.strip())
    expr, rest = _parse_level(tokens, 0, text)
    if rest:
        raise OnnxError(f"cannot parse the symbolic dimension {text!r}")
    return expr


def _parse_level(tokens: list[str], level: int, text: str) -> tuple[DimExpr, list[str]]:
    if level == len(_LEVELS):
        return _parse_atom(tokens, text)
    left, tokens = _parse_level(tokens, level + 1, text)
    while tokens and tokens[0] in _LEVELS[level]:
        operator = tokens[0]
        right, tokens = _parse_level(tokens[1:], level + 1, text)
        left = (operator, left, right)
    return left, tokens


def _parse_atom(tokens: list[str], text: str) -> tuple[DimExpr, list[str]]:
    """atom ('[' start ':' stop (':' step)? ']')*: a postfix slice is the length of
    ``range(atom)[start:stop:step]``."""
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
            raise OnnxError(f"cannot parse the slice in the symbolic dimension {text!r}")
    if not tokens or len(parts) not in (2, 3):
        raise OnnxError(f"cannot parse the slice in the symbolic dimension {text!r}")
    start, stop = parts[0], parts[1]
    step = parts[2] if len(parts) == 3 and parts[2] is not None else 1
    return (start, stop, step), tokens[1:]


def _parse_primary(tokens: list[str], text: str) -> tuple[DimExpr, list[str]]:
    if not tokens or tokens[0] in ("*", "+", "-", "//", ")", "[", "]", ":"):
        raise OnnxError(f"cannot parse the symbolic dimension {text!r}")
    head, rest = tokens[0], tokens[1:]
    if head == "(":
        inner, rest = _parse_level(rest, 0, text)
        if not rest or rest[0] != ")":
            raise OnnxError(f"unbalanced parentheses in the symbolic dimension {text!r}")
        return inner, rest[1:]
    return (int(head) if head.isdigit() else head), rest
