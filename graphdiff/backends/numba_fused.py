"""Fused regions as numba loop nests: one parallel loop over rows per fused group.

For a fused node's region and one set of operand shapes the generator writes the source of one
``numba.njit(nogil=True)`` function from the members' scalar expressions (each elementwise op
declares its value on one element, ``OpDef.scalar``):

- rows (axis 0 of the group's iteration space) are cut into chunks, two per thread, which the
  calling thread and a pool of worker threads take in turn (``numba_call.run_chunks``); each
  row runs in *phases*, one loop nest over the other axes per level of row reductions: a
  phase accumulates the reductions whose operand it computes (the max of a softmax row, the
  mean of a LayerNorm row) and writes the outputs of its level; values a later
  phase needs are recomputed there from the operands, never stored;
- values constant along a row (per-row statistics, rank-0 operands) are computed once per row,
  between the phases;
- reductions over the rows (a bias gradient, a loss) accumulate per chunk (float32 sums in
  float64) and the chunks' partial results are combined after the loop;
- broadcasting is in the indexing: an operand's axis of length 1 is read at index 0;
- a matmul head runs before the loop (``np.matmul``), its result is an operand.

Floating point: ``FASTMATH`` allows contraction into FMAs, reciprocals, reassociation (so
reductions vectorize) and approximate functions, and never assumes no NaN, no Inf or no signed
zeros; ``error_model="numpy"`` makes x/0 an Inf or NaN, not an exception. Literals are converted
to the region's dtype, so float32 code stays float32.

Kernels are cached on disk: the source is written to a module file named by its hash in
``numba_call.cache_dir()`` and compiled with ``cache=True``, so numba keys the machine code by
that source and the argument types; a second process loads instead of compiling.

A region the generator does not handle (``plan`` raises ``Unsupported``: a reduction over rows
that the group reads again, a reshape that changes sizes, a dtype numba lacks) keeps the numpy
kernel (``graphdiff/ops/fused_codegen.py``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..ir.graph import Graph
from ..ops.fused_codegen import member_kind, value_types
from ..ops.reduce import max_, sum_
from . import numba_scalar
from .numba_scalar import FASTMATH

_DTYPES = frozenset("?bhilqBHILQfd")  # numpy type characters numba compiles
Shapes = tuple[tuple[int, ...], ...]


class Unsupported(Exception):
    """The generator does not handle this region (the numpy kernel runs it)."""


def _type_name(dtype: np.dtype) -> str:
    return "bool" if dtype == np.bool_ else f"np.{dtype.name}"


def _literal(value: np.ndarray) -> str:
    """A rank-0 constant as source, in its own dtype (NaN, Inf and -0.0 kept)."""
    item = value.item()
    if isinstance(item, float) and not math.isfinite(item):
        text = "np.nan" if math.isnan(item) else ("np.inf" if item > 0 else "-np.inf")
    else:
        text = repr(item)
    return f"{_type_name(value.dtype)}({text})"


def _identity(op: Any, dtype: np.dtype) -> str:
    if op is sum_:
        return f"{_type_name(dtype)}(0)"
    if dtype.kind == "f":
        return f"{_type_name(dtype)}({'-' if op is max_ else ''}np.inf)"
    info = np.iinfo(dtype)
    return f"{_type_name(dtype)}({info.min if op is max_ else info.max})"


def _accumulate(op: Any, acc: str, value: str, dtype: np.dtype) -> str:
    """The update of accumulator ``acc`` by ``value``: NaN propagates through max and min."""
    if op is sum_:
        return f"{acc} += {value}"
    if dtype.kind == "f":
        return f"{acc} = reduce_{'max' if op is max_ else 'min'}({acc}, {value})"
    return f"{acc} = {value} if {value} {'>' if op is max_ else '<'} {acc} else {acc}"


_PRELUDE = '''# graphdiff fused kernel (numba_scalar {version})
import math

import numba
import numpy as np

from graphdiff.backends.numba_scalar import (
    erf_float32, erf_float64, exp_float32, exp_float64, floor_divide, fmod, reduce_max,
    reduce_min, remainder, tanh_float32, tanh_float64,
)

FASTMATH = set({fastmath!r})


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=True, nogil=True)
'''


def _scalar_version() -> str:
    """A hash of the scalar helpers' source: numba's cache of a kernel does not notice when
    functions it calls change, so their version is part of every kernel's source."""
    return hashlib.sha256(Path(numba_scalar.__file__).read_bytes()).hexdigest()[:12]


