"""numpy-named reductions and scans, with numpy's signatures, defaults and dtype rules.

The primitives are ``sum``, ``prod``, ``max``, ``min``, ``argmax``, ``argmin`` (graphdiff/ops/
reduce.py) and ``cumsum``, ``cumprod`` (graphdiff/ops/scan.py); everything else here (mean, var,
std, any, all, count_nonzero, ptp, average, the nan-functions, ``where=``, ``initial=``) is a
composite of primitives, so its derivatives in both modes come from theirs. Examples::

    >>> import numpy as np, graphdiff as gd
    >>> x = gd.placeholder((2, 3), "float64", name="x")
    >>> f = gd.function([x], [gd.var(x, axis=1, ddof=1), gd.cumsum(x), gd.nanmax(x, axis=0)])
    >>> v, c, m = f(np.array([[1.0, 2.0, 3.0], [4.0, np.nan, 6.0]]))
    >>> v.tolist(), c.tolist(), m.tolist()
    ([1.0, nan], [1.0, 3.0, 6.0, 10.0, nan, nan], [4.0, 2.0, 6.0])
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError, user_location
from ..ir.node import Node, OpDef
from ..ir.types import as_dtype, normalize_axes, normalize_axis
from ..ops import elementwise as E
from ..ops import reduce as R
from ..ops import scan as C
from ..ops.core import scalar
from .convert import TensorLike, as_tensor, cast_to
from .math import broadcast_to, logical_not, maximum, minimum, subtract

__all__ = [
    "all",
    "any",
    "argmax",
    "argmin",
    "average",
    "count_nonzero",
    "cumprod",
    "cumsum",
    "max",
    "mean",
    "min",
    "nanmax",
    "nanmean",
    "nanmin",
    "nansum",
    "prod",
    "ptp",
    "std",
    "sum",
    "var",
]

Axis = int | Sequence[int] | None

_ACCUMULATOR = np.dtype(np.float32)


def _accumulated(reduce: Callable[..., Node]) -> Callable[..., Node]:
    """``reduce`` run in float32 on a lower-precision float operand and its result cast back, as
    numpy's mean accumulates float16 (a float16 sum of three 6e4 is already inf). The casts are
    in the graph, so every executor and the ONNX export agree."""

    def function(x: TensorLike, *args: Any, **kwargs: Any) -> Node:
        x = as_tensor(x)
        if x.dtype.kind != "f" or x.dtype.itemsize >= _ACCUMULATOR.itemsize:
            return reduce(x, *args, **kwargs)
        return cast_to(reduce(cast_to(x, _ACCUMULATOR), *args, **kwargs), x.dtype)

    function.__name__ = function.__qualname__ = reduce.__name__
    function.__doc__ = reduce.__doc__
    return function


def _no_out(function: str, out: Any) -> None:
    if out is not None:
        raise ShapeError(f"{function}: out= is not supported: graphs build new values, they do "
                         f"not write into arrays (at {user_location()})")


def _mask(function: str, x: Node, mask: TensorLike | None) -> Node | None:
    """numpy's ``where=`` of a reduction: a bool tensor broadcast against ``x``."""
    if mask is None or mask is True:
        return None
    mask = as_tensor(mask)
    if mask.dtype != np.bool_:
        raise DTypeError(f"{function}: where= must be bool, got {mask.type} "
                         f"(at {user_location()})")
    return broadcast_to(mask, x.shape)


def _in_dtype(x: TensorLike, dtype: Any) -> Node:
    x = as_tensor(x)
    return x if dtype is None else cast_to(x, as_dtype(dtype))


