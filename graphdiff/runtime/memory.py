"""The memory planner: buffers, liveness intervals, in-place reuse and arena offsets.

Given a schedule (the non-source nodes in run order) and the concrete type of every value, the
planner decides where each value lives:

- a **view** (reshape, transpose, broadcast_to, slicing, stop_gradient) lives in the buffer of its
  input 0, whose live interval is stretched to the view's last use, so no buffer is reused while a
  view of it is alive;
- a value that is, or is a view of, a graph **output or variable update** gets a fresh array
  from its kernel on every call (``heap``): what is handed back never aliases internal memory;
- a value whose kernel has no ``out=`` form also lives on the heap (numpy allocates it; the
  report counts those bytes);
- an **elementwise** value takes over the buffer of an input that dies at this step when the
  type matches exactly (in place, as ``np.add(a, b, out=a)``); when that value is returned, the
  whole chain is computed in the returned array (``W - lr * (x.T @ g)`` runs as matmul, then
  multiply and subtract in place, all in the new ``W``), so the chain never occupies the arena;
- every other value gets its own **arena** buffer, and the arena buffers are placed at offsets
  inside one byte array, largest first at the best-fitting gap among the buffers whose intervals
  overlap (the greedy-by-size strategy of TFLite's ``simple_memory_arena`` and XLA's heap
  simulator).

Steps are numbered 0..n-1; a buffer is live over the closed interval [defining step, last step
using it or any alias]. Graph outputs stay live until step n (the end).
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..ir.node import Node
from ..ir.types import TensorType

ARENA = "arena"
HEAP = "heap"


@dataclass(eq=False)
class Buffer:
    """One piece of memory: the values (a chain of in-place results and their views) in it."""

    kind: str  # ARENA or HEAP
    nbytes: int
    start: int
    end: int
    owner: Node  # the value currently filling the whole buffer (in-place moves it forward)
    offset: int = -1  # arena offset, once placed


@dataclass
class MemoryPlan:
    """Where every value of one schedule lives, for one concrete input signature."""

    schedule: list[Node]
    buffer_of: dict[Node, Buffer]  # every scheduled value (views share their input's buffer)
    inplace: dict[Node, Node]  # value -> the dying input whose buffer it writes into
    arena_size: int
    lower_bound: int  # max over steps of the arena buffers' bytes live at that step
    live_peak: int  # the same over every intermediate buffer, arena and heap
    no_reuse: int  # bytes of every intermediate buffer, as if none were ever freed
    heap_peak: int  # max over steps of heap bytes live (numpy-allocated values, outputs)
    returned: int  # bytes of the heap buffers handed back (outputs, new variable values)
    buffers: list[Buffer] = field(default_factory=list)

    @property
    def arena_buffers(self) -> list[Buffer]:
        return [b for b in self.buffers if b.kind == ARENA]

    @property
    def peak(self) -> int:
        """Bound on the bytes held during a call: the arena plus the largest live heap set."""
        return self.arena_size + self.heap_peak


def nbytes(t: TensorType) -> int:
    """Bytes of a value of type ``t``; a node with several results (or a stack) owns none
    itself: its arrays are counted where ``result`` nodes read them."""
    if not isinstance(t, TensorType):
        return 0
    size = 1
    for d in t.shape:
        size *= int(d)
    return size * t.dtype.itemsize


def _aligned(size: int) -> int:
    """Arena slot size: multiples of 64 bytes (a cache line) for all but tiny values."""
    align = 64 if size > 32 else 8
    return -(-size // align) * align


def view_root(node: Node) -> Node:
    """The value whose memory ``node`` may alias: follow view ops through input 0."""
    while node.op.view and node.inputs:
        node = node.inputs[0]
    return node


def needs_copy(results: Sequence[Node]) -> list[bool]:
    """For each returned value (outputs, then update values), whether it must be copied.

    A value is copied if it may share memory with a feed, a variable or a constant, or with a
    value returned before it: what a user receives, and what a variable holds, is never shared.
    """
    claimed: set[Node] = set()
    copies = []
    for node in results:
        root = view_root(node)
        copies.append(root.op.source or root in claimed)
        claimed.add(root)
    return copies


def inplace_safe(node: Node) -> bool:
    """May this node's kernel write into the memory of one of its operands?

    numpy ufuncs handle overlapping input and output; any other elementwise kernel with one
    operand must read it before writing ``out`` (the contract in docs/runtime.md).
    """
    op = node.op
    if not (op.elementwise and op.out_arg) or op.view:
        return False
    return isinstance(op.kernel, np.ufunc) or len(set(node.inputs)) == 1


def last_uses(schedule: Sequence[Node], escaping: set[Node]) -> dict[Node, int]:
    """Step of each value's last use; values handed back to the caller live to the end."""
    last: dict[Node, int] = {}
    for step, node in enumerate(schedule):
        for value in node.inputs:
            last[value] = step
    end = len(schedule)
    for node in escaping:
        last[node] = end
    return last


