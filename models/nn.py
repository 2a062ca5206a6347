"""Layers and models, declared on graphdiff's public API only.

A layer owns its parameters (graphdiff variables, initialized from a numpy Generator) and, when
called on a symbolic tensor, builds the nodes of its forward computation. Nothing runs until the
graph is compiled with ``gd.function``. Models here classify the bundled 8x8 digits:

- :class:`MLP`: dense layers with ReLU, on flat (n, 64) pixels;
- :class:`LeNet`: two conv + ReLU + max-pool stages then two dense layers, on (n, 1, 8, 8);
- :class:`LSTMClassifier`, :class:`GRUClassifier`: the 8 image rows read as a sequence by an
  LSTM or a GRU, each one ``gd.scan`` over the rows (one cell in the graph, not one per row);
- :class:`TransformerClassifier`: rows as tokens through one pre-LayerNorm transformer block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

import graphdiff as gd
from graphdiff import Node


class Layer:
    """Something with parameters that maps a tensor to a tensor."""

    params: list[Node]

    def __call__(self, x: Node) -> Node:
        raise NotImplementedError

    def parameters(self) -> list[Node]:
        return list(self.params)


def _weights(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int,
             name: str, gain: float = 2.0) -> Node:
    """He-style initialization: variance gain / fan_in (gain 2 suits ReLU, 1 suits tanh)."""
    value = rng.normal(0.0, math.sqrt(gain / fan_in), shape).astype(np.float32)
    return gd.variable(value, name=name)


def _zeros(shape: tuple[int, ...], name: str, value: float = 0.0) -> Node:
    return gd.variable(np.full(shape, value, np.float32), name=name)


class Dense(Layer):
    """y = x @ W + b over the last axis."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator, name: str,
                 gain: float = 2.0) -> None:
        self.W = _weights(rng, (n_in, n_out), n_in, f"{name}.W", gain)
        self.b = _zeros((n_out,), f"{name}.b")
        self.params = [self.W, self.b]

    def __call__(self, x: Node) -> Node:
        return x @ self.W + self.b


class Sequential(Layer):
    """Layers (or parameter-free functions) applied in order."""

    def __init__(self, *steps: object) -> None:
        self.steps = steps
        self.params = [p for s in steps if isinstance(s, Layer) for p in s.parameters()]

    def __call__(self, x: Node) -> Node:
        for step in self.steps:
            x = step(x)  # type: ignore[operator]
        return x


class MLP(Sequential):
    """Dense layers with ReLU between them: sizes (64, 128, 10) is 64 -> 128 -> 10."""

    def __init__(self, sizes: Sequence[int], rng: np.random.Generator) -> None:
        steps: list[object] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
            last = i == len(sizes) - 2
            steps.append(Dense(n_in, n_out, rng, f"dense{i}", gain=1.0 if last else 2.0))
            if not last:
                steps.append(gd.relu)
        super().__init__(*steps)


class Conv2D(Layer):
    """A 2-D convolution over NCHW images with a (out, in, k, k) kernel and a bias."""

    def __init__(self, c_in: int, c_out: int, kernel: int, rng: np.random.Generator, name: str,
                 padding: int = 0) -> None:
        self.W = _weights(rng, (c_out, c_in, kernel, kernel), c_in * kernel * kernel,
                          f"{name}.W")
        self.b = _zeros((c_out,), f"{name}.b")
        self.padding = padding
        self.params = [self.W, self.b]

    def __call__(self, x: Node) -> Node:
        return gd.conv2d(x, self.W, self.b, padding=self.padding)


def max_pool(x: Node) -> Node:
    """2x2 max pooling with stride 2."""
    return gd.max_pool2d(x, 2)


def flatten(x: Node) -> Node:
    """(n, c, h, w) -> (n, c*h*w)."""
    return gd.reshape(x, (x.shape[0], -1))


