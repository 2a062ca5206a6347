"""Lowering one specialization into a flat program: straight-line Python over bound kernels.

For one input signature the compiled graph becomes a generated function, for example::

    def run(i0, i1):
        v0 = _s0.value
        t0 = _k0(i0, v0, _o0)                  # a ufunc writing into its arena buffer
        t1 = _k1(t0, axes=_a1_0, keepdims=_a1_1, out=_o1)
        t2 = _k2(t1)                           # no out= form: numpy allocates
        ...
        _s0.value = t7                         # variable updates, after every step succeeded
        return [t5]

Kernels, resolved attributes, arena views and constants are closure variables of the generated
function, so a call does no graph walking and no lookups by name: each step is one Python call.
A value that lives on the heap is deleted after its last use; arena values need no freeing. When a
kernel raises, the traceback's line number inside the generated code names the failing node.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import CodeType, TracebackType
from typing import Any

import numpy as np

from ..errors import AllocationError
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.types import TensorType
from ..ops.core import out_argument, reuse_or_empty
from ..ops.source import CONSTANT, VARIABLE
from .finite import all_finite, checked
from .memory import ARENA, HEAP, MemoryPlan, last_uses, needs_copy, plan_memory, view_root
from .schedule import ORDERS
from .specialize import bind_shape, specialize
from .threads import chunked_elementwise
from .unfuse import without_small_groups

_programs = itertools.count()


@dataclass
class Step:
    """One kernel call: the node a line of generated code runs, for errors and the profile."""

    node: Node
    kernel: Callable[..., Any]
    args: tuple[Node, ...]
    attrs: dict[str, Any]
    out: np.ndarray | None  # the arena view written with ``out=``, or None


@dataclass
class Program:
    """One specialization of a Function: the generated callable and what it was made from."""

    run: Callable[..., Any]
    steps: list[Step]
    plan: MemoryPlan
    types: dict[Node, TensorType]
    order: str  # which candidate schedule was kept
    candidates: dict[str, MemoryPlan]  # the plan of every candidate schedule, by order name
    source: str  # the generated code, for the curious (``f.program_source()``)
    code: CodeType
    line_step: dict[int, int]
    arena: np.ndarray
    folded: dict[Node, Any]  # values computed once for this signature (``fold_constants``)
    generator: _Generator
    params: list[str]

    def timed(self, seconds: list[float]) -> Callable[..., Any]:
        """The same program with a timer around each step, adding into ``seconds[step]``."""
        return self.generator.finish(self.params, self.line_step, seconds)[2]

    def failed_node(self, exc: BaseException) -> Node | None:
        """The node whose step raised ``exc`` (the backend protocol, ``graphdiff/backends``)."""
        step = self.failed_step(exc.__traceback__)
        return None if step is None else step.node

    def failed_step(self, tb: TracebackType | None) -> Step | None:
        """The step whose line of generated code is in the traceback ``tb``."""
        while tb is not None:
            if tb.tb_frame.f_code is self.code:
                index = self.line_step.get(tb.tb_lineno)
                return None if index is None else self.steps[index]
            tb = tb.tb_next
        return None


def choose_plan(computed: Sequence[Node], returned: Sequence[Node],
                types: dict[Node, TensorType]) -> tuple[str, MemoryPlan, dict[str, MemoryPlan]]:
    """Plan each candidate order; keep the smallest peak (arena plus heap), then the smallest
    lower bound. The heap matters where kernels allocate (no ``out=``, multi-output fused
    groups): ranking by the arena's bound alone could keep an order that holds more."""
    plans = {name: plan_memory(order(computed, returned, types), types, returned)
             for name, order in ORDERS.items()}
    best = min(plans, key=lambda name: (plans[name].peak, plans[name].lower_bound))
    return best, plans[best], plans


