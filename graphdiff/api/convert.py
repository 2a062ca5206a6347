"""Turning user values into tensors, and numpy's dtype promotion (NEP 50).

Python scalars are *weak*: ``x * 2`` keeps ``x``'s dtype, as in numpy 2. numpy arrays and numpy
scalars are strong. Every conversion the promotion asks for becomes a visible ``cast`` node.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from ..errors import DTypeError, user_location
from ..ir.node import Node
from ..ir.types import as_dtype
from ..ops import elementwise as E
from ..ops.source import constant

TensorLike = Node | float | int | bool | np.ndarray | np.generic


def is_python_scalar(value: object) -> bool:
    return isinstance(value, bool | int | float) and not isinstance(value, np.generic)


def as_tensor(value: TensorLike, dtype: Any = None) -> Node:
    """A tensor for ``value``: nodes pass through (cast if ``dtype`` differs), data becomes a
    constant."""
    if isinstance(value, Node):
        return value if dtype is None else cast_to(value, as_dtype(dtype))
    if isinstance(value, list | tuple) and any(isinstance(v, Node) for v in value):
        raise DTypeError(f"a list holding tensors is not a tensor; use gd.stack "
                         f"(at {user_location()})")
    try:
        array = np.asarray(value, dtype=None if dtype is None else as_dtype(dtype))
    except (OverflowError, ValueError) as exc:
        raise DTypeError(f"cannot convert {value!r} to {dtype}: {exc} "
                         f"(at {user_location()})") from None
    return constant(array)


def cast_to(x: Node, dtype: np.dtype) -> Node:
    return x if x.dtype == dtype else E.cast(x, dtype=dtype)


def result_dtype(*values: TensorLike) -> np.dtype:
    """numpy's result dtype for an operation on ``values`` (python scalars weak)."""
    parts = [v.dtype if isinstance(v, Node) else v if is_python_scalar(v) else np.asarray(v).dtype
             for v in values]
    return as_dtype(np.result_type(*parts))


def promote(*values: TensorLike, dtype: np.dtype | None = None) -> list[Node]:
    """Convert ``values`` to tensors of one dtype (numpy's result dtype unless given)."""
    target = result_dtype(*values) if dtype is None else dtype
    result = []
    for value in values:
        if isinstance(value, Node):
            result.append(cast_to(value, target))
        else:
            try:
                result.append(constant(np.asarray(value, dtype=target)))
            except (OverflowError, ValueError) as exc:
                raise DTypeError(f"{value!r} does not fit in {target.name}: {exc} "
                                 f"(at {user_location()})") from None
    return result


@cache
def ufunc_result_dtype(ufunc: np.ufunc, *dtypes: np.dtype) -> np.dtype:
    """The dtype numpy gives ``ufunc`` on operands of ``dtypes`` (e.g. exp(int32) -> float64)."""
    return np.dtype(ufunc(*(np.ones((), d) for d in dtypes)).dtype)