class _Plan:
    """The analysis of one region on one set of operand shapes, and the kernel's source.

    Values are numbered as the region lists them: its parameters, then its members."""

    def __init__(self, region: Graph, shapes: Shapes) -> None:
        params = region.inputs
        inputs = set(params)
        self.n_in = n_in = len(params)
        self.nodes = list(params) + [n for n in region.nodes if n not in inputs]
        position = {n: i for i, n in enumerate(self.nodes)}
        self.args = [tuple(position[v] for v in n.inputs) for n in self.nodes]
        self.outputs = [position[o] for o in region.outputs]
        self.types = value_types(region, shapes)
        self.kinds = ["input"] * n_in + [member_kind(n) for n in self.nodes[n_in:]]
        self._check()
        self._space()
        self._classify()

    # --- analysis ------------------------------------------------------------------------------

    def _check(self) -> None:
        for i, (node, t) in enumerate(zip(self.nodes, self.types)):
            if t.dtype.char not in _DTYPES:
                raise Unsupported(f"dtype {t.dtype}")
            kind = self.kinds[i]
            if kind == "elementwise" and node.op.scalar is None:
                raise Unsupported(f"{node.op.name} has no scalar expression")
            if kind == "alias" and t.shape != self.types[self.args[i][0]].shape:
                raise Unsupported("a reshape that changes sizes")
            if kind == "head" and any(a >= self.n_in for a in self.args[i]):
                raise Unsupported("a matmul head of values computed in the group")
            if kind is None:
                raise Unsupported(f"member {node.op.name}")

    def _space(self) -> None:
        shapes = [self.types[i].shape for i, k in enumerate(self.kinds) if k == "elementwise"]
        shapes += [self.types[self.args[i][0]].shape for i, k in enumerate(self.kinds)
                   if k == "reduce"]
        space = np.broadcast_shapes(*shapes) if shapes else ()
        if not space:
            raise Unsupported("a group of rank 0")
        self.space = space
        self.rank = len(space)
        read = {a for i, args in enumerate(self.args) if self.kinds[i] != "head" for a in args}
        for i, t in enumerate(self.types):  # a head's operands are only read by the matmul
            if i in read or i in self.outputs:
                try:
                    fits = np.broadcast_shapes(t.shape, space) == space
                except ValueError:
                    fits = False
                if not fits and self.kinds[i] != "reduce":
                    raise Unsupported(f"value of shape {t.shape} in a group over {space}")

    def aligned(self, index: int) -> tuple[int, ...]:
        shape = self.types[index].shape
        return (1,) * (self.rank - len(shape)) + tuple(shape)

    def kept_shape(self, index: int) -> tuple[int, ...]:
        """A reduction's result shape with its reduced axes kept (length 1)."""
        axes = self.nodes[index].attrs["axes"]
        operand = self.types[self.args[index][0]].shape
        return tuple(1 if a in axes else int(d) for a, d in enumerate(operand))

    def write_shape(self, index: int) -> tuple[int, ...]:
        """The shape an output is written in: reductions keep their reduced axes."""
        if index in self.reduction:
            return self.kept_shape(index)
        return tuple(int(d) for d in self.types[index].shape)

    def _classify(self) -> None:
        """Row-constant values, reduction kinds and each value's phase level."""
        rank = self.rank
        users: dict[int, int] = {}
        for args in self.args:
            for a in args:
                users[a] = users.get(a, 0) + 1
        self.row_constant = [all(d == 1 for d in self.aligned(i)[1:])
                             for i in range(len(self.nodes))]
        self.reduction: dict[int, str] = {}  # index -> "copy" | "row" | "row_part" | "rows" ...
        self.level = [0] * len(self.nodes)
        for i, node in enumerate(self.nodes):
            kind = self.kinds[i]
            if kind == "reduce":
                (arg,) = self.args[i]
                axes = node.attrs["axes"]
                if len(self.types[arg].shape) != rank:
                    raise Unsupported("a reduction of a broadcast operand")
                if users.get(i) and not node.attrs["keepdims"]:
                    raise Unsupported("a reduction without kept axes read inside the group")
                self.row_constant[i] = all(d == 1 for d in self.kept_shape(i)[1:])
                if 0 in axes:
                    if users.get(i):
                        raise Unsupported("a reduction over rows read inside the group")
                    full = axes == tuple(range(rank))
                    self.reduction[i] = "rows_full" if full else "rows_part"
                    self.level[i] = self.level[arg]
                elif self.row_constant[arg]:
                    self.reduction[i] = "copy"
                    self.level[i] = self.level[arg]
                else:
                    if self.types[arg].shape[0] != self.space[0]:
                        raise Unsupported("a row reduction of a value constant over rows")
                    full = axes == tuple(range(1, rank))
                    self.reduction[i] = "row_full" if full else "row_part"
                    self.level[i] = self.level[arg] + 1
            elif kind in ("elementwise", "alias"):
                self.level[i] = max((self.level[a] for a in self.args[i]), default=0)

    # --- source --------------------------------------------------------------------------------

    def index(self, value: int, loop: bool, shape: tuple | None = None) -> str:
        """The subscript of ``value`` (of ``shape``, else its type's) at the current element
        (``loop``: inside a phase's loop nest, else at row level where the other axes are
        0); an axis of length 1 is read at 0 (broadcasting)."""
        shape = tuple(self.types[value].shape if shape is None else shape)
        parts = []
        for axis, size in zip(range(self.rank - len(shape), self.rank), shape):
            varies = size != 1 and (axis == 0 or loop)
            parts.append(f"i{axis}" if varies else "0")
        return "[" + ", ".join(parts) + "]" if parts else ""

    def source(self) -> tuple[str, list[tuple[str, int]]]:
        """The kernel's source, and its array arguments after the sizes: (role, value index)
        with role "in" (an operand or head), "const" (an array constant), "out" (an output),
        "scratch" (a partial row reduction the group reads) or "partial" (per-chunk results of
        a reduction over rows)."""
        self.names = [f"in{i}" if i < self.n_in else f"v{i}" for i in range(len(self.nodes))]
        arguments: list[tuple[str, int]] = [("in", i) for i in range(self.n_in)]
        self.arrays: dict[int, str] = {i: f"in{i}" for i in range(self.n_in)}
        for i, kind in enumerate(self.kinds):
            node = self.nodes[i]
            if kind == "constant":
                if node.data.ndim == 0:
                    self.names[i] = _literal(np.asarray(node.data))
                else:
                    arguments.append(("const", i))
                    self.arrays[i] = f"c{i}"
            elif kind == "head":
                arguments.append(("in", i))
                self.arrays[i] = f"h{i}"
        self.out_of: dict[int, str] = {}
        for j, o in enumerate(self.outputs):
            kind = self.reduction.get(o, "")
            if kind.startswith("rows"):
                arguments.append(("partial", o))
                self.out_of[o] = f"p{o}"
            else:
                arguments.append(("out", o))
                self.out_of[o] = f"o{j}"
        self.scratch: dict[int, str] = {}
        for i, kind in self.reduction.items():
            if kind == "row_part":
                if i in self.out_of:
                    self.scratch[i] = self.out_of[i]
                else:
                    arguments.append(("scratch", i))
                    self.scratch[i] = f"s{i}"
        signature = ", ".join(["c_lo", "c_hi", "n_chunks"] + [f"d{a}" for a in range(self.rank)] +
                              [self._arg_name(role, i) for role, i in arguments])
        self.keep: set[int] = set()
        self._choose_kept()
        body = self._body()
        prelude = _PRELUDE.format(fastmath=sorted(FASTMATH), version=_scalar_version())
        return prelude + f"def kernel({signature}):\n" + body, arguments

    def _arg_name(self, role: str, i: int) -> str:
        if role in ("in", "const"):
            return self.arrays[i]
        if role == "scratch":
            return self.scratch[i]
        return self.out_of[i]

    def _choose_kept(self) -> None:
        """Which values a later phase of a row reads back from a row buffer instead of
        recomputing them (``keep``): a dry run of the row records what each phase computes;
        a value that a later phase would compute again through two ops or more (the
        exponentials of a softmax, read by its gradient after the sum) is stored when first
        computed. The buffer holds one row, so it stays in the core's cache."""
        names, arrays = list(self.names), dict(self.arrays)
        self.phases: list[list[int]] | None = []
        self.stored: set[int] = set()
        self._row()
        self.names, self.arrays = names, arrays
        earlier: set[int] = set()
        for loop in self.phases:
            again = {i for i in loop if i in earlier and i not in self.arrays}
            for i in again:
                readers = [j for j in loop if i in self.args[j] and j not in again]
                chain = self._needs_within([i], again)
                if (readers or self._is_target_operand(i, loop)) and len(chain) >= 2:
                    self.keep.add(i)
            earlier.update(loop)
        self.phases = None

    def _needs_within(self, wanted: Sequence[int], allowed: set[int]) -> set[int]:
        """The values of ``allowed`` that computing ``wanted`` takes."""
        found, stack = set(), list(wanted)
        while stack:
            i = stack.pop()
            if i in found or i not in allowed:
                continue
            found.add(i)
            stack.extend(self.args[i])
        return found

    def _is_target_operand(self, i: int, loop: list[int]) -> bool:
        """Whether ``i`` is read by no value of the phase: an output or a reduction's
        operand of it."""
        return not any(i in self.args[j] for j in loop)

    def _buffer_index(self, i: int) -> str:
        return self.index(i, True, (1,) + self.aligned(i)[1:])

    def _body(self) -> str:
        lines: list[str] = []
        rows_full = [i for i, k in self.reduction.items() if k == "rows_full"]
        rows_part = [i for i, k in self.reduction.items() if k == "rows_part"]
        self.stored = set()
        for i in sorted(self.keep):  # one row of each kept value, for this call's rows
            dims = ", ".join(["1"] + ["1" if d == 1 else f"d{a}"
                                      for a, d in enumerate(self.aligned(i)) if a > 0])
            dtype = self.types[i].dtype
            lines.append(f"    b{i} = np.empty(({dims},), "
                         f"{'np.bool_' if dtype == np.bool_ else _type_name(dtype)})")
        lines.append("    for c in range(c_lo, c_hi):")
        lines.append("        lo = c * d0 // n_chunks")
        lines.append("        hi = (c + 1) * d0 // n_chunks")
        for i in rows_full:
            lines.append(f"        t{i} = {self._chunk_identity(i)}")
        for i in rows_part:
            lines.append(f"        p{i}[c] = {_identity(self.nodes[i].op, self.types[i].dtype)}")
        lines.append("        for i0 in range(lo, hi):")
        lines += ["            " + line for line in self._row()]
        for i in rows_full:
            lines.append(f"        p{i}[c] = t{i}")
        return "\n".join(lines) + "\n"

    def _chunk_identity(self, i: int) -> str:
        return _identity(self.nodes[i].op, self._partial_dtype(i))

    def _partial_dtype(self, i: int) -> np.dtype:
        """float32 sums over rows accumulate in float64: a row's sum is short, a chunk's not."""
        dtype = self.types[i].dtype
        if self.nodes[i].op is sum_ and self.reduction[i] == "rows_full" and dtype.kind == "f":
            return np.dtype(np.float64)
        return dtype

    def _row(self) -> list[str]:
        """One row: its phases, then the values constant along it."""
        self.at_row: set[int] = set()  # values computed at row level in this row
        lines: list[str] = []
        phase_of: dict[int, list[int]] = {}  # level -> values a phase loop finishes
        for i, kind in self.reduction.items():
            arg = self.args[i][0]
            if kind in ("row_full", "row_part") or (kind.startswith("rows")
                                                    and not self.row_constant[arg]):
                phase_of.setdefault(self.level[arg], []).append(i)
        for o in self.outputs:
            if o not in self.reduction and not self.row_constant[o]:
                phase_of.setdefault(self.level[o], []).append(o)
        for level in sorted(phase_of):
            lines += self._phase(phase_of[level])
        # row level: the outputs constant along rows, reductions over rows of such values
        for o in self.outputs:
            kind = self.reduction.get(o, "")
            if kind.startswith("rows"):
                arg = self.args[o][0]
                if self.row_constant[arg]:
                    lines += self._at_row(self._needs([arg])[0])
                    lines.append(self._rows_update(o, self.names[arg]))
            elif kind != "row_part" and self.row_constant[o]:
                lines += self._at_row(self._needs([o])[0])
                index = self.index(o, False, self.write_shape(o))
                lines.append(f"{self.out_of[o]}{index} = {self.names[o]}")
        return lines

    def _needs(self, wanted: Sequence[int]) -> tuple[list[int], list[int]]:
        """What computing ``wanted`` takes in this row: (values constant along the row, values
        computed in a loop nest), each in order. Values already at row level, literals and
        finished reductions are not computed again (a finished partial row reduction is
        read back from its array)."""
        row, loop = set(), set()
        stack = list(wanted)
        while stack:
            i = stack.pop()
            if i in row or i in loop or i in self.at_row:
                continue
            if self.kinds[i] == "constant" and i not in self.arrays:
                continue  # a literal
            if self.row_constant[i]:
                row.add(i)
            else:
                loop.add(i)
            if i not in self.arrays and i not in self.stored:
                stack.extend(self.args[i])
        return sorted(row), sorted(loop)

    def _at_row(self, values: Sequence[int]) -> list[str]:
        """Compute ``values`` (constant along rows, in order) at row level."""
        lines = []
        for i in values:
            if i not in self.at_row:
                lines += self._compute(i, loop=False)
                self.at_row.add(i)
        return lines

    def _compute(self, i: int, loop: bool) -> list[str]:
        """The line computing value ``i`` (a load for operands)."""
        node, kind = self.nodes[i], self.kinds[i]
        if loop and i in self.stored:  # kept from an earlier phase of this row
            self.names[i] = f"k{i}"
            return [f"k{i} = b{i}{self._buffer_index(i)}"]
        if i in self.arrays:  # an operand, a head or an array constant
            name = f"x{i}" if loop else f"r{i}"
            self.names[i] = name
            return [f"{name} = {self.arrays[i]}{self.index(i, loop)}"]
        if kind == "constant":
            return []
        args = [self.names[a] for a in self.args[i]]
        if kind == "alias" or self.reduction.get(i) == "copy":
            self.names[i] = args[0]
            return []
        dtype = self.types[i].dtype
        expression = node.op.scalar.format(*args, T=_type_name(dtype), t=dtype.name)
        self.names[i] = f"v{i}"
        return [f"v{i} = {expression}"]

    def _rows_update(self, i: int, value: str) -> str:
        """Accumulate ``value`` into the chunk's result of reduction over rows ``i``."""
        op = self.nodes[i].op
        if self.reduction[i] == "rows_full":
            return _accumulate(op, f"t{i}", value, self._partial_dtype(i))
        axes = self.nodes[i].attrs["axes"]
        index = ", ".join("0" if a in axes else f"i{a}" for a in range(self.rank))
        return _accumulate(op, f"p{i}[c, {index}]", value, self.types[i].dtype)

    def _phase(self, targets: list[int]) -> list[str]:
        """One loop nest over the axes after the first, finishing ``targets`` (reductions
        within rows or over them, outputs of this level)."""
        operands = [self.args[i][0] if i in self.reduction else i for i in targets]
        row, loop = self._needs(operands)
        lines = self._at_row(row)
        body: list[str] = []
        for i in loop:
            body += self._compute(i, loop=True)
            if i in self.keep and i not in self.stored:
                body.append(f"b{i}{self._buffer_index(i)} = {self.names[i]}")
        if self.phases is not None:  # the dry run of _choose_kept
            self.phases.append(loop)
        for i, operand in zip(targets, operands):
            kind = self.reduction.get(i)
            op = self.nodes[i].op
            value = self.names[operand]
            if kind == "row_full":  # reductions within the row start from their identity
                lines.append(f"a{i} = {_identity(op, self.types[i].dtype)}")
                body.append(_accumulate(op, f"a{i}", value, self.types[i].dtype))
            elif kind == "row_part":
                lines.append(f"{self.scratch[i]}[i0] = {_identity(op, self.types[i].dtype)}")
                index = ", ".join("0" if a in self.nodes[i].attrs["axes"] else f"i{a}"
                                  for a in range(self.rank))
                body.append(_accumulate(op, f"{self.scratch[i]}[{index}]", value,
                                        self.types[i].dtype))
            elif kind:
                body.append(self._rows_update(i, value))
            else:
                body.append(f"{self.out_of[i]}{self.index(i, True)} = {value}")
        indent = ""
        for axis in range(1, self.rank):
            lines.append(f"{indent}for i{axis} in range(d{axis}):")
            indent += "    "
        lines += [indent + line for line in body]
        self.stored.update(i for i in loop if i in self.keep)
        for i in targets:
            if self.reduction.get(i) == "row_full":
                self.names[i] = f"a{i}"
                self.at_row.add(i)
            elif self.reduction.get(i) == "row_part":
                self.arrays[i] = self.scratch[i]  # later phases read it back
        return lines


def plan(region: Graph, shapes: Shapes) -> tuple[str, list[tuple[str, int]], _Plan]:
    """The kernel source for ``region`` on operands of ``shapes``, its array arguments and the
    analysis; raises Unsupported for regions the generator does not handle."""
    analysis = _Plan(region, shapes)
    source, arguments = analysis.source()
    return source, arguments, analysis