class LeNet(Sequential):
    """LeNet-style CNN for 1x8x8 images: [conv3x3-ReLU-pool] x 2, dense-ReLU, dense."""

    def __init__(self, rng: np.random.Generator, channels: tuple[int, int] = (16, 32),
                 hidden: int = 64, n_classes: int = 10, side: int = 8) -> None:
        c1, c2 = channels
        flat = c2 * (side // 4) * (side // 4)
        super().__init__(
            Conv2D(1, c1, 3, rng, "conv1", padding=1), gd.relu, max_pool,
            Conv2D(c1, c2, 3, rng, "conv2", padding=1), gd.relu, max_pool,
            flatten, Dense(flat, hidden, rng, "fc1"), gd.relu,
            Dense(hidden, n_classes, rng, "fc2", gain=1.0))


class LSTM(Layer):
    """An LSTM over (n, steps, features) as one ``gd.scan`` over the steps: the graph holds one
    copy of the cell whatever the sequence length, and a symbolic length runs any sequence.

    i, f, o = sigmoid(x W + h U + b) per gate; g = tanh(...); c <- f c + i g; h <- o tanh(c).
    The input projections x W + b of every step are computed before the loop (one matmul per
    gate over the whole sequence, as cuDNN and Flax do); the loop only carries the recurrent
    part. The forget gate's bias starts at 1 so early gradients flow through time.
    Returns the last hidden state, shape (n, hidden).
    """

    GATES = ("input", "forget", "cell", "output")

    def __init__(self, n_in: int, hidden: int, rng: np.random.Generator, name: str = "lstm"):
        self.hidden = hidden
        self.W = {g: _weights(rng, (n_in, hidden), n_in, f"{name}.W_{g}", 1.0)
                  for g in self.GATES}
        self.U = {g: _weights(rng, (hidden, hidden), hidden, f"{name}.U_{g}", 1.0)
                  for g in self.GATES}
        self.b = {g: _zeros((hidden,), f"{name}.b_{g}", 1.0 if g == "forget" else 0.0)
                  for g in self.GATES}
        self.params = [d[g] for d in (self.W, self.U, self.b) for g in self.GATES]

    def step(self, carry: tuple[Node, Node],
             x: dict[str, Node]) -> tuple[tuple[Node, Node], None]:
        """One time step: ``x`` holds the input projection of each gate at this step."""
        h, c = carry
        pre = {g: x[g] + h @ self.U[g] for g in self.GATES}
        c = gd.sigmoid(pre["forget"]) * c + gd.sigmoid(pre["input"]) * gd.tanh(pre["cell"])
        h = gd.sigmoid(pre["output"]) * gd.tanh(c)
        return (h, c), None

    def __call__(self, x: Node) -> Node:
        xs = gd.transpose(x, (1, 0, 2))  # (steps, n, features): scan runs along axis 0
        projected = {g: xs @ self.W[g] + self.b[g] for g in self.GATES}
        zeros = _state(x.shape[0], self.hidden)
        (h, _), _ = gd.scan(self.step, (zeros, zeros), projected)
        return h


class GRU(Layer):
    """A GRU over (n, steps, features), one ``gd.scan`` over the steps (PyTorch's variant: the
    reset gate scales the recurrent part of the candidate, after its matmul).

    r, z = sigmoid(x W + h U + b) per gate; n = tanh(x W_n + b_n + r * (h U_n));
    h <- (1 - z) n + z h. Returns the last hidden state, shape (n, hidden).
    """

    GATES = ("reset", "update", "new")

    def __init__(self, n_in: int, hidden: int, rng: np.random.Generator, name: str = "gru"):
        self.hidden = hidden
        self.W = {g: _weights(rng, (n_in, hidden), n_in, f"{name}.W_{g}", 1.0)
                  for g in self.GATES}
        self.U = {g: _weights(rng, (hidden, hidden), hidden, f"{name}.U_{g}", 1.0)
                  for g in self.GATES}
        self.b = {g: _zeros((hidden,), f"{name}.b_{g}") for g in self.GATES}
        self.params = [d[g] for d in (self.W, self.U, self.b) for g in self.GATES]

    def step(self, h: Node, x: dict[str, Node]) -> tuple[Node, None]:
        """One time step: ``x`` holds the input projection of each gate at this step."""
        r = gd.sigmoid(x["reset"] + h @ self.U["reset"])
        z = gd.sigmoid(x["update"] + h @ self.U["update"])
        candidate = gd.tanh(x["new"] + r * (h @ self.U["new"]))
        return (1.0 - z) * candidate + z * h, None

    def __call__(self, x: Node) -> Node:
        xs = gd.transpose(x, (1, 0, 2))
        projected = {g: xs @ self.W[g] + self.b[g] for g in self.GATES}
        h, _ = gd.scan(self.step, _state(x.shape[0], self.hidden), projected)
        return h


def _state(batch: object, hidden: int) -> Node:
    """A zero recurrent state of shape (batch, hidden); ``batch`` may be symbolic."""
    return gd.broadcast_to(gd.constant(np.zeros((), np.float32)), (batch, hidden))


class RowsClassifier(Layer):
    """Reads an 8x8 image as 8 rows of 8 pixels through a recurrent layer (``LSTM`` or
    ``GRU``), classifies from the last hidden state."""

    def __init__(self, rng: np.random.Generator, cell: type[LSTM | GRU], hidden: int = 64,
                 n_classes: int = 10, side: int = 8) -> None:
        self.side = side
        self.rnn = cell(side, hidden, rng)
        self.head = Dense(hidden, n_classes, rng, "head", gain=1.0)
        self.params = self.rnn.parameters() + self.head.parameters()

    def __call__(self, x: Node) -> Node:
        rows = gd.reshape(x, (x.shape[0], self.side, self.side))
        return self.head(self.rnn(rows))


class LSTMClassifier(RowsClassifier):
    """The rows of an 8x8 image through an :class:`LSTM`."""

    def __init__(self, rng: np.random.Generator, **kwargs: int) -> None:
        super().__init__(rng, LSTM, **kwargs)


class GRUClassifier(RowsClassifier):
    """The rows of an 8x8 image through a :class:`GRU`."""

    def __init__(self, rng: np.random.Generator, **kwargs: int) -> None:
        super().__init__(rng, GRU, **kwargs)


class LayerNorm(Layer):
    """Normalize the last axis, then scale and shift by learned gain and bias."""

    def __init__(self, dim: int, name: str) -> None:
        self.gain = _zeros((dim,), f"{name}.gain", 1.0)
        self.bias = _zeros((dim,), f"{name}.bias")
        self.params = [self.gain, self.bias]

    def __call__(self, x: Node) -> Node:
        return gd.layer_norm(x, self.gain, self.bias, axis=-1)


class TransformerBlock(Layer):
    """Pre-LayerNorm block on (n, tokens, d): x + attn(ln(x)), then + mlp(ln(.)).

    Multi-head scaled dot-product self-attention, softmax(q k^T / sqrt(d_head)) v, and a GELU
    feed-forward layer of width ``d_ff``.
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, rng: np.random.Generator,
                 name: str = "block") -> None:
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not a multiple of n_heads {n_heads}")
        self.d_model, self.n_heads = d_model, n_heads
        self.ln1 = LayerNorm(d_model, f"{name}.ln1")
        self.ln2 = LayerNorm(d_model, f"{name}.ln2")
        self.q, self.k, self.v, self.o = (Dense(d_model, d_model, rng, f"{name}.{p}", gain=1.0)
                                          for p in "qkvo")
        self.ff1 = Dense(d_model, d_ff, rng, f"{name}.ff1")
        self.ff2 = Dense(d_ff, d_model, rng, f"{name}.ff2", gain=1.0)
        parts = (self.ln1, self.ln2, self.q, self.k, self.v, self.o, self.ff1, self.ff2)
        self.params = [p for part in parts for p in part.parameters()]

    def _heads(self, x: Node) -> Node:
        n, tokens = x.shape[0], x.shape[1]
        d_head = self.d_model // self.n_heads
        return gd.transpose(gd.reshape(x, (n, tokens, self.n_heads, d_head)), (0, 2, 1, 3))

    def attention(self, x: Node) -> Node:
        n, tokens = x.shape[0], x.shape[1]
        q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        scale = 1.0 / math.sqrt(self.d_model // self.n_heads)
        weights = gd.softmax((q @ gd.swapaxes(k, -1, -2)) * scale, axis=-1)
        mixed = gd.transpose(weights @ v, (0, 2, 1, 3))
        return self.o(gd.reshape(mixed, (n, tokens, self.d_model)))

    def __call__(self, x: Node) -> Node:
        x = x + self.attention(self.ln1(x))
        return x + self.ff2(gd.gelu(self.ff1(self.ln2(x))))


class TransformerClassifier(Layer):
    """Rows of an 8x8 image as 8 tokens: embed, add positions, one block, mean-pool, classify."""

    def __init__(self, rng: np.random.Generator, d_model: int = 32, n_heads: int = 4,
                 d_ff: int = 64, n_classes: int = 10, side: int = 8) -> None:
        self.side = side
        self.embed = Dense(side, d_model, rng, "embed", gain=1.0)
        self.position = gd.variable(rng.normal(0, 0.1, (side, d_model)).astype(np.float32),
                                    name="position")
        self.block = TransformerBlock(d_model, n_heads, d_ff, rng)
        self.norm = LayerNorm(d_model, "final_ln")
        self.head = Dense(d_model, n_classes, rng, "head", gain=1.0)
        self.params = [*self.embed.parameters(), self.position, *self.block.parameters(),
                       *self.norm.parameters(), *self.head.parameters()]

    def __call__(self, x: Node) -> Node:
        tokens = self.embed(gd.reshape(x, (x.shape[0], self.side, self.side))) + self.position
        return self.head(gd.mean(self.norm(self.block(tokens)), axis=1))
