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
    if isinstance(value, list | tuple) and holds_tensor(value):
        return _nested(value, None if dtype is None else as_dtype(dtype))
    try:
        array = np.asarray(value, dtype=None if dtype is None else as_dtype(dtype))
    except (OverflowError, ValueError) as exc:
        raise DTypeError(f"cannot convert {value!r} to {dtype}: {exc} "
                         f"(at {user_location()})") from None
    return constant(array)


def holds_tensor(value: object) -> bool:
    """Whether ``value`` is a tensor or a (nested) list or tuple holding one."""
    if isinstance(value, Node):
        return True
    return isinstance(value, list | tuple) and any(holds_tensor(v) for v in value)


def _leaf_dtypes(value: object) -> list[np.dtype]:
    if isinstance(value, list | tuple):
        return [d for v in value for d in _leaf_dtypes(v)]
    # as in numpy's array coercion, a python scalar inside a list counts as int64 / float64
    return [value.dtype if isinstance(value, Node) else np.asarray(value).dtype]


def _nested(value: list | tuple, dtype: np.dtype | None) -> Node:
    """A nested list mixing tensors and numbers (numpy.array semantics): one stack per level,
    every leaf cast to the common dtype."""
    from .indexing import stack  # indexing builds on this module

    target = dtype if dtype is not None else as_dtype(np.result_type(*_leaf_dtypes(value)))

    def build(item: object) -> Node:
        if isinstance(item, list | tuple) and holds_tensor(item):
            parts = [build(v) for v in item]
            shapes = {p.shape for p in parts}
            if len(shapes) != 1:
                listed = ", ".join(str(p.type) for p in parts)
                raise DTypeError(f"array: a nested list must be rectangular, got elements of "
                                 f"{listed} (at {user_location()})")
            return stack(parts)
        if isinstance(item, Node):
            return cast_to(item, target)
        return as_tensor(item, target)

    return build(value)


def as_array(value: Any, expected: np.dtype, label: str,
             allow_downcast: bool = False) -> np.ndarray:
    """``value`` as an array of dtype ``expected``, under the policy of a function's feeds
    (also ``gd.set_value``'s): python scalars must fit the dtype's kind, arrays must cast
    safely (same kind with ``allow_downcast``), and a downcast must not overflow to inf.

    ``label`` names the value in errors (e.g. "input 'x'").
    """
    if is_python_scalar(value):
        # Python scalars are weak (NEP 50): fine if they fit the input's kind
        try:
            with np.errstate(over="ignore"):  # an overflow to inf is refused below
                array = np.asarray(value, dtype=expected)
        except OverflowError:  # an int out of the input's range
            array = None
        if array is None or np.result_type(expected, value) != expected \
                or _overflowed(np.asarray(value), array):
            raise DTypeError(f"{label}: {value!r} does not fit {expected.name}")
        return array
    try:
        array = np.asarray(value)
    except ValueError as exc:  # a ragged nested list
        raise DTypeError(f"{label}: {_summary(value)} is not a rectangular array ({exc})") \
            from None
    if array.dtype != expected:
        casting = "same_kind" if allow_downcast else "safe"
        if not np.can_cast(array.dtype, expected, casting=casting):
            hint = "" if allow_downcast else " (cast it first, or pass allow_downcast=True)"
            raise DTypeError(f"{label}: expected {expected.name}, got "
                             f"{array.dtype.name}, which does not convert safely{hint}")
        with np.errstate(over="ignore"):
            converted = array.astype(expected)
        if _overflowed(array, converted):
            raise DTypeError(f"{label}: {array.dtype.name} values overflow {expected.name} "
                             f"(largest magnitude {float(np.nanmax(np.abs(array))):g})")
        array = converted
    return array


def _overflowed(original: np.ndarray, converted: np.ndarray) -> bool:
    """True if a float downcast turned a finite value into inf."""
    if converted.dtype.kind not in "fc" or original.dtype.kind not in "fc" \
            or converted.dtype.itemsize >= original.dtype.itemsize:
        return False
    return bool(np.any(np.isinf(converted) & np.isfinite(original)))


def _summary(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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


def promote_arrays(*values: TensorLike) -> list[Node]:
    """As ``promote``, but python scalars are strong (int64 / float64): numpy's non-ufunc
    functions (append, hstack, outer, kron, ...) call asarray on their operands first."""
    return promote(*(v if isinstance(v, Node) else np.asarray(v) for v in values))


@cache
def ufunc_result_dtype(ufunc: np.ufunc, *dtypes: np.dtype) -> np.dtype:
    """The dtype numpy gives ``ufunc`` on operands of ``dtypes`` (e.g. exp(int32) -> float64)."""
    with np.errstate(all="ignore"):  # arctanh(1) is inf: only the dtype matters
        return np.dtype(ufunc(*(np.ones((), d) for d in dtypes)).dtype)