def build_program(feeds: Sequence[Node | None], sources: Sequence[Node], outputs: Sequence[Node],
                  updates: Sequence[tuple[Node, Node]], nodes: Sequence[Node],
                  types: dict[Node, TensorType], attrs: dict[Node, dict[str, Any]],
                  single: bool, copies: Sequence[bool], keep: int = 1,
                  kernels: Callable[[Node, list[TensorType]], Any] | None = None,
                  check_finite: bool = False) -> Program:
    """Plan memory and generate the straight-line function for one signature.

    ``feeds`` are the placeholders in argument order; ``updates`` pairs each variable with its
    new-value node; ``copies`` says which returned values (outputs, then update values) must be
    copied because they may share memory with a source or with a value returned before them.
    ``keep``: how many earlier arrays of each returned value are kept for reuse (a loop body
    keeps two: its caller still holds the last one, as the next iteration's carry).
    ``kernels(node, operand_types)``: a backend's own kernel for a node (called with the
    operands and ``out=`` like the op's), or None for the op's.
    ``check_finite``: after each step, raise if it made NaN or Inf from finite operands
    (``runtime/finite.py``); nothing of it is generated when off.
    """
    returned = list(outputs) + [value for _, value in updates]
    folded = fold_constants(nodes, attrs)
    computed = [n for n in nodes if not n.op.source and n not in folded]
    order, plan, candidates = choose_plan(computed, returned, types)
    arena = _allocate_arena(plan, types)
    gen = _Generator(types, kernels)
    for position, feed in enumerate(feeds):
        gen.names[feed] = f"i{position}"
    params = [f"i{position}" for position in range(len(feeds))]
    for node in sources:
        if node.op is CONSTANT:
            gen.names[node] = gen.bind("c", node.data)
        elif node.op is VARIABLE:
            state = gen.bind("_s", node.data)
            gen.names[node] = state.replace("_s", "v", 1)
            gen.line(f"{gen.names[node]} = {state}.value")
    for node, value in folded.items():
        gen.names[node] = gen.bind("c", value)
    if check_finite:
        gen.bound["_all_finite"], gen.bound["_checked"] = all_finite, checked
        for node in dict.fromkeys([*feeds, *sources, *folded]):
            if node in gen.names:
                gen.line(f"{gen.names[node]}_ok = _all_finite({gen.names[node]})")

    views = {id(b): _arena_view(arena, b.offset, types[b.owner]) for b in plan.arena_buffers}
    frees = _heap_frees(plan)
    steps: list[Step] = []
    line_step: dict[int, int] = {}
    spares: dict[Node, str] = {}  # returned value -> the list holding last call's array
    returned_arrays: dict[int, str] = {}  # id(buffer) -> the local naming its returned array
    for index, node in enumerate(plan.schedule):
        name = f"t{index}"
        gen.names[node] = name
        buffer = plan.buffer_of.get(node)  # None: a view of a feed, variable or constant
        out, out_name = None, None
        if buffer is not None and buffer.kind == ARENA and not node.op.view:
            out = views[id(buffer)]
            out_name = gen.bind("_o", out)
        elif buffer is not None and buffer.end == len(plan.schedule) and node.op.out_arg \
                and not node.op.view:
            # handed back to the caller: a fresh array, or last call's if nobody kept it; an
            # in-place chain ending in the returned value is computed in that array
            out_name = returned_arrays.get(id(buffer))
            if out_name is None:
                out_name = returned_arrays[id(buffer)] = f"u{index}"
                spares[buffer.owner] = gen.bind("_r", [None] * keep)
                t = types[node]
                # the step's line: a failed allocation is reported as the node's
                line_step[gen.line(f"{out_name} = _recycled({spares[buffer.owner]}, "
                                   f"{gen.bind('_a', _dims(t))}, "
                                   f"{gen.bind('_a', t.dtype)})")] = index
        line_step[gen.line(gen.call(name, node, attrs[node], out_name))] = index
        steps.append(Step(node, node.op.kernel, node.inputs, attrs[node], out))
        if check_finite:
            flags = "".join(f", {gen.names[v]}_ok" for v in node.inputs)
            gen.line(f"{name}_ok = _checked({name}, {gen.bind('_n', node)}{flags})")
        for value in frees.get(index, ()):
            gen.line(f"del {gen.names[value]}")

    results = [gen.result(node, copy or view_root(node) in folded)
               for node, copy in zip(returned, copies)]
    refilled = set()
    for (variable, value), result in zip(updates, results[len(outputs):]):
        state = gen.state_of(variable)
        if value in spares and result == gen.names[value]:
            # the variable's old value is the spare of its next update (if nobody kept it)
            gen.line(f"{spares[value]}[0] = {state}.value")
            refilled.add(value)
        gen.line(f"{state}.value = {result}")
    for node, spare in spares.items():
        if node not in refilled:
            gen.line(f"_keep({spare}, {gen.names[node]})" if keep > 1 else
                     f"{spare}[0] = {gen.names[node]}")
    shown = results[:len(outputs)]
    gen.line(f"return {shown[0]}" if single else f"return [{', '.join(shown)}]")
    source, code, run = gen.finish(params)
    return Program(run, steps, plan, types, order, candidates, source, code, line_step, arena,
                   folded, gen, params)


