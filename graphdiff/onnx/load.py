"""Safe loading: parse an ONNX model and read its tensors without trusting the file.

A model is parsed from bytes with protobuf only (no pickle, no code). Everything that could go
wrong in a malformed or hostile file becomes an :class:`OnnxError`: undecodable bytes, unknown
element types, tensors whose declared size disagrees with their data, sizes beyond a limit, and
external data whose path leaves the model's folder (absolute paths, ``..``, symlinks out) or
whose offset and length do not fit the file. Nothing outside the folder is opened.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto, numpy_helper

from ..errors import OnnxError
from .dtypes import numpy_dtype

MAX_MODEL_BYTES = 2**31 - 1  # protobuf's own limit for one message
MAX_TENSOR_ELEMENTS = 2**28

_TYPED_FIELDS = {
    TensorProto.FLOAT: "float_data", TensorProto.DOUBLE: "double_data",
    TensorProto.INT64: "int64_data", TensorProto.UINT64: "uint64_data",
    TensorProto.UINT32: "uint64_data",
}


def load_model(source: Any) -> tuple[onnx.ModelProto, str | None]:
    """The parsed model and the folder its external data may come from (None: no folder)."""
    if isinstance(source, onnx.ModelProto):
        return source, None
    if isinstance(source, bytes | bytearray | memoryview):
        return parse_model(bytes(source), "<bytes>"), None
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        try:
            size = os.path.getsize(path)
            if size > MAX_MODEL_BYTES:
                raise OnnxError(f"{path}: {size} bytes is more than one protobuf message holds")
            with open(path, "rb") as file:
                data = file.read()
        except OSError as exc:
            raise OnnxError(f"cannot read ONNX model {path!r}: {exc}") from None
        return parse_model(data, path), os.path.dirname(os.path.abspath(path))
    raise OnnxError(f"import_onnx takes a path, bytes or an onnx.ModelProto, got "
                    f"{type(source).__name__}")


def parse_model(data: bytes, where: str) -> onnx.ModelProto:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise OnnxError(f"{where} is not a valid ONNX model (protobuf decoding failed: "
                        f"{exc})") from None
    if not model.HasField("graph"):
        raise OnnxError(f"{where} is not an ONNX model: it has no graph")
    return model


def _expected_elements(tensor: onnx.TensorProto, where: str) -> int:
    dims = list(tensor.dims)
    if any(d < 0 for d in dims):
        raise OnnxError(f"{where}: negative dimension in {dims}")
    count = 1
    for d in dims:
        count *= d
        if count > MAX_TENSOR_ELEMENTS:
            raise OnnxError(f"{where}: {dims} is more than {MAX_TENSOR_ELEMENTS} elements")
    return count


def tensor_to_array(tensor: onnx.TensorProto, where: str, folder: str | None) -> np.ndarray:
    """The numpy array of a TensorProto, checked against its declared type and size."""
    dtype = numpy_dtype(tensor.data_type, where)
    count = _expected_elements(tensor, where)
    shape = tuple(tensor.dims)
    if tensor.data_location == TensorProto.EXTERNAL:
        raw = read_external(tensor, count * dtype.itemsize, where, folder)
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    if tensor.HasField("raw_data"):
        if len(tensor.raw_data) != count * dtype.itemsize:
            raise OnnxError(f"{where}: raw data holds {len(tensor.raw_data)} bytes, but "
                            f"{dtype.name}{list(shape)} needs {count * dtype.itemsize}")
    else:
        field = _TYPED_FIELDS.get(tensor.data_type, "int32_data")
        held = len(getattr(tensor, field))
        if held != count:
            raise OnnxError(f"{where}: {field} holds {held} values, but {list(shape)} needs "
                            f"{count}")
    try:
        array = numpy_helper.to_array(tensor)
    except (ValueError, TypeError, OverflowError) as exc:
        raise OnnxError(f"{where}: cannot decode the tensor: {exc}") from None
    return np.asarray(array, dtype=dtype).reshape(shape)


def _inside(folder: str, location: str, where: str) -> str:
    if not location or os.path.isabs(location) or os.path.splitdrive(location)[0] \
            or "\x00" in location:
        raise OnnxError(f"{where}: external data location {location!r} must be a relative "
                        "path inside the model's folder")
    root = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(root, location))
    if os.path.commonpath([root, path]) != root or path == root:
        raise OnnxError(f"{where}: external data location {location!r} points outside the "
                        "model's folder")
    return path


def read_external(tensor: onnx.TensorProto, nbytes: int, where: str,
                  folder: str | None) -> bytes:
    """The bytes of an external tensor, read only from a regular file inside ``folder``."""
    entries = {entry.key: entry.value for entry in tensor.external_data}
    if folder is None:
        raise OnnxError(f"{where}: the tensor's data is external, so the model must be loaded "
                        "from a path (its folder holds the data)")
    path = _inside(folder, entries.get("location", ""), where)
    try:
        offset = int(entries.get("offset", "0"))
        length = int(entries.get("length", str(nbytes)))
    except ValueError:
        raise OnnxError(f"{where}: external data offset/length are not integers") from None
    if offset < 0 or length != nbytes:
        raise OnnxError(f"{where}: external data offset {offset} / length {length} do not fit "
                        f"a tensor of {nbytes} bytes")
    try:
        if not os.path.isfile(path):
            raise OnnxError(f"{where}: external data file {entries['location']!r} is missing "
                            "or not a regular file")
        if os.path.getsize(path) < offset + length:
            raise OnnxError(f"{where}: external data file {entries['location']!r} is shorter "
                            f"than offset {offset} + length {length}")
        with open(path, "rb") as file:
            file.seek(offset)
            return file.read(length)
    except OSError as exc:
        raise OnnxError(f"{where}: cannot read external data: {exc}") from None
