"""numpy-named math: elementwise functions, matmul (reductions are in ``reductions.py``).

Each function converts its operands (python scalars, arrays, tensors), applies numpy's dtype
rules, and emits one primitive node (plus any casts). Examples::

    >>> import graphdiff as gd
    >>> x = gd.placeholder((None, 3), "float32", name="x")
    >>> gd.exp(x * 2).dtype.name
    'float32'
    >>> gd.sum(x, axis=1, keepdims=True).shape[1]
    1
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import DTypeError, GraphdiffError, ShapeError, user_location
from ..ir.node import Node, OpDef
from ..ir.types import as_dtype
from ..ops import elementwise as E
from ..ops import linalg as L
from ..ops import shape as S
from .convert import TensorLike, as_tensor, cast_to, promote, result_dtype, ufunc_result_dtype

# --- unary -----------------------------------------------------------------------------------

__all__ = [
    "abs",
    "add",
    "astype",
    "broadcast_to",
    "cast",
    "ceil",
    "clip",
    "cos",
    "divide",
    "dot",
    "equal",
    "erf",
    "exp",
    "expm1",
    "floor",
    "greater",
    "greater_equal",
    "isfinite",
    "isnan",
    "less",
    "less_equal",
    "log",
    "log1p",
    "logical_and",
    "logical_not",
    "logical_or",
    "matmul",
    "maximum",
    "minimum",
    "multiply",
    "negative",
    "not_equal",
    "power",
    "reciprocal",
    "relu",
    "sigmoid",
    "sign",
    "sin",
    "sqrt",
    "square",
    "stop_gradient",
    "subtract",
    "tanh",
    "where",
]


def unary_ufunc(op: OpDef, ufunc: np.ufunc, doc: str) -> Callable[[TensorLike], Node]:
    """A numpy-style unary function: the operand is cast to the dtype numpy would return."""

    def function(x: TensorLike) -> Node:
        x = as_tensor(x)
        try:
            dtype = ufunc_result_dtype(ufunc, x.dtype)
        except TypeError:  # numpy has no loop for this dtype (negative of bool, ...)
            raise DTypeError(f"{op.name} is not defined for {x.type} "
                             f"(at {user_location()})") from None
        return op(cast_to(x, dtype))

    function.__name__ = function.__qualname__ = op.name
    function.__doc__ = doc
    return function


negative = unary_ufunc(E.neg, np.negative, "-x, elementwise.")
abs = unary_ufunc(E.abs_, np.abs, "|x|, elementwise.")  # noqa: A001 - numpy's name
sign = unary_ufunc(E.sign, np.sign, "The sign of x (-1, 0, 1), elementwise.")
exp = unary_ufunc(E.exp, np.exp, "e**x, elementwise.")
log = unary_ufunc(E.log, np.log, "Natural logarithm, elementwise.")
log1p = unary_ufunc(E.log1p, np.log1p, "log(1 + x), accurate for small x.")
expm1 = unary_ufunc(E.expm1, np.expm1, "exp(x) - 1, accurate for small x.")
sqrt = unary_ufunc(E.sqrt, np.sqrt, "Square root, elementwise.")
square = unary_ufunc(E.square, np.square, "x * x, elementwise.")
reciprocal = unary_ufunc(E.reciprocal, np.sqrt, "1 / x, elementwise (ints become floats).")
sin = unary_ufunc(E.sin, np.sin, "Sine, elementwise.")
cos = unary_ufunc(E.cos, np.cos, "Cosine, elementwise.")
tanh = unary_ufunc(E.tanh, np.tanh, "Hyperbolic tangent, elementwise.")
sigmoid = unary_ufunc(E.sigmoid, np.tanh, "1 / (1 + exp(-x)), computed without overflow.")
relu = unary_ufunc(E.relu, np.negative, "max(x, 0), elementwise; NaN stays NaN.")
erf = unary_ufunc(E.erf, np.tanh, "The error function, elementwise.")


def rounding_ufunc(op: OpDef, ufunc: np.ufunc, doc: str) -> Callable[[TensorLike], Node]:
    """A numpy-style rounding function: integers and bools are already whole, and numpy 2
    gives them back in their own dtype (floor, ceil, trunc), or as floats (rint)."""
    on_floats = unary_ufunc(op, ufunc, doc)

    def function(x: TensorLike) -> Node:
        x = as_tensor(x)
        dtype = ufunc_result_dtype(ufunc, x.dtype) if x.dtype.kind in "biu" else x.dtype
        return on_floats(x) if dtype.kind == "f" else cast_to(x, dtype)

    function.__name__ = function.__qualname__ = op.name
    function.__doc__ = doc
    return function


floor = rounding_ufunc(E.floor, np.floor, "Largest integer <= x, elementwise (zero derivative).")
ceil = rounding_ufunc(E.ceil, np.ceil, "Smallest integer >= x, elementwise (zero derivative).")
isnan = unary_ufunc(E.isnan, np.sqrt, "True where x is NaN.")
isfinite = unary_ufunc(E.isfinite, np.sqrt, "True where x is neither infinite nor NaN.")


def truth(x: TensorLike) -> Node:
    """x != 0 as bool: numpy's reading of a number in a logical op (NaN is True)."""
    return cast_to(as_tensor(x), np.dtype(np.bool_))


