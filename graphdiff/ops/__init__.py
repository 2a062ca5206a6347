"""The op library. Each family module declares its ops; importing this package registers all.

Families: ``source`` (placeholder, variable, constant, fill), ``elementwise``, ``reduce``,
``shape``, ``index`` (slicing, take), ``join`` (concatenate, pad), ``linalg``, ``random``,
``conv``, ``pool``, ``einsum``; ``special`` holds kernels numpy lacks (erf).
"""

from ..ir.node import OPS
from . import (conv, einsum, elementwise, index, join, linalg, pool, random, reduce, shape, source,
               special)

__all__ = ["OPS", "conv", "einsum", "elementwise", "index", "join", "linalg", "pool", "random",
           "reduce", "shape", "source", "special"]
