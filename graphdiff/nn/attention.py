"""Multi-head scaled dot-product attention, torch's ``MultiheadAttention(batch_first=True)``.

softmax(q k^T / sqrt(d_head)) v per head, the heads concatenated and projected. The query,
key and value projections are Dense layers initialized as torch's ``in_proj_weight`` (Glorot
uniform over the stacked (3 d, d) matrix, zero biases); the output projection as torch's
``out_proj`` (a Linear with a zero bias).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import api
from ..errors import ShapeError, user_location
from ..ir import Node
from .init import Rng, as_rng, glorot_uniform
from .layers import Dense
from .module import Module


class MultiHeadAttention(Module):
    """Attention of ``query`` (n, tq, d) over ``key`` and ``value`` (n, tk, d), both defaulting
    to the query (self-attention); ``causal=True`` lets token i see tokens <= i only."""

    def __init__(self, d_model: int, n_heads: int, *, rng: Rng = None, name: str = "attention",
                 dtype: Any = "float32") -> None:
        super().__init__(name)
        if d_model % n_heads:
            raise ShapeError(f"MultiHeadAttention {name!r}: d_model {d_model} is not a "
                             f"multiple of n_heads {n_heads} (at {user_location()})")
        self.d_model, self.n_heads = d_model, n_heads
        rng = as_rng(rng)
        self.q, self.k, self.v, self.o = (
            Dense(d_model, d_model, rng=rng, name=f"{name}.{p}", dtype=dtype) for p in "qkvo")
        for dense in (self.q, self.k, self.v):  # one Glorot draw per third of in_proj_weight
            dense.weight = dense.variable("weight", glorot_uniform(
                rng, (d_model, d_model), d_model, 3 * d_model, dtype))
        for dense in (self.q, self.k, self.v, self.o):
            dense.bias = dense.variable("bias", np.zeros(d_model, dtype))

    def _heads(self, x: Node) -> Node:
        """(n, t, d) -> (n, heads, t, d_head)."""
        d_head = self.d_model // self.n_heads
        return api.transpose(api.reshape(x, (x.shape[0], x.shape[1], self.n_heads, d_head)),
                             (0, 2, 1, 3))

    def __call__(self, query: Node, key: Node | None = None, value: Node | None = None, *,
                 causal: bool = False) -> Node:
        key = query if key is None else key
        value = key if value is None else value
        q, k, v = self._heads(self.q(query)), self._heads(self.k(key)), self._heads(self.v(value))
        scores = (q @ api.swapaxes(k, -1, -2)) * (1.0 / math.sqrt(self.d_model // self.n_heads))
        if causal:
            tq, tk = query.shape[1], key.shape[1]
            allowed = api.less_equal(api.arange(tk), api.expand_dims(api.arange(tq), 1))
            scores = api.where(allowed, scores, -np.inf)
        mixed = api.transpose(api.softmax(scores, axis=-1) @ v, (0, 2, 1, 3))
        return self.o(api.reshape(mixed, (query.shape[0], query.shape[1], self.d_model)))
