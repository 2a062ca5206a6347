"""ONNX both ways: export graphs, compiled functions and training steps; import models safely.

The ONNX mapping of each op lives in its ``defop`` (``onnx=``); ``context.py`` defines the
protocol a mapping follows. Import maps ONNX ops onto graphdiff's API (``importer.py``) after
the model has been checked by the safe loader (``load.py``).
"""

from .context import ExportContext
from .export import DEFAULT_OPSET, export_onnx, export_training_step
from .importer import OnnxModel, import_onnx

__all__ = ["DEFAULT_OPSET", "ExportContext", "OnnxModel", "export_onnx", "export_training_step",
           "import_onnx"]
