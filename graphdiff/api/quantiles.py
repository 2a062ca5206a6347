"""numpy-named order statistics: median, quantile, percentile.

Each sorts the reduced axes (moved last and merged) and gathers the order statistics numpy's
method names, interpolating between two neighbours for the continuous methods. The positions
are computed in the graph from the axis length, so symbolic axes work and static ones fold to
constants; the gradient flows through the gathers to the elements picked (and to ``q`` when it
is a tensor, through the interpolation weight). A slice holding a NaN gives NaN, as in numpy.

>>> import numpy as np, graphdiff as gd
>>> x = gd.placeholder((None, 4), "float64", name="x")
>>> f = gd.function([x], [gd.median(x, axis=1), gd.quantile(x, [0.25, 1.0], axis=0)])
>>> [v.tolist() for v in f(np.array([[4.0, 1.0, 3.0, 2.0], [0.0, 8.0, 6.0, 9.0]]))]
[[2.5, 7.0], [[1.0, 2.75, 3.75, 3.75], [4.0, 8.0, 6.0, 9.0]]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import GraphdiffError, ShapeError, user_location
from ..ir.node import Node
from ..ir.types import normalize_axes
from ..ops import elementwise as E
from ..ops import index as I
from ..ops import reduce as R
from ..ops.core import scalar
from .convert import TensorLike, as_tensor, cast_to, is_python_scalar
from .shape import reshape, transpose
from .sorting import sort

__all__ = ["median", "percentile", "quantile"]

_F64 = np.dtype(np.float64)


def _f64(value: float) -> Node:
    return scalar(value, _F64)


def _reduced_last(x: Node, axis: Any) -> tuple[Node, tuple[int, ...]]:
    """``x`` with the reduced axes moved last and merged into one, and those axes."""
    axes = normalize_axes(axis, x.ndim)
    rest = [a for a in range(x.ndim) if a not in axes]
    if rest + list(axes) != list(range(x.ndim)):
        x = transpose(x, rest + list(axes))
    if len(axes) != 1:
        x = reshape(x, (*x.shape[:len(rest)], -1))
    return x, axes


def _kept(result: Node, shape: Sequence[Any], axes: tuple[int, ...], keepdims: bool) -> Node:
    """keepdims: the reduced axes come back as ones after the leading q axes."""
    if not keepdims:
        return result
    lead = result.ndim - (len(shape) - len(axes))
    kept = tuple(1 if a in axes else d for a, d in enumerate(shape))
    return reshape(result, (*result.shape[:lead], *kept))


def _gather(values: Node, positions: Node) -> Node:
    """``values[..., positions]`` with the positions' axes first (numpy's quantile layout)."""
    index = cast_to(positions, np.dtype(np.int64))
    taken = I.take(values, index, axis=values.ndim - 1)
    rest = values.ndim - 1
    if not index.ndim or not rest:
        return taken
    return transpose(taken, [*range(rest, rest + index.ndim), *range(rest)])


def _clipped(position: Node, n: Node) -> Node:
    return E.minimum(E.maximum(position, _f64(0)), E.sub(n, _f64(1)))


def _lerp(a: Node, b: Node, t: Node) -> Node:
    """numpy's _lerp: a + (b - a) t, written from b's side for t >= 1/2 (exact at both ends)."""
    diff = E.sub(b, a)
    low = E.add(a, E.mul(diff, t))
    high = E.sub(b, E.mul(diff, E.sub(scalar(1, t), t)))
    return E.where(E.greater_equal(t, scalar(0.5, t)), high, low)


def _fraction(v: Node) -> Node:
    return E.sub(v, E.floor(v))


def _round_half_even(v: Node) -> Node:
    """np.around for v >= 0: halves go to the even neighbour."""
    low = E.floor(v)
    frac = E.sub(v, low)
    odd = E.equal(E.sub(low, E.mul(_f64(2), E.floor(E.mul(low, _f64(0.5))))), _f64(1))
    up = E.logical_or(E.greater(frac, _f64(0.5)),
                      E.logical_and(E.equal(frac, _f64(0.5)), odd))
    return E.add(low, E.cast(up, dtype=_F64))


def _to_boundary(v: Node, keep_lower: Callable[[Node, Node], Node]) -> Node:
    """numpy's discrete methods: floor(v) where ``keep_lower(gamma, v)``, else floor(v) + 1."""
    low = E.floor(v)
    return E.where(keep_lower(_fraction(v), v), low, E.add(low, _f64(1)))