def fold_constants(nodes: Sequence[Node], attrs: dict[Node, dict[str, Any]]) -> dict[Node, Any]:
    """Values that are the same at every call of this signature, computed once.

    A pure node whose operands are constants or such values depends only on the signature (the
    size of a symbolic batch for a mean, a fill of a resolved shape): it is evaluated here and
    bound like a constant, so calls skip it. Returned values derived from one are copied.
    """
    values: dict[Node, Any] = {}
    for node in nodes:
        if node.op.source:
            if node.op is CONSTANT:
                values[node] = node.data
            continue
        if node.op.effectful or node.op.regions or not all(v in values for v in node.inputs):
            continue
        try:
            with np.errstate(all="ignore"):
                values[node] = node.op.kernel(*[values[v] for v in node.inputs], **attrs[node])
        except Exception:  # noqa: BLE001 - left to run at call time, which reports it with
            continue        # the node's location like any failing kernel
    return {node: value for node, value in values.items() if not node.op.source}


def _allocate_arena(plan: MemoryPlan, types: dict[Node, TensorType]) -> np.ndarray:
    try:
        return np.empty(plan.arena_size, dtype=np.uint8)
    except MemoryError:
        largest = max(plan.arena_buffers, key=lambda b: b.nbytes)
        node = largest.owner
        raise AllocationError(
            f"cannot allocate the {plan.arena_size:,} bytes of intermediate values for inputs "
            f"of these shapes; the largest is {node.op.name} (created at {node.location}) of "
            f"type {types[node]}, {largest.nbytes:,} bytes") from None


def _dims(t: TensorType) -> tuple[int, ...]:
    return tuple(int(d) for d in t.shape)


def keep_spare(spare: list, value: np.ndarray) -> None:
    """Record ``value`` as the newest of two spares (unless it is the newest already).

    A returned array (or a variable's replaced value) is the spare of the next call's result
    (``ops.core.reuse_or_empty`` hands it out again if the caller dropped it). A loop body
    keeps two spares: the loop still holds the last result (the carry it passes back in), but
    not the one before, so a fixed-shape carry allocates nothing after the second iteration.
    """
    if spare[0] is not value:
        spare[1] = spare[0]
        spare[0] = value


def _arena_view(arena: np.ndarray, offset: int, t: TensorType) -> np.ndarray:
    size = int(np.prod(t.shape, dtype=np.int64)) * t.dtype.itemsize
    return arena[offset:offset + size].view(t.dtype).reshape(tuple(int(d) for d in t.shape))


def _heap_frees(plan: MemoryPlan) -> dict[int, list[Node]]:
    """After which step to drop each local holding heap memory (the value or a view of it)."""
    last = last_uses(plan.schedule, set())
    frees: dict[int, list[Node]] = {}
    for node, buffer in plan.buffer_of.items():
        if buffer.kind == HEAP and node in last and buffer.end < len(plan.schedule):
            frees.setdefault(last[node], []).append(node)
    return frees


