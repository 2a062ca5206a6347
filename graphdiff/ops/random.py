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
from ..ir.graph import Graph, region_walk
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

    def state(self) -> np.ndarray:
        """Where the stream is, as uint64 words (the PCG64 state and increment, its buffered
        half-word, and the jax backend's call count), for checkpoints: ``set_state`` of these
        words makes the stream draw what it would have drawn next."""
        bits = self.generator.bit_generator.state
        words = [bits["state"]["state"], bits["state"]["inc"]]
        return np.array([w >> shift & _WORD for w in words for shift in (0, 64)]
                        + [bits["has_uint32"], bits["uinteger"], self.device_calls], np.uint64)

    def set_state(self, words: np.ndarray) -> None:
        """Continue from a ``state()`` (checked: seven uint64 words)."""
        words = np.asarray(words)
        if words.shape != (7,) or words.dtype != np.uint64:
            raise DTypeError(f"the state of random stream {self!r} is 7 uint64 words, got "
                             f"{words.dtype.name} {words.shape}")
        w = [int(x) for x in words]
        self.generator.bit_generator.state = {
            "bit_generator": "PCG64", "has_uint32": w[4], "uinteger": w[5],
            "state": {"state": w[0] | w[1] << 64, "inc": w[2] | w[3] << 64}}
        self.device_calls = w[6]


_WORD = (1 << 64) - 1


def random_streams(graph: Graph) -> tuple[RandomStream, ...]:
    """The streams of the random nodes of ``graph`` and its regions, in graph order."""
    found: dict[int, RandomStream] = {}
    for node in region_walk(graph):
        stream = node.attrs.get("stream") if node.op.effectful else None
        if isinstance(stream, RandomStream):
            found.setdefault(id(stream), stream)
    return tuple(found.values())


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