def plan_memory(schedule: Sequence[Node], types: dict[Node, TensorType],
                returned: Sequence[Node]) -> MemoryPlan:
    """Assign every scheduled value a buffer and place the arena buffers.

    ``returned`` are the graph outputs and update values: they and the values they are views of
    never live in the arena.
    """
    escaping = {view_root(n) for n in returned}
    last = last_uses(schedule, set(returned))
    buffer_of: dict[Node, Buffer] = {}
    inplace: dict[Node, Node] = {}
    buffers: list[Buffer] = []
    for step, node in enumerate(schedule):
        end = last.get(node, step)
        if node.op.view and node.inputs:
            source = buffer_of.get(node.inputs[0])
            if source is not None:  # else a view of a feed, variable or constant
                buffer_of[node] = source
                source.end = max(source.end, end)
            continue
        takes_out = node.op.out_arg and not node.is_tuple  # several results: fresh arrays
        if takes_out:
            reused = _dying_input(node, step, types, buffer_of)
            if reused is not None:
                inplace[node] = reused
                buffer = buffer_of[reused]
                buffer.owner = node
                buffer.end = max(buffer.end, end)
                buffer_of[node] = buffer
                if node in escaping:
                    # the chain ends in a returned value: it is computed in the array handed
                    # back (allocated where the chain starts), so it never takes arena room
                    buffer.kind = HEAP
                continue
        kind = HEAP if node in escaping or not takes_out else ARENA
        buffer = Buffer(kind, nbytes(types[node]), step, end, node)
        buffers.append(buffer)
        buffer_of[node] = buffer
    arena_size = place(b for b in buffers if b.kind == ARENA)
    steps = len(schedule) + 1
    arena_live = _live_bytes((b for b in buffers if b.kind == ARENA), steps)
    heap_live = _live_bytes((b for b in buffers if b.kind == HEAP), steps)
    return MemoryPlan(
        schedule=list(schedule), buffer_of=buffer_of, inplace=inplace, arena_size=arena_size,
        lower_bound=int(arena_live.max(initial=0)),
        live_peak=int((arena_live + heap_live).max(initial=0)),
        no_reuse=sum(b.nbytes for b in buffers) + sum(nbytes(types[n]) for n in inplace),
        heap_peak=int(heap_live.max(initial=0)),
        returned=sum(b.nbytes for b in buffers if b.kind == HEAP and b.end == len(schedule)),
        buffers=buffers)


def _dying_input(node: Node, step: int, types: dict[Node, TensorType],
                 buffer_of: dict[Node, Buffer]) -> Node | None:
    """An operand whose arena buffer this node may overwrite: same type, and dead after it."""
    if not inplace_safe(node):
        return None
    for value in node.inputs:
        buffer = buffer_of.get(value)
        if buffer is not None and buffer.kind == ARENA and buffer.owner is value \
                and buffer.end == step and types[value] == types[node]:
            return value
    return None


def _live_bytes(buffers: Sequence[Buffer] | object, steps: int) -> np.ndarray:
    """Bytes live at each step, summed over ``buffers`` (a difference array, then cumsum)."""
    delta = np.zeros(steps + 1, dtype=np.int64)
    for b in buffers:  # type: ignore[attr-defined]
        delta[b.start] += b.nbytes
        delta[b.end + 1] -= b.nbytes
    return np.cumsum(delta[:-1])


