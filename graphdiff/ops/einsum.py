"""``einsum``: one n-ary primitive for numpy's Einstein summation, explicit form only.

The attribute ``subscripts`` is always explicit (``"ij,jk->ik"``) and holds no ellipsis: the API
(``graphdiff.api.conv.einsum``) names ellipsis axes with spare letters, turns the implicit form
into the explicit one and broadcasts size-1 axes, so here every letter has one size across the
operands. A letter may repeat within an operand (a diagonal, ``"ii->i"``) but not in the output.

Derivatives. The op is linear in each operand, so its JVP is the sum over operands of the same
einsum with that operand replaced by its tangent. The VJP for operand ``k`` is an einsum of the
cotangent with the other operands, producing operand ``k``'s letters:

- a letter that appears only in operand ``k`` was summed out: the cotangent is constant along
  it, so the einsum omits it and a ``broadcast_to`` restores it;
- a repeated letter (``"ii"``) reads a diagonal: the cotangent lives on that diagonal, so the
  second occurrence gets a fresh letter tied to the first by an identity-matrix constant
  operand (static sizes only).

The kernel is ``np.einsum`` with a contraction path computed once per subscripts and shapes.

ONNX: ``Einsum`` with ``equation=subscripts``.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.node import Node
from ..ir.types import Dim, TensorType, broadcast_dims
from .core import HIGHEST, defop, jnp, require_same_dtype
from .elementwise import add
from .shape import broadcast_to, reshape
from .source import constant

LETTERS = string.ascii_letters


def parse(subscripts: str) -> tuple[list[str], str]:
    """Split explicit subscripts into the operands' letter strings and the output's."""
    if "->" not in subscripts or "." in subscripts:
        raise ShapeError(f"subscripts {subscripts!r} must be explicit ('...->...') without "
                         f"ellipsis at the primitive level")
    inputs, output = subscripts.replace(" ", "").split("->")
    terms = inputs.split(",")
    for term in [*terms, output]:
        if any(ch not in LETTERS for ch in term):
            raise ShapeError(f"subscripts {subscripts!r} hold a character that is not a letter")
    if len(set(output)) != len(output):
        raise ShapeError(f"output subscripts {output!r} repeat a letter")
    missing = set(output) - set("".join(terms))
    if missing:
        raise ShapeError(f"output letters {''.join(sorted(missing))!r} appear in no operand")
    return terms, output


def letter_sizes(terms: Sequence[str], shapes: Sequence[Sequence[Dim]]) -> dict[str, Dim]:
    """The size of every letter, checking operands agree (a symbol defers to an int)."""
    sizes: dict[str, Dim] = {}
    for position, (term, shape) in enumerate(zip(terms, shapes)):
        if len(term) != len(shape):
            raise ShapeError(f"operand {position} has rank {len(shape)} but subscripts "
                             f"{term!r} name {len(term)} axes")
        for letter, dim in zip(term, shape):
            known = sizes.get(letter, dim)
            if 1 in (known, dim) and known != dim:
                raise ShapeError(f"letter {letter!r} has sizes {known} and {dim} (size-1 axes "
                                 f"are broadcast by the API, not here)")
            try:
                sizes[letter] = broadcast_dims(known, dim)
            except ValueError:
                raise ShapeError(f"letter {letter!r} has sizes {known} and {dim} in different "
                                 f"operands") from None
    return sizes


def _einsum_type(types: Sequence[TensorType], *, subscripts: str) -> TensorType:
    dtype = require_same_dtype(types)
    if dtype == np.bool_:
        raise DTypeError("einsum of bool tensors is not supported")
    terms, output = parse(subscripts)
    if len(terms) != len(types):
        raise ShapeError(f"subscripts {subscripts!r} name {len(terms)} operands, got "
                         f"{len(types)}")
    sizes = letter_sizes(terms, [t.shape for t in types])
    return TensorType(dtype, tuple(sizes[letter] for letter in output))


@lru_cache(maxsize=1024)
def _path(subscripts: str, shapes: tuple[tuple[int, ...], ...]) -> list | bool:
    """The contraction order, computed once per subscripts and shapes."""
    if len(shapes) == 1:
        return False  # one operand: numpy's C loop directly (the path machinery costs ~5 us)
    if len(shapes) == 2:
        return True  # numpy's own pairwise choice (tensordot when it can) is already optimal
    dummies = [np.empty(shape, dtype=np.float32) for shape in shapes]
    return np.einsum_path(subscripts, *dummies, optimize="greedy")[0]


def _einsum_kernel(*operands: np.ndarray, subscripts: str) -> np.ndarray:
    path = _path(subscripts, tuple(o.shape for o in operands))
    result = np.einsum(subscripts, *operands, optimize=path)
    # np.einsum returns a writable view for transposes and diagonals ("ij->ji", "ii->i"); the
    # executor may write over an op's output, so it must never alias an operand
    if any(np.may_share_memory(result, o) for o in operands):
        return result.copy()
    return np.asarray(result)


# --- derivative rules ---------------------------------------------------------------------------

def _operand_vjp(node: Node, g: Node, k: int) -> Node:
    """Cotangent of operand ``k``: einsum of g with the other operands into its letters."""
    terms, output = parse(node.attrs["subscripts"])
    operand = node.inputs[k]
    used = set("".join(terms)) | set(output)
    spare = iter(letter for letter in LETTERS if letter not in used)
    sizes = letter_sizes(terms, [v.shape for v in node.inputs])

    target = ""  # operand k's letters, a repeat replaced by a fresh letter
    eyes: list[tuple[str, Node]] = []
    for letter in terms[k]:
        if letter not in target:
            target += letter
            continue
        size = sizes[letter]
        if not isinstance(size, int):
            raise ShapeError(f"einsum {node.attrs['subscripts']!r}: the gradient of a diagonal "
                             f"needs a static size for letter {letter!r}, got {size}")
        fresh = next(spare)
        target += fresh
        eyes.append((letter + fresh, constant(np.eye(size, dtype=operand.dtype))))

    others = [(terms[j], node.inputs[j]) for j in range(len(terms)) if j != k]
    available = set(output).union(*(set(t) for t, _ in others), *(set(e) for e, _ in eyes))
    kept = "".join(letter for letter in target if letter in available)
    parts = [(output, g), *others, *eyes]
    if len(parts) == 1 and kept == output:
        result = g
    else:
        result = einsum(*(v for _, v in parts),
                        subscripts=",".join(t for t, _ in parts) + "->" + kept)
    if kept != target:  # letters summed out of operand k alone: constant along them
        kept_sizes = dict(zip(kept, result.shape))
        result = reshape(result, shape=tuple(kept_sizes.get(letter, 1) for letter in target))
    if tuple(result.shape) != tuple(operand.shape):
        result = broadcast_to(result, shape=operand.shape)
    return result


def _einsum_vjp(node: Node, g: Node) -> list[Node]:
    return [_operand_vjp(node, g, k) for k in range(len(node.inputs))]


def _einsum_jvp(node: Node, tangents: Sequence[Node | None]) -> Node | None:
    # linear in each operand: d einsum(a, b, ...) = einsum(da, b, ...) + einsum(a, db, ...) + ...
    total = None
    for k, tangent in enumerate(tangents):
        if tangent is None:
            continue
        operands = list(node.inputs)
        operands[k] = tangent
        term = einsum(*operands, **node.attrs)
        total = term if total is None else add(total, term)
    return total


def _einsum_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool], size) -> Node:
    """A fresh letter for the batch axis, on the batched operands and the output."""
    terms, output = parse(node.attrs["subscripts"])
    letter = next(c for c in LETTERS if c not in node.attrs["subscripts"])
    terms = [letter + t if b else t for t, b in zip(terms, batched, strict=True)]
    return einsum(*inputs, subscripts=",".join(terms) + "->" + letter + output)


einsum = defop("einsum", _einsum_type, _einsum_kernel, vjp=_einsum_vjp, batch=_einsum_batch,
               jax=lambda *operands, subscripts: jnp().einsum(subscripts, *operands,
                                                              precision=HIGHEST),
               onnx=lambda ctx, n, i: ctx.op("Einsum", i, equation=n.attrs["subscripts"]),
               jvp=_einsum_jvp,
               doc="Einstein summation over explicit subscripts (ONNX Einsum, equation = "
                   "subscripts).")
