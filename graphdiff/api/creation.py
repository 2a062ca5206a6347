"""Creating tensors: constants, fills over possibly symbolic shapes, ranges, random samples.

>>> import graphdiff as gd
>>> gd.zeros(("n", 3)).shape
('n', 3)
>>> gd.normal((2, 2), seed=0).op.effectful
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import GraphdiffError, ShapeError, user_location
from ..ir.node import Node
from ..ir.types import TensorType, as_dtype, as_shape, broadcast_shapes
from ..ops import random as RND
from ..ops.source import constant, fill
from .convert import TensorLike, as_tensor, promote, result_dtype
from .indexing import concatenate
from .math import add, astype, broadcast_to, divide, floor, multiply, power, subtract
from .shape import moveaxis, ravel, reshape

__all__ = [
    "full",
    "zeros",
    "ones",
    "zeros_like",
    "ones_like",
    "arange",
    "array",
    "asarray",
    "eye",
    "identity",
    "linspace",
    "logspace",
    "meshgrid",
    "uniform",
    "normal",
]


def full(shape: Sequence[Any] | int, value: float, dtype: Any = None) -> Node:
    """An array of ``value``; symbolic dimensions are resolved when the function runs.

    As numpy.full, the dtype defaults to the value's (float64 for a float, int64 for an int).
    """
    if dtype is None:
        dtype = np.asarray(value).dtype
    return fill(value, TensorType(as_dtype(dtype), as_shape(shape)))


def zeros(shape: Sequence[Any] | int, dtype: Any = "float64") -> Node:
    """numpy.zeros (float64 unless ``dtype`` says otherwise)."""
    return full(shape, 0.0, dtype)


def ones(shape: Sequence[Any] | int, dtype: Any = "float64") -> Node:
    """numpy.ones (float64 unless ``dtype`` says otherwise)."""
    return full(shape, 1.0, dtype)


def zeros_like(x: TensorLike, dtype: Any = None) -> Node:
    x = as_tensor(x)
    return full(x.shape, 0.0, x.dtype if dtype is None else dtype)


def ones_like(x: TensorLike, dtype: Any = None) -> Node:
    x = as_tensor(x)
    return full(x.shape, 1.0, x.dtype if dtype is None else dtype)


def arange(start: int, stop: int | None = None, step: int = 1, dtype: Any = None) -> Node:
    """A constant range (numpy.arange)."""
    if stop is None:
        start, stop = 0, start
    return constant(np.arange(start, stop, step, dtype=None if dtype is None else
                              as_dtype(dtype)))


def asarray(a: Any, dtype: Any = None) -> Node:
    """numpy.asarray: a tensor passes through (cast to ``dtype`` if given); data, and nested
    lists mixing tensors and numbers, become a tensor (numpy's coercion dtype rules)."""
    return as_tensor(a, dtype)


def array(a: Any, dtype: Any = None, *, copy: bool = True, ndmin: int = 0) -> Node:
    """numpy.array: as asarray (graph values are immutable, so ``copy`` changes nothing);
    ``ndmin`` prepends size-1 axes."""
    x = as_tensor(a, dtype)
    ndmin = _size("array", ndmin, "ndmin")
    return reshape(x, (1,) * (ndmin - x.ndim) + x.shape) if x.ndim < ndmin else x


def _size(function: str, n: Any, what: str) -> int:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 0:
        raise ShapeError(f"{function}: {what} must be a non-negative int, got {n!r} "
                         f"(at {user_location()})")
    return int(n)


def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = "float64") -> Node:  # noqa: N803
    """numpy.eye: ones on the ``k``-th diagonal of an N x M constant."""
    N = _size("eye", N, "N")  # noqa: N806
    M = N if M is None else _size("eye", M, "M")  # noqa: N806
    if not isinstance(k, int | np.integer) or isinstance(k, bool):
        raise ShapeError(f"eye: k must be an int, got {k!r} (at {user_location()})")
    return constant(np.eye(N, M, int(k), dtype=as_dtype(dtype)))


def identity(n: int, dtype: Any = "float64") -> Node:
    """numpy.identity: the n x n identity."""
    return eye(_size("identity", n, "n"), dtype=dtype)


