"""The correspondence between numpy dtypes and ONNX tensor element types."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ..errors import OnnxError
from ..ir.types import STORAGE_DTYPES

_PAIRS = (
    ("bool", TensorProto.BOOL), ("int8", TensorProto.INT8), ("int16", TensorProto.INT16),
    ("int32", TensorProto.INT32), ("int64", TensorProto.INT64), ("uint8", TensorProto.UINT8),
    ("uint16", TensorProto.UINT16), ("uint32", TensorProto.UINT32),
    ("uint64", TensorProto.UINT64), ("float16", TensorProto.FLOAT16),
    ("float32", TensorProto.FLOAT), ("float64", TensorProto.DOUBLE),
)
_STORAGE = {  # ml_dtypes' names (graphdiff.ir.types.STORAGE_DTYPES) -> ONNX's
    "bfloat16": TensorProto.BFLOAT16, "float8_e4m3fn": TensorProto.FLOAT8E4M3FN,
    "float8_e4m3fnuz": TensorProto.FLOAT8E4M3FNUZ, "float8_e5m2": TensorProto.FLOAT8E5M2,
    "float8_e5m2fnuz": TensorProto.FLOAT8E5M2FNUZ, "float4_e2m1fn": TensorProto.FLOAT4E2M1,
    "float8_e8m0fnu": TensorProto.FLOAT8E8M0, "int4": TensorProto.INT4,
    "uint4": TensorProto.UINT4, "int2": TensorProto.INT2, "uint2": TensorProto.UINT2,
}
_PAIRS += tuple((d, _STORAGE[d.name]) for d in STORAGE_DTYPES if d.name in _STORAGE)
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
