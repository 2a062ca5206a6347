"""Generated kernels for fused groups: straight-line numpy ``out=`` calls over cache-sized blocks.

For a fused node's region (a graph of the group) and one set of operand shapes the generator
writes a Python function from the region's nodes:

- heads (a matmul feeding the group) run once on whole arrays before the loop;
- values that do not vary along the iteration space's first axis (biases, scalars, per-column
  statistics) are computed once, also before the loop;
- everything else runs block by block over rows of the iteration space, each op writing with
  ``out=`` into a small scratch buffer reused as soon as its value is dead, or straight into the
  slice of an output; scratch buffers are allocated once per kernel and reused by every call
  (so a compiled function, like its planned arena, is not reentrant);
- tail reductions write their block's result into their output slice, or, when they reduce the
  first axis, accumulate across blocks.

Kernels are cached by the region's structure and the shapes, so equal groups (every layer of a
deep MLP) share one kernel; the cache holds them weakly: a kernel lives as long as a compiled
program that calls it.

Block size: ``BLOCK_BYTES`` per block of the widest dtype (measured with
``python tools/bench.py fusion``: a few live blocks must fit the L2 cache, much smaller blocks
pay Python overhead per block). Arrays of at most one block run as a single block, which is the
plain chain of ``out=`` calls.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.types import TensorType
from .core import out_argument, reuse_or_empty
from .fused import is_renaming, region_types
from .linalg import matmul

BLOCK_BYTES = 1 << 18
_POOLED_BYTES = 1 << 20  # smaller outputs are cheap to allocate fresh
POOL_SIZE = 4  # earlier outputs kept per output position for reuse

Shapes = tuple[tuple[int, ...], ...]
# (region structure, operand shapes, block size) -> kernel, while a program holds the kernel
_KERNELS: weakref.WeakValueDictionary[tuple, Callable[..., Any]] = \
    weakref.WeakValueDictionary()


def compiled(region: Graph, shapes: Shapes) -> Callable[..., Any]:
    """The generated kernel for ``region`` on operands of ``shapes`` (shared by equal
    regions)."""
    key = (region.structure(), shapes, BLOCK_BYTES)
    kernel = _KERNELS.get(key)
    if kernel is None:
        source, namespace = generate(region, shapes)
        members = len(region.nodes) - len(region.inputs)
        exec(compile(source, f"<fused {members} ops>", "exec"), namespace)  # noqa: S102
        kernel = namespace["fused_kernel"]
        _KERNELS[key] = kernel
    return kernel


def member_kind(node: Node) -> str | None:
    """What a member of a group is to the generator (None: not something it generates)."""
    op = node.op
    if op.source:
        return "constant" if node.data is not None and not op.effectful else None
    if op.effectful or type(node.type) is not TensorType:
        return None
    if op.view:  # stop_gradient, a renaming reshape: the operand's values unchanged
        return "alias" if op.elementwise or is_renaming(node) else None
    if op.elementwise:
        return "elementwise"
    if op.combine is not None:
        return "reduce"
    return "head" if op is matmul else None


def generates(region: Graph) -> bool:
    """Whether the generator handles this region: the members the fusion pass puts in a group
    (elementwise ops, reductions, matmul heads, renaming views, constants), outputs computed
    by members, each once."""
    params = set(region.inputs)
    members = [n for n in region.nodes if n not in params]
    outputs = region.outputs
    return all(member_kind(n) is not None for n in members) and len(set(outputs)) == len(outputs) \
        and not any(o in params or o.op.source for o in outputs)


def value_types(region: Graph, shapes: Shapes) -> list[TensorType]:
    """Concrete types of the region's values: parameters in order, then its other nodes."""
    types = [TensorType(p.dtype, s) for p, s in zip(region.inputs, shapes)]
    values = region_types(region, types)
    params = set(region.inputs)
    return types + [values[n] for n in region.nodes if n not in params]


def value_bytes(region: Graph, shapes: Shapes) -> list[int]:
    """Bytes of every value of ``region`` (parameters, then its nodes) on operands of
    ``shapes``."""
    return [int(np.prod(t.shape, dtype=np.int64)) * t.dtype.itemsize
            for t in value_types(region, shapes)]


def _bound_kernel(node: Node) -> tuple[Any, str]:
    """The callable for a member and the literal keyword arguments to pass it."""
    combine = node.op.combine
    if combine is not None:  # straight to the ufunc, with literal axis and keepdims
        return combine.reduce, \
            f", axis={node.attrs['axes']!r}, keepdims={node.attrs['keepdims']!r}"
    kernel = node.op.kernel
    return (functools.partial(kernel, **node.attrs) if node.attrs else kernel), ""


