"""Tensor types: a dtype and a shape whose dimensions are ints or symbols.

A symbolic dimension is a string. Equal names mean equal sizes; ``None`` given by a user becomes a
fresh symbol (``?0``, ``?1``, ...) that equals nothing else. Broadcasting follows numpy with one
static assumption, the same PyTensor makes: a symbolic dimension is never 1 at run time for
broadcasting purposes. So which axes broadcast is known when the graph is built, and the run-time
check (``runtime/specialize.py``) rejects a feed that would break that assumption.

>>> TensorType.of("float32", (None, 4)).shape[1]
4
>>> str(TensorType.of("float32", ("batch", 4)))
'f32[batch,4]'
>>> broadcast_shapes((3, 1), (4,))
(3, 4)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DTypeError, ShapeError, user_location

Dim = int | str
Shape = tuple[Dim, ...]


def _storage_dtypes() -> tuple[np.dtype, ...]:
    """The narrow formats ONNX models carry (bfloat16, the float8s, float4, int4, int2), as
    ml_dtypes defines them for numpy (installed with onnx and jax): tensors may hold them and
    ``astype`` converts to and from them; arithmetic refuses them (cast to float32 first)."""
    try:
        import ml_dtypes
    except ImportError:
        return ()
    names = ("bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
             "float4_e2m1fn", "float8_e8m0fnu", "int4", "uint4", "int2", "uint2")
    return tuple(np.dtype(getattr(ml_dtypes, n)) for n in names if hasattr(ml_dtypes, n))


STORAGE_DTYPES = _storage_dtypes()
SUPPORTED_DTYPES = tuple(
    np.dtype(name)
    for name in (
        "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "float32", "float64",
    )
) + STORAGE_DTYPES

_SHORT_NAMES = {
    "bool": "bool", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
    "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64",
    "float16": "f16", "float32": "f32", "float64": "f64",
}

_fresh_counter = itertools.count()


def fresh_dim() -> str:
    """A new symbolic dimension equal to no other."""
    return f"?{next(_fresh_counter)}"


def as_dtype(dtype: object) -> np.dtype:
    """Normalize a user dtype (string, numpy type, np.dtype) and check it is supported."""
    try:
        result = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError as exc:
        raise DTypeError(f"unknown dtype {dtype!r} (at {user_location()})") from exc
    if result not in SUPPORTED_DTYPES:
        supported = ", ".join(d.name for d in SUPPORTED_DTYPES)
        raise DTypeError(f"dtype {result.name} is not supported (supported: {supported}; "
                         f"at {user_location()})")
    return result


def as_shape(shape: Iterable[object] | int) -> Shape:
    """Normalize a user shape: ints stay, strings are symbols, ``None`` becomes a fresh symbol."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    dims: list[Dim] = []
    for dim in shape:
        if dim is None:
            dims.append(fresh_dim())
        elif isinstance(dim, str):
            dims.append(dim)
        elif isinstance(dim, (int, np.integer)) and not isinstance(dim, bool) and dim >= 0:
            dims.append(int(dim))
        else:
            raise ShapeError(f"invalid dimension {dim!r} in shape {tuple(shape)!r} "
                             f"(at {user_location()})")
    return tuple(dims)


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f" and dtype not in STORAGE_DTYPES


def short_dtype(dtype: np.dtype) -> str:
    return _SHORT_NAMES.get(dtype.name, dtype.name)  # storage formats by their own name


def format_shape(shape: Shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


@dataclass(frozen=True, slots=True)
class TensorType:
    """The static type of a value: dtype and shape (ints and symbols)."""

    dtype: np.dtype
    shape: Shape

    @staticmethod
    def of(dtype: object, shape: Iterable[object] | int) -> TensorType:
        return TensorType(as_dtype(dtype), as_shape(shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        """True when every dimension is a known int."""
        return all(isinstance(d, int) for d in self.shape)

    def static_size(self) -> int | None:
        """Number of elements, or None when a dimension is symbolic."""
        if not self.is_static:
            return None
        return int(np.prod(self.shape, dtype=np.int64))

    def with_shape(self, shape: Shape) -> TensorType:
        return TensorType(self.dtype, shape)

    def with_dtype(self, dtype: np.dtype) -> TensorType:
        return TensorType(dtype, self.shape)

    def __str__(self) -> str:
        return short_dtype(self.dtype) + format_shape(self.shape)


@dataclass(frozen=True, slots=True)
class TupleType:
    """The type of a node with several results (a loop, a branch, a fused group with several
    outputs): one TensorType per result. Such a node is read only through ``result`` nodes
    (``graphdiff.ops.core.result``), each of which is an ordinary tensor."""

    types: tuple[TensorType, ...]

    def __str__(self) -> str:
        return "(" + ", ".join(str(t) for t in self.types) + ")"

    def __len__(self) -> int:
        return len(self.types)


def broadcast_dims(a: Dim, b: Dim) -> Dim:
    """Broadcast two dimensions, assuming symbols are not 1; raise ValueError if they clash."""
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    if isinstance(a, int) and isinstance(b, int):
        raise ValueError(f"dimensions {a} and {b} do not broadcast")
    # A symbol against an int or another symbol: they must be equal at run time. Prefer the
    # int (more information); between two symbols keep the first.
    return b if isinstance(b, int) else a


def broadcast_shapes(*shapes: Sequence[Dim]) -> Shape:
    """numpy broadcasting of several shapes (right-aligned), raising ShapeError on a clash."""
    ndim = max((len(s) for s in shapes), default=0)
    result: list[Dim] = [1] * ndim
    for shape in shapes:
        offset = ndim - len(shape)
        for i, dim in enumerate(shape):
            try:
                result[offset + i] = broadcast_dims(result[offset + i], dim)
            except ValueError:
                pretty = " and ".join(format_shape(tuple(s)) for s in shapes)
                raise ShapeError(f"shapes {pretty} do not broadcast") from None
    return tuple(result)


def broadcast_axes(shape: Shape, out_shape: Shape) -> tuple[int, ...]:
    """Axes of ``out_shape`` that were created or stretched when ``shape`` broadcast to it.

    Summing a cotangent of ``out_shape`` over these axes (then reshaping) undoes the broadcast.
    """
    lead = len(out_shape) - len(shape)
    axes = list(range(lead))
    for i, dim in enumerate(shape):
        if dim == 1 and out_shape[lead + i] != 1:
            axes.append(lead + i)
    return tuple(axes)


def normalize_axis(axis: int, ndim: int, what: str = "axis") -> int:
    """Turn a possibly negative axis into 0..ndim-1, or raise with a clear message."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise ShapeError(f"{what} must be an int, got {axis!r} (at {user_location()})")
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{what} {axis} is out of range for a tensor of rank {ndim} "
                         f"(at {user_location()})")
    return int(axis) % ndim if ndim else 0


def normalize_axes(axis: None | int | Sequence[int], ndim: int) -> tuple[int, ...]:
    """None means every axis; an int or a sequence is normalized, sorted and de-duplicated."""
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, Sequence):  # one axis (normalize_axis rejects a non-int)
        axis = (axis,)
    axes = tuple(sorted({normalize_axis(a, ndim) for a in axis}))
    if len(axes) != len(tuple(axis)):
        raise ShapeError(f"repeated axis in {tuple(axis)!r} (at {user_location()})")
    return axes
