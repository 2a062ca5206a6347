"""The digit classifiers, built from ``graphdiff.nn`` layers. Each takes a numpy Generator
for its initialization and maps a batch of 8x8 digits to 10 logits:

- :class:`MLP`: dense layers with ReLU, on flat (n, 64) pixels;
- :class:`LeNet`: two conv + ReLU + max-pool stages then two dense layers, on (n, 1, 8, 8);
- :class:`LSTMClassifier`, :class:`GRUClassifier`: the 8 image rows read as a sequence by an
  LSTM or a GRU (``gd.nn``: one ``gd.scan`` over the rows, one cell in the graph);
- :class:`TransformerClassifier`: rows as tokens through one pre-LayerNorm transformer block.

The convolutional and dense stacks start from He-normal weights and zero biases, the recurrent
classifiers from N(0, 1/fan_in) weights with the LSTM's forget-gate bias at 1 (early gradients
then flow through time): on these short recipes both learn faster than torch's uniform
defaults, which ``graphdiff.nn`` layers start from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

import graphdiff as gd
from graphdiff import Node
from graphdiff.nn import (
    GRU,
    LSTM,
    Conv2D,
    Dense,
    Flatten,
    LayerNorm,
    MaxPool2D,
    Module,
    MultiHeadAttention,
    Sequential,
)


def he_normal(layer: Dense | Conv2D, rng: np.random.Generator, gain: float = 2.0) -> None:
    """Redraw ``layer``'s weight from N(0, gain / fan_in) (gain 2 suits ReLU, 1 a linear or
    tanh output) and zero its bias."""
    shape = layer.weight.shape
    fan_in = shape[0] if isinstance(layer, Dense) else math.prod(shape[1:])
    gd.set_value(layer.weight, rng.normal(0.0, math.sqrt(gain / fan_in), shape)
                 .astype(layer.weight.dtype))
    if layer.bias is not None:
        gd.set_value(layer.bias, np.zeros(layer.bias.shape, layer.bias.dtype))


def _he_stack(model: Sequential, rng: np.random.Generator) -> None:
    """He-normal for every weighted layer of a ReLU stack, gain 1 for the output layer."""
    weighted = [layer for layer in model.layers if isinstance(layer, Dense | Conv2D)]
    for layer in weighted:
        he_normal(layer, rng, 1.0 if layer is weighted[-1] else 2.0)


class MLP(Sequential):
    """Dense layers with ReLU between them: sizes (64, 128, 10) is 64 -> 128 -> 10."""

    def __init__(self, sizes: Sequence[int], rng: np.random.Generator) -> None:
        steps: list[object] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
            steps.append(Dense(n_in, n_out, rng=rng, name=f"dense{i}"))
            if i < len(sizes) - 2:
                steps.append(gd.relu)
        super().__init__(*steps, name="mlp")
        _he_stack(self, rng)


class LeNet(Sequential):
    """LeNet-style CNN for 1x8x8 images: [conv3x3-ReLU-pool] x 2, dense-ReLU, dense."""

    def __init__(self, rng: np.random.Generator, channels: tuple[int, int] = (16, 32),
                 hidden: int = 64, n_classes: int = 10, side: int = 8) -> None:
        c1, c2 = channels
        flat = c2 * (side // 4) * (side // 4)
        super().__init__(
            Conv2D(1, c1, 3, padding=1, rng=rng, name="conv1"), gd.relu,
            MaxPool2D(2, name="pool1"),
            Conv2D(c1, c2, 3, padding=1, rng=rng, name="conv2"), gd.relu,
            MaxPool2D(2, name="pool2"),
            Flatten(), Dense(flat, hidden, rng=rng, name="fc1"), gd.relu,
            Dense(hidden, n_classes, rng=rng, name="fc2"), name="lenet")
        _he_stack(self, rng)


class RowsClassifier(Module):
    """Reads an 8x8 image as 8 rows of 8 pixels through a recurrent layer (``LSTM`` or
    ``GRU``), classifies from the last hidden state."""

    def __init__(self, rng: np.random.Generator, cell: type[LSTM | GRU], hidden: int = 64,
                 n_classes: int = 10, side: int = 8) -> None:
        super().__init__("rows")
        self.side = side
        self.rnn = cell(side, hidden, rng=rng)
        self.head = Dense(hidden, n_classes, rng=rng, name="head")
        for weights in (self.rnn.W, self.rnn.U):
            for w in weights.values():
                gd.set_value(w, rng.normal(0.0, math.sqrt(1.0 / w.shape[0]), w.shape)
                             .astype(w.dtype))
        for gate, b in self.rnn.b.items():
            gd.set_value(b, np.full(b.shape, 1.0 if gate == "forget" else 0.0, b.dtype))
        for b in getattr(self.rnn, "b_hidden", {}).values():
            gd.set_value(b, np.zeros(b.shape, b.dtype))
        he_normal(self.head, rng, 1.0)

    def __call__(self, x: Node) -> Node:
        rows = gd.reshape(x, (x.shape[0], self.side, self.side))
        return self.head(self.rnn(rows))


class LSTMClassifier(RowsClassifier):
    """The rows of an 8x8 image through an LSTM."""

    def __init__(self, rng: np.random.Generator, **kwargs: int) -> None:
        super().__init__(rng, LSTM, **kwargs)


class GRUClassifier(RowsClassifier):
    """The rows of an 8x8 image through a GRU."""

    def __init__(self, rng: np.random.Generator, **kwargs: int) -> None:
        super().__init__(rng, GRU, **kwargs)


class TransformerBlock(Module):
    """Pre-LayerNorm block on (n, tokens, d): x + attn(ln(x)), then + mlp(ln(.)), with
    multi-head self-attention and a GELU feed-forward layer of width ``d_ff``."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, rng: np.random.Generator,
                 name: str = "block") -> None:
        super().__init__(name)
        self.ln1 = LayerNorm(d_model, name=f"{name}.ln1")
        self.attention = MultiHeadAttention(d_model, n_heads, rng=rng, name=f"{name}.attn")
        self.ln2 = LayerNorm(d_model, name=f"{name}.ln2")
        self.ff1 = Dense(d_model, d_ff, rng=rng, name=f"{name}.ff1")
        self.ff2 = Dense(d_ff, d_model, rng=rng, name=f"{name}.ff2")

    def __call__(self, x: Node) -> Node:
        x = x + self.attention(self.ln1(x))
        return x + self.ff2(gd.gelu(self.ff1(self.ln2(x))))


class TransformerClassifier(Module):
    """Rows of an 8x8 image as 8 tokens: embed, add positions, one block, mean-pool, classify."""

    def __init__(self, rng: np.random.Generator, d_model: int = 32, n_heads: int = 4,
                 d_ff: int = 64, n_classes: int = 10, side: int = 8) -> None:
        super().__init__("transformer")
        self.side = side
        self.embed = Dense(side, d_model, rng=rng, name="embed")
        self.position = self.variable(
            "position", rng.normal(0, 0.1, (side, d_model)).astype(np.float32))
        self.block = TransformerBlock(d_model, n_heads, d_ff, rng)
        self.norm = LayerNorm(d_model, name="final_ln")
        self.head = Dense(d_model, n_classes, rng=rng, name="head")

    def __call__(self, x: Node) -> Node:
        tokens = self.embed(gd.reshape(x, (x.shape[0], self.side, self.side))) + self.position
        return self.head(gd.mean(self.norm(self.block(tokens)), axis=1))
