"""Ops and nodes: the two building blocks of the IR.

An :class:`OpDef` is everything about one operation, declared once in its family's module under
``graphdiff/ops``: its shape-and-dtype rule, numpy kernel, derivative rules, ONNX mapping and
traits. A :class:`Node` is one application of an op to input nodes: immutable and hash-consed, so
two structurally equal pure nodes are the same Python object. Structural equality is therefore an
identity check, common-subexpression merging happens at construction, and a pass can never corrupt
a graph another graph shares. Effectful ops (random numbers) and sources (placeholders, variables)
carry a unique id in their key and never merge.

The symbolic tensor a user holds *is* a Node; ``graphdiff.api`` adds numpy-style operators to it.
"""

from __future__ import annotations

import enum
import gc
import itertools
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import GraphdiffError, ImmutableError, ShapeError, user_location
from .types import TensorType, TupleType

if TYPE_CHECKING:
    from .graph import Graph

# ---------------------------------------------------------------------------------------------
# Op declarations


class Source(enum.Enum):
    """What a source op's nodes stand for (``OpDef.source``): the graph layer asks this trait
    (a graph's inputs are placeholders; a constant's value is printed and stays inside a
    region), so it never compares op names."""

    PLACEHOLDER = "placeholder"  # fed at each call
    VARIABLE = "variable"  # state that lives across calls
    CONSTANT = "constant"  # a fixed array held by the node


@dataclass(frozen=True, eq=False)
class OpDef:
    """One op, declared once.

    infer:  ``(input_types, **attrs) -> TensorType``; raises ShapeError/DTypeError on bad input.
            An op with regions (``regions=True``) gets them as ``regions=`` too, and checks
            each region's signature against its operands; a node with several results has a
            :class:`TupleType`.
    kernel: ``(*arrays, **attrs) -> np.ndarray``, the numpy implementation (``regions=`` too
            for an op with regions; a tuple of arrays for a node with several results).
    expand: ``(node) -> node`` rebuilding the value from primitives (a list of nodes, one per
            result, for a node with several results: fused groups); autodiff differentiates
            the expansion of an op that has no rules of its own.
    fast_kernel: ``(attrs, input_types) -> kernel``, a kernel for the concrete shapes that
            computes what ``kernel`` computes, faster (``np.dot`` for two float matrices, a
            copy for a reduction over length-1 axes): the planned executor calls it with the
            operands (and ``out=``); constant folding and the reference run ``kernel``.
    region_kernel: ``(attrs, input_types, *, regions, compile_region) -> kernel`` for an op
            with regions, which has no kernel of its own: the kernel is made per signature from
            the node's regions (a loop plans its body's sub-program, a fused group generates
            its code from its region).
    out_arg: the kernel also accepts ``out=array`` and writes its result there (numpy ``out=``).
    vjp:    ``(node, cotangent) -> [input cotangent or None, ...]`` building graph nodes.
    jvp:    ``(node, [input tangent or None, ...]) -> output tangent`` building graph nodes.
    batch:  ``(node, inputs, batched, size) -> value`` for ``vmap``: ``inputs`` are the node's
            operands, those with ``batched[i]`` carrying a batch axis 0 of length ``size``
            (the others as they were); returns the node's value with a batch axis 0 (a list,
            one per result, for a node with several results).
    onnx:   export mapping, ``(ctx, node, input_names) -> output_name`` (see graphdiff.onnx).
    scalar: an elementwise op's value on one element, as a Python expression template for
            compiled backends (``graphdiff/backends/numba_fused.py``): ``{0}``, ``{1}``, ...
            are the operands (plain names), ``{T}`` converts a literal to the output dtype (so
            float32 code stays float32), ``{t}`` is that dtype's name.
    jax:    the JAX lowering (``backend="jax"``, ``graphdiff/backends/jax.py``): a name in
            ``jax.numpy`` (``"exp"``), or dotted from the ``jax`` package (``"lax.erf"``), for
            an op without attributes that maps 1:1; else a function ``(*operands, **attrs) ->
            jax value`` (a tuple for a node with several results). An op with regions also
            gets ``types=`` (its operands' concrete types), ``out_type=``, ``regions=`` and
            ``ctx=`` (``ctx.region(graph, param_types)`` lowers a region to a traceable
            function), an effectful op ``ctx=`` (``ctx.key(stream)``: its random key).
            Functions import jax themselves: it is an optional dependency.
    shape_attrs: attributes that hold shapes and may contain symbolic dims (resolved per call
            signature by the runtime before the kernel is bound).
    combine: a reduction's ufunc that reduces a block of rows and combines the partial results
            of two blocks (``np.add`` for sum): fused groups hold exactly the reductions that
            have one (``passes/fusion.py``, ``ops/fused_codegen.py``, the numba backend).
    """

    name: str
    infer: Callable[..., TensorType]
    kernel: Callable[..., Any] | None
    vjp: Callable[..., Sequence[Node | None]] | None = None
    jvp: Callable[..., Node | None] | None = None
    batch: Callable[..., Any] | None = None
    onnx: Callable[..., Any] | None = None
    expand: Callable[..., Node] | None = None
    fast_kernel: Callable[..., Callable[..., Any]] | None = None
    region_kernel: Callable[..., Callable[..., Any]] | None = None
    out_arg: bool = False
    elementwise: bool = False  # output shape is the broadcast of the inputs, values per element
    commutative: bool = False
    effectful: bool = False  # never merged, never folded, never duplicated
    differentiable: bool = True  # False: derivative is zero (comparisons, argmax, int ops)
    view: bool = False  # the output may alias input 0's memory (reshape, transpose, slicing)
    source: Source | None = None  # placeholder, variable, constant: no inputs, no kernel
    regions: bool = False  # nodes own graphs (branches, loop bodies, fused groups)
    shape_attrs: tuple[str, ...] = ()
    scalar: str | None = None
    combine: Any = None  # a reduction: the ufunc that combines partial results (np.add)
    jax: str | Callable[..., Any] | None = None
    doc: str = ""

    def __call__(self, *inputs: Node, regions: Sequence[Graph] = (), **attrs: Any) -> Node:
        return make_node(self, inputs, attrs, regions=regions)

    def __repr__(self) -> str:
        return f"<op {self.name}>"


