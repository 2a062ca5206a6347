"""Feed-forward layers: Dense, Conv2D, pooling, Flatten, LayerNorm, Embedding, Dropout and
Sequential, each the computation of its ``torch.nn`` namesake with torch's initialization.

Dense keeps its weight as (in, out) and computes ``x @ weight + bias`` (torch's Linear stores
the transpose, (out, in)); Conv2D's weight is torch's OIHW. ``tests/test_nn.py`` copies weights
from ``torch.nn`` and compares values and gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import api
from ..errors import GraphdiffError, ShapeError, user_location
from ..ir import Node
from .init import Rng, as_rng, fan_in_uniform, normal
from .module import Module


class Dense(Module):
    """``x @ weight + bias`` over the last axis (torch's ``Linear``); weight (n_in, n_out)."""

    def __init__(self, n_in: int, n_out: int, *, bias: bool = True, rng: Rng = None,
                 name: str = "dense", dtype: Any = "float32") -> None:
        super().__init__(name)
        rng = as_rng(rng)
        self.weight = self.variable("weight", fan_in_uniform(rng, (n_in, n_out), n_in, dtype))
        self.bias = (self.variable("bias", fan_in_uniform(rng, (n_out,), n_in, dtype))
                     if bias else None)

    def __call__(self, x: Node) -> Node:
        y = x @ self.weight
        return y if self.bias is None else y + self.bias


class Conv2D(Module):
    """A 2-D convolution of NCHW images (torch's ``Conv2d``): weight (out, in/groups, kh, kw)."""

    def __init__(self, c_in: int, c_out: int, kernel: int | tuple[int, int], *,
                 stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
                 bias: bool = True, rng: Rng = None, name: str = "conv",
                 dtype: Any = "float32") -> None:
        super().__init__(name)
        if c_in % groups or c_out % groups:
            raise ShapeError(f"Conv2D {name!r}: {c_in} input and {c_out} output channels are "
                             f"not both multiples of groups={groups} (at {user_location()})")
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        fan_in = c_in // groups * kh * kw
        rng = as_rng(rng)
        shape = (c_out, c_in // groups, kh, kw)
        self.weight = self.variable("weight", fan_in_uniform(rng, shape, fan_in, dtype))
        self.bias = (self.variable("bias", fan_in_uniform(rng, (c_out,), fan_in, dtype))
                     if bias else None)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def __call__(self, x: Node) -> Node:
        return api.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                          dilation=self.dilation, groups=self.groups)


class MaxPool2D(Module):
    """The maximum over each window (torch's ``MaxPool2d``); the stride defaults to the kernel."""

    def __init__(self, kernel: Any, stride: Any = None, padding: Any = 0,
                 name: str = "max_pool") -> None:
        super().__init__(name)
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def __call__(self, x: Node) -> Node:
        return api.max_pool2d(x, self.kernel, self.stride, self.padding)


class AvgPool2D(Module):
    """The mean over each window (torch's ``AvgPool2d``, padding counted by default)."""

    def __init__(self, kernel: Any, stride: Any = None, padding: Any = 0,
                 count_include_pad: bool = True, name: str = "avg_pool") -> None:
        super().__init__(name)
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.count_include_pad = count_include_pad

    def __call__(self, x: Node) -> Node:
        return api.avg_pool2d(x, self.kernel, self.stride, self.padding, self.count_include_pad)


class Flatten(Module):
    """(n, d1, d2, ...) -> (n, d1 * d2 * ...), torch's ``Flatten()``."""

    def __init__(self, name: str = "flatten") -> None:
        super().__init__(name)

    def __call__(self, x: Node) -> Node:
        return api.reshape(x, (x.shape[0], -1))


class LayerNorm(Module):
    """Normalize the last axis, then ``* weight + bias`` (torch's ``LayerNorm(dim)``)."""

    def __init__(self, dim: int, *, eps: float = 1e-5, name: str = "layer_norm",
                 dtype: Any = "float32") -> None:
        super().__init__(name)
        self.eps = eps
        self.weight = self.variable("weight", np.ones(dim, dtype))
        self.bias = self.variable("bias", np.zeros(dim, dtype))

    def __call__(self, x: Node) -> Node:
        return api.layer_norm(x, self.weight, self.bias, axis=-1, eps=self.eps)


class Embedding(Module):
    """Rows of a (count, dim) table looked up by integer ids of any shape (torch's
    ``Embedding``, initialized N(0, 1)); the gradient scatters into the used rows."""

    def __init__(self, count: int, dim: int, *, rng: Rng = None, name: str = "embedding",
                 dtype: Any = "float32") -> None:
        super().__init__(name)
        self.weight = self.variable("weight", normal(as_rng(rng), (count, dim), dtype))

    def __call__(self, ids: Any) -> Node:
        return api.take(self.weight, ids, axis=0)


class Dropout(Module):
    """In training mode, zero each element with probability ``rate`` and scale the rest by
    1 / (1 - rate) (a new mask every call); in eval mode, the identity (torch's ``Dropout``).
    ``seed`` picks the mask stream (default: drawn from ``rng``)."""

    def __init__(self, rate: float, *, seed: int | None = None, rng: Rng = None,
                 name: str = "dropout") -> None:
        super().__init__(name)
        if not 0.0 <= rate < 1.0:
            raise ShapeError(f"Dropout {name!r}: rate must be in [0, 1), got {rate} "
                             f"(at {user_location()})")
        self.rate = rate
        self.seed = int(as_rng(rng).integers(2**31)) if seed is None else seed

    def __call__(self, x: Node) -> Node:
        return api.dropout(x, self.rate, seed=self.seed, training=self.training)


class Sequential(Module):
    """Layers and parameter-free functions (``gd.relu``) applied in order; its parameters are
    keyed by each layer's name, which must then be unique."""

    def __init__(self, *layers: Module | Callable[[Node], Node], name: str = "sequential"):
        super().__init__(name)
        self.layers = list(layers)
        seen: set[str] = set()
        for layer in self.layers:
            if isinstance(layer, Module):
                if layer.name in seen:
                    raise GraphdiffError(f"Sequential {name!r}: two layers are named "
                                         f"{layer.name!r}; name them apart (name=...) "
                                         f"(at {user_location()})")
                seen.add(layer.name)
            elif not callable(layer):
                raise GraphdiffError(f"Sequential {name!r}: {layer!r} is neither a layer nor "
                                     f"a function (at {user_location()})")

    def _collect(self) -> dict[str, Any]:
        tree = {layer.name: layer.parameters() for layer in self.layers
                if isinstance(layer, Module)}
        return {name: sub for name, sub in tree.items() if sub}

    def __call__(self, x: Node) -> Node:
        for layer in self.layers:
            x = layer(x)
        return x

