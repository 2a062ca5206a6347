"""Matrix products: ``matmul`` with numpy's batch broadcasting; and the helpers the rules of
the linear-algebra ops share (``linalg_solve``: solves and determinants, ``linalg_factor``: the
decompositions).

The IR's matmul takes operands of rank 2 or more; the API turns numpy's 1-D cases into
reshapes around it, so the rules here stay simple.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import DTypeError, OnnxError, ShapeError
from ..ir.dims import product_dims
from ..ir.node import Node
from ..ir.types import TensorType, broadcast_dims, broadcast_shapes, format_shape
from .batching import lift, merged
from .core import HIGHEST, defop, jnp, require_same_dtype, results, scalar
from .elementwise import add, guarded, mul, reciprocal, sub, where
from .shape import reshape, sum_to, swap_last_axes
from .source import constant


def _matmul_type(types: Sequence[TensorType]) -> TensorType:
    a, b = types
    dtype = require_same_dtype(types)
    if dtype == np.bool_:
        raise ShapeError("matmul of bool tensors is not supported")
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError("matmul operands must have rank >= 2 here (the API handles 1-D)")
    try:
        broadcast_dims(a.shape[-1], b.shape[-2])
        inner_ok = a.shape[-1] == b.shape[-2] or not (isinstance(a.shape[-1], int)
                                                      and isinstance(b.shape[-2], int))
    except ValueError:
        inner_ok = False
    if not inner_ok:
        raise ShapeError(f"inner dimensions differ: {format_shape(a.shape)} @ "
                         f"{format_shape(b.shape)}")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return TensorType(dtype, batch + (a.shape[-2], b.shape[-1]))


def _rows(x: Node) -> Node:
    """``x`` (..., m, k) as one (rows, k) matrix."""
    return reshape(x, shape=(product_dims(x.shape[:-1]), x.shape[-1]))


def _matmul_vjp(node: Node, g: Node) -> list[Node]:
    a, b = node.inputs
    # d(a @ b) = da @ b + a @ db, so ga = g @ b^T and gb = a^T @ g, summed over broadcast batches
    ga = sum_to(matmul(g, swap_last_axes(b)), a.shape)
    if b.ndim == 2 and a.ndim > 2:
        # a matrix shared by a batch (every dense layer over (batch, tokens, width)): the sum
        # over the batch of a^T g is one product over all rows, with no batch of partial
        # products to sum (8 + 3 ms against 2 ms for a (2, 32, 256) @ (256, 4800) head)
        return [ga, matmul(swap_last_axes(_rows(a)), _rows(g))]
    return [ga, sum_to(matmul(swap_last_axes(a), g), b.shape)]


def _matmul_jvp(node: Node, tangents: Sequence[Node | None]) -> Node | None:
    a, b = node.inputs
    ta, tb = tangents
    terms = []
    if ta is not None:
        terms.append(matmul(ta, b))
    if tb is not None:
        terms.append(matmul(a, tb))
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else add(terms[0], terms[1])


def _bind_matmul(attrs: dict, types: Sequence[TensorType]) -> Callable:
    """np.dot for two float matrices: the same BLAS product with half of matmul's call cost
    (0.37 vs 0.72 us at 1x16 @ 16x32, 0.55 vs 1.70 us for a 32x1 @ 1x32 outer product); one
    product over the rows for a float batch of matrices times one matrix; the generalized ufunc
    for everything else (batches on both sides, vectors, integers)."""
    a, b = types
    if a.dtype.kind == "f" and b.ndim == 2:
        return np.dot if a.ndim == 2 else _rows_times_matrix
    return np.matmul


def _rows_times_matrix(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None
                       ) -> np.ndarray:
    """``a`` (..., m, k) @ ``b`` (k, n) as one matrix product over all of ``a``'s rows.

    numpy's stacked matmul runs one GEMM per matrix of ``a``, and more slowly still when ``b``
    is broadcast over them: (2, 32, 256) @ (256, 4800) float32 took 7-10 ms, the same product
    over the (64, 256) rows 1.7 ms (one BLAS thread)."""
    rows = a.reshape(-1, a.shape[-1])  # a view when a's rows are contiguous, else one copy
    if out is None:
        return np.dot(rows, b).reshape(*a.shape[:-1], b.shape[-1])
    if not out.flags.c_contiguous:  # np.dot writes only into a C-contiguous out
        return np.matmul(a, b, out=out)
    np.dot(rows, b, out=out.reshape(-1, b.shape[-1]))
    return out


def _matmul_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool], size) -> Node:
    """Batched operands lifted to the output's rank; a batched left operand times a shared
    matrix is one matrix product over the merged rows (numpy's stacked matmul would loop), and
    a product over an inner axis of length 1 (a per-example outer product, x^T g in every
    per-example weight gradient) is a broadcast multiply: 71 vs 126 ms for 256 outer
    products of 784 x 256 in float32, where the stacked matmul runs one tiny GEMM each."""
    a, b = inputs
    if a.shape[-1] == 1 and b.shape[-2] == 1 and all(batched):
        rank = node.ndim
        return mul(lift(a, rank), lift(b, rank))
    if batched[0] and not batched[1] and b.ndim == 2:
        rows = a.shape[0]
        for d in a.shape[1:-1]:
            rows = merged(rows, d)
        flat = matmul(reshape(a, shape=(rows, a.shape[-1])), b)
        return reshape(flat, shape=(*a.shape[:-1], b.shape[-1]))
    rank = node.ndim
    return matmul(*(lift(x, rank) if flag else x for x, flag in zip(inputs, batched)))


# np.matmul is a ufunc (out= positional or keyword): the kernel itself, no wrapper frame
matmul = defop("matmul", _matmul_type, np.matmul, out_arg=True, onnx="MatMul",
               vjp=_matmul_vjp, jvp=_matmul_jvp, fast_kernel=_bind_matmul, batch=_matmul_batch,
               jax=lambda a, b: jnp().matmul(a, b, precision=HIGHEST),
               doc="Matrix product over the last two axes, batch axes broadcast.")


# --- helpers the linear-algebra rules share (ops/linalg_solve.py, ops/linalg_factor.py) -------

LINALG_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def matrix_operand(t: TensorType, *, square: bool = True,
                   what: str = "operand") -> tuple[int, int]:
    """Check that ``t`` is a stack of float32/float64 matrices with static sizes (the rules
    build identity matrices and triangle masks as constants); returns the matrix sizes. Node
    creation prefixes the op's name and adds the operands and the user's line."""
    if t.dtype not in LINALG_DTYPES:
        raise DTypeError(f"the {what} must be float32 or float64 (complex dtypes are not "
                         f"supported), got {t.dtype.name}")
    if t.ndim < 2:
        raise ShapeError(f"the {what} must be a matrix or a stack of them, got "
                         f"{format_shape(t.shape)}")
    m, n = t.shape[-2:]
    if not (isinstance(m, int) and isinstance(n, int)):
        raise ShapeError(f"the matrix sizes must be static, got {format_shape(t.shape)} "
                         f"(leading batch axes may be symbolic)")
    if square and m != n:
        raise ShapeError(f"the {what} must be square, got {format_shape(t.shape)}")
    return m, n


def no_onnx_operator(ctx, node: Node, inputs: Sequence[str]) -> str:
    """The ONNX mapping of a linear-algebra op that ONNX has no operator for: export fails
    naming the op and the line that made the node."""
    raise OnnxError(f"linalg op {node.op.name!r} has no ONNX operator (ONNX has Det, no "
                    f"solves or decompositions): cannot export the node {node.type} created "
                    f"at {node.location}")


def mT(x: Node) -> Node:
    """The transpose of every matrix in a stack."""
    return swap_last_axes(x)


def identity(n: int, like: Node) -> Node:
    return constant(np.eye(n, dtype=like.dtype))


def masked(x: Node, keep: np.ndarray) -> Node:
    """``x`` where the (broadcast) bool matrix ``keep`` holds, else 0 (a triangle, an
    off-diagonal part); a where, so NaN and Inf outside the mask do not leak through."""
    return where(constant(keep), x, scalar(0, x))


def triangle(x: Node, k: int = 0, *, lower: bool) -> Node:
    """numpy's tril(x, k) (``lower``) or triu(x, k) of every matrix in a stack."""
    ones = np.ones(x.shape[-2:], dtype=bool)
    return masked(x, np.tril(ones, k) if lower else np.triu(ones, k))


def as_row(v: Node) -> Node:
    """A stack of vectors (..., n) as row matrices (..., 1, n)."""
    return reshape(v, shape=(*v.shape[:-1], 1, v.shape[-1]))


def as_column(v: Node) -> Node:
    """A stack of vectors (..., n) as column matrices (..., n, 1)."""
    return reshape(v, shape=(*v.shape, 1))


def per_matrix(s: Node) -> Node:
    """A stack of scalars (...) shaped (..., 1, 1), to scale a stack of matrices."""
    return reshape(s, shape=(*s.shape, 1, 1))


def diagonal_of(x: Node) -> Node:
    """The diagonal of every square matrix in a stack: (..., n, n) -> (..., n)."""
    from .reduce import sum_

    return sum_(mul(x, identity(x.shape[-1], x)), axes=(x.ndim - 1,), keepdims=False)


def diagonal_matrix(v: Node) -> Node:
    """Square matrices with the vectors of a stack on their diagonals: (..., n) -> (..., n, n)."""
    return mul(as_row(v), identity(v.shape[-1], v))


def trace_of(x: Node) -> Node:
    from .reduce import sum_

    return sum_(diagonal_of(x), axes=(x.ndim - 2,), keepdims=False)


def gap_reciprocals(w: Node) -> Node:
    """F[..., i, j] = 1 / (w_j - w_i) off the diagonal, 0 on it: the matrix the eigenvector and
    singular-vector rules weight with. A repeated value gives inf there (the vectors of a
    repeated eigenvalue are not unique, so their derivative does not exist), as in JAX."""
    gaps = sub(as_row(w), as_column(w))
    on_diagonal = constant(np.eye(w.shape[-1], dtype=bool))
    return guarded(on_diagonal, scalar(0, w), gaps, 1, reciprocal)


def batch_lifted(node: Node, inputs: Sequence[Node], batched: Sequence[bool], size) -> Node:
    """Batching rule of a linear-algebra op whose operands broadcast their leading batch axes:
    the batch axis is one more of them, batched operands lifted to the output's rank."""
    rank = node.ndim if not node.is_tuple else max(t.ndim for t in node.type.types)
    lifted = [lift(x, rank) if flag else x for x, flag in zip(inputs, batched)]
    value = node.op(*lifted, **node.attrs)
    return results(value) if value.is_tuple else value
