"""Helpers shared by the op families: declaring an op, common shape/dtype rules, constants.

An op family module declares each op with one ``defop(...)`` call holding its rule, kernel,
derivatives and ONNX mapping. The helpers here keep those declarations short.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import DTypeError
from ..ir.node import Node, OpDef, register, same_nodes
from ..ir.types import STORAGE_DTYPES, TensorType, TupleType, broadcast_shapes


def _alone_count() -> int:
    """What ``sys.getrefcount`` reports inside :func:`reuse_or_empty`'s loop for an array
    that only the list holds (measured: it differs between Python versions)."""
    for array in [np.empty(0)]:
        return sys.getrefcount(array)
    raise AssertionError


_ALONE = _alone_count()


def reuse_or_empty(pool: list, shape: tuple, dtype: np.dtype, grow_to: int = 0) -> np.ndarray:
    """An array of ``pool`` (earlier results of the same step; None for an empty slot) that
    nothing but ``pool`` refers to, else a new array, added to ``pool`` while it holds fewer
    than ``grow_to``.

    No value, view (a view holds a reference) or caller holds such an array, so writing into
    it is invisible; it saves numpy an allocation and its page faults (several ms for 16 MB).
    The executor keeps the last results of a call as the spares of the next one
    (``runtime/program.py``), a fused kernel its own earlier outputs.
    """
    for array in pool:
        if array is not None and sys.getrefcount(array) == _ALONE and array.base is None \
                and array.flags.writeable:
            return array
    array = np.empty(shape, dtype)
    if len(pool) < grow_to:
        pool.append(array)
    return array


# ufuncs for which numpy deprecates a positional output argument (numpy 2.4)
_KEYWORD_OUT = (np.maximum, np.minimum, np.fmax, np.fmin)


def out_argument(kernel: Any, target: str, has_keywords: bool) -> str:
    """How generated code passes ``target`` as ``kernel``'s output array: positionally to a
    ufunc called without keywords (numpy parses that faster than ``out=``), else ``out=``."""
    positional = isinstance(kernel, np.ufunc) and not has_keywords and kernel not in _KEYWORD_OUT
    return target if positional else f"out={target}"


def defop(name: str, infer: Callable[..., TensorType], kernel: Callable[..., Any] | None,
          **fields: Any) -> OpDef:
    """Declare and register an op; returns the OpDef, which builds nodes when called.

    Elementwise ops get their batching rule from the trait (``batching.batch_elementwise``).
    """
    if fields.get("elementwise") and "batch" not in fields:
        from .batching import batch_elementwise

        fields["batch"] = batch_elementwise
    return register(OpDef(name=name, infer=infer, kernel=kernel, **fields))


# --- JAX lowerings (OpDef.jax) import jax when they run: it is an optional dependency ---------

def jnp() -> Any:
    """``jax.numpy``, for an op's JAX lowering (imported when the jax backend lowers it)."""
    import jax.numpy

    return jax.numpy


def lax() -> Any:
    """``jax.lax``, for an op's JAX lowering."""
    import jax.lax

    return jax.lax


HIGHEST = "highest"  # matmul and convolution precision in JAX lowerings: float32 is float32 on
#                      every device (XLA may otherwise use TF32 or bfloat16 passes on a GPU/TPU)


# --- dtype checks ----------------------------------------------------------------------------

def require_float(t: TensorType, what: str = "operand") -> None:
    if t.dtype.kind != "f" or t.dtype in STORAGE_DTYPES:
        storage = " (a storage format: cast it to float32 first)" \
            if t.dtype in STORAGE_DTYPES else ""
        raise DTypeError(f"{what} must be a float tensor, got {t.dtype.name}{storage}")


def require_same_dtype(types: Sequence[TensorType]) -> np.dtype:
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        names = ", ".join(sorted(d.name for d in dtypes))
        raise DTypeError(f"operands must share one dtype (the API inserts casts), got {names}")
    return types[0].dtype


def require_integer(t: TensorType, what: str) -> None:
    if t.dtype.kind not in "iu":
        raise DTypeError(f"{what} must be an integer tensor, got {t.dtype.name}")


def require_bool(t: TensorType, what: str) -> None:
    if t.dtype != np.bool_:
        raise DTypeError(f"{what} must be a bool tensor, got {t.dtype.name}")


# --- shape-and-dtype rules for elementwise ops -----------------------------------------------

def unary_float(types: Sequence[TensorType]) -> TensorType:
    """exp, log, tanh, ...: one float operand, same type out."""
    (x,) = types
    require_float(x)
    return x


def unary_numeric(types: Sequence[TensorType]) -> TensorType:
    """neg, abs, sign, square: any non-bool numeric operand, same type out."""
    (x,) = types
    if x.dtype == np.bool_:
        raise DTypeError("operand must be numeric, got bool")
    return x


