"""``graphdiff.nn``: layers whose parameters are variables, collected as a named pytree.

A layer owns its parameters (initialized as PyTorch initializes its namesake, from a numpy
``Generator``: ``rng=``) and, called on a symbolic tensor, builds the nodes of its forward
computation; nothing runs until ``gd.function`` compiles the graph. ``parameters()`` is a
nested dict by layer and attribute name, which ``gd.grad``, the optimizers and ``gd.save``
take as it is. ``train()`` / ``eval()`` switch Dropout (read when the graph is built).

>>> import numpy as np, graphdiff as gd
>>> model = gd.nn.Sequential(gd.nn.Dense(4, 8, rng=0, name="hidden"), gd.relu,
...                          gd.nn.Dense(8, 3, rng=1, name="out"))
>>> params = model.parameters()
>>> sorted(params), sorted(params["hidden"]), params["out"]["weight"].name
(['hidden', 'out'], ['bias', 'weight'], 'out.weight')
>>> x = gd.placeholder((None, 4), "float32", name="x")
>>> gd.function([x], model(x))(np.ones((2, 4), np.float32)).shape
(2, 3)
"""

from .attention import MultiHeadAttention
from .init import as_rng
from .layers import (
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    MaxPool2D,
    Sequential,
)
from .module import Module
from .recurrent import GRU, LSTM

__all__ = ["Module", "Sequential", "Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten",
           "LayerNorm", "Embedding", "Dropout", "LSTM", "GRU", "MultiHeadAttention", "as_rng"]
