"""Bytes live at each step of a compiled function's schedule, for the memory view.

The numbers are the runtime's own plan (``graphdiff.runtime.memory``) for inputs of the given
shapes: per step, the bytes of the arena buffers live (whose maximum is the lower bound of any
placement) and of the heap values live (outputs, update values and results numpy allocates),
drawn against the arena the planner laid out, and where each arena buffer was placed (offset
and live steps: the heap-simulator picture). A function compiled with ``passes="none"`` runs
the reference interpreter, which plans nothing; its view shows the same liveness with every
value on the heap and no arena.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ir.node import Node
from ..runtime.memory import ARENA, last_uses, nbytes


@dataclass(frozen=True)
class Placement:
    """One arena buffer: live over steps [start, end], at [offset, offset + nbytes)."""

    start: int
    end: int
    offset: int
    nbytes: int
    owner: Node  # the value that fills the buffer last (in-place results move it forward)


@dataclass
class MemoryTimeline:
    """``arena_live[i] + heap_live[i]`` bytes are live at step ``i`` (computing ``steps[i]``)."""

    steps: list[Node]
    arena_live: list[int]
    heap_live: list[int]
    arena: int | None  # the planned arena's size (None: no plan)
    resident: int  # feeds, variables and constants, live for the whole call
    placements: list[Placement] = field(default_factory=list)  # the arena buffers

    @property
    def live(self) -> list[int]:
        return [a + h for a, h in zip(self.arena_live, self.heap_live, strict=False)]

    @property
    def lower_bound(self) -> int:
        """Most arena bytes live at one step: no placement of the arena can be smaller."""
        return max(self.arena_live, default=0)

    @property
    def peak(self) -> int:
        return max(self.live, default=0)

    @property
    def peak_step(self) -> int:
        live = self.live
        return int(np.argmax(live)) if live else 0


def _feeds(function: Any, inputs: Sequence[Any]) -> list[np.ndarray]:
    """Arrays for ``inputs`` given as arrays or as shape tuples."""
    return [np.zeros(x, p.dtype) if isinstance(x, tuple) else np.asarray(x)
            for x, p in zip(inputs, function.inputs, strict=False)]


def _interval_sums(intervals: list[tuple[int, int, int]], steps: int) -> list[int]:
    """Bytes live per step, from (start, end inclusive, bytes) intervals."""
    delta = np.zeros(steps + 2, dtype=np.int64)
    for start, end, size in intervals:
        delta[start] += size
        delta[min(end, steps) + 1] -= size
    return [int(v) for v in np.cumsum(delta)[:steps]]


def memory_timeline(function: Any, inputs: Sequence[Any]) -> MemoryTimeline:
    """The memory view's data for ``function`` called on inputs shaped like ``inputs``."""
    feeds = _feeds(function, inputs)
    sources = [n for n in function.graph.nodes if n.op.source]
    shapes = dict(zip(function.inputs, (f.shape for f in feeds), strict=False))
    resident = sum(int(np.prod(shapes.get(n, n.shape), dtype=np.int64)) * n.dtype.itemsize
                   for n in sources if n in shapes or n.type.is_static)
    if function.executor == "planned":
        plan = function._program(feeds).plan
        steps = len(plan.schedule)
        arena = [(b.start, b.end, b.nbytes) for b in plan.buffers if b.kind == ARENA]
        heap = [(b.start, b.end, b.nbytes) for b in plan.buffers if b.kind != ARENA]
        placements = [Placement(b.start, min(b.end, steps - 1), b.offset, b.nbytes, b.owner)
                      for b in plan.buffers if b.kind == ARENA]
        return MemoryTimeline(list(plan.schedule), _interval_sums(arena, steps),
                              _interval_sums(heap, steps), plan.arena_size, resident,
                              placements)
    types = function._specialize(feeds)[0]
    schedule = [n for n in function.graph.nodes if not n.op.source]
    last = last_uses(schedule, set(function.graph.outputs))
    heap = [(step, last.get(node, step), 0 if node.op.view else nbytes(types[node]))
            for step, node in enumerate(schedule)]
    return MemoryTimeline(schedule, [0] * len(schedule), _interval_sums(heap, len(schedule)),
                          None, resident)