def _identity_reduction(op: OpDef, identity: int, doc: str) -> Callable[..., Node]:
    """sum and prod: ``where=`` puts the identity at the left-out elements, ``initial`` joins
    the result, and ``dtype`` is the accumulator and result dtype, as in numpy."""
    combine = E.add if op is R.sum_ else E.mul

    def function(a: TensorLike, axis: Axis = None, dtype: Any = None, out: None = None,
                 keepdims: bool = False, initial: float | None = None,
                 where: TensorLike | None = None) -> Node:
        _no_out(op.name, out)
        x = _in_dtype(a, dtype)
        mask = _mask(op.name, x, where)
        if mask is not None:
            x = E.where(mask, x, scalar(identity, x))
        total = op(x, axes=normalize_axes(axis, x.ndim), keepdims=bool(keepdims))
        if dtype is not None:  # small ints accumulate in int64: the same bits modulo 2**k
            total = cast_to(total, as_dtype(dtype))
        if initial is not None:
            total = combine(total, scalar(initial, total))
        return total

    function.__name__ = function.__qualname__ = op.name
    function.__doc__ = doc
    return function


sum = _accumulated(_identity_reduction(  # noqa: A001 - numpy's name
    R.sum_, 0, "Sum over ``axis`` (None: all axes; a tuple; negative counts from the end), as "
               "numpy.sum with dtype=, keepdims=, initial= and where=; float16 accumulates in "
               "float32."))
prod = _identity_reduction(
    R.prod, 1, "Product over ``axis``, as numpy.prod; exact gradient even with zeros.")


def _extremum(op: OpDef, doc: str) -> Callable[..., Node]:
    """max and min: ``initial`` joins the result and fills empty axes; ``where=`` needs it (as
    in numpy: these reductions have no identity)."""
    combine = maximum if op is R.max_ else minimum

    def function(a: TensorLike, axis: Axis = None, out: None = None, keepdims: bool = False,
                 initial: float | None = None, where: TensorLike | None = None) -> Node:
        _no_out(op.name, out)
        x = as_tensor(a)
        axes = normalize_axes(axis, x.ndim)
        mask = _mask(op.name, x, where)
        if mask is not None:
            if initial is None:
                raise ShapeError(f"{op.name}: where= needs initial=, as in numpy: the "
                                 f"reduction has no identity (at {user_location()})")
            x = E.where(mask, x, scalar(initial, x))
        if initial is not None and builtins.any(x.shape[i] == 0 for i in axes):
            shape = R.reduced_shape(x.shape, axes, bool(keepdims))
            return broadcast_to(scalar(initial, x), shape)
        result = op(x, axes=axes, keepdims=bool(keepdims))
        return result if initial is None else combine(result, scalar(initial, x))

    function.__name__ = function.__qualname__ = op.name
    function.__doc__ = doc
    return function


max = _extremum(R.max_,  # noqa: A001
                "Maximum over ``axis`` (numpy.max with initial=, where=); NaN propagates and "
                "the gradient is split between ties.")
min = _extremum(R.min_,  # noqa: A001
                "Minimum over ``axis`` (numpy.min with initial=, where=); NaN propagates and "
                "the gradient is split between ties.")


def _count(x: Node, axes: tuple[int, ...], keepdims: bool, mask: Node | None,
           dtype: np.dtype) -> Node:
    """The number of elements each result averages: the reduced size, or the mask's count."""
    if mask is None:
        return R.count(x, axes, dtype)
    return R.sum_(E.cast(mask, dtype=dtype), axes=axes, keepdims=keepdims)


def _float_operand(x: Node, dtype: Any) -> Node:
    """mean's operand: in ``dtype`` when given, integers and bools in float64 (numpy)."""
    if dtype is not None:
        return cast_to(x, as_dtype(dtype))
    return x if x.dtype.kind == "f" else cast_to(x, np.dtype(np.float64))


@_accumulated
def mean(a: TensorLike, axis: Axis = None, dtype: Any = None, out: None = None,
         keepdims: bool = False, where: TensorLike | None = None) -> Node:
    """Arithmetic mean over ``axis``, as numpy.mean: integers average in float64, float16
    accumulates in float32, ``where=`` averages the selected elements."""
    _no_out("mean", out)
    x = _float_operand(as_tensor(a), dtype)
    axes = normalize_axes(axis, x.ndim)
    mask = _mask("mean", x, where)
    total = sum(x, axes, keepdims=keepdims, where=mask)
    return E.div(total, _count(x, axes, bool(keepdims), mask, x.dtype))


