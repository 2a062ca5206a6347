"""Initializers: PyTorch's defaults, drawn from a numpy ``Generator``.

``torch.nn.Linear`` and ``Conv2d`` draw weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in))
(``kaiming_uniform_(a=sqrt(5))`` gives exactly that bound for the weight); recurrent layers
draw everything from U(-1/sqrt(hidden), 1/sqrt(hidden)); ``Embedding`` from N(0, 1);
``MultiheadAttention``'s input projections are Glorot-uniform (``xavier_uniform_``) with zero
biases. The layers of ``graphdiff.nn`` use these, so a model starts where its PyTorch twin
would (not with the same numbers: the generators differ).

>>> import numpy as np
>>> w = uniform(np.random.default_rng(0), (300, 4), 1 / np.sqrt(300), "float64")
>>> bool(np.abs(w).max() <= 1 / np.sqrt(300)), w.dtype.name
(True, 'float64')
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Rng = np.random.Generator | int | None


def as_rng(rng: Rng) -> np.random.Generator:
    """A Generator from a Generator, a seed, or None (fresh entropy, as an unseeded torch)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def uniform(rng: np.random.Generator, shape: tuple[int, ...], bound: float,
            dtype: Any) -> np.ndarray:
    """U(-bound, bound), drawn in float64 and then cast (the same numbers in every dtype)."""
    return rng.uniform(-bound, bound, shape).astype(dtype)


def fan_in_uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int,
                   dtype: Any) -> np.ndarray:
    """torch's Linear / Conv2d default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return uniform(rng, shape, 1.0 / math.sqrt(fan_in), dtype)


def glorot_uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int,
                   dtype: Any) -> np.ndarray:
    """``xavier_uniform_``: U(-a, a) with a = sqrt(6 / (fan_in + fan_out))."""
    return uniform(rng, shape, math.sqrt(6.0 / (fan_in + fan_out)), dtype)


def normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """N(0, 1), torch's Embedding default."""
    return rng.normal(0.0, 1.0, shape).astype(dtype)