OPS: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    """Add an op to the registry; every op name is declared exactly once."""
    if op.name in OPS:
        raise GraphdiffError(f"op {op.name!r} is declared twice")
    OPS[op.name] = op
    return op


# ---------------------------------------------------------------------------------------------
# Nodes

_INTERN: weakref.WeakValueDictionary[tuple, Node] = weakref.WeakValueDictionary()
_unique = itertools.count()


def _freeze(value: Any) -> Any:
    """Make an attribute value hashable (lists become tuples)."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


class Node:
    """One value of the graph: an op applied to input nodes. Immutable and interned.

    Attributes: ``op``, ``inputs``, ``attrs`` (a read-only mapping), ``regions`` (the graphs the
    node owns: a loop's body, a branch, a fused group; empty for most ops), ``type`` (a
    TensorType, or a TupleType for a node with several results), ``name`` (a user's name or
    None), ``location`` (the user's ``file:line`` that created it) and ``data`` (the array of a
    constant or the state of a variable, else None).
    """

    __slots__ = ("op", "inputs", "attrs", "regions", "type", "name", "location", "data", "uid",
                 "_key", "__weakref__")

    op: OpDef
    inputs: tuple[Node, ...]
    attrs: MappingProxyType[str, Any]
    regions: tuple[Graph, ...]
    type: TensorType | TupleType
    name: str | None
    location: str
    data: Any
    uid: int

    def __init__(self, op: OpDef, inputs: tuple[Node, ...], attrs: Mapping[str, Any],
                 type_: TensorType | TupleType, *, name: str | None = None, data: Any = None,
                 location: str | None = None, key: tuple | None = None,
                 regions: tuple[Graph, ...] = ()) -> None:
        init = object.__setattr__
        init(self, "op", op)
        init(self, "inputs", inputs)
        init(self, "attrs", MappingProxyType(dict(attrs)))
        init(self, "regions", regions)
        init(self, "type", type_)
        init(self, "name", name)
        init(self, "data", data)
        init(self, "location", location if location is not None else user_location())
        init(self, "uid", next(_unique))
        init(self, "_key", key)

    def __setattr__(self, name: str, value: Any) -> None:
        raise ImmutableError(f"graphdiff nodes are immutable (tried to set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise ImmutableError(f"graphdiff nodes are immutable (tried to delete {name!r})")

    # Identity is structural equality (nodes are interned), so a node hashes by identity.
    # ``==`` and ``!=`` are elementwise comparisons (graphdiff.api attaches them, as numpy does):
    # the IR compares nodes with ``is`` and keys its tables by node or by ``uid``, never by ``==``.

    @property
    def shape(self) -> tuple:
        return self._tensor_type().shape

    @property
    def dtype(self) -> np.dtype:
        return self._tensor_type().dtype

    @property
    def ndim(self) -> int:
        return len(self._tensor_type().shape)

    @property
    def is_tuple(self) -> bool:
        """True for a node with several results (read through ``result`` nodes)."""
        return type(self.type) is TupleType

    def _tensor_type(self) -> TensorType:
        if type(self.type) is TupleType:
            raise GraphdiffError(
                f"{self.op.name} (created at {self.location}) has several results "
                f"{self.type}; read one with graphdiff.ops.core.result(node, index)")
        return self.type

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<{self.op.name}{label}: {self.type}>"

    def __bool__(self) -> bool:
        raise GraphdiffError(
            "the truth value of a symbolic tensor is unknown when the graph is built: Python's "
            "if, while, and, or cannot branch on it. Use gd.where for an elementwise choice, "
            "gd.cond or gd.switch for a branch, gd.while_loop, gd.fori_loop or gd.scan for a "
            f"loop (at {user_location()})")

    __hash__ = object.__hash__


def same_nodes(a: Sequence[Node], b: Sequence[Node]) -> bool:
    """Whether two sequences hold the same nodes in the same order (``==`` on a tuple of
    tensors would compare them elementwise)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def describe_operands(types: Sequence[TensorType]) -> str:
    return ", ".join(str(t) for t in types) if types else "no operands"