@_accumulated
def var(a: TensorLike, axis: Axis = None, dtype: Any = None, out: None = None, ddof: float = 0,
        keepdims: bool = False, *, where: TensorLike | None = None,
        correction: float | None = None) -> Node:
    """Variance over ``axis``, as numpy.var: the sum of squared deviations divided by
    ``N - ddof`` (inf or nan when that is not positive, as numpy gives with a warning);
    ``correction`` is the Array API's name for ``ddof``."""
    _no_out("var", out)
    ddof = _correction(ddof, correction)
    x = _float_operand(as_tensor(a), dtype)
    axes = normalize_axes(axis, x.ndim)
    mask = _mask("var", x, where)
    centered = subtract(x, mean(x, axes, keepdims=True, where=mask))
    total = sum(E.square(centered), axes, keepdims=keepdims, where=mask)
    count = _count(x, axes, bool(keepdims), mask, x.dtype)
    if ddof:  # numpy divides by max(N - ddof, 0)
        count = E.maximum(E.sub(count, scalar(ddof, count)), scalar(0, count))
    return E.div(total, count)


@_accumulated
def std(a: TensorLike, axis: Axis = None, dtype: Any = None, out: None = None, ddof: float = 0,
        keepdims: bool = False, *, where: TensorLike | None = None,
        correction: float | None = None) -> Node:
    """Standard deviation over ``axis`` (numpy.std, ``ddof`` and ``correction`` as in var); its
    derivative is 0 where the spread is zero (one element, equal elements), as in torch, not
    0 * inf = nan."""
    return sqrt_of_spread(var(a, axis, dtype, out, ddof, keepdims, where=where,
                              correction=correction))


def _correction(ddof: float, correction: float | None) -> float:
    if correction is None:
        return ddof
    if ddof != 0:
        raise ShapeError(f"var/std: ddof and correction are the same setting; give one "
                         f"(at {user_location()})")
    return correction


def sqrt_of_spread(v: Node) -> Node:
    """sqrt(v) for a v >= 0 that measures a spread (a variance, a sum of squares), with the
    derivative taken as 0 where v == 0, as torch and autograd give it for std and norms:
    there v is at its minimum, so its own derivative is 0 and the product would be 0 * inf."""
    at_zero = E.equal(v, scalar(0, v))
    return E.guarded(at_zero, scalar(0, v), v, 1, E.sqrt)


# --- index of the extremum ------------------------------------------------------------------

def _arg_extremum(op: OpDef) -> Callable[..., Node]:
    def function(a: TensorLike, axis: int | None = None, out: None = None, *,
                 keepdims: bool = False) -> Node:
        _no_out(op.name, out)
        x = as_tensor(a)
        if axis is not None:
            axis = normalize_axis(axis, x.ndim, what=f"{op.name} of {x.type}: axis")
            return op(x, axis=axis, keepdims=bool(keepdims))
        from .shape import reshape

        flat = op(reshape(x, (-1,)), axis=0, keepdims=False)
        return reshape(flat, (1,) * x.ndim) if keepdims else flat

    function.__name__ = function.__qualname__ = op.name
    function.__doc__ = (f"Index (int64) of the first {op.name[3:]}imum along ``axis`` (None: of "
                        f"the flattened tensor), as numpy.{op.name}; a NaN counts as the "
                        f"extremum.")
    return function


argmax = _arg_extremum(R.argmax)
argmin = _arg_extremum(R.argmin)


# --- truth and counting -----------------------------------------------------------------------

def count_nonzero(a: TensorLike, axis: Axis = None, *, keepdims: bool = False) -> Node:
    """The number of non-zero (true) elements over ``axis``, int64 (numpy.count_nonzero)."""
    x = as_tensor(a)
    nonzero = E.not_equal(x, scalar(0, x))
    return R.sum_(E.cast(nonzero, dtype=np.dtype(np.int64)),
                  axes=normalize_axes(axis, x.ndim), keepdims=bool(keepdims))


