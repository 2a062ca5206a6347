"""The profiler and the memory report of a compiled function.

``f.profile(*inputs)`` runs a copy of the generated program with a timer around each step (the
same kernels, attributes and arena buffers), and times ordinary calls to measure what is spent
outside the kernels: input checks, dispatch and Python glue.
``f.memory_report()`` compares the plan with its lower bound.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from .program import Program


@dataclass
class NodeTime:
    op: str
    location: str
    seconds: float


@dataclass
class Profile:
    """Median seconds per node and per op type over ``repeats`` replays of one call."""

    nodes: list[NodeTime]
    by_op: dict[str, float]  # op name -> total seconds per call, largest first
    kernel_seconds: float  # sum over nodes, in the replay
    call_seconds: float  # median wall time of an ordinary call
    repeats: int

    @property
    def outside_share(self) -> float:
        """Share of an ordinary call spent outside kernels (0 when the kernels take longer)."""
        if self.call_seconds <= 0:
            return 0.0
        return max(0.0, 1.0 - self.kernel_seconds / self.call_seconds)

    def __str__(self) -> str:
        lines = [f"call {self.call_seconds * 1e6:.1f} us, kernels {self.kernel_seconds * 1e6:.1f}"
                 f" us, outside kernels {self.outside_share:.0%} "
                 f"({len(self.nodes)} nodes, median of {self.repeats})",
                 f"{'op':<20} {'us/call':>10} {'share':>7}"]
        total = self.kernel_seconds or 1.0
        for op, seconds in self.by_op.items():
            lines.append(f"{op:<20} {seconds * 1e6:>10.1f} {seconds / total:>7.1%}")
        return "\n".join(lines)


def profile_program(program: Program, feeds: list, call: Callable[[], object],
                    repeats: int) -> Profile:
    """Time each step of ``program`` inside an instrumented copy of its generated code, fed
    ``feeds``; ``call`` is an ordinary call of the function, timed whole."""
    clock = time.perf_counter
    overhead = statistics.median(-clock() + clock() for _ in range(101))
    seconds = [0.0] * len(program.steps)
    timed = program.timed(seconds)
    samples: list[list[float]] = [[] for _ in program.steps]
    for _ in range(repeats):
        seconds[:] = [0.0] * len(seconds)
        timed(*feeds)
        for index, value in enumerate(seconds):
            samples[index].append(max(0.0, value - overhead))
    nodes = [NodeTime(step.node.op.name, step.node.location, statistics.median(times))
             for step, times in zip(program.steps, samples)]
    by_op: dict[str, float] = {}
    for node in nodes:
        by_op[node.op] = by_op.get(node.op, 0.0) + node.seconds
    by_op = dict(sorted(by_op.items(), key=lambda item: -item[1]))
    call_times = []
    for _ in range(repeats):
        start = clock()
        call()
        call_times.append(clock() - start)
    return Profile(nodes, by_op, sum(n.seconds for n in nodes), statistics.median(call_times),
                   repeats)


@dataclass
class MemoryReport:
    """Bytes of one plan, against the lower bound and against keeping every intermediate."""

    arena: int  # the arena holding every planned intermediate
    lower_bound: int  # most arena-buffer bytes live at any step: no placement can beat it
    no_reuse: int  # every intermediate in its own memory, none freed
    heap_peak: int  # most bytes live at once in arrays numpy allocates (no out=, and outputs)
    peak: int  # arena + heap_peak: a bound on what a call holds beyond its inputs and state
    live_peak: int  # most intermediate bytes (arena and heap) live at any step
    returned: int  # bytes handed back (outputs, new variable values): any executor makes them
    inplace: int  # values computed in place into a dying operand's buffer
    order: str  # the schedule kept
    lower_bounds: dict[str, int]  # lower bound of every schedule tried
    peaks: dict[str, int]  # peak of every schedule tried (the order kept has the smallest)

    @property
    def fragmentation(self) -> float:
        """arena / lower bound (1.0 is a perfect placement)."""
        return self.arena / self.lower_bound if self.lower_bound else 1.0

    @property
    def reuse_factor(self) -> float:
        """no_reuse / peak: how much smaller the planned call is than keeping everything."""
        return self.no_reuse / self.peak if self.peak else 1.0

    @property
    def internal_reuse_factor(self) -> float:
        """The same ratio without the returned bytes, which no plan can avoid."""
        inside = self.peak - self.returned
        return (self.no_reuse - self.returned) / inside if inside > 0 else 1.0

    @property
    def order_gain(self) -> float:
        """Peak of the graph's own order over that of the order kept."""
        base = self.peaks.get("dfs", self.peak)
        return base / self.peak if self.peak else 1.0

    def __str__(self) -> str:
        orders = ", ".join(f"{name} {_mb(self.lower_bounds[name])}/{_mb(peak)}"
                           for name, peak in self.peaks.items())
        return (f"arena {_mb(self.arena)} (lower bound {_mb(self.lower_bound)}, "
                f"x{self.fragmentation:.3f}); heap peak {_mb(self.heap_peak)}; "
                f"peak {_mb(self.peak)} vs no reuse {_mb(self.no_reuse)} "
                f"(x{self.reuse_factor:.2f} smaller; x{self.internal_reuse_factor:.2f} without "
                f"the {_mb(self.returned)} returned); {self.inplace} in place; "
                f"order {self.order} (lower bound/peak: {orders}; gain x{self.order_gain:.2f})")


def _mb(n: int) -> str:
    return f"{n / 1e6:.3f} MB" if n >= 10_000 else f"{n} B"


def memory_report(program: Program) -> MemoryReport:
    plan = program.plan
    return MemoryReport(plan.arena_size, plan.lower_bound, plan.no_reuse, plan.heap_peak,
                        plan.peak, plan.live_peak, plan.returned, len(plan.inplace),
                        program.order,
                        {name: p.lower_bound for name, p in program.candidates.items()},
                        {name: p.peak for name, p in program.candidates.items()})
