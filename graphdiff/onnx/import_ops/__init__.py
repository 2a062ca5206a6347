"""The ONNX -> graphdiff op table: importing a module registers its ops in ``IMPORTERS``."""

from . import (
    attention,
    bitwise,
    control,
    grid_sample,
    images,
    losses,
    math,
    nn,
    quantize,
    recurrent,
    resize,
    scatter,
    shape,
    signal,
    sorting,
    tensor,
    training,
)

__all__ = ["attention", "bitwise", "control", "grid_sample", "images", "losses", "math", "nn",
           "quantize", "recurrent", "resize", "scatter", "shape", "signal", "sorting", "tensor",
           "training"]
