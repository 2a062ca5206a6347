"""The ONNX -> graphdiff op table: importing a module registers its ops in ``IMPORTERS``."""

from . import losses, math, nn, shape, tensor

__all__ = ["losses", "math", "nn", "shape", "tensor"]
