"""Import: an ONNX model becomes a graphdiff graph built with the public API.

The safe loader parses the file; the nodes are put in dependency order (a cycle or a dangling
input is an error); each node is mapped onto graphdiff API calls by the table in
``import_ops/``. Values that depend only on constants are folded as they are built, so the
shape arithmetic ONNX models carry (``Shape -> Gather -> Concat -> Reshape``) becomes the static
shapes graphdiff wants. Shapes of symbolic inputs stay symbolic: ``Shape`` of a tensor with a
``dim_param`` gives a :class:`DimsValue`, a vector of dims that shape arithmetic and shape
inputs (Reshape, Expand, ConstantOfShape) understand.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from ..errors import GraphdiffError, OnnxError
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.types import Dim, TensorType
from ..ops.source import CONSTANT, PLACEHOLDER, VARIABLE, constant, placeholder, variable
from .load import load_model, tensor_to_array
from .order import sorted_nodes, value_shape

FOLD_LIMIT = 1 << 20  # constant subgraphs with larger results are computed at run time
TABLE_LIMIT = 1 << 24  # largest constant an importer may build (masks, interpolation tables)
MIN_IMPORT_OPSET = 1


@dataclass(frozen=True)
class DimsValue:
    """An int64 tensor (rank 1, or rank 0 when ``scalar``) whose entries are dims."""

    dims: tuple[Dim, ...]
    scalar: bool = False


Value = Node | DimsValue
Importer = Callable[["ImportContext", "OnnxNode"], Sequence[Value | None]]

IMPORTERS: dict[str, Importer] = {}
KNOWN_INPUTS: dict[str, tuple[int, ...]] = {}  # inputs an importer reads as known values

# one-element float initializers feeding these are scalars of the formula (an attention scale,
# a GELU's 0.5), not parameters: by default they are constants
_SCALAR_OPERAND_OPS = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Clip",
                                 "Where", "Equal", "Less", "Greater"})


DEFAULT_DOMAINS = ("", "ai.onnx")


def onnx_import(*op_types: str, known: tuple[int, ...] = (),
                domain: str = "") -> Callable[[Importer], Importer]:
    """Register the import of the ONNX ops ``op_types`` (``import_ops`` uses this). ``known``
    lists the inputs the importer reads with ``ctx.array`` (shapes, scales, pads): an
    initializer feeding one is a constant, never a trainable variable. Ops of another
    ``domain`` than the default one are keyed ``"<domain>:<op>"``."""

    def register(function: Importer) -> Importer:
        for op_type in op_types:
            key = _key(domain, op_type)
            IMPORTERS[key] = function
            KNOWN_INPUTS[key] = known
        return function

    return register


def _key(domain: str, op_type: str) -> str:
    return op_type if domain in DEFAULT_DOMAINS else f"{domain}:{op_type}"


@dataclass
class OnnxNode:
    """One ONNX node being imported: its proto, its input values and typed attribute access."""

    proto: onnx.NodeProto
    inputs: list[Value | None]
    opset: int
    label: str
    _attrs: dict[str, onnx.AttributeProto] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for attribute in self.proto.attribute:
            self._attrs[attribute.name] = attribute

    def has(self, name: str) -> bool:
        return name in self._attrs

    def _get(self, name: str, kind: int, default: Any) -> Any:
        attribute = self._attrs.get(name)
        if attribute is None:
            return default
        if attribute.type != kind:
            expected = onnx.AttributeProto.AttributeType.Name(kind)
            got = onnx.AttributeProto.AttributeType.Name(attribute.type) \
                if attribute.type in onnx.AttributeProto.AttributeType.values() else attribute.type
            raise OnnxError(f"{self.label}: attribute {name!r} must be {expected}, got {got}")
        return onnx.helper.get_attribute_value(attribute)

    def int(self, name: str, default: int | None = None) -> int | None:
        return self._get(name, onnx.AttributeProto.INT, default)

    def ints(self, name: str, default: Sequence[int] | None = None) -> list[int] | None:
        value = self._get(name, onnx.AttributeProto.INTS, default)
        return None if value is None else [int(v) for v in value]

    def float(self, name: str, default: float | None = None) -> float | None:
        return self._get(name, onnx.AttributeProto.FLOAT, default)

    def floats(self, name: str, default: Sequence[float] | None = None) -> list[float] | None:
        return self._get(name, onnx.AttributeProto.FLOATS, default)

    def strings(self, name: str) -> list[str]:
        value = self._get(name, onnx.AttributeProto.STRINGS, None) or []
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self._get(name, onnx.AttributeProto.STRING, default)
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

    def tensor(self, name: str, folder: str | None) -> np.ndarray | None:
        value = self._get(name, onnx.AttributeProto.TENSOR, None)
        return None if value is None else tensor_to_array(value, f"{self.label} {name}", folder)

    def graph(self, name: str) -> onnx.GraphProto:
        """A required graph attribute (a branch, a loop body)."""
        value = self._get(name, onnx.AttributeProto.GRAPH, None)
        if value is None:
            raise self.fail(f"the graph attribute {name!r} is required")
        return value

    def fail(self, message: str) -> OnnxError:
        return OnnxError(f"{self.label}: {message}")

    def check_size(self, *dims: int) -> None:
        """Refuse to build a constant of ``dims`` larger than TABLE_LIMIT elements (a hostile
        file must not make the importer allocate without bound)."""
        count = 1
        for dim in dims:
            count *= max(int(dim), 0)
        if count > TABLE_LIMIT:
            raise self.fail(f"a constant of {count} elements is needed, more than the "
                            f"{TABLE_LIMIT} allowed")


class ImportContext:
    """The state of one import: values by ONNX name, and how to fold and materialize them.

    A subgraph (a branch, a loop body) is imported in a :meth:`scope`, which sees the values
    of the enclosing graphs by name, as ONNX subgraphs do.
    """

    def __init__(self, opset: int, folder: str | None) -> None:
        self.opset = opset
        self.folder = folder
        self.values: MutableMapping[str, Value] = {}
        self._dynamic: set[Node] = set()
        # variable -> its new value (a BatchNormalization's running statistics in training);
        # None in a subgraph, whose values cannot be written back to a variable
        self.updates: dict[Node, Node] | None = {}

    def scope(self) -> ImportContext:
        """The context of a subgraph: its own values over those of this graph."""
        child = ImportContext(self.opset, self.folder)
        child.values = ChainMap({}, self.values)
        child._dynamic = self._dynamic
        child.updates = None
        return child

    def update(self, state: Node, new: Node) -> None:
        """Record that ``new`` replaces the value of ``state`` after each call, when ``state``
        is a variable (an initializer imported as one) read in the main graph."""
        if state.op is VARIABLE and self.updates is not None:
            if state in self.updates:
                raise OnnxError(f"variable {state.name!r} is updated by two nodes")
            self.updates[state] = new

    def subgraph(self, graph: onnx.GraphProto, arguments: Sequence[Value],
                 where: str) -> list[Value]:
        """Import ``graph`` in a new scope with its inputs bound to ``arguments``; the values
        of its outputs. Call it inside the function a control-flow API call traces, so that
        the values it reads from enclosing graphs become operands of the region."""
        if len(graph.input) != len(arguments):
            raise OnnxError(f"{where}: the subgraph has {len(graph.input)} inputs, "
                            f"{len(arguments)} are expected")
        scope = self.scope()
        own = scope.values.maps[0]  # type: ignore[attr-defined]
        for info, value in zip(graph.input, arguments):
            if not info.name or info.name in own:
                raise OnnxError(f"{where}: subgraph input name {info.name!r} is empty or "
                                "repeated")
            own[info.name] = value
        for tensor in graph.initializer:
            if not tensor.name or tensor.name in own:
                raise OnnxError(f"{where}: subgraph initializer name {tensor.name!r} is empty "
                                "or repeated")
            own[tensor.name] = constant(tensor_to_array(
                tensor, f"{where}: initializer {tensor.name!r}", self.folder))
        for proto in sorted_nodes(graph, set(scope.values)):
            _import_node(scope, proto)
        outputs = []
        for info in graph.output:
            if info.name not in scope.values:
                raise OnnxError(f"{where}: subgraph output {info.name!r} is not computed")
            outputs.append(scope.values[info.name])
        return outputs

    # --- reading inputs -----------------------------------------------------------------------

    def tensor(self, node: OnnxNode, index: int, *, optional: bool = False) -> Node | None:
        """Input ``index`` as a graphdiff tensor (None when absent and ``optional``)."""
        value = node.inputs[index] if index < len(node.inputs) else None
        if value is None:
            if optional:
                return None
            raise node.fail(f"input {index} is required")
        return self.materialize(value)

    def tensor_named(self, node: OnnxNode, name: str) -> Node:
        """The value called ``name`` in this graph (an attribute naming a tensor)."""
        if name not in self.values:
            raise node.fail(f"names {name!r}, which no node, input or initializer before it "
                            f"defines")
        return self.materialize(self.values[name])

    def array(self, node: OnnxNode, index: int, *, optional: bool = False) -> np.ndarray | None:
        """Input ``index`` as a known array: it must be constant (folded) when the model is
        imported, as ONNX shape, axes and index inputs usually are."""
        value = node.inputs[index] if index < len(node.inputs) else None
        if value is None:
            if optional:
                return None
            raise node.fail(f"input {index} is required")
        if isinstance(value, DimsValue):
            if all(isinstance(d, int) for d in value.dims):
                return np.array(value.dims, np.int64).reshape(() if value.scalar else -1)
            raise node.fail(f"input {index} holds symbolic dims {value.dims}; a known value is "
                            "needed here")
        if value.op is not CONSTANT:
            raise node.fail(f"input {index} must be known when the model is imported (a "
                            f"constant or computed from constants), got a computed "
                            f"{value.type}")
        return value.data

    def dims(self, node: OnnxNode, index: int) -> tuple[Dim, ...]:
        """A shape input: a 1-D int64 constant or a vector of (possibly symbolic) dims."""
        value = node.inputs[index] if index < len(node.inputs) else None
        if isinstance(value, DimsValue):
            return value.dims
        array = self.array(node, index)
        if array.dtype.kind not in "iu" or array.ndim != 1:
            raise node.fail(f"input {index} must be a 1-D integer shape, got {array.dtype.name}"
                            f"{list(array.shape)}")
        return tuple(int(d) for d in array)

    def materialize(self, value: Value) -> Node:
        """A graphdiff tensor for a value (DimsValues become int64 constants or size nodes)."""
        if isinstance(value, Node):
            return value
        from ..ops.reduce import dim_product

        if all(isinstance(d, int) for d in value.dims):
            return constant(np.array(value.dims, np.int64).reshape(() if value.scalar else -1))
        from ..api.shape import reshape

        entries = [dim_product(dims=(d,), dtype=np.dtype(np.int64)) for d in value.dims]
        if value.scalar:
            return entries[0]
        from ..api import concatenate

        vectors = [reshape(e, (1,)) for e in entries]
        return vectors[0] if len(vectors) == 1 else concatenate(vectors, axis=0)

    # --- folding ------------------------------------------------------------------------------

    def settle(self, value: Value) -> Value:
        """Fold ``value`` to a constant when it depends on constants only (and is small)."""
        if isinstance(value, DimsValue) or value.op.source or value in self._dynamic:
            return value
        stack, seen, constant_only = [value], {value}, True
        while stack:
            node = stack.pop()
            if node.op.effectful or node in self._dynamic or _symbolic_attrs(node) or \
                    node.op in (PLACEHOLDER, VARIABLE):
                constant_only = False
                break
            for child in node.inputs:
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        size = value.type.static_size()
        if not constant_only or size is None or size > FOLD_LIMIT:
            self._dynamic.add(value)
            return value
        from ..runtime.function import function

        # the declared dtype, even where a kernel widens (prod of int32 gives int64 today)
        return constant(np.asarray(function([], value, passes="none")(), value.dtype))


def _symbolic_attrs(node: Node) -> bool:
    """True when a shape attribute holds a symbol: the value depends on run-time sizes."""
    return any(not isinstance(d, int) for name in node.op.shape_attrs
               for d in node.attrs[name])


@dataclass
class OnnxModel:
    """An imported model: placeholders, outputs and the graph between them.

    ``variables`` maps initializer names to the variables made from them (when imported as
    variables); ``updates`` maps variables to the values that replace them after a call (the
    running statistics of a BatchNormalization in training mode): calling the model applies
    them. Call the model like a compiled function, or compile it yourself with
    ``gd.function(model.inputs, model.outputs, updates=model.updates)``; differentiate
    ``model.outputs`` with ``gd.grad``; export it again with
    ``gd.export_onnx(path, model.inputs, model.outputs)``.
    """

    inputs: list[Node]
    outputs: list[Node]
    input_names: list[str]
    output_names: list[str]
    variables: dict[str, Node]
    opset: int
    updates: dict[Node, Node] = field(default_factory=dict)
    _compiled: Any = None

    @property
    def graph(self) -> Graph:
        return Graph(self.inputs, self.outputs)

    def __call__(self, *args: Any, **kwargs: Any) -> list[np.ndarray]:
        if self._compiled is None:
            from ..runtime.function import function

            self._compiled = function(self.inputs, self.outputs, updates=self.updates)
        return self._compiled(*args, **kwargs)


def _default_opset(model: onnx.ModelProto) -> int:
    versions = [o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS]
    if not versions:
        if not model.opset_import:
            raise OnnxError("the model imports no version of the default ONNX opset")
        # only other domains (the training ops): default-domain ops read at the latest opset
        return onnx.defs.onnx_opset_version()
    opset = int(versions[0])
    if opset < MIN_IMPORT_OPSET:
        raise OnnxError(f"opset {opset} is not a valid opset version")
    return opset


def _initializer_uses(graph: onnx.GraphProto) -> tuple[dict[str, str], set[str]]:
    """Initializers that must be known (name -> the node input reading them) and those that are
    operands of elementwise arithmetic."""
    known: dict[str, str] = {}
    arithmetic: set[str] = set()
    for node in graph.node:
        positions = KNOWN_INPUTS.get(_key(node.domain, node.op_type), ())
        for position, name in enumerate(node.input):
            if position in positions:
                known.setdefault(name, f"input {position} of {node.op_type} {node.name!r}")
            if node.op_type in _SCALAR_OPERAND_OPS:
                arithmetic.add(name)
    return known, arithmetic


def _trainable_names(graph: onnx.GraphProto, arrays: dict[str, np.ndarray], initializers: str,
                     trainable: Callable[[str], bool] | Sequence[str] | None) -> set[str]:
    """The names of the initializers that become variables."""
    floats = {name for name, array in arrays.items() if array.dtype.kind == "f"}
    known, arithmetic = _initializer_uses(graph)
    if trainable is None:
        if initializers == "constants":
            return set()
        return {name for name in floats if name not in known and
                not (arrays[name].size == 1 and name in arithmetic)}
    if callable(trainable):
        chosen = {name for name in arrays if trainable(name)}
    elif isinstance(trainable, str) or not all(isinstance(n, str) for n in trainable):
        raise OnnxError("trainable must be a predicate on initializer names or a list of "
                        f"names, got {trainable!r}")
    else:
        chosen = set(trainable)
        unknown = sorted(chosen - set(arrays))
        if unknown:
            raise OnnxError(f"trainable names {unknown}, which are not initializers")
    for name in sorted(chosen):
        if name not in floats:
            raise OnnxError(f"trainable: initializer {name!r} is {arrays[name].dtype.name}; only "
                            "float initializers can be variables")
        if name in known:
            raise OnnxError(f"trainable: initializer {name!r} is {known[name]}, which must be "
                            "known when the model is imported; it cannot be a variable")
    return chosen


def import_onnx(source: Any, *, initializers: str = "variables",
                trainable: Callable[[str], bool] | Sequence[str] | None = None,
                bind: Mapping[str, Any] | None = None) -> OnnxModel:
    """Import an ONNX model (a path, bytes or an ``onnx.ModelProto``) as a graphdiff graph.

    ``initializers``: ``"variables"`` makes float initializers variables (trainable state,
    what a user fine-tuning a model wants) or ``"constants"`` makes them constants (what an
    optimizer folding an inference graph wants). Integer and bool initializers (shapes, axes,
    indices) are always constants, and so are, by default, float initializers that an op
    reads as a known value (Resize scales, Pad values, Range bounds) and one-element float
    operands of elementwise arithmetic (an attention scale). ``trainable``, a predicate on
    initializer names or a list of names, chooses the variables instead (and overrides
    ``initializers``). Graph inputs with a ``dim_param`` keep it as a symbolic dim.
    ``bind`` maps graph input names to values that become constants: graphdiff builds static
    graphs, so an input that ONNX reads at run time as axes, a shape or pads must be bound when
    the model is imported.
    Anything malformed, hostile or unsupported raises :class:`graphdiff.OnnxError`.
    """
    from . import import_ops  # noqa: F401 - fills IMPORTERS

    if initializers not in ("variables", "constants"):
        raise OnnxError(f"initializers must be 'variables' or 'constants', got {initializers!r}")
    model, folder = load_model(source)
    opset = _default_opset(model)
    graph = model.graph
    ctx = ImportContext(opset, folder)
    state: dict[str, Node] = {}
    arrays: dict[str, np.ndarray] = {}
    for tensor in graph.initializer:
        if not tensor.name or tensor.name in arrays:
            raise OnnxError(f"initializer name {tensor.name!r} is empty or repeated")
        arrays[tensor.name] = tensor_to_array(tensor, f"initializer {tensor.name!r}", folder)
    variables = _trainable_names(graph, arrays, initializers, trainable)
    for name, array in arrays.items():
        if name in variables:
            state[name] = ctx.values[name] = variable(array, name=name)
        else:
            ctx.values[name] = constant(array)
    inputs, input_names = [], []
    bound = dict(bind or {})
    for info in graph.input:
        if info.name in ctx.values:  # an initializer also listed as an input (older models)
            continue
        if not info.name:
            raise OnnxError("a graph input has no name")
        dtype, shape = value_shape(info, f"graph input {info.name!r}")
        if info.name in bound:
            value = np.asarray(bound.pop(info.name), dtype)
            if value.ndim != len(shape) or any(isinstance(d, int) and d != s
                                               for d, s in zip(shape, value.shape, strict=True)):
                raise OnnxError(f"bind: input {info.name!r} is declared {list(shape)}, got "
                                f"shape {list(value.shape)}")
            ctx.values[info.name] = constant(value)
            continue
        node = placeholder(shape, dtype, name=info.name)
        ctx.values[info.name] = node
        inputs.append(node)
        input_names.append(info.name)
    if bound:
        raise OnnxError(f"bind names {sorted(bound)}, which are not graph inputs")
    for proto in sorted_nodes(graph, set(ctx.values)):
        _import_node(ctx, proto)
    outputs, output_names = [], []
    for info in graph.output:
        if info.name not in ctx.values:
            raise OnnxError(f"graph output {info.name!r} is not computed by any node")
        outputs.append(ctx.materialize(ctx.values[info.name]))
        output_names.append(info.name)
    return OnnxModel(inputs, outputs, input_names, output_names, state, opset,
                     dict(ctx.updates or {}))


def _import_node(ctx: ImportContext, proto: onnx.NodeProto) -> None:
    label = f"ONNX node {proto.name or '(unnamed)'} ({proto.op_type})"
    importer = IMPORTERS.get(_key(proto.domain, proto.op_type))
    if importer is None and proto.domain not in DEFAULT_DOMAINS:
        raise OnnxError(f"{label}: operator domain {proto.domain!r} is not supported")
    if importer is None:
        if _import_function(ctx, proto, label):
            return
        raise OnnxError(f"{label}: ONNX op {proto.op_type!r} is not supported by graphdiff's "
                        "importer")
    node = OnnxNode(proto, [ctx.values[name] if name else None for name in proto.input],
                    ctx.opset, label)
    try:
        results = list(importer(ctx, node))
    except OnnxError:
        raise
    except GraphdiffError as exc:
        raise OnnxError(f"{label}: {exc}") from None
    except (ValueError, TypeError, IndexError, KeyError, OverflowError, ZeroDivisionError,
            RecursionError) as exc:
        raise OnnxError(f"{label}: cannot import ({type(exc).__name__}: {exc})") from None
    for position, name in enumerate(proto.output):
        if not name:
            continue
        if position >= len(results) or results[position] is None:
            raise OnnxError(f"{label}: output {position} ({name!r}) is not supported")
        ctx.values[name] = ctx.settle(results[position])


def _import_function(ctx: ImportContext, proto: onnx.NodeProto, label: str) -> bool:
    """Import an op without an importer as its schema's function body (``functions.py``)."""
    from .functions import import_function

    def import_body(nodes: list[onnx.NodeProto], opset: int) -> None:
        saved, ctx.opset = ctx.opset, opset  # the body is written for its own opset
        try:
            for inner in nodes:
                _import_node(ctx, inner)
        finally:
            ctx.opset = saved

    types = [_value_type(ctx.values[name]) if name else None for name in proto.input]
    return import_function(proto, ctx.opset, types, label, import_body)


def _value_type(value: Value) -> TensorType | None:
    if isinstance(value, DimsValue):
        return TensorType(np.dtype(np.int64), () if value.scalar else (len(value.dims),))
    return value.type if isinstance(value.type, TensorType) else None