def _hyndman_fan(alpha: float, beta: float) -> Callable[[Node, Node], Node]:
    # n q + alpha + q (1 - alpha - beta) - 1: H&F's continuous methods 4 to 9
    return lambda n, q: E.sub(E.add(E.mul(n, q), E.add(_f64(alpha),
                                                       E.mul(q, _f64(1 - alpha - beta)))),
                              _f64(1))


def _linear_index(n: Node, q: Node) -> Node:
    return E.mul(E.sub(n, _f64(1)), q)


# method: (virtual index from n and q, interpolation weight from (fraction, v) or None for
# methods that pick one element)
_METHODS: dict[str, tuple[Callable[[Node, Node], Node], Callable[[Node, Node], Node] | None]] = {
    "linear": (_linear_index, lambda g, v: g),
    "weibull": (_hyndman_fan(0, 0), lambda g, v: g),
    "hazen": (_hyndman_fan(0.5, 0.5), lambda g, v: g),
    "median_unbiased": (_hyndman_fan(1 / 3, 1 / 3), lambda g, v: g),
    "normal_unbiased": (_hyndman_fan(3 / 8, 3 / 8), lambda g, v: g),
    "interpolated_inverted_cdf": (_hyndman_fan(0, 1), lambda g, v: g),
    "averaged_inverted_cdf": (
        lambda n, q: E.sub(E.mul(n, q), _f64(1)),
        lambda g, v: E.where(E.equal(g, _f64(0)), _f64(0.5), _f64(1))),
    "midpoint": (
        lambda n, q: E.mul(_f64(0.5), E.add(E.floor(_linear_index(n, q)),
                                            E.ceil(_linear_index(n, q)))),
        lambda g, v: E.where(E.equal(g, _f64(0)), _f64(0), _f64(0.5))),
    "lower": (lambda n, q: E.floor(_linear_index(n, q)), None),
    "higher": (lambda n, q: E.ceil(_linear_index(n, q)), None),
    "nearest": (lambda n, q: _round_half_even(_linear_index(n, q)), None),
    "inverted_cdf": (
        lambda n, q: _to_boundary(E.sub(E.mul(n, q), _f64(1)),
                                  lambda g, v: E.equal(g, _f64(0))), None),
    "closest_observation": (
        # the nearest even order statistic at gamma = 0 (1-based), so an odd 0-based index
        lambda n, q: _to_boundary(E.sub(E.mul(n, q), _f64(1.5)), lambda g, v: E.logical_and(
            E.equal(g, _f64(0)), E.equal(_fraction(E.mul(E.floor(v), _f64(0.5))), _f64(0.5)))),
        None),
}


def _result_dtype(x: Node, q: Any, method: str) -> np.dtype:
    """numpy's own answer for these dtypes (a python q is weak, an array q is not)."""
    probe = 0.5 if is_python_scalar(q) else \
        np.asarray(0.5, q.dtype if isinstance(q, Node) else np.asarray(q).dtype)
    return np.quantile(np.zeros(1, x.dtype), probe, method=method).dtype


def _propagate_nan(result: Node, ordered: Node) -> Node:
    """NaN sorts last: a slice whose last sorted element is NaN gives NaN (numpy's rule)."""
    if ordered.dtype.kind != "f":
        return result
    last = ordered[..., -1]
    return E.where(E.isnan(last), last, result)


