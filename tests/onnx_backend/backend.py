"""graphdiff as an ``onnx.backend.base.Backend``: import the model, compile it, run it.

``prepare`` imports with initializers as constants (the backend tests feed every graph input,
and an inference graph folds better that way) and compiles with the default passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

import graphdiff as gd


class GraphdiffRep(BackendRep):
    """A prepared model: the compiled graphdiff function of an imported ONNX model.

    graphdiff builds static graphs, so a model that reads axes, shapes or pads from a graph
    input cannot be imported before those values are known. Such a model is imported again at
    each run with its integer inputs bound to their values (``import_onnx(bind=...)``), or all
    of its inputs when a float input is such a value (a Range bound).
    """

    def __init__(self, model: onnx.ModelProto) -> None:
        self.proto = model
        try:
            self.model = gd.import_onnx(model, initializers="constants")
        except gd.OnnxError as exc:
            if "must be known" not in str(exc):
                raise
            self.model = None
        self.function = None if self.model is None else \
            gd.function(self.model.inputs, self.model.outputs)

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        names = [i.name for i in self.proto.graph.input
                 if i.name not in {t.name for t in self.proto.graph.initializer}]
        if isinstance(inputs, dict):
            arrays = [inputs[name] for name in names]
        elif isinstance(inputs, list | tuple):
            arrays = list(inputs)
        else:
            arrays = [inputs]
        function = self.function
        if function is None:
            bind = {n: a for n, a in zip(names, arrays, strict=True)
                    if np.asarray(a).dtype.kind in "iu"}
            try:
                model = gd.import_onnx(self.proto, initializers="constants", bind=bind)
            except gd.OnnxError as exc:  # a float input read as a Range bound, say
                if "must be known" not in str(exc):
                    raise
                bind = dict(zip(names, arrays, strict=True))
                model = gd.import_onnx(self.proto, initializers="constants", bind=bind)
            function = gd.function(model.inputs, model.outputs)
            arrays = [a for n, a in zip(names, arrays, strict=True) if n not in bind]
        return tuple(np.asarray(r) for r in function(*arrays))


class GraphdiffBackend(Backend):
    """The ONNX backend-test adapter: CPU only, numpy execution."""

    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        return True

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU",
                **kwargs: Any) -> GraphdiffRep:
        super().prepare(model, device, **kwargs)
        return GraphdiffRep(model)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Any, device: str = "CPU",
                 outputs_info: Any = None, **kwargs: Any) -> tuple[np.ndarray, ...]:
        raise NotImplementedError("graphdiff runs whole models, not single nodes")

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device == "CPU"
