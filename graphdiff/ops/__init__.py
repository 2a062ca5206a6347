"""The op library. Each family module declares its ops; importing this package registers all.

Families: ``source`` (placeholder, variable, constant, fill), ``elementwise``, ``reduce``,
``shape``, ``linalg``.
"""

from ..ir.node import OPS
from . import elementwise, linalg, reduce, shape, source

__all__ = ["OPS", "elementwise", "linalg", "reduce", "shape", "source"]