EXACT_PLACEMENT_LIMIT = 4000  # above this many buffers, place them in one sweep


def place(buffers: Sequence[Buffer] | object) -> int:
    """Give each buffer an offset; returns the arena size.

    Up to ``EXACT_PLACEMENT_LIMIT`` buffers: largest first (ties: earliest start); each goes
    into the smallest gap, among the buffers already placed whose intervals overlap its own,
    that fits it, else above them all. That costs time quadratic in the number of buffers, so
    larger plans use :func:`_place_by_sweep`, which is near linear.
    """
    buffers = list(buffers)  # type: ignore[call-overload]
    if len(buffers) > EXACT_PLACEMENT_LIMIT:
        return _place_by_sweep(buffers)
    ordered = sorted(buffers, key=lambda b: (-b.nbytes, b.start))
    starts = np.empty(len(ordered), dtype=np.int64)
    ends = np.empty_like(starts)
    lows = np.empty_like(starts)
    highs = np.empty_like(starts)
    arena = 0
    for count, buffer in enumerate(ordered):
        size = _aligned(buffer.nbytes)
        overlap = (starts[:count] <= buffer.end) & (ends[:count] >= buffer.start)
        offset = _best_gap(lows[:count][overlap], highs[:count][overlap], size)
        buffer.offset = offset
        starts[count], ends[count] = buffer.start, buffer.end
        lows[count], highs[count] = offset, offset + size
        arena = max(arena, offset + size)
    return arena


def _place_by_sweep(buffers: list[Buffer]) -> int:
    """Simulate an allocator over the schedule: at each step free the buffers that died, then
    give each new buffer (largest first) the smallest free block that fits (best fit, as XLA's
    heap simulator does), else grow the arena. Free blocks are kept sorted and coalesced."""
    free: list[list[int]] = []  # [offset, size], sorted by offset, never adjacent
    live: list[tuple[int, int, int, int]] = []  # heap of (end, id, offset, size)
    arena = 0
    for index, buffer in enumerate(sorted(buffers, key=lambda b: (b.start, -b.nbytes))):
        while live and live[0][0] < buffer.start:
            _, _, offset, size = heapq.heappop(live)
            _release(free, offset, size)
        size = _aligned(buffer.nbytes)
        fits = [i for i, (_, gap) in enumerate(free) if gap >= size]
        if fits:
            best = min(fits, key=lambda i: free[i][1])
            offset = free[best][0]
            free[best][0] += size
            free[best][1] -= size
            if free[best][1] == 0:
                del free[best]
        else:
            offset = arena
            arena += size
        buffer.offset = offset
        heapq.heappush(live, (buffer.end, index, offset, size))
    return arena


def _release(free: list[list[int]], offset: int, size: int) -> None:
    """Return [offset, offset + size) to the sorted free list, merging with its neighbours."""
    i = bisect.bisect_left(free, [offset, 0])
    if i > 0 and free[i - 1][0] + free[i - 1][1] == offset:  # merge into the block before
        i -= 1
        free[i][1] += size
    else:
        free.insert(i, [offset, size])
    if i + 1 < len(free) and free[i][0] + free[i][1] == free[i + 1][0]:  # and the one after
        free[i][1] += free[i + 1][1]
        del free[i + 1]


def _best_gap(lows: np.ndarray, highs: np.ndarray, size: int) -> int:
    """The lowest offset of the smallest free gap of at least ``size`` between [low, high)s
    (vectorized: the gap before each block, in offset order, is its low minus the highest
    end below it)."""
    if not len(lows):
        return 0
    order = np.argsort(lows, kind="stable")
    tops = np.maximum.accumulate(highs[order])  # highest end among the blocks so far
    below = np.concatenate(([0], tops[:-1]))
    gaps = lows[order] - below
    fitting = np.flatnonzero(gaps >= size)
    if not len(fitting):
        return max(int(tops[-1]), 0)
    return int(below[fitting[np.argmin(gaps[fitting])]])  # argmin: the first smallest gap