def logical_not(x: TensorLike) -> Node:
    """Elementwise not of the truth values of x (x == 0 for numbers, as numpy)."""
    return E.logical_not(truth(x))


def stop_gradient(x: TensorLike) -> Node:
    """x, with no derivative flowing through it (forward or reverse)."""
    return E.stop_gradient(as_tensor(x))


# --- binary ----------------------------------------------------------------------------------

def _binary(op: OpDef, doc: str, *, true_divide: bool = False,
            boolean: bool = False) -> Callable[[TensorLike, TensorLike], Node]:
    def function(a: TensorLike, b: TensorLike) -> Node:
        if boolean:
            return op(truth(a), truth(b))
        dtype = result_dtype(a, b)
        if true_divide and dtype.kind != "f":
            dtype = ufunc_result_dtype(np.true_divide, dtype, dtype)
        return op(*promote(a, b, dtype=dtype))

    function.__name__ = function.__qualname__ = op.name
    function.__doc__ = doc
    return function


add = _binary(E.add, "a + b with broadcasting.")
subtract = _binary(E.sub, "a - b with broadcasting.")
multiply = _binary(E.mul, "a * b with broadcasting.")
divide = _binary(E.div, "a / b (true division: integers give floats).", true_divide=True)
maximum = _binary(E.maximum, "Elementwise maximum; NaN propagates.")
minimum = _binary(E.minimum, "Elementwise minimum; NaN propagates.")
less = _binary(E.less, "a < b, elementwise.")
less_equal = _binary(E.less_equal, "a <= b, elementwise.")
greater = _binary(E.greater, "a > b, elementwise.")
greater_equal = _binary(E.greater_equal, "a >= b, elementwise.")
equal = _binary(E.equal, "a == b, elementwise.")
not_equal = _binary(E.not_equal, "a != b, elementwise.")
logical_and = _binary(E.logical_and, "Elementwise and of the truth values (nonzero is True).",
                      boolean=True)
logical_or = _binary(E.logical_or, "Elementwise or of the truth values (nonzero is True).",
                     boolean=True)


def power(a: TensorLike, b: TensorLike) -> Node:
    """a ** b, elementwise, in numpy's dtype: ``k ** 2`` on an int64 ``k`` is int64 and exact,
    ``x ** 2`` on a float32 ``x`` float32, ``k ** 0.5`` float64. As in numpy, an integer
    tensor cannot be raised to a negative integer (refused here when the exponent is a
    constant; numpy's kernel raises at run time when it is a tensor)."""
    dtype = ufunc_result_dtype(np.power, result_dtype(a, b), result_dtype(a, b))
    if dtype.kind in "iu" and not isinstance(b, Node) and np.any(np.asarray(b) < 0):
        raise DTypeError(f"power: integers to negative integer powers are not allowed "
                         f"(exponent {b!r}; use a float base; at {user_location()})")
    return E.pow_(*promote(a, b, dtype=dtype))