class _Generator:
    """Accumulates the lines and the closure bindings of one generated function."""

    def __init__(self, types: dict[Node, TensorType],
                 kernels: Callable[[Node, list[TensorType]], Any] | None = None) -> None:
        self.types = types
        self.kernels = kernels
        self.names: dict[Node, str] = {}
        self.bound: dict[str, Any] = {"_copy": np.array, "_asarray": np.asarray,
                                      "_recycled": reuse_or_empty, "_keep": keep_spare}
        self.lines: list[str] = []
        self.counter = itertools.count()
        self.states: dict[int, str] = {}

    def bind(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{next(self.counter)}"
        self.bound[name] = value
        if prefix == "_s":
            self.states[id(value)] = name
        return name

    def state_of(self, variable: Node) -> str:
        return self.states.get(id(variable.data)) or self.bind("_s", variable.data)

    def line(self, text: str) -> int:
        """Append a line of the function body; returns its line number in the source."""
        self.lines.append(text)
        return len(self.lines) + 2  # after the factory's and the function's def lines

    def call(self, name: str, node: Node, attrs: dict[str, Any], out: str | None) -> str:
        kernel = node.op.kernel
        own = self.kernels(node, [self.types[v] for v in node.inputs]) if self.kernels else None
        if own is not None:  # the backend's kernel for this node, attributes bound in it
            kernel = own
            attrs = {}
        elif node.op.regions:  # a loop or branch: its regions become sub-programs
            kernel = node.op.region_kernel(attrs, [self.types[v] for v in node.inputs],
                                           regions=node.regions, compile_region=planned_region)
            attrs = {}
        elif node.op.fast_kernel is not None:  # made for these shapes, attributes bound in it
            kernel = node.op.fast_kernel(attrs, [self.types[v] for v in node.inputs])
            attrs = {}
        if own is None and node.op.elementwise and node.op.out_arg:
            parallel = chunked_elementwise(kernel, attrs, [self.types[v] for v in node.inputs],
                                           self.types[node])
            if parallel is not None:  # a large step, in chunks on every core
                kernel, attrs = parallel, {}
        k = self.bind("_k", kernel)
        args = [self.names[v] for v in node.inputs]
        has_keywords = bool(attrs)
        for key, value in attrs.items():
            args.append(f"{key}={self.bind('_a', value)}")
        if out is not None:
            args.append(out_argument(kernel, out, has_keywords))
        return f"{name} = {k}({', '.join(args)})"

    def result(self, node: Node, copy: bool) -> str:
        """The expression handing ``node``'s value to the caller: a fresh, owned array."""
        name = self.names[node]
        if copy:
            return f"_copy({name}, copy=True)"
        if not self.types[node].shape:
            return f"_asarray({name})"  # kernels may return numpy scalars for rank 0
        return name

    def finish(self, params: list[str], timed: dict[int, int] | None = None,
               seconds: list[float] | None = None) -> tuple[str, CodeType, Callable[..., Any]]:
        """Compile the function; with ``timed`` (line -> step), time those lines into
        ``seconds``."""
        lines = self.lines
        bound = self.bound
        if timed is not None:
            lines = []
            for number, line in enumerate(self.lines, start=3):
                index = timed.get(number)
                lines += [line] if index is None else \
                    ["_t = _clock()", line, f"_seconds[{index}] += _clock() - _t"]
            bound = {**bound, "_clock": time.perf_counter, "_seconds": seconds}
        closure = sorted(bound)
        values = [bound[name] for name in closure]
        if len(closure) > _CLOSURE_LIMIT:
            # CPython compiles a function with tens of thousands of free variables slowly (5 s
            # for 100k): past the limit, the per-node values are read from one tuple instead
            # (a subscript, ~20 ns, per use).
            lines, closure, values = _through_tuple(lines, closure, values)
        body = "\n".join(f"        {line}" for line in lines)
        source = (f"def _make({', '.join(closure)}):\n"
                  f"    def run({', '.join(params)}):\n{body}\n"
                  f"    return run\n")
        filename = f"<graphdiff program {next(_programs)}>"
        namespace: dict[str, Any] = {"__name__": __name__}  # warnings name us
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated code
        # positionally: CPython matches keyword arguments to parameters by a linear search each,
        # which is quadratic for the tens of thousands of bound names of a large program
        run = namespace["_make"](*values)
        return source, run.__code__, run


_CLOSURE_LIMIT = 4096
_NUMBERED = re.compile(r"\b(?:_[a-z]+|c)\d+\b")  # bound per-node names: _k12, _o3, c7, ...


def _through_tuple(lines: list[str], closure: list[str],
                   values: list[Any]) -> tuple[list[str], list[str], list[Any]]:
    """Rewrite references to numbered bound names as ``_K[i]`` of one tuple ``_K``; the few
    unnumbered helpers (``_copy``, ``_recycled``, ...) stay closure variables."""
    numbered = [name for name in closure if _NUMBERED.fullmatch(name)]
    position = {name: i for i, name in enumerate(numbered)}

    def replace(match: re.Match) -> str:
        name = match.group(0)
        return f"_K[{position[name]}]" if name in position else name

    value_of = dict(zip(closure, values))
    helpers = [name for name in closure if name not in position]
    return ([_NUMBERED.sub(replace, line) for line in lines], ["_K", *helpers],
            [tuple(value_of[name] for name in numbered), *(value_of[n] for n in helpers)])


def planned_region(region: Graph, param_types: Sequence[TensorType]) -> Callable[..., list]:
    """A region (loop body, branch) as its own planned program for these parameter types:
    specialized and memory-planned once, then called once per iteration. Its results never
    share memory with its parameters (a carry passed through is copied)."""
    types, attrs = specialize_region(region, param_types)
    expanded = without_small_groups(region, types)  # as in a compiled graph (unfuse.py)
    if expanded is not region:
        region = expanded
        types, attrs = specialize_region(region, param_types)
    sources = [n for n in region.nodes if n.op.source and n not in set(region.inputs)]
    copies = needs_copy(region.outputs)
    # the caller holds on to the last results (a loop passes the carry back in), so two
    # spares per result: the one before the last is free again
    program = build_program(region.inputs, sources, region.outputs, [], region.nodes, types,
                            attrs, False, copies, keep=2)
    return program.run


def specialize_region(region: Graph, param_types: Sequence[TensorType]
                      ) -> tuple[dict[Node, TensorType], dict[Node, dict[str, Any]]]:
    """Concrete types and attributes of a region's nodes, given its parameters' types."""
    env: dict[str, int] = {}
    source_types: dict[Node, Any] = {}
    for param, t in zip(region.inputs, param_types):
        if isinstance(t, TensorType):
            bind_shape(param.shape, t.shape, env, "region parameter")
        source_types[param] = t
    for node in region.nodes:
        if node.op.source and node not in source_types:
            source_types[node] = node.type
    return specialize(region.nodes, source_types, env)
