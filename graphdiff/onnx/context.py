"""The export context: what an op's ONNX mapping receives, and the protocol it follows.

An op declares its ONNX mapping in its ``defop(..., onnx=...)``:

* a string names an ONNX op with the same inputs, no attributes and one output
  (``onnx="Exp"``);
* a callable ``onnx(ctx, node, inputs) -> str`` emits whatever ONNX nodes compute ``node`` from
  the ONNX value names ``inputs`` (one per operand, in order) and returns the name of the value
  holding the result. It uses only this context: ``ctx.op`` emits a node, ``ctx.constant`` an
  initializer, ``ctx.shape``/``ctx.dim`` turn possibly symbolic dims into int64 tensors computed
  from the ``Shape`` of the inputs that define the symbols, ``ctx.reduce`` handles the axes of
  reductions for the target opset, ``ctx.expand`` lowers a node through its op's ``expand``
  (fused nodes go back to standard ops this way).

A node with several results (a :class:`TupleType`: a loop, a branch) has one ONNX value per
result: its mapping returns the list of their names, and each ``result`` node's mapping picks
one (``inputs[0][index]``). The value of a stack (what a ``while_loop`` saves for its derivative)
is a tuple of names, one tensor per saved value with the iterations along a new axis 0.

Regions become ONNX subgraphs through :meth:`ExportContext.scope`: a context for one subgraph
(its own nodes and values) that shares the model's names, initializers and constants, and
reads the values and symbolic dims of the enclosing graphs by name, as ONNX subgraphs may.

>>> import numpy as np
>>> ctx = ExportContext(opset=18)
>>> ctx.declare_dims("x", ("n", 4))
>>> flat = ctx.op("Reshape", ["x", ctx.shape(("4*n",))], allowzero=1)
>>> [(node.op_type, list(node.input)) for node in ctx.nodes][:2]
[('Shape', ['x']), ('Mul', ['const_1', 'Shape_2'])]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import OnnxError
from ..ir.dims import DimExpr, dim_symbols, parse_dim
from ..ir.node import Node
from ..ir.types import Dim
from .dtypes import onnx_elem_type
from .lowering import Lowerings
from .regions import RegionLowerings

_DIM_OPERATORS = {"+": "Add", "-": "Sub", "*": "Mul", "//": "Div"}

# The ONNX value of a graphdiff node: one name; a list of them for a node with several results;
# a tuple of them for a stack (one tensor per saved value).
OnnxValue = str | list | tuple


class _Names:
    """The value names of one model: ONNX wants them unique across all its subgraphs."""

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self.counter = 0

    def fresh(self, hint: str) -> str:
        self.counter += 1
        name = f"{hint}_{self.counter}"
        while name in self.taken:
            self.counter += 1
            name = f"{hint}_{self.counter}"
        self.taken.add(name)
        return name

    def claim(self, name: str) -> str:
        candidate, suffix = name, 1
        while candidate in self.taken:
            candidate = f"{name}_{suffix}"
            suffix += 1
        self.taken.add(candidate)
        return candidate


class ExportContext(Lowerings, RegionLowerings):
    """Accumulates the nodes and initializers of one ONNX graph being exported.

    ``scope()`` gives the context of a subgraph of this graph (see the module docstring).
    """

    def __init__(self, opset: int, parent: ExportContext | None = None,
                 nodes: list[onnx.NodeProto] | None = None) -> None:
        self.opset = opset
        self.parent = parent
        self.nodes: list[onnx.NodeProto] = [] if nodes is None else nodes
        self.values: dict[Node, OnnxValue] = {}
        self._dim_sources: dict[str, tuple[str, int]] = {}
        self._dim_values: dict[Dim, str] = {}
        if parent is None:
            self.initializers: list[onnx.TensorProto] = []
            self._names = _Names()
            self._constants: dict[tuple, str] = {}
        else:  # initializers live in the main graph, where every subgraph sees them
            self.initializers = parent.initializers
            self._names = parent._names
            self._constants = parent._constants

    def scope(self, inline: bool = False) -> ExportContext:
        """The context of a subgraph nested in this graph: its own nodes and values, this
        model's names and initializers, and the values of the enclosing graphs by name. With
        ``inline=True`` the nodes go into this graph (a region computed in place)."""
        return ExportContext(self.opset, parent=self, nodes=self.nodes if inline else None)

    # --- names ----------------------------------------------------------------------------------

    def fresh(self, hint: str) -> str:
        """A value name not used yet in this model, derived from ``hint``."""
        return self._names.fresh(hint)

    def claim(self, name: str) -> str:
        """Reserve a user-visible name (an input, an output, a variable), made unique."""
        return self._names.claim(name)

    # --- emitting -------------------------------------------------------------------------------

    def op(self, op_type: str, inputs: Sequence[str], *, outputs: int = 1,
           **attrs: Any) -> Any:
        """Emit one ONNX node; returns its output name (a list when ``outputs > 1``)."""
        names = [self.fresh(op_type) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    def constant(self, value: Any, dtype: Any = None) -> str:
        """An initializer holding ``value`` (small equal constants are shared)."""
        array = np.asarray(value, dtype=dtype)
        onnx_elem_type(array.dtype)
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 64 else None
        if key is not None and key in self._constants:
            return self._constants[key]
        name = self.fresh("const")
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))
        if key is not None:
            self._constants[key] = name
        return name

    def scalar(self, value: float, like: Node | np.dtype) -> str:
        """A rank-0 initializer with the dtype of ``like`` (a node or a dtype)."""
        return self.constant(np.asarray(value, dtype=getattr(like, "dtype", like)))

    def fill(self, value: float, dtype: np.dtype, shape: Sequence[Dim]) -> str:
        """A tensor of ``shape`` (possibly symbolic) holding ``value`` everywhere."""
        tensor = numpy_helper.from_array(np.asarray([value], dtype=dtype), "value")
        return self.op("ConstantOfShape", [self.shape(shape)], value=tensor)

    def random(self, op_type: str, node: Node, **attrs: float) -> str:
        """``RandomUniformLike``/``RandomNormalLike`` over a (possibly symbolic) shape, seeded by
        the node's stream (onnxruntime draws its own numbers: same distribution, other values)."""
        like = self.fill(0.0, node.dtype, node.shape)
        return self.op(op_type, [like], dtype=self.elem_type(node.dtype),
                       seed=float(node.attrs["stream"].seed), **attrs)

    def elem_type(self, dtype: np.dtype) -> int:
        """The ONNX element type code of a numpy dtype (for ``Cast(to=...)``)."""
        return onnx_elem_type(dtype)

    # --- symbolic dims --------------------------------------------------------------------------

    def declare_dims(self, value: str, shape: Sequence[Dim]) -> None:
        """Record that the graph input ``value`` defines the symbols in its ``shape``."""
        for axis, dim in enumerate(shape):
            if isinstance(dim, str):
                self._dim_sources.setdefault(dim, (value, axis))

    def dim(self, dim: Dim) -> str:
        """An int64 tensor of shape [1] holding ``dim``, computed in the graph when symbolic.

        In a subgraph, a dim whose symbols only enclosing graphs define is computed there (once,
        outside the loop); the subgraph's own inputs define the others."""
        if dim in self._dim_values:
            return self._dim_values[dim]
        if isinstance(dim, int):
            name = self.constant(np.array([dim], np.int64))
        elif dim in self._dim_sources:
            value, axis = self._dim_sources[dim]
            name = self.op("Shape", [value], start=axis, end=axis + 1)
        else:
            symbols = dim_symbols(parse_dim(dim))
            if self.parent is not None and not symbols & set(self._dim_sources) and \
                    all(self.parent._defines(s) for s in symbols):
                name = self.parent.dim(dim)
            else:
                name = self._dim_expression(parse_dim(dim), dim)
        self._dim_values[dim] = name
        return name

    def _defines(self, symbol: str) -> bool:
        """Whether this graph (or an enclosing one) knows where ``symbol`` comes from."""
        return symbol in self._dim_sources or \
            (self.parent is not None and self.parent._defines(symbol))

    def _known_symbols(self) -> set[str]:
        known = set(self._dim_sources)
        return known | self.parent._known_symbols() if self.parent is not None else known

    def _dim_expression(self, expr: DimExpr, text: str) -> str:
        if isinstance(expr, int):
            return self.dim(expr)
        if isinstance(expr, str):
            if not self._defines(expr):
                known = ", ".join(sorted(self._known_symbols())) or "none"
                raise OnnxError(f"symbolic dimension {text!r} uses {expr!r}, which no graph "
                                f"input defines (inputs define: {known})")
            return self.dim(expr)
        if expr[0] == "[]":  # len(range(base)[start:stop:step])
            _, base, spec = expr
            return self.op("Shape", [self.positions_of(self._dim_expression(base, text), spec)])
        operator, left, right = expr
        return self.op(_DIM_OPERATORS[operator], [self._dim_expression(left, text),
                                                  self._dim_expression(right, text)])

    def shape(self, dims: Sequence[Dim]) -> str:
        """A 1-D int64 tensor holding ``dims``: a constant when static, else a Concat."""
        if all(isinstance(d, int) for d in dims):
            return self.constant(np.array(dims, np.int64).reshape(len(dims)))
        return self.op("Concat", [self.dim(d) for d in dims], axis=0)

    def dim_product(self, dims: Sequence[Dim], dtype: np.dtype) -> str:
        """A scalar of ``dtype`` holding the product of ``dims`` (static or symbolic)."""
        if all(isinstance(d, int) for d in dims):
            return self.constant(np.asarray(np.prod(dims, dtype=np.int64), dtype=dtype))
        product = self.op("ReduceProd", [self.shape(dims)], keepdims=0)
        return self.op("Cast", [product], to=self.elem_type(dtype))

    # --- shared lowerings -----------------------------------------------------------------------

    def reduce(self, op_type: str, node: Node, inputs: Sequence[str]) -> str:
        """A reduction over ``node.attrs['axes']`` with ``keepdims``, for this opset (axes are an
        input from opset 13 for ReduceSum and 18 for the others, an attribute before)."""
        axes = list(node.attrs["axes"])
        keepdims = int(bool(node.attrs["keepdims"]))
        (x,) = inputs
        source = node.inputs[0]
        if source.dtype != node.dtype:  # numpy sums bool and small ints in int64
            x = self.op("Cast", [x], to=self.elem_type(node.dtype))
        if not axes:  # ONNX reads empty axes as "all axes"; ours means "none"
            return self.op("Identity", [x])
        axes_as_input = self.opset >= (13 if op_type == "ReduceSum" else 18)
        if axes_as_input:
            return self.op(op_type, [x, self.constant(np.array(axes, np.int64))],
                           keepdims=keepdims)
        return self.op(op_type, [x], axes=axes, keepdims=keepdims)