def _as_bool(x: TensorLike, what: str) -> Node:
    x = as_tensor(x)
    if x.dtype != np.bool_:
        raise DTypeError(f"{what}: expected a bool tensor, got {x.type} (at {user_location()})")
    return x


def where(condition: TensorLike, a: TensorLike | None = None, b: TensorLike | None = None, *,
          size: int | None = None, fill_value: Any = None) -> Node | tuple[Node, ...]:
    """a where condition is true, else b (numpy.where with three arguments); with one it is
    ``nonzero(condition, size=, fill_value=)`` as in jax.numpy (``size=`` is needed)."""
    if a is None and b is None:
        from .selection import nonzero

        return nonzero(condition, size=size, fill_value=fill_value)
    if a is None or b is None:
        raise GraphdiffError(f"where takes one argument or three, got two "
                             f"(at {user_location()})")
    a, b = promote(a, b)
    return E.where(_as_bool(condition, "where condition"), a, b)


def clip(x: TensorLike, a_min: TensorLike | None, a_max: TensorLike | None) -> Node:
    """Limit values to [a_min, a_max]; either bound may be None."""
    x = as_tensor(x)
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x


def astype(x: TensorLike, dtype: Any) -> Node:
    """Convert to ``dtype`` (numpy astype: unsafe casts allowed, as numpy does)."""
    return cast_to(as_tensor(x), as_dtype(dtype))


cast = astype


# --- matmul --------------------------------------------------------------------------------------

def matmul(a: TensorLike, b: TensorLike) -> Node:
    """numpy.matmul: batch axes broadcast; 1-D operands are promoted and the axis removed."""
    from .shape import reshape

    a, b = promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul of a scalar: operands {a.type} and {b.type} "
                         f"(at {user_location()})")
    a2 = reshape(a, (1,) + a.shape) if a.ndim == 1 else a
    b2 = reshape(b, b.shape + (1,)) if b.ndim == 1 else b
    out = L.matmul(a2, b2)
    if a.ndim == 1 or b.ndim == 1:
        shape = out.shape[:-2] + ((out.shape[-2],) if a.ndim > 1 else ()) \
            + ((out.shape[-1],) if b.ndim > 1 else ())
        out = reshape(out, shape)
    return out


def dot(a: TensorLike, b: TensorLike) -> Node:
    """numpy.dot for every rank: a product when either operand is 0-d, matmul when neither has
    more than two axes or ``b`` is 1-D, else the sum over the last axis of ``a`` and the
    second-to-last of ``b`` (``dot(a, b)[i, j, k, m] = sum(a[i, j, :] * b[k, :, m])``)."""
    a, b = promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if a.ndim == 1 or b.ndim == 1 or a.ndim == b.ndim == 2:
        return matmul(a, b)  # the same contraction, and the same shape
    ka, kb = a.shape[-1], b.shape[-2]
    if isinstance(ka, int) and isinstance(kb, int) and ka != kb:
        raise ShapeError(f"dot: the last axis of {a.type} ({ka}) and the second-to-last of "
                         f"{b.type} ({kb}) differ (at {user_location()})")
    from .conv import einsum

    letters = iter("abcdefghijklmnopqrstuvwxyz")
    a_rest = "".join(next(letters) for _ in range(a.ndim - 1))
    b_rest = "".join(next(letters) for _ in range(b.ndim - 2))
    k, m = next(letters), next(letters)
    return einsum(f"{a_rest}{k},{b_rest}{k}{m}->{a_rest}{b_rest}{m}", a, b)


def broadcast_to(x: TensorLike, shape: Sequence[Any]) -> Node:
    """Broadcast ``x`` to ``shape`` by numpy's rules (symbolic dims allowed)."""
    from ..ir.types import as_shape

    return S.broadcast_to(as_tensor(x), shape=as_shape(shape))
