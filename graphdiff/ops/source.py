"""Sources: placeholders (fed per call), variables (state kept across calls), constants, fills.

Sources have no inputs and no kernel; the runtime supplies their values. ``fill`` is an ordinary
pure op (a constant value over a possibly symbolic shape), used to materialize a symbolic zero.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError, user_location
from ..ir.graph import Graph, topo_order
from ..ir.node import Node, Source, make_node
from ..ir.types import Shape, TensorType, as_dtype, as_shape
from .core import defop, jnp

_SMALL_CONSTANT = 64  # constants up to this many elements are interned by value


def _declared_type(types: list[TensorType], *, dtype: np.dtype, shape: Shape) -> TensorType:
    return TensorType(dtype, shape)


PLACEHOLDER = defop("placeholder", _declared_type, None, source=Source.PLACEHOLDER,
                    differentiable=True,
                    doc="A value fed at each call of a compiled function.")
VARIABLE = defop("variable", _declared_type, None, source=Source.VARIABLE,
                 doc="State that lives across calls; compiled functions may update it.")
CONSTANT = defop("constant", _declared_type, None, source=Source.CONSTANT,
                 differentiable=False,
                 doc="A fixed array, held by the node.")


class VariableState:
    """The mutable box behind a variable node (the node itself stays immutable).

    ``value`` is the numpy array. A device backend (jax) may keep the current value on its
    device instead (``keep_on_device``): then the host copy is made when ``value`` is read, and
    assigning ``value`` drops the device copy."""

    __slots__ = ("_value", "_device", "_fetch")

    def __init__(self, value: np.ndarray) -> None:
        self._value = value
        self._device: Any = None
        self._fetch: Any = np.asarray

    @property
    def value(self) -> np.ndarray:
        if self._value is None:  # the device holds the only current value
            self._value = np.array(self._fetch(self._device), copy=True)
        return self._value

    @value.setter
    def value(self, value: np.ndarray) -> None:
        self._value, self._device = value, None

    def on_device(self) -> Any:
        """The device array a backend keeps for this variable, or None."""
        return self._device

    def keep_on_device(self, array: Any, stale_host: bool = False,
                       fetch: Any = np.asarray) -> None:
        """Keep ``array`` (a device array equal to ``value``, or with ``stale_host`` its new
        value, which the host copy no longer is); ``fetch(array)`` copies it to the host."""
        self._device, self._fetch = array, fetch
        if stale_host:
            self._value = None


def placeholder(shape: Any, dtype: Any = "float32", name: str | None = None) -> Node:
    """A symbolic input. ``None`` or a string in ``shape`` is a symbolic dimension."""
    return make_node(PLACEHOLDER, (), {"dtype": as_dtype(dtype), "shape": as_shape(shape)},
                     name=name)


def graph_of(outputs: Sequence[Node]) -> Graph:
    """The graph computing ``outputs`` from the placeholders they depend on (in build order)."""
    return Graph([n for n in topo_order(outputs) if n.op is PLACEHOLDER], outputs)


def parameter_like(typed: Any) -> Node:
    """A fresh unnamed placeholder with the shape and dtype of ``typed`` (a node or a
    ``TensorType``): how regions get the parameters that stand for values from outside."""
    return placeholder(typed.shape, typed.dtype)


def variable(value: Any, name: str | None = None, dtype: Any = None) -> Node:
    """State that lives across calls, initialized to a copy of ``value``."""
    array = np.array(value, dtype=None if dtype is None else as_dtype(dtype))
    array_dtype = as_dtype(array.dtype)
    return make_node(VARIABLE, (), {"dtype": array_dtype, "shape": array.shape}, name=name,
                     data=VariableState(array))


_CONSTANTS: weakref.WeakValueDictionary[tuple, Node] = weakref.WeakValueDictionary()


def constant(value: Any, dtype: Any = None) -> Node:
    """A constant array. Small constants with equal values are the same node."""
    array = np.array(value, dtype=None if dtype is None else as_dtype(dtype))
    if array.dtype == np.dtype("O"):
        raise DTypeError(f"cannot make a constant from {type(value).__name__} "
                         f"(at {user_location()})")
    array_dtype = as_dtype(array.dtype)
    array.setflags(write=False)
    key = None
    if array.size <= _SMALL_CONSTANT:
        key = (array_dtype.str, array.shape, array.tobytes())
        existing = _CONSTANTS.get(key)
        if existing is not None:
            return existing
    node = make_node(CONSTANT, (), {"dtype": array_dtype, "shape": array.shape}, data=array)
    if key is not None:
        _CONSTANTS[key] = node
    return node


def _fill_type(types: list[TensorType], *, value: float, dtype: np.dtype,
               shape: Shape) -> TensorType:
    if types:
        raise ShapeError("fill takes no operands")
    return TensorType(dtype, shape)


def _fill_kernel(*, value: float, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, value, dtype=dtype)


FILL = defop("fill", _fill_type, _fill_kernel, differentiable=False, shape_attrs=("shape",),
             jax=lambda *, value, dtype, shape: jnp().full(shape, value, dtype),
             onnx=lambda ctx, n, i: ctx.fill(n.attrs["value"], n.dtype, n.shape),
             doc="An array of one value; its shape may be symbolic (resolved per call).")


def _iota_kernel(*, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    return np.arange(int(np.prod(shape, dtype=np.int64)), dtype=dtype).reshape(shape)


def _iota_onnx(ctx, node: Node, inputs) -> str:
    count = ctx.dim_product(node.shape, node.dtype)
    flat = ctx.op("Range", [ctx.constant(np.asarray(0, node.dtype)), count,
                            ctx.constant(np.asarray(1, node.dtype))])
    return ctx.op("Reshape", [flat, ctx.shape(node.shape)])


def _iota_jax(*, dtype: np.dtype, shape: tuple[int, ...]):
    return jnp().arange(int(np.prod(shape, dtype=np.int64)), dtype=dtype).reshape(shape)


IOTA = defop("iota", lambda types, *, dtype, shape: _fill_type(types, value=0, dtype=dtype,
                                                                shape=shape),
             _iota_kernel, differentiable=False, shape_attrs=("shape",), jax=_iota_jax,
             onnx=_iota_onnx,
             doc="0, 1, 2, ... in row-major order over a shape that may be symbolic (the flat "
                 "position of each element, for index updates).")


def fill(value: float, type_: TensorType) -> Node:
    """An array of ``type_`` filled with ``value``; a symbolic zero becomes ``fill(0, type)``."""
    return FILL(value=float(value), dtype=type_.dtype, shape=type_.shape)


def zeros_like(x: Node) -> Node:
    return fill(0.0, x.type)
