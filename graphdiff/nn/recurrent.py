"""Recurrent layers: LSTM and GRU over (n, steps, features), each one ``gd.scan`` over the
steps, so the graph holds one copy of the cell whatever the sequence length and a symbolic
length runs any sequence.

The input projections ``x W + b`` of every step are computed before the loop (one matmul per
gate over the whole sequence, as cuDNN and Flax do); the loop carries only the recurrent part.
Weights are kept per gate, ``W[gate]`` (features, hidden) and ``U[gate]`` (hidden, hidden):
torch's ``weight_ih_l0`` is the gates' ``W`` transposed and stacked in the order of ``GATES``.
Initialization is torch's: everything U(-1/sqrt(hidden), 1/sqrt(hidden)); the LSTM's one bias
per gate stands for torch's ``bias_ih + bias_hh`` and is drawn as that sum.
"""

from __future__ import annotations

import math
from typing import Any

from .. import api
from ..ir import Node
from .init import Rng, as_rng, uniform
from .module import Module


class _Recurrent(Module):
    GATES: tuple[str, ...] = ()

    def __init__(self, n_in: int, hidden: int, rng: Rng, name: str, dtype: Any,
                 return_sequences: bool) -> None:
        super().__init__(name)
        self.hidden, self.return_sequences = hidden, return_sequences
        self._rng, self._bound, self._dtype = as_rng(rng), 1.0 / math.sqrt(hidden), dtype
        self.W = self._per_gate("W", (n_in, hidden))
        self.U = self._per_gate("U", (hidden, hidden))

    def _per_gate(self, label: str, shape: tuple[int, ...], draws: int = 1) -> dict[str, Node]:
        return {g: self.variable(f"{label}_{g}", sum(uniform(self._rng, shape, self._bound,
                                                             "float64") for _ in range(draws))
                                 .astype(self._dtype))
                for g in self.GATES}

    def _run(self, step: Any, init: Any, x: Node, biases: dict[str, Any]) -> Node:
        xs = api.transpose(x, (1, 0, 2))  # (steps, n, features): scan runs along axis 0
        projected = {g: xs @ self.W[g] + biases[g] for g in self.GATES}
        _, hs = api.scan(step, init, projected)
        return hs

    def _zeros(self, x: Node) -> Node:
        """A zero recurrent state of shape (batch, hidden); the batch may be symbolic."""
        return api.broadcast_to(api.zeros((), x.dtype), (x.shape[0], self.hidden))

    def _output(self, last: Node, hs: Node) -> Node:
        return api.transpose(hs, (1, 0, 2)) if self.return_sequences else last


class LSTM(_Recurrent):
    """i, f, o = sigmoid(x W + h U + b) per gate; g = tanh(...); c <- f c + i g;
    h <- o tanh(c). Returns the last h (n, hidden), or every step's (n, steps, hidden) with
    ``return_sequences=True`` (torch's ``LSTM(batch_first=True)`` output)."""

    GATES = ("input", "forget", "cell", "output")

    def __init__(self, n_in: int, hidden: int, *, return_sequences: bool = False,
                 rng: Rng = None, name: str = "lstm", dtype: Any = "float32") -> None:
        super().__init__(n_in, hidden, rng, name, dtype, return_sequences)
        self.b = self._per_gate("b", (hidden,), draws=2)

    def step(self, carry: tuple[Node, Node], x: dict[str, Node]) -> tuple[tuple[Node, Node],
                                                                             Node]:
        """One time step: ``x`` holds the input projection of each gate at this step."""
        h, c = carry
        pre = {g: x[g] + h @ self.U[g] for g in self.GATES}
        c = api.sigmoid(pre["forget"]) * c + api.sigmoid(pre["input"]) * api.tanh(pre["cell"])
        h = api.sigmoid(pre["output"]) * api.tanh(c)
        return (h, c), h

    def __call__(self, x: Node) -> Node:
        zeros = self._zeros(x)
        hs = self._run(self.step, (zeros, zeros), x, self.b)
        return self._output(hs[-1], hs)


class GRU(_Recurrent):
    """torch's GRU: r, z = sigmoid(x W + b + h U + b_hidden) per gate;
    n = tanh(x W_n + b_n + r * (h U_n + b_hidden_n)); h <- (1 - z) n + z h."""

    GATES = ("reset", "update", "new")

    def __init__(self, n_in: int, hidden: int, *, return_sequences: bool = False,
                 rng: Rng = None, name: str = "gru", dtype: Any = "float32") -> None:
        super().__init__(n_in, hidden, rng, name, dtype, return_sequences)
        self.b = self._per_gate("b", (hidden,))
        self.b_hidden = self._per_gate("b_hidden", (hidden,))

    def step(self, h: Node, x: dict[str, Node]) -> tuple[Node, Node]:
        """One time step: ``x`` holds the input projection of each gate at this step."""
        r = api.sigmoid(x["reset"] + h @ self.U["reset"])
        z = api.sigmoid(x["update"] + h @ self.U["update"])
        candidate = api.tanh(x["new"] + r * (h @ self.U["new"] + self.b_hidden["new"]))
        h = (1.0 - z) * candidate + z * h
        return h, h

    def __call__(self, x: Node) -> Node:
        # the reset and update gates' two biases add before the loop; the new gate's recurrent
        # bias sits inside r * (...), so it stays in the loop
        biases = {g: self.b[g] + self.b_hidden[g] if g != "new" else self.b[g]
                  for g in self.GATES}
        hs = self._run(self.step, self._zeros(x), x, biases)
        return self._output(hs[-1], hs)
