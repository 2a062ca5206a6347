"""The ONNX -> graphdiff op table: importing a module registers its ops in ``IMPORTERS``."""

from . import attention, losses, math, nn, resize, scatter, shape, tensor

__all__ = ["attention", "losses", "math", "nn", "resize", "scatter", "shape", "tensor"]