class _Writer:
    """The source of one kernel, written member by member. Values are numbered as the region
    lists them: its parameters ``in0, in1, ...``, then its members ``v0, v1, ...``."""

    def __init__(self, region: Graph, shapes: Shapes) -> None:
        params = region.inputs
        self.n_in = n_in = len(params)
        inputs = set(params)
        self.members = [n for n in region.nodes if n not in inputs]
        position = {p: i for i, p in enumerate(params)}
        position.update((n, n_in + k) for k, n in enumerate(self.members))
        self.args = [tuple(position[v] for v in n.inputs) for n in self.members]
        self.outputs = [position[o] for o in region.outputs]
        self.types = value_types(region, shapes)
        self.shapes = [t.shape for t in self.types]
        self.kinds = ["input"] * n_in + [member_kind(n) for n in self.members]
        self._iteration_space()
        self.varying = [self.spans_rows(i) for i in range(n_in)] + [False] * len(self.members)
        # __name__: warnings raised in the kernel are attributed to this module
        self.namespace: dict[str, Any] = {"np": np, "reuse_or_empty": reuse_or_empty,
                                          "__name__": __name__}
        self.before: list[str] = []
        self.loop: list[str] = []
        self.name = [f"in{i}" for i in range(n_in)] + [f"v{k}" for k in range(len(self.members))]
        self.block_name = list(self.name)
        self.whole = set(self.outputs)  # values written whole: the outputs and what they alias
        for k in reversed(range(len(self.members))):
            if self.kinds[n_in + k] == "alias" and n_in + k in self.whole:
                self.whole.add(self.args[k][0])
        self.last_use = {arg: k for k, args in enumerate(self.args) for arg in args}
        self.free_scratch: dict[tuple, list[str]] = {}
        self.scratch_of: dict[int, str] = {}

    def _iteration_space(self) -> None:
        """Rows and block size. Values of the group's full rank share their first axis (the
        rows blocks are cut from); lower-rank values broadcast along it and are invariant."""
        n_in = self.n_in
        spaces = [self.shapes[n_in + k] for k in range(len(self.members))
                  if self.kinds[n_in + k] == "elementwise"] + \
            [self.shapes[args[0]] for k, args in enumerate(self.args)
             if self.kinds[n_in + k] == "reduce"]
        self.rank = rank = max((len(shape) for shape in spaces), default=0)
        full = [shape for shape in spaces if len(shape) == rank]
        self.rows = rows = max(shape[0] for shape in full) if rank else 1
        row_size = max(int(np.prod(shape[1:], dtype=np.int64)) for shape in full) if rank else 1
        itemsize = max(t.dtype.itemsize for t in self.types)
        block_elements = BLOCK_BYTES // itemsize
        self.block = block = rows if rows * row_size <= block_elements else \
            max(1, block_elements // row_size)
        self.blocked = block < rows
        self.rows_slice = "[lo:hi]" if self.blocked else ""  # one block: whole arrays
        # scratch holds one block; only a shorter last block needs a slice of it
        self.scratch_slice = "[:hi - lo]" if self.blocked and rows % block else ""

    def spans_rows(self, index: int) -> bool:
        shape = self.shapes[index]
        return self.rank > 0 and self.rows > 1 and len(shape) == self.rank \
            and shape[0] == self.rows

    def write(self) -> tuple[str, dict]:
        for i in range(self.n_in):
            if self.varying[i]:
                self.block_name[i] = f"b_in{i}"
                self.loop.append(f"b_in{i} = in{i}{self.rows_slice}")
        for k, node in enumerate(self.members):
            self._member(k, node)
        return self._source(), self.namespace

    def _member(self, k: int, node: Node) -> None:
        index = self.n_in + k
        kind = self.kinds[index]
        args = self.args[k]
        if kind == "constant":
            self.name[index] = self.block_name[index] = f"c{k}"
            self.namespace[f"c{k}"] = node.data
            return
        if kind == "alias":
            (arg,) = args
            self.name[index], self.block_name[index] = self.name[arg], self.block_name[arg]
            self.varying[index] = self.varying[arg]
            if arg in self.scratch_of:
                self.scratch_of[index] = self.scratch_of[arg]
            return
        kernel = f"k{k}"
        self.namespace[kernel], keywords = _bound_kernel(node)
        self.namespace[f"dt{k}"] = node.dtype
        full_args = ", ".join(self.name[a] for a in args) + keywords
        if kind == "head":
            self.before.append(f"v{k} = {kernel}({full_args})")
            self.varying[index] = self.spans_rows(index)
            if self.varying[index]:
                self.block_name[index] = f"b_v{k}"
                self.loop.append(f"b_v{k} = v{k}{self.rows_slice}")
        elif kind == "reduce" and (0 in node.attrs["axes"] or not self.varying[args[0]]):
            self._reduction(k, node, full_args, keywords)
        elif not any(self.varying[a] for a in args):
            self.before.append(f"v{k} = {kernel}({full_args})")  # invariant: computed once
        else:  # elementwise, or a reduction within rows: per block
            self._per_block(k, node, keywords)

    def _reduction(self, k: int, node: Node, full_args: str, keywords: str) -> None:
        """A reduction of an invariant value, or one spanning the blocked axis."""
        (arg,) = self.args[k]
        if not self.varying[arg]:
            self.before.append(f"v{k} = k{k}({full_args})")
            return
        # combine the blocks' partial results
        self.loop.append(f"part = k{k}({self.block_name[arg]}{keywords})")
        if self.blocked:
            combine = f"np.{node.op.combine.__name__}"
            self.loop.append(f"v{k} = np.array(part) if lo == 0 else "
                             f"{combine}(v{k}, part, out=v{k})")
        else:
            self.loop.append(f"v{k} = part")

    def _per_block(self, k: int, node: Node, keywords: str) -> None:
        """An op run on each block, into scratch or the slice of a whole output."""
        index = self.n_in + k
        args = self.args[k]
        # Operands dying here give their scratch buffers back first when the kernel may write
        # over an operand (numpy ufuncs allow out= aliasing an input; other kernels only with
        # one operand, the contract of memory.inplace_safe), else afterwards.
        overwrites = isinstance(node.op.kernel, np.ufunc) or len(set(args)) == 1
        dying = [a for a in set(args) if self.last_use[a] == k and a in self.scratch_of]
        if overwrites:
            self._give_back(dying)
        self.varying[index] = True
        self.block_name[index] = f"b_v{k}"
        if index in self.whole:
            self.before.append(f"v{k} = {self._allocate(index, f'dt{k}')}")
            target = f"v{k}{self.rows_slice}"
        else:
            target = f"{self._scratch(index)}{self.scratch_slice}"
        call_args = ", ".join(self.block_name[a] for a in args) + keywords
        if node.op.out_arg:
            out_arg = out_argument(self.namespace[f"k{k}"], target, bool(keywords))
            self.loop.append(f"b_v{k} = k{k}({call_args}, {out_arg})")
        else:
            self.loop.append(f"b_v{k} = {target}")
            self.loop.append(f"np.copyto(b_v{k}, k{k}({call_args}), casting='unsafe')")
        if not overwrites:
            self._give_back(dying)

    def _give_back(self, values: list[int]) -> None:
        for value in values:
            key = (self.shapes[value][1:], self.types[value].dtype)
            self.free_scratch.setdefault(key, []).append(self.scratch_of[value])

    def _scratch(self, index: int) -> str:
        """A free scratch buffer for a block of value ``index`` (allocated once per kernel,
        private to it, reused by every call)."""
        pool = self.free_scratch.setdefault((self.shapes[index][1:], self.types[index].dtype), [])
        if not pool:
            name = f"s{len(self.scratch_of)}"
            shape = (self.block,) + tuple(self.shapes[index][1:])
            self.namespace[name] = np.empty(shape, self.types[index].dtype)
            pool.append(name)
        self.scratch_of[index] = pool.pop()
        return self.scratch_of[index]

    def _allocate(self, index: int, dtype_name: str) -> str:
        """A whole-array output; the first output goes into the caller's ``out`` if given."""
        t = self.types[index]
        if int(np.prod(t.shape, dtype=np.int64)) * t.dtype.itemsize < _POOLED_BYTES:
            empty = f"np.empty({t.shape!r}, {dtype_name})"
        else:
            self.namespace[f"pool{index}"] = []
            empty = f"reuse_or_empty(pool{index}, {t.shape!r}, {dtype_name}, {POOL_SIZE})"
        return f"out if out is not None else {empty}" if index == self.outputs[0] else empty

    def _source(self) -> str:
        results = [self.name[o] for o in self.outputs]
        after = []
        if not any(line.startswith(f"{results[0]} = out if out") for line in self.before):
            # computed whole or accumulated: copy into the caller's buffer
            after.append(f"if out is not None:\n        np.copyto(out, {results[0]})\n"
                         f"        {results[0]} = out")
        after.append("return " + (results[0] if len(results) == 1 else
                                  "(" + ", ".join(results) + ",)"))
        source = ["def fused_kernel(" + "".join(f"{n}, " for n in self.name[:self.n_in])
                  + "out=None):"]
        source += ["    " + line for line in self.before]
        if self.blocked:
            rows, block = self.rows, self.block
            source.append(f"    for lo in range(0, {rows}, {block}):")
            source.append(f"        hi = min(lo + {block}, {rows})" if rows % block else
                          f"        hi = lo + {block}")
            source += ["        " + line for line in self.loop]
        else:
            source += ["    " + line for line in self.loop]
        source += ["    " + line for line in after]
        return "\n".join(source) + "\n"


def generate(region: Graph, shapes: Shapes) -> tuple[str, dict]:
    """Python source of the kernel for ``region`` on operands of ``shapes``, and the namespace
    it runs in."""
    return _Writer(region, shapes).write()
