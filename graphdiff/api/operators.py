"""numpy-style operators and methods on symbolic tensors.

The IR's Node class knows nothing of the API (layers import only upward), so the operators are
attached here, once, when graphdiff is imported: ``x + 1``, ``x @ W``, ``k % 3``, ``k << 2``,
``x[1:, None]``, ``x.T``, ``x.sum(axis=0)``. ``==`` and ``!=`` build elementwise comparisons,
as in numpy, JAX and PyTorch; a tensor still hashes by identity (nodes are interned, so
identity is structural equality), and code that asks whether two nodes are the same one says
``is``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ImmutableError, InputError, user_location
from ..ir.dims import product_dims
from ..ir.node import Node
from . import at as AT
from . import indexing as I
from . import interop
from . import math as M
from . import matrices as MX
from . import reductions as RD
from . import shape as S
from . import ufuncs as U


def _reflected(function):
    return lambda self, other: function(other, self)


_COMPARABLE = (Node, np.ndarray, np.generic, bool, int, float, list, tuple)


def _elementwise_comparison(function):
    """``==`` / ``!=``: elementwise against tensor-like values (lists and tuples of numbers too,
    as numpy does); against anything else (None, a string) Python's default applies, so
    ``x == None`` is False, not an error."""

    def compare(self, other):
        return function(self, other) if isinstance(other, _COMPARABLE) else NotImplemented

    return compare


def _no_item_assignment(self, index, value):
    raise ImmutableError(f"tensors are immutable: x[index] = value cannot change {self.type}; "
                         f"x.at[index].set(value) returns the updated tensor "
                         f"(at {user_location()})")


def _no_values(self, *args, **kwargs):
    raise InputError(f"{self.type} is a symbolic tensor: it has no values until the function "
                     f"runs, so numpy cannot convert it; use graphdiff functions on it, or "
                     f"gd.function(...) to compute it (at {user_location()})")


OPERATORS: dict[str, Any] = {
    "__add__": M.add, "__radd__": _reflected(M.add),
    "__sub__": M.subtract, "__rsub__": _reflected(M.subtract),
    "__mul__": M.multiply, "__rmul__": _reflected(M.multiply),
    "__truediv__": M.divide, "__rtruediv__": _reflected(M.divide),
    "__pow__": M.power, "__rpow__": _reflected(M.power),
    "__matmul__": M.matmul, "__rmatmul__": _reflected(M.matmul),
    "__neg__": M.negative, "__pos__": lambda self: self, "__abs__": M.abs,
    "__eq__": _elementwise_comparison(M.equal), "__ne__": _elementwise_comparison(M.not_equal),
    "__lt__": M.less, "__le__": M.less_equal, "__gt__": M.greater, "__ge__": M.greater_equal,
    "__mod__": U.remainder, "__rmod__": _reflected(U.remainder),
    "__floordiv__": U.floor_divide, "__rfloordiv__": _reflected(U.floor_divide),
    "__divmod__": U.divmod, "__rdivmod__": _reflected(U.divmod),
    # bitwise on integers, logical on bools, as numpy's operators
    "__and__": U.bitwise_and, "__rand__": _reflected(U.bitwise_and),
    "__or__": U.bitwise_or, "__ror__": _reflected(U.bitwise_or),
    "__xor__": U.bitwise_xor, "__rxor__": _reflected(U.bitwise_xor),
    "__invert__": U.invert,
    "__lshift__": U.left_shift, "__rlshift__": _reflected(U.left_shift),
    "__rshift__": U.right_shift, "__rrshift__": _reflected(U.right_shift),
    "__getitem__": I.getitem, "__iter__": I.iterate,
    "__setitem__": _no_item_assignment,
    "at": property(AT.IndexUpdates),  # x.at[idx].set(v) and friends (JAX's functional updates)
    "T": property(lambda self: S.transpose(self)),
    "reshape": lambda self, *shape: S.reshape(
        self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape),
    "transpose": lambda self, *axes: S.transpose(  # x.transpose(1, 0) or x.transpose((1, 0))
        self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes or None),
    "sum": RD.sum, "prod": RD.prod, "max": RD.max, "min": RD.min, "mean": RD.mean,
    "var": RD.var, "std": RD.std, "any": RD.any, "all": RD.all,
    "argmax": RD.argmax, "argmin": RD.argmin, "cumsum": RD.cumsum, "cumprod": RD.cumprod,
    "astype": M.astype,
    "size": property(lambda self: product_dims(self.shape)),
    "__len__": I.length,
    "ravel": S.ravel, "flatten": S.ravel, "squeeze": S.squeeze, "swapaxes": S.swapaxes,
    "clip": lambda self, a_min=None, a_max=None: M.clip(self, a_min, a_max),
    "repeat": S.repeat, "diagonal": MX.diagonal, "trace": MX.trace,
    # with __len__ defined numpy would otherwise unpack a tensor into an object array of nodes
    "__array__": _no_values,
    "__float__": _no_values, "__int__": _no_values, "__complex__": _no_values,
}


def install() -> None:
    """Attach the operators to Node (idempotent)."""
    for name, value in OPERATORS.items():
        setattr(Node, name, value)
    # numpy functions and ufuncs on tensors (an array on the left of an operator too) dispatch
    # to graphdiff's functions of the same name
    Node.__array_ufunc__ = interop.array_ufunc
    Node.__array_function__ = interop.array_function