def _truth(name: str, all_of: bool) -> Callable[..., Node]:
    def function(a: TensorLike, axis: Axis = None, out: None = None, keepdims: bool = False,
                 *, where: TensorLike | None = None) -> Node:
        _no_out(name, out)
        x = as_tensor(a)
        truth = E.not_equal(x, scalar(0, x))  # NaN is true, as in numpy
        if all_of:
            truth = logical_not(truth)
        mask = _mask(name, x, where)
        if mask is not None:
            truth = E.logical_and(truth, mask)
        hits = count_nonzero(truth, axis, keepdims=keepdims)
        zero = scalar(0, hits)
        return E.equal(hits, zero) if all_of else E.greater(hits, zero)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = (f"Whether {'every' if all_of else 'any'} element over ``axis`` is true "
                        f"(non-zero; NaN is true), as numpy.{name}, with where=; bool.")
    return function


any = _truth("any", all_of=False)  # noqa: A001
all = _truth("all", all_of=True)  # noqa: A001


def ptp(a: TensorLike, axis: Axis = None, out: None = None, keepdims: bool = False) -> Node:
    """Peak to peak, max - min over ``axis`` (numpy.ptp)."""
    _no_out("ptp", out)
    x = as_tensor(a)
    if x.dtype == np.bool_:
        raise DTypeError(f"ptp of a bool tensor: numpy does not subtract bools "
                         f"(at {user_location()})")
    return subtract(max(x, axis, keepdims=keepdims), min(x, axis, keepdims=keepdims))


def average(a: TensorLike, axis: Axis = None, weights: TensorLike | None = None,
            returned: bool = False, *, keepdims: bool = False) -> Node | tuple[Node, Node]:
    """Weighted mean over ``axis`` (numpy.average): ``weights`` of ``a``'s shape, or (with
    ``axis``) of the reduced axes' shape. ``returned`` adds the sum of the weights. Weights
    summing to zero give inf or nan (numpy raises ZeroDivisionError when it runs)."""
    x = as_tensor(a)
    axes = normalize_axes(axis, x.ndim)
    if weights is None:
        avg = mean(x, axes, keepdims=keepdims)
        count = R.count(x, axes, avg.dtype)
        return (avg, broadcast_to(count, avg.shape)) if returned else avg
    w = as_tensor(weights)
    dtype = np.result_type(x.dtype, w.dtype, *(["f8"] if x.dtype.kind in "biu" else []))
    x, w = cast_to(x, dtype), cast_to(w, dtype)
    if w.shape != x.shape:
        w = _weights_along(x, w, axis, axes)
    scale = R.sum_(broadcast_to(w, x.shape), axes=axes, keepdims=bool(keepdims))
    avg = E.div(R.sum_(E.mul(x, w), axes=axes, keepdims=bool(keepdims)), scale)
    return (avg, broadcast_to(scale, avg.shape)) if returned else avg


def _weights_along(x: Node, w: Node, axis: Axis, axes: tuple[int, ...]) -> Node:
    """Weights given for the reduced axes only, shaped to broadcast against ``x``."""
    from .shape import reshape

    wanted = tuple(x.shape[i] for i in axes)
    if axis is None or w.shape != wanted:
        raise ShapeError(f"average: weights {w.type} must have the shape of a {x.type}, or of "
                         f"its axes {axes} ({wanted}) when axis is given "
                         f"(at {user_location()})")
    shape = tuple(x.shape[i] if i in axes else 1 for i in range(x.ndim))
    return reshape(w, shape)


# --- NaN-ignoring reductions ------------------------------------------------------------------

def _without_nan(x: Node, fill: float) -> tuple[Node, Node | None]:
    """``x`` with ``fill`` at its NaNs, and where they are (None for types without NaN)."""
    if x.dtype.kind != "f":
        return x, None
    is_nan = E.isnan(x)
    return E.where(is_nan, scalar(fill, x), x), is_nan


