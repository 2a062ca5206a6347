"""The ONNX -> graphdiff op table: importing a module registers its ops in ``IMPORTERS``."""

from . import math, nn, shape

__all__ = ["math", "nn", "shape"]