def linspace(start: TensorLike, stop: TensorLike, num: int = 50, endpoint: bool = True,
             retstep: bool = False, dtype: Any = None, axis: int = 0) -> Node | tuple:
    """numpy.linspace; ``start`` and ``stop`` may be tensors (any broadcastable shapes), then the
    samples are differentiable in them. The new axis is at ``axis``."""
    num = _size("linspace", num, "num")
    if not isinstance(start, Node) and not isinstance(stop, Node):
        result = np.linspace(start, stop, num, endpoint=endpoint, retstep=True,
                             dtype=None if dtype is None else as_dtype(dtype), axis=axis)
        samples = constant(result[0])
        return (samples, result[1]) if retstep else samples
    kind = result_dtype(start, stop, float(num))
    if kind.kind != "f":
        kind = np.dtype(np.float64)
    start, stop = promote(start, stop, dtype=kind)
    div = num - 1 if endpoint else num
    delta = subtract(stop, start)
    step = divide(delta, float(div)) if div > 0 else multiply(delta, float("nan"))
    ramp = constant(np.arange(num, dtype=kind).reshape((-1,) + (1,) * delta.ndim))
    samples = add(multiply(ramp, step), start)
    if endpoint and num > 1:
        last = broadcast_shape_of(stop, samples.shape[1:])
        samples = concatenate([samples[:-1], reshape(last, (1,) + last.shape)])
    if axis != 0:
        samples = moveaxis(samples, 0, axis)
    if dtype is not None:
        target = as_dtype(dtype)
        samples = astype(floor(samples) if target.kind in "iu" else samples, target)
    return (samples, step) if retstep else samples


def broadcast_shape_of(x: Node, shape: Sequence[Any]) -> Node:
    return x if x.shape == tuple(shape) else broadcast_to(x, shape)


def logspace(start: TensorLike, stop: TensorLike, num: int = 50, endpoint: bool = True,
             base: float = 10.0, dtype: Any = None, axis: int = 0) -> Node:
    """numpy.logspace: ``base ** linspace(start, stop)``."""
    samples = linspace(start, stop, num, endpoint=endpoint, axis=axis)
    out = power(base, samples)
    return out if dtype is None else astype(out, dtype)


def meshgrid(*xi: TensorLike, copy: bool = True, sparse: bool = False, indexing: str = "xy"
             ) -> tuple[Node, ...]:
    """numpy.meshgrid: coordinate tensors from 1-D coordinates ("xy": the first two swapped,
    as numpy; "ij": matrix indexing); ``sparse`` keeps the size-1 axes."""
    if indexing not in ("xy", "ij"):
        raise ShapeError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r} "
                         f"(at {user_location()})")
    flat = [ravel(as_tensor(x)) for x in xi]
    n = len(flat)
    ones_ = [1] * n
    output = []
    for i, x in enumerate(flat):
        shape = list(ones_)
        position = i
        if indexing == "xy" and n > 1 and i < 2:
            position = 1 - i
        shape[position] = x.shape[0]
        output.append(reshape(x, tuple(shape)))
    if not sparse and output:
        shape = broadcast_shapes(*(o.shape for o in output))
        output = [o if o.shape == shape else broadcast_to(o, shape) for o in output]
    return tuple(output)


def _seed(seed: Any) -> int:
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise GraphdiffError(f"random ops need an explicit integer seed, got {seed!r} "
                             f"(at {user_location()})")
    return int(seed)


def uniform(shape: Sequence[Any] | int, *, seed: int, low: float = 0.0, high: float = 1.0,
            dtype: Any = "float32") -> Node:
    """Uniform samples in [low, high), redrawn at every call; the seed fixes the sequence."""
    return RND.random_uniform(shape=as_shape(shape), dtype=as_dtype(dtype),
                              stream=RND.RandomStream(_seed(seed)), low=float(low),
                              high=float(high))


def normal(shape: Sequence[Any] | int, *, seed: int, mean: float = 0.0, std: float = 1.0,
           dtype: Any = "float32") -> Node:
    """Normal samples N(mean, std^2), redrawn at every call; the seed fixes the sequence."""
    return RND.random_normal(shape=as_shape(shape), dtype=as_dtype(dtype),
                             stream=RND.RandomStream(_seed(seed)), mean=float(mean),
                             std=float(std))
