"""Generated kernels for fused groups: straight-line numpy ``out=`` calls over cache-sized blocks.

For one body and one set of input shapes the generator writes a Python function (cached):

- heads (a matmul feeding the group) run once on whole arrays before the loop;
- values that do not vary along the iteration space's first axis (biases, scalars, per-column
  statistics) are computed once, also before the loop;
- everything else runs block by block over rows of the iteration space, each op writing with
  ``out=`` into a small scratch buffer reused as soon as its value is dead, or straight into the
  slice of an output; scratch buffers are allocated once per kernel and reused by every call
  (so a compiled function, like its planned arena, is not reentrant);
- tail reductions write their block's result into their output slice, or, when they reduce the
  first axis, accumulate across blocks.

Block size: ``BLOCK_BYTES`` per block of the widest dtype (measured with
``python tools/bench.py fusion``: a few live blocks must fit the L2 cache, much smaller blocks
pay Python overhead per block). Arrays of at most one block run as a single block, which is the
plain chain of ``out=`` calls.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ir.node import OPS
from ..ir.types import TensorType
from .fused import FusedBody, body_types

BLOCK_BYTES = 1 << 18
_REDUCTIONS = {"sum": "np.add", "max": "np.maximum", "min": "np.minimum"}
# Ops that return their operand's values unchanged inside a group: a renaming reshape, and
# stop_gradient (the identity once derivatives are built).
_ALIASES = {"reshape", "stop_gradient"}
_POOLED_BYTES = 1 << 20  # smaller outputs are cheap to allocate fresh
_POOL_SIZE = 4  # earlier outputs kept per output position for reuse
_SHAPES_PER_BODY = 64


def compiled(body: FusedBody, shapes: tuple[tuple[int, ...], ...]) -> Callable[..., Any]:
    """The generated kernel for ``body`` on inputs of ``shapes`` (cached on the body)."""
    kernel = body.kernels.get(shapes)
    if kernel is None:
        source, namespace = generate(body, shapes)
        exec(compile(source, f"<fused {len(body.instrs)} ops>", "exec"), namespace)
        kernel = namespace["fused_kernel"]
        if len(body.kernels) >= _SHAPES_PER_BODY:
            body.kernels.clear()
        body.kernels[shapes] = kernel
    return kernel


def reuse_or_empty(pool: list[np.ndarray], shape: tuple, dtype: np.dtype) -> np.ndarray:
    """An output buffer: one of this kernel's earlier outputs that nobody references any more
    (no value, view or user holds it), else a new one.

    Large fresh arrays cost page faults on every call (several ms for 16 MB); reusing a dead
    output avoids them. A buffer still referenced anywhere is never handed out again.
    """
    for buffer in pool:
        # references: the pool's list, the loop variable and getrefcount's argument
        if sys.getrefcount(buffer) == 3:
            return buffer
    buffer = np.empty(shape, dtype)
    if len(pool) < _POOL_SIZE:
        pool.append(buffer)
    return buffer


def _concrete_shapes(body: FusedBody, shapes: tuple[tuple[int, ...], ...]) -> list[tuple]:
    types = [TensorType(t.dtype, s) for t, s in zip(body.input_types, shapes)]
    return [t.shape for t in body_types(body, types)]


def value_bytes(body: FusedBody, shapes: tuple[tuple[int, ...], ...]) -> list[int]:
    """Bytes of every value of ``body`` (inputs, then instructions) on inputs of ``shapes``."""
    return [int(np.prod(shape, dtype=np.int64)) * body.value_type(i).dtype.itemsize
            for i, shape in enumerate(_concrete_shapes(body, shapes))]


_REDUCE_UFUNCS = {"sum": np.add.reduce, "max": np.maximum.reduce, "min": np.minimum.reduce}


def _bound_kernel(instr_op: str, attrs: tuple) -> tuple[Any, str]:
    """The callable for an instruction and the literal keyword arguments to pass it."""
    if instr_op in _REDUCE_UFUNCS:  # straight to the ufunc, with literal axis and keepdims
        settings = dict(attrs)
        return _REDUCE_UFUNCS[instr_op], \
            f", axis={settings['axes']!r}, keepdims={settings['keepdims']!r}"
    kernel = OPS[instr_op].kernel
    return (functools.partial(kernel, **dict(attrs)) if attrs else kernel), ""


def generate(body: FusedBody, shapes: tuple[tuple[int, ...], ...]) -> tuple[str, dict]:
    """Python source of the kernel and the namespace it runs in."""
    n_in = len(body.input_types)
    value_shapes = _concrete_shapes(body, shapes)
    kinds = ["input"] * n_in + [
        "alias" if i.op in _ALIASES else "elementwise" if OPS[i.op].elementwise else
        "reduce" if i.op in _REDUCTIONS else "head" for i in body.instrs]
    # The iteration space: values of the group's full rank share their first axis (the rows
    # blocks are cut from); lower-rank values broadcast along it and are invariant.
    spaces = [value_shapes[n_in + k] for k in range(len(body.instrs))
              if kinds[n_in + k] == "elementwise"] + \
        [value_shapes[i.args[0]] for i in body.instrs if i.op in _REDUCTIONS]
    rank = max((len(shape) for shape in spaces), default=0)
    full = [shape for shape in spaces if len(shape) == rank]
    rows = max(shape[0] for shape in full) if rank else 1
    row_size = max(int(np.prod(shape[1:], dtype=np.int64)) for shape in full) if rank else 1
    itemsize = max(t.dtype.itemsize for t in body.input_types + tuple(i.type for i in
                                                                       body.instrs))
    block_elements = BLOCK_BYTES // itemsize
    block = rows if rows * row_size <= block_elements else max(1, block_elements // row_size)
    blocked = block < rows
    rows_slice = "[lo:hi]" if blocked else ""  # one block: whole arrays, no slicing
    # scratch holds one block; only a shorter last block needs a slice of it
    scratch_slice = "[:hi - lo]" if blocked and rows % block else ""

    def spans_rows(index: int) -> bool:
        shape = value_shapes[index]
        return rank > 0 and rows > 1 and len(shape) == rank and shape[0] == rows

    varying = [spans_rows(i) for i in range(n_in)] + [False] * len(body.instrs)
    namespace: dict[str, Any] = {"np": np, "reuse_or_empty": reuse_or_empty}
    before, loop, after = [], [], []
    name = [f"in{i}" for i in range(n_in)] + [f"v{k}" for k in range(len(body.instrs))]
    block_name = list(name)
    outputs = set(body.outputs)  # values written whole: the outputs and what they alias
    for k in reversed(range(len(body.instrs))):
        if kinds[n_in + k] == "alias" and n_in + k in outputs:
            outputs.add(body.instrs[k].args[0])
    last_use = {arg: k for k, instr in enumerate(body.instrs) for arg in instr.args}
    free_scratch: dict[tuple, list[str]] = {}
    scratch_of: dict[int, str] = {}
    for i in range(n_in):
        if varying[i]:
            block_name[i] = f"b_in{i}"
            loop.append(f"b_in{i} = in{i}{rows_slice}")

    first_output = body.outputs[0]

    def allocate(index: int, dtype_name: str) -> str:
        """A whole-array output; the first output goes into the caller's ``out`` if given."""
        shape = value_shapes[index]
        if int(np.prod(shape, dtype=np.int64)) * body.value_type(index).dtype.itemsize \
                < _POOLED_BYTES:
            empty = f"np.empty({shape!r}, {dtype_name})"
        else:
            namespace[f"pool{index}"] = []
            empty = f"reuse_or_empty(pool{index}, {shape!r}, {dtype_name})"
        return f"out if out is not None else {empty}" if index == first_output else empty

    for k, instr in enumerate(body.instrs):
        index = n_in + k
        kernel = f"k{k}"
        namespace[kernel], keywords = _bound_kernel(instr.op, instr.attrs)
        dtype_name = f"dt{k}"
        namespace[dtype_name] = instr.type.dtype
        kind = kinds[index]
        args = ", ".join(block_name[a] for a in instr.args) + keywords
        full_args = ", ".join(name[a] for a in instr.args) + keywords
        if kind == "alias":
            (arg,) = instr.args
            name[index], block_name[index], varying[index] = name[arg], block_name[arg], \
                varying[arg]
            if arg in scratch_of:
                scratch_of[index] = scratch_of[arg]
            continue
        if kind == "head":
            before.append(f"v{k} = {kernel}({full_args})")
            varying[index] = spans_rows(index)
            if varying[index]:
                block_name[index] = f"b_v{k}"
                loop.append(f"b_v{k} = v{k}{rows_slice}")
        elif kind == "reduce" and (0 in dict(instr.attrs)["axes"] or not varying[instr.args[0]]):
            arg = instr.args[0]
            if not varying[arg]:
                before.append(f"v{k} = {kernel}({full_args})")
            else:  # the reduction spans the blocked axis: combine the blocks' partial results
                combine = _REDUCTIONS[instr.op]
                loop.append(f"part = {kernel}({args})")
                if blocked:
                    loop.append(f"v{k} = np.array(part) if lo == 0 else "
                                f"{combine}(v{k}, part, out=v{k})")
                else:
                    loop.append(f"v{k} = part")
        elif not any(varying[a] for a in instr.args):
            before.append(f"v{k} = {kernel}({full_args})")  # invariant: computed once
        else:  # elementwise, or a reduction within rows: per block, into scratch or an output
            # Operands dying here give their scratch buffers back first when the kernel may
            # write over an operand (numpy ufuncs allow out= aliasing an input; other kernels
            # only with one operand, the contract of memory.inplace_safe), else afterwards.
            overwrites = isinstance(OPS[instr.op].kernel, np.ufunc) or len(set(instr.args)) == 1
            dying = [arg for arg in set(instr.args) if last_use[arg] == k and arg in scratch_of]

            def give_back(args: list[int]) -> None:
                for arg in args:
                    key = (value_shapes[arg][1:], body.value_type(arg).dtype)
                    free_scratch.setdefault(key, []).append(scratch_of[arg])

            give_back(dying if overwrites else [])
            varying[index] = True
            block_name[index] = f"b_v{k}"
            if index in outputs:
                before.append(f"v{k} = {allocate(index, dtype_name)}")
                target = f"v{k}{rows_slice}"
            else:
                slot_key = (value_shapes[index][1:], instr.type.dtype)
                pool = free_scratch.setdefault(slot_key, [])
                if not pool:
                    shape = (block,) + tuple(value_shapes[index][1:])
                    # Scratch is private to this kernel: allocated once, reused by every call.
                    namespace[f"s{len(scratch_of)}"] = np.empty(shape, instr.type.dtype)
                    pool.append(f"s{len(scratch_of)}")
                scratch_of[index] = pool.pop()
                target = f"{scratch_of[index]}{scratch_slice}"
            if OPS[instr.op].out_arg:
                # a ufunc takes out positionally, which numpy parses faster than out=
                positional = isinstance(namespace[kernel], np.ufunc) and not keywords
                out_arg = target if positional else f"out={target}"
                loop.append(f"b_v{k} = {kernel}({args}, {out_arg})")
            else:
                loop.append(f"b_v{k} = {target}")
                loop.append(f"np.copyto(b_v{k}, {kernel}({args}), casting='unsafe')")
            give_back([] if overwrites else dying)
    results = [name[o] for o in body.outputs]
    if not any(line.startswith(f"{results[0]} = out if out") for line in before):
        # computed whole or accumulated: copy into the caller's buffer
        after.append(f"if out is not None:\n        np.copyto(out, {results[0]})\n"
                     f"        {results[0]} = out")
    after.append("return " + (results[0] if len(results) == 1 else "(" + ", ".join(results) + ",)"))
    source = ["def fused_kernel(" + "".join(f"{n}, " for n in name[:n_in]) + "out=None):"]
    source += ["    " + line for line in before]
    if blocked:
        source.append(f"    for lo in range(0, {rows}, {block}):")
        source.append(f"        hi = min(lo + {block}, {rows})" if rows % block else
                      f"        hi = lo + {block}")
        source += ["        " + line for line in loop]
    else:
        source += ["    " + line for line in loop]
    source += ["    " + line for line in after]
    return "\n".join(source) + "\n", namespace

