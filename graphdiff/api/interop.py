"""numpy functions called on tensors build graph nodes (NEP 13 ``__array_ufunc__`` and NEP 18
``__array_function__``).

One table maps each numpy function or ufunc to the graphdiff function of the same name: it is
built from the API's public names (``graphdiff.api.__all__``, and ``graphdiff.linalg`` against
``numpy.linalg`` when it exists), so a function added to the API dispatches with nothing else
to edit. ``np.exp(t)``, ``np.sum(t, axis=0)``, ``np.concatenate([t, u])``, ``np.ones(3) + t``
are then ``gd.exp(t)``, ``gd.sum(t, axis=0)``... What has no graphdiff counterpart (a numpy
function, a ufunc method such as ``np.add.reduce``, an ``out=`` argument, a keyword the
graphdiff function does not take) raises a ``GraphdiffError`` naming it; what needs values
(``np.asarray(t)``, ``float(t)``) raises through ``__array__`` as before. ``np.shape``,
``np.ndim`` and ``np.size`` read the tensor's attributes, as they do for any object.

>>> import numpy as np, graphdiff as gd
>>> t = gd.placeholder((3,), "float64", name="t")
>>> f = gd.function([t], [np.sum(np.exp(t)), np.where(t > 0, t, 0), np.ones(3) + t])
>>> [np.round(v, 3) for v in f(np.array([0.0, -1.0, 2.0]))]
[np.float64(8.757), array([0., 0., 2.]), array([1., 0., 3.])]
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import GraphdiffError, user_location


@functools.cache
def numpy_table() -> dict[object, Callable[..., Any]]:
    """numpy function or ufunc -> the graphdiff function of the same name."""
    import graphdiff
    from graphdiff import api

    pairs = [(np, api, api.__all__)]
    linalg = getattr(graphdiff, "linalg", None)
    if linalg is not None:
        pairs.append((np.linalg, linalg, getattr(linalg, "__all__", dir(linalg))))
    table: dict[object, Callable[..., Any]] = {}
    for numpy_namespace, namespace, names in pairs:
        for name in names:
            numpy_function = getattr(numpy_namespace, name, None)
            if callable(numpy_function) and not isinstance(numpy_function, type):
                table[numpy_function] = getattr(namespace, name)
    return table


def _numpy_name(function: object) -> str:
    module = getattr(function, "__module__", None) or "numpy"
    prefix = "numpy.linalg" if module.endswith("linalg") else "numpy"
    return f"{prefix}.{getattr(function, '__name__', function)}"


# numpy functions that only read attributes (``a.shape``, ``a.ndim``, ``a.size``): numpy's own
# implementation answers for a tensor too (a symbolic dim as graphdiff spells it)
_ATTRIBUTES_ONLY = (np.shape, np.ndim, np.size)


def _dispatch(function: object, args: tuple, kwargs: dict) -> Any:
    """Call the graphdiff counterpart of ``function`` with numpy's arguments."""
    if function in _ATTRIBUTES_ONLY:
        return function._implementation(*args, **kwargs)
    name = _numpy_name(function)
    target = numpy_table().get(function)
    if target is None:
        raise GraphdiffError(f"{name} has no graphdiff counterpart, so it cannot take a "
                             f"symbolic tensor; see docs/numpy.md for what exists "
                             f"(at {user_location()})")
    if kwargs.get("out") is not None:
        raise GraphdiffError(f"{name}(..., out=...): graph values are immutable, there is no "
                             f"output array to write; use the result (at {user_location()})")
    kwargs = {k: v for k, v in kwargs.items() if k != "out"}
    try:
        inspect.signature(target).bind(*args, **kwargs)
        return target(*args, **kwargs)
    except TypeError as exc:
        if isinstance(exc, GraphdiffError):  # a DTypeError is a TypeError too: it says it all
            raise
        # the call's arguments do not fit (a wrapper's signature can hide it until the call)
        raise GraphdiffError(f"{name} on a tensor calls graphdiff.{target.__name__}, which "
                             f"does not take these arguments: {exc} "
                             f"(at {user_location()})") from None


_UFUNC_METHOD_HINTS = {
    "reduce": "use a graphdiff reduction (gd.sum, gd.max, ...)",
    "accumulate": "use gd.cumsum, gd.cumprod or gd.scan",
    "at": "use x.at[index].add(...) and its siblings, which return the updated tensor",
}


def array_ufunc(self: Any, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """``Node.__array_ufunc__``: a ufunc call on tensors is the graphdiff function."""
    if method != "__call__":
        hint = _UFUNC_METHOD_HINTS.get(method, "call the ufunc itself")
        raise GraphdiffError(f"numpy.{ufunc.__name__}.{method} is not supported on symbolic "
                             f"tensors: {hint} (at {user_location()})")
    return _dispatch(ufunc, inputs, kwargs)


def array_function(self: Any, func: Callable, types: tuple, args: tuple, kwargs: dict) -> Any:
    """``Node.__array_function__``: a numpy function on tensors is the graphdiff function."""
    return _dispatch(func, args, kwargs)
