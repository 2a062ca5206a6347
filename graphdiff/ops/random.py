"""Random numbers: effectful sources of uniform and normal samples with explicit seeds.

Each random node owns a stream (a numpy Generator seeded by the user's seed), so a compiled
function draws fresh samples at every call, in a sequence that the seed makes reproducible.
Random nodes are effectful: never merged by interning or CSE, never constant-folded. They have
no derivative (the reparameterized value is what gradients flow through, e.g. mean + std * z).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DTypeError
from ..ir.types import Shape, TensorType
from .core import defop


class RandomStream:
    """The generator behind one random node; prints as its seed.

    ``device_calls`` counts the calls of the jax backend that drew from it: its keys are
    ``fold_in(PRNGKey(seed), device_calls)`` (``graphdiff/backends/jax.py``), so those draws
    too are fresh at every call and reproducible from the seed."""

    __slots__ = ("seed", "generator", "device_calls")

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self.generator = np.random.default_rng(self.seed)
        self.device_calls = 0

    def __repr__(self) -> str:
        return f"seed({self.seed})"


def _random_type(types: Sequence[TensorType], *, shape: Shape, dtype: np.dtype,
                 stream: RandomStream, **params: float) -> TensorType:
    if dtype.kind != "f":
        raise DTypeError(f"random values must be floats, got {dtype.name}")
    return TensorType(dtype, shape)


def _uniform_kernel(*, shape: tuple[int, ...], dtype: np.dtype, stream: RandomStream,
                    low: float, high: float) -> np.ndarray:
    return stream.generator.uniform(low, high, shape).astype(dtype, copy=False)


def _normal_kernel(*, shape: tuple[int, ...], dtype: np.dtype, stream: RandomStream,
                   mean: float, std: float) -> np.ndarray:
    return stream.generator.normal(mean, std, shape).astype(dtype, copy=False)


def _uniform_jax(*, shape: tuple[int, ...], dtype: np.dtype, stream: RandomStream, low: float,
                 high: float, ctx: Any) -> Any:
    import jax

    return jax.random.uniform(ctx.key(stream), shape, dtype, low, high)


def _normal_jax(*, shape: tuple[int, ...], dtype: np.dtype, stream: RandomStream, mean: float,
                std: float, ctx: Any) -> Any:
    import jax

    return mean + std * jax.random.normal(ctx.key(stream), shape, dtype)


random_uniform = defop("random_uniform", _random_type, _uniform_kernel, effectful=True,
                       jax=_uniform_jax,
                       differentiable=False, shape_attrs=("shape",),
                       onnx=lambda ctx, n, i: ctx.random("RandomUniformLike", n, low=n.attrs["low"],
                                                         high=n.attrs["high"]),
                       doc="Uniform samples in [low, high); a new draw at every call.")
random_normal = defop("random_normal", _random_type, _normal_kernel, effectful=True,
                      jax=_normal_jax,
                      differentiable=False, shape_attrs=("shape",),
                      onnx=lambda ctx, n, i: ctx.random("RandomNormalLike", n, mean=n.attrs["mean"],
                                                        scale=n.attrs["std"]),
                      doc="Normal samples N(mean, std^2); a new draw at every call.")