def _uids(inputs: tuple[Node, ...]) -> tuple[int, ...]:
    """The inputs as they enter an interning key: by uid, unique for the process's lifetime.
    A key holding the nodes themselves would compare them with ``==`` (elementwise, not a
    bool) whenever two keys' hashes collide."""
    return tuple([i.uid for i in inputs])


def make_node(op: OpDef, inputs: Sequence[Node], attrs: dict[str, Any], *,
              name: str | None = None, data: Any = None, location: str | None = None,
              regions: Sequence[Graph] = ()) -> Node:
    """Apply ``op`` to ``inputs``: infer the output type, then return the interned node.

    Pure nodes are looked up by structure first, so building an expression twice costs one dict
    lookup and yields the same node. Regions enter the key by their structure (their nodes
    with parameters numbered), so two loops over equal bodies are one node too. Errors from the
    op's rule are re-raised with the op name, the operand types and the user's line.
    """
    for position, value in enumerate(inputs):
        if not isinstance(value, Node):
            raise GraphdiffError(
                f"op {op.name!r}: operand {position} is {type(value).__name__}, not a tensor "
                f"(at {user_location()})")
    inputs = tuple(inputs)
    regions = tuple(regions)
    if bool(regions) and not op.regions:
        raise GraphdiffError(f"op {op.name!r} takes no regions")
    frozen = {k: _freeze(v) for k, v in attrs.items()}
    if op.effectful or op.source:
        key = None
    else:
        key = (op.name, _uids(inputs), tuple(sorted(frozen.items())))
        if regions:
            key += tuple(r.structure() for r in regions)
        existing = _INTERN.get(key)
        if existing is not None:
            return existing
    types = [i.type for i in inputs]
    try:
        out_type = op.infer(types, regions=regions, **frozen) if op.regions \
            else op.infer(types, **frozen)
    except GraphdiffError as exc:
        where = location or user_location()
        raise type(exc)(
            f"{op.name}: {exc} (operands: {describe_operands(types)}; attributes: "
            f"{_format_attrs(frozen)}; at {where})") from None
    except (ValueError, TypeError, IndexError) as exc:  # a rule's own arithmetic failed
        where = location or user_location()
        raise ShapeError(
            f"{op.name}: {exc} (operands: {describe_operands(types)}; at {where})") from None
    if isinstance(out_type, TensorType) and _element_count(out_type) > _MAX_ELEMENTS:
        raise ShapeError(
            f"{op.name}: the result {out_type} has {_element_count(out_type):,} elements, more "
            f"than an int64 counts (operands: {describe_operands(types)}; "
            f"at {location or user_location()})")
    node = Node(op, inputs, frozen, out_type, name=name, data=data, location=location, key=key,
                regions=regions)
    if key is not None:
        _INTERN[key] = node
    return node


_MAX_ELEMENTS = int(np.iinfo(np.int64).max)  # numpy indexes and sizes arrays in int64


def _element_count(t: TensorType) -> int:
    """The product of the static dims (a symbolic dim counts 1): exact, in Python ints."""
    count = 1
    for dim in t.shape:
        if type(dim) is int:
            count *= dim
    return count


def _format_attrs(attrs: dict[str, Any]) -> str:
    if not attrs:
        return "none"
    return ", ".join(f"{k}={v!r}" for k, v in sorted(attrs.items()))


def with_inputs(node: Node, inputs: tuple[Node, ...]) -> Node:
    """``node``'s op and attributes applied to new ``inputs`` (the interned node).

    The fast path of graph rewrites: when every new input has the type of the one it replaces,
    the output type is unchanged, so the rule is not re-run and the frozen attributes are reused.
    """
    op = node.op
    if op.effectful or op.source or node._key is None or \
            any(new.type != old.type for new, old in zip(inputs, node.inputs)):
        return make_node(op, inputs, node.attrs, name=node.name, location=node.location,
                         regions=node.regions)
    key = (op.name, _uids(inputs)) + node._key[2:]
    existing = _INTERN.get(key)
    if existing is not None:
        return existing
    rebuilt = Node(op, inputs, node.attrs, node.type, name=node.name, location=node.location,
                   key=key, regions=node.regions)
    _INTERN[key] = rebuilt
    return rebuilt


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while many nodes are built (passes, grad).

    Graph building allocates many small, long-lived, acyclic objects (nodes, tuples, dicts);
    each generation-2 collection rescans all of them, which cost about 40% of the pipeline's
    time on 100k-node graphs. Reference counting frees what is dropped; the collector resumes
    (if it was on) at the end. Usable as a decorator.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
