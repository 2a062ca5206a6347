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

from ..errors import GraphdiffError, user_location
from ..ir.node import Node
from ..ir.types import TensorType, as_dtype, as_shape
from ..ops import random as RND
from ..ops.source import constant, fill
from .convert import TensorLike, as_tensor

__all__ = [
    "full",
    "zeros",
    "ones",
    "zeros_like",
    "ones_like",
    "arange",
    "uniform",
    "normal",
]


def full(shape: Sequence[Any] | int, value: float, dtype: Any = "float32") -> Node:
    """An array of ``value``; symbolic dimensions are resolved when the function runs."""
    return fill(value, TensorType(as_dtype(dtype), as_shape(shape)))


def zeros(shape: Sequence[Any] | int, dtype: Any = "float32") -> Node:
    return full(shape, 0.0, dtype)


def ones(shape: Sequence[Any] | int, dtype: Any = "float32") -> Node:
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