def _quantile(x: Node, q: Any, axis: Any, method: str, keepdims: bool,
              function: str) -> Node:
    if method not in _METHODS:
        raise GraphdiffError(f"{function}: method {method!r} is not one of "
                             f"{', '.join(_METHODS)} (at {user_location()})")
    if isinstance(q, Node) and q.ndim > 1:
        raise ShapeError(f"{function}: q must be a scalar or 1-D, got {q.type} "
                         f"(at {user_location()})")
    if not isinstance(q, Node):
        values = np.asarray(q, dtype=np.float64)
        if values.ndim > 1 or not ((values >= 0) & (values <= 1)).all():
            raise GraphdiffError(f"{function}: q must be a scalar or 1-D, within [0, 1] "
                                 f"(percentile: [0, 100]), got {q!r} (at {user_location()})")
    dtype = _result_dtype(x, q, method)
    shape = x.shape
    moved, axes = _reduced_last(x, axis)
    ordered = sort(cast_to(moved, dtype) if dtype.kind == "f" else moved, axis=-1)
    n = R.count(ordered, (ordered.ndim - 1,), _F64)
    q64 = cast_to(as_tensor(q), _F64)
    position, weight = _METHODS[method]
    v = position(n, q64)
    if weight is None:
        result = _gather(ordered, _clipped(v, n))
    else:
        low = _clipped(E.floor(v), n)
        high = _clipped(E.add(E.floor(v), _f64(1)), n)
        gamma = weight(_fraction(v), v)
        gamma = reshape(cast_to(gamma, dtype), (*gamma.shape, *(1,) * (ordered.ndim - 1)))
        result = _lerp(_gather(ordered, low), _gather(ordered, high), gamma)
    return _kept(_propagate_nan(result, ordered), shape, axes, keepdims)


def quantile(a: TensorLike, q: TensorLike, axis: int | Sequence[int] | None = None,
             out: None = None, overwrite_input: bool = False, method: str = "linear",
             keepdims: bool = False) -> Node:
    """numpy.quantile with every method numpy names (default "linear"); ``q`` a scalar or 1-D
    (a tensor is differentiable), its axes first in the result."""
    if out is not None:
        raise ShapeError(f"quantile: out= is not supported: graph values are immutable "
                             f"(at {user_location()})")
    return _quantile(as_tensor(a), q, axis, method, bool(keepdims), "quantile")


def percentile(a: TensorLike, q: TensorLike, axis: int | Sequence[int] | None = None,
               out: None = None, overwrite_input: bool = False, method: str = "linear",
               keepdims: bool = False) -> Node:
    """numpy.percentile: :func:`quantile` of q / 100."""
    if out is not None:
        raise ShapeError(f"percentile: out= is not supported: graph values are immutable "
                             f"(at {user_location()})")
    if isinstance(q, Node):
        fraction = E.div(q, scalar(100, q)) if q.dtype.kind == "f" else \
            E.div(cast_to(q, _F64), _f64(100))
    else:
        fraction = np.true_divide(q, 100)
        if is_python_scalar(q):
            fraction = float(fraction)
    return _quantile(as_tensor(a), fraction, axis, method, bool(keepdims), "percentile")


def median(a: TensorLike, axis: int | Sequence[int] | None = None, out: None = None,
           overwrite_input: bool = False, keepdims: bool = False) -> Node:
    """numpy.median: the middle element, or the mean of the two middle ones; NaN propagates."""
    if out is not None:
        raise ShapeError(f"median: out= is not supported: graph values are immutable "
                             f"(at {user_location()})")
    x = as_tensor(a)
    dtype = np.median(np.zeros(1, x.dtype)).dtype
    shape = x.shape
    moved, axes = _reduced_last(x, axis)
    ordered = sort(cast_to(moved, dtype), axis=-1)
    n = R.count(ordered, (ordered.ndim - 1,), _F64)
    low = _gather(ordered, E.floor(E.mul(E.sub(n, _f64(1)), _f64(0.5))))
    high = _gather(ordered, E.floor(E.mul(n, _f64(0.5))))
    middle = E.div(E.add(low, high), scalar(2, low))
    return _kept(_propagate_nan(middle, ordered), shape, axes, bool(keepdims))