def nansum(a: TensorLike, axis: Axis = None, dtype: Any = None, out: None = None,
           keepdims: bool = False, initial: float | None = None,
           where: TensorLike | None = None) -> Node:
    """sum treating NaN as zero (numpy.nansum); the gradient is zero at the NaNs."""
    x, _ = _without_nan(as_tensor(a), 0)
    return sum(x, axis, dtype, out, keepdims, initial, where)


@_accumulated
def nanmean(a: TensorLike, axis: Axis = None, dtype: Any = None, out: None = None,
            keepdims: bool = False, where: TensorLike | None = None) -> Node:
    """mean of the non-NaN elements (numpy.nanmean): NaN for an all-NaN slice, as numpy gives
    (numpy warns; this does not), with a zero gradient there."""
    _no_out("nanmean", out)
    x = _float_operand(as_tensor(a), dtype)
    filled, is_nan = _without_nan(x, 0)
    if is_nan is None:
        return mean(x, axis, keepdims=keepdims, where=where)
    mask = _mask("nanmean", x, where)
    kept = logical_not(is_nan) if mask is None else E.logical_and(logical_not(is_nan), mask)
    axes = normalize_axes(axis, x.ndim)
    total = sum(filled, axes, keepdims=keepdims, where=kept)
    count = _count(x, axes, bool(keepdims), kept, x.dtype)
    none = E.equal(count, scalar(0, count))  # a safe count there, so no 0/0 in the derivatives
    average = E.div(total, E.where(none, scalar(1, count), count))
    return E.where(none, scalar(np.nan, x), average)


def _nan_extremum(name: str, reduce: Callable[..., Node], fill: float) -> Callable[..., Node]:
    def function(a: TensorLike, axis: Axis = None, out: None = None, keepdims: bool = False,
                 initial: float | None = None, where: TensorLike | None = None) -> Node:
        _no_out(name, out)
        x = as_tensor(a)
        filled, is_nan = _without_nan(x, fill)
        result = reduce(filled, axis, keepdims=keepdims, initial=initial, where=where)
        if is_nan is None or initial is not None:  # numpy's fmax.reduce: initial survives
            return result
        all_nan = all(is_nan, axis, keepdims=keepdims)
        return E.where(all_nan, scalar(np.nan, result), result)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = (f"{name[3:]} ignoring NaN (numpy.{name}): NaN for an all-NaN slice, as "
                        f"numpy gives (numpy warns; this does not), with a zero gradient there "
                        f"and at every NaN.")
    return function


nanmax = _nan_extremum("nanmax", max, -np.inf)
nanmin = _nan_extremum("nanmin", min, np.inf)


# --- running sums and products ----------------------------------------------------------------

def _cumulative(op: OpDef, flags: dict[str, bool]) -> Callable[..., Node]:
    def function(a: TensorLike, axis: int | None = None, dtype: Any = None,
                 out: None = None) -> Node:
        _no_out(op.name, out)
        x = _in_dtype(a, dtype)
        small = x.dtype == np.bool_ or (x.dtype.kind in "iu" and x.dtype.itemsize < 8)
        if dtype is None and small:
            # numpy accumulates bool and small ints in the platform integer
            x = cast_to(x, np.dtype(np.uint64 if x.dtype.kind == "u" else np.int64))
        if axis is None:
            from .shape import reshape

            x, axis = reshape(x, (-1,)), 0
        return op(x, axis=normalize_axis(axis, x.ndim, what=f"{op.name} of {x.type}: axis"),
                  **flags)

    function.__name__ = function.__qualname__ = op.name
    return function


cumsum = _cumulative(C.cumsum, {"reverse": False, "exclusive": False})
cumsum.__doc__ = ("Running sum along ``axis`` (None: of the flattened tensor), as numpy.cumsum "
                  "with dtype=.")
cumprod = _cumulative(C.cumprod, {})
cumprod.__doc__ = ("Running product along ``axis`` (None: flattened), as numpy.cumprod; its "
                   "derivatives are exact with zeros in the input, to every order.")
