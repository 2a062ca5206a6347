"""The correspondence between numpy dtypes and ONNX tensor element types."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ..errors import OnnxError

_PAIRS = (
    ("bool", TensorProto.BOOL), ("int8", TensorProto.INT8), ("int16", TensorProto.INT16),
    ("int32", TensorProto.INT32), ("int64", TensorProto.INT64), ("uint8", TensorProto.UINT8),
    ("uint16", TensorProto.UINT16), ("uint32", TensorProto.UINT32),
    ("uint64", TensorProto.UINT64), ("float16", TensorProto.FLOAT16),
    ("float32", TensorProto.FLOAT), ("float64", TensorProto.DOUBLE),
)
TO_ONNX: dict[np.dtype, int] = {np.dtype(name): code for name, code in _PAIRS}
FROM_ONNX: dict[int, np.dtype] = {code: np.dtype(name) for name, code in _PAIRS}


def onnx_elem_type(dtype: np.dtype) -> int:
    """The ONNX element type of a graphdiff dtype.

    >>> onnx_elem_type(np.dtype("float32"))
    1
    """
    try:
        return TO_ONNX[np.dtype(dtype)]
    except KeyError:
        raise OnnxError(f"dtype {np.dtype(dtype).name} has no ONNX element type") from None


def numpy_dtype(elem_type: int, where: str) -> np.dtype:
    """The numpy dtype of an ONNX element type, or OnnxError naming ``where`` it was found."""
    try:
        return FROM_ONNX[int(elem_type)]
    except (KeyError, TypeError, ValueError):
        name = TensorProto.DataType.Name(elem_type) if elem_type in \
            TensorProto.DataType.values() else str(elem_type)
        supported = ", ".join(d.name for d in FROM_ONNX.values())
        raise OnnxError(f"{where}: element type {name} is not supported "
                        f"(supported: {supported})") from None