def float_predicate(types: Sequence[TensorType]) -> TensorType:
    """isnan, isinf, signbit: one float operand, a bool of its shape out."""
    return unary_float(types).with_dtype(np.dtype(np.bool_))


def binary_same(types: Sequence[TensorType]) -> TensorType:
    """add, mul, ...: two operands of one dtype, broadcast shape out."""
    dtype = require_same_dtype(types)
    return TensorType(dtype, broadcast_shapes(*(t.shape for t in types)))


def binary_float(types: Sequence[TensorType]) -> TensorType:
    out = binary_same(types)
    require_float(out)
    return out


def compare(types: Sequence[TensorType]) -> TensorType:
    """less, equal, ...: two operands of one dtype, bool out."""
    out = binary_same(types)
    return out.with_dtype(np.dtype(np.bool_))


def logical(types: Sequence[TensorType]) -> TensorType:
    for t in types:
        require_bool(t, "operand")
    return TensorType(np.dtype(np.bool_), broadcast_shapes(*(t.shape for t in types)))


# --- constants used inside derivative rules ---------------------------------------------------

def scalar(value: float, like: Node | np.dtype) -> Node:
    """A rank-0 constant with the dtype of ``like`` (a node or a dtype)."""
    from .source import constant

    dtype = like.dtype if isinstance(like, Node) else like
    return constant(np.asarray(value, dtype=dtype))


# --- ops defined by an expansion (fused groups) ----------------------------------------------

def expand_derived(outputs: Sequence[Node],
                   chosen: Callable[[Node], bool] | None = None) -> dict[Node, Node]:
    """Map each node the outputs depend on to an equal node in which every op that has an
    ``expand`` rule and no VJP of its own is replaced by the primitives it stands for (or only
    the nodes ``chosen`` says, when given).

    Autodiff uses this to differentiate optimized graphs (fused groups); ONNX export uses it to
    lower them back to standard ops, the runtime to run small groups as primitives. A node with
    several results expands to one node per result: its ``result`` nodes map to those.
    """
    from ..ir.graph import topo_order
    from ..ir.node import with_inputs

    mapped: dict[Node, Node] = {}
    parts: dict[Node, list[Node]] = {}  # expanded nodes with several results -> their results
    for node in topo_order(outputs):
        if node.op is result and node.inputs[0] in parts:
            mapped[node] = parts[node.inputs[0]][node.attrs["index"]]
            continue
        inputs = tuple(mapped[v] for v in node.inputs)
        node_now = node if same_nodes(inputs, node.inputs) else with_inputs(node, inputs)
        derived = node.op.expand is not None and node.op.vjp is None
        if chosen(node) if chosen is not None else derived:
            expanded = node.op.expand(node_now)
            if node.is_tuple:
                parts[node] = expanded
            else:
                node_now = expanded
        mapped[node] = node_now
    return mapped


# --- several results --------------------------------------------------------------------------

def _result_type(types: Sequence[TensorType], *, index: int) -> TensorType:
    (whole,) = types
    if not isinstance(whole, TupleType):
        raise DTypeError(f"result reads a node with several results, got {whole}")
    if not 0 <= index < len(whole.types):
        raise DTypeError(f"result index {index} of a node with {len(whole.types)} results")
    return whole.types[index]


def _result_kernel(values: tuple, *, index: int) -> Any:
    return values[index]


def _result_vjp(node: Node, g: Node) -> list:
    # a node with several results receives a list: a cotangent or None per result
    index, count = node.attrs["index"], len(node.inputs[0].type.types)
    return [[g if i == index else None for i in range(count)]]


def _result_jvp(node: Node, tangents: Sequence[Any]) -> Node | None:
    (whole,) = tangents  # the tangents of a node with several results: a list, None each zero
    return None if whole is None else whole[node.attrs["index"]]


result = defop("result", _result_type, _result_kernel, vjp=_result_vjp, jvp=_result_jvp,
               jax=lambda values, *, index: values[index],
               batch=lambda node, inputs, batched, size: inputs[0][node.attrs["index"]],
               fast_kernel=lambda attrs, types: operator.itemgetter(attrs["index"]),
               onnx=lambda ctx, n, i: i[0][n.attrs["index"]],
               doc="Result ``index`` of a node with several results (a loop, a branch, a fused "
                   "group with several outputs).")


def results(node: Node) -> list[Node]:
    """Every result of a node with several results, as tensors."""
    return [result(node, index=i) for i in range(len(node.type.types))]


def lazy_rule(module: str, name: str) -> Callable[..., Any]:
    """A derivative rule defined in ``graphdiff.autodiff.<module>``, imported when it runs.

    Rules of ops that own regions differentiate those regions, which needs the derivative
    drivers: they live in the autodiff layer, which imports this one.
    """
    def rule(node: Node, *args: Any) -> Any:
        import importlib

        rules = importlib.import_module(f"graphdiff.autodiff.{module}")
        return getattr(rules, name)(node, *args)
    rule.__name__ = name
    return rule
