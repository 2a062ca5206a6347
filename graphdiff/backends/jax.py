"""The jax backend: each signature's optimized graph lowered to one ``jax.jit``-compiled function.

``gd.function(..., backend="jax")`` (``pip install graphdiff[jax]``) runs on whatever XLA runs
on: CPU, GPU, TPU, several devices (``data_parallel=True``, ``mesh=``, ``sharding=``) and
several hosts (``graphdiff.distributed``). Per input signature the graph (the same passes as the
numpy backend) is traced once: each node becomes its op's JAX lowering (``OpDef.jax``, declared
beside its numpy kernel), a fused group inlines its body (XLA fuses by itself), a branch becomes
``lax.switch``, a loop ``lax.while_loop``, ``lax.scan`` or ``lax.fori_loop``. XLA compiles the
whole function at the first call.

* **Variables live on the device.** Each variable's state keeps its device array between calls
  (``VariableState.on_device``); the host copy is made only when someone reads ``value``
  (``gd.get_value``, saving, another backend). The updated variables' buffers are donated to
  XLA (``donate_argnums``), so an update is in place on the device.
* **float64.** JAX computes in 32 bits unless ``jax_enable_x64`` is on. A signature whose graph
  holds a 64-bit dtype is traced and run inside ``jax.enable_x64(True)``, a thread-local
  context: the user's global JAX configuration is never changed.
* **Random numbers** keep their seeded semantics with ``jax.random``: a random node's key is
  ``fold_in(key(seed), calls)``, and in a loop body also folded with the step, so each call
  (and each step) draws afresh, reproducibly from the seed. The values differ from numpy's
  generator (tests compare their statistics).
* **Stacks** (what the reverse mode of a ``while_loop`` without ``max_steps`` saves) need a
  static size in XLA: they get a capacity, and a call whose loop runs past it is run again
  with four times the room (compiled once more). Functions with such stacks donate nothing.
* ``device=`` (a ``jax.Device``, or ``"cpu"``, ``"gpu:1"``...) places the function on one
  device; ``data_parallel=True`` shards every input's leading axis over all devices and
  replicates the variables (XLA inserts the reductions); ``mesh=`` and ``sharding=`` (a dict
  from placeholders and variables to ``jax.sharding.Sharding``) are passed through for more.

What an op needs: ``OpDef.jax``. ``missing`` says what a declaration lacks; the registry test
(tests/test_backends.py) fails when an op has no lowering.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import BackendError, GraphdiffError
from ..ir.graph import Graph
from ..ir.node import Node, OpDef
from ..ir.types import TensorType, TupleType
from ..ops.random import random_streams
from ..ops.source import CONSTANT, PLACEHOLDER, VARIABLE
from ..runtime.program import specialize_region
from . import Specialized

FIRST_STACK_CAPACITY = 64  # entries a stack gets first; 4x more after each overflow
# constants up to this many bytes are literals in the traced program (XLA folds them: x * 0.1,
# maximum(x, 0)); bigger ones are arguments placed on the device once, so a large constant
# neither bloats the HLO nor slows compiling
LITERAL_BYTES = 1024
_LACKS = ("jax= in its declaration (the JAX lowering: a jax.numpy name such as jax=\"exp\" for "
          "an op without attributes that maps 1:1, else a function (*operands, **attrs) -> "
          "jax value; see OpDef.jax and docs/backends.md)")


def resolve(lowering: str | Any) -> Any:
    """The function a declaration's ``jax=`` names: ``"exp"`` is ``jax.numpy.exp``,
    ``"lax.erf"`` is ``jax.lax.erf``; a function is itself."""
    if not isinstance(lowering, str):
        return lowering
    target: Any = jnp if "." not in lowering else jax
    for part in lowering.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise BackendError(f"jax={lowering!r} names nothing in "
                               f"{'jax.numpy' if '.' not in lowering else 'jax'}")
    return target


# --- lowering a graph into a traced function ------------------------------------------------

class Lowering:
    """What op lowerings see as ``ctx``: regions, random keys, stack capacities."""

    def __init__(self, streams: dict[Any, int], capacities: dict[Node, int]) -> None:
        self.streams = streams  # stream -> position in the counters operand
        self.capacities = capacities
        self.counters: Any = None  # the traced uint32 call counts, one per stream
        self.salts: list[Any] = []  # the steps of the loops being traced, outermost first
        self.overflows: list[tuple[Node, Any]] = []
        self.current: Node | None = None  # the node being lowered
        self.failed: Node | None = None

    def region(self, graph: Graph, param_types: Sequence[Any]) -> Any:
        """``graph`` as a traceable function of its parameters' values, returning a list."""
        types, attrs = specialize_region(graph, param_types)

        def run(*values: Any) -> list:
            return self.evaluate(graph, dict(zip(graph.inputs, values)), types, attrs)
        return run

    def key(self, stream: Any) -> Any:
        """The key of one draw from ``stream``: its seed, this call, the enclosing steps."""
        seed = stream.seed
        key = jax.random.fold_in(jax.random.PRNGKey(seed & 0xFFFFFFFF), (seed >> 32) & 0xFFFFFFFF)
        key = jax.random.fold_in(key, self.counters[self.streams[stream]])
        for salt in self.salts:
            key = jax.random.fold_in(key, salt)
        return key

    @contextlib.contextmanager
    def iteration(self, step: Any) -> Iterator[None]:
        """Trace a loop body at step ``step`` (its random draws fold it in)."""
        self.salts.append(step)
        try:
            yield
        finally:
            self.salts.pop()

    def stack_capacity(self, node: Node) -> int:
        return self.capacities.setdefault(node, FIRST_STACK_CAPACITY)

    def overflowed(self, node: Node, flag: Any) -> None:
        self.overflows.append((node, flag))

    def evaluate(self, graph: Graph, values: dict[Node, Any], types: dict[Node, Any],
                 attrs: dict[Node, dict[str, Any]]) -> list:
        for node in graph.nodes:
            if node in values:
                continue
            op = node.op
            if op is CONSTANT:
                values[node] = jnp.asarray(node.data)
                continue
            if op.source:
                raise BackendError(f"{op.name} {node.name or ''} (created at {node.location}) "
                                   f"has no value in this graph")
            values[node] = self.lower(node, [values[v] for v in node.inputs], types, attrs)
        return [values[o] for o in graph.outputs]

    def lower(self, node: Node, operands: list, types: dict[Node, Any],
              attrs: dict[Node, dict[str, Any]]) -> Any:
        op = node.op
        fn = resolve(op.jax)
        kwargs = attrs.get(node, node.attrs)
        outer, self.current = self.current, node
        try:
            if op.regions:
                value = fn(*operands, types=[types[v] for v in node.inputs],
                           out_type=types[node], regions=node.regions, ctx=self, **kwargs)
            elif op.effectful:
                value = fn(*operands, ctx=self, **kwargs)
            else:
                value = fn(*operands, **kwargs)
        except GraphdiffError:
            raise
        except Exception:
            if self.failed is None:
                self.failed = node
            raise
        finally:
            self.current = outer
        want = types[node]
        if isinstance(want, TensorType):
            value = jnp.asarray(value)
            if value.dtype != want.dtype:
                value = value.astype(want.dtype)
            if value.shape != tuple(want.shape):
                raise BackendError(f"the JAX lowering of {op.name} (created at {node.location}) "
                                   f"gave shape {value.shape} where graphdiff infers {want}")
        return value


def _all_nodes(nodes: Sequence[Node]) -> Iterator[Node]:
    """Every node, and every node of every region, recursively."""
    for node in nodes:
        yield node
        for region in node.regions:
            yield from _all_nodes(region.nodes)


def _needs_x64(nodes: Sequence[Node]) -> bool:
    for node in _all_nodes(nodes):
        kinds = node.type.types if isinstance(node.type, TupleType) else (node.type,)
        if any(getattr(t, "dtype", None) is not None and t.dtype.itemsize == 8
               and t.dtype.kind in "fiuc" for t in kinds):
            return True
    return False


# --- placement: one device, data parallel, user shardings -----------------------------------

class Placement:
    """Where inputs and variables go: ``None`` (JAX's default device), one device, or
    shardings over a mesh."""

    def __init__(self, device: Any = None, data_parallel: bool = False, mesh: Any = None,
                 sharding: dict | None = None) -> None:
        self.device = _device(device) if device is not None else None
        self.data_parallel = bool(data_parallel)
        if self.data_parallel and mesh is None:
            mesh = jax.sharding.Mesh(np.array(jax.devices()), ("batch",))
        self.mesh = mesh
        self.sharding = dict(sharding or {})
        if self.device is not None and (self.mesh is not None or self.sharding):
            raise BackendError("device= places a function on one device; data_parallel=, mesh= "
                               "and sharding= spread it over several: give one or the other")

    def of(self, node: Node, shape: tuple[int, ...]) -> Any:
        """The sharding of a placeholder's or variable's value (None: JAX's default)."""
        if node in self.sharding:
            return self.sharding[node]
        if self.device is not None:
            return jax.sharding.SingleDeviceSharding(self.device)
        if self.mesh is None:
            return None
        spec = jax.sharding.PartitionSpec()
        axis = self.mesh.axis_names[0]
        if self.data_parallel and node.op is PLACEHOLDER and shape and \
                shape[0] % self.mesh.shape[axis] == 0:
            spec = jax.sharding.PartitionSpec(axis)
        return jax.sharding.NamedSharding(self.mesh, spec)


def _device(device: Any) -> Any:
    if not isinstance(device, str):
        return device
    platform, _, index = device.partition(":")
    try:
        return jax.devices(platform)[int(index or 0)]
    except (RuntimeError, IndexError, ValueError) as exc:
        raise BackendError(f"device={device!r}: no such device ({exc}); the devices here are "
                           f"{', '.join(str(d) for d in jax.devices())}") from None


def _put(array: Any, sharding: Any) -> Any:
    """``array`` (numpy) as a jax array with ``sharding`` (None: as it is, for jit to move to
    the default device); in a multi-process run each process holds the whole array and places
    the rows of its own devices."""
    if sharding is None:
        return array  # jit moves a numpy argument itself, much faster than device_put
    if sharding.is_fully_addressable:
        return jax.device_put(array, sharding)
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def _kept(array: Any, sharding: Any) -> Any:
    """``array`` on the device for good (a variable, a constant): placed once, not per call."""
    placed = _put(array, sharding)
    return jax.device_put(placed) if placed is array else placed


def _fetch(value: Any) -> np.ndarray:
    """A result as a numpy array the caller owns (gathered from every process if sharded
    across hosts)."""
    if jax.process_count() > 1 and not value.is_fully_addressable:
        if value.sharding.is_fully_replicated:
            return np.array(value.addressable_data(0))
        from jax.experimental import multihost_utils

        return np.array(multihost_utils.process_allgather(value, tiled=True))
    return np.array(value)


# --- the executable -------------------------------------------------------------------------

class JaxExecutable:
    def __init__(self, spec: Specialized, placement: Placement) -> None:
        if spec.check_finite:
            from .reference import ReferenceExecutable

            self._locate = ReferenceExecutable(spec)  # finds the node making NaN or Inf
        self.spec = spec
        graph = spec.graph
        self.placement = placement
        self.n_out = len(spec.outputs)
        updated = {v.uid for v in spec.variables}
        read = [n for n in graph.nodes if n.op is VARIABLE]
        # the variables the updates write, then the others (donated or not)
        self.variables = [v for v in read if v.uid in updated] + \
            [v for v in read if v.uid not in updated]
        self.n_updated = sum(1 for v in read if v.uid in updated)
        self.constants = [n for n in graph.nodes if n.op is CONSTANT and
                          np.asarray(n.data).nbytes > LITERAL_BYTES]
        self.streams = random_streams(graph)
        self.x64 = _needs_x64(graph.nodes)
        self.capacities: dict[Node, int] = {}
        self.failed: Node | None = None
        self.input_shardings = [placement.of(p, tuple(spec.types[p].shape))
                                if p in spec.types else None  # an input nothing reads
                                for p in graph.inputs]
        self.variable_shardings = [placement.of(v, tuple(v.shape)) for v in self.variables]
        self.update_shardings = [placement.of(v, tuple(v.shape)) for v in spec.variables]
        # the device arrays of self.variables as the last call left them (see _variable_values)
        self._last_written: list = [object()] * len(self.variables)
        with self._x64():
            self.constant_values = [_kept(c.data, self._replicated()) for c in self.constants]
        self._compile()

    def _replicated(self) -> Any:
        placement = self.placement
        if placement.device is not None:
            return jax.sharding.SingleDeviceSharding(placement.device)
        if placement.mesh is not None:
            return jax.sharding.NamedSharding(placement.mesh, jax.sharding.PartitionSpec())
        return None

    def _x64(self) -> Any:
        return jax.enable_x64(True) if self.x64 else contextlib.nullcontext()

    def _compile(self) -> None:
        spec = self.spec
        graph = spec.graph
        ctx = Lowering({s: i for i, s in enumerate(self.streams)}, self.capacities)
        variables, n_updated = self.variables, self.n_updated
        shardings = self.update_shardings

        def step(feeds: tuple, donated: tuple, kept: tuple, constants: tuple,
                 counters: Any) -> tuple:
            ctx.counters, ctx.overflows = counters, []
            values: dict[Node, Any] = dict(zip(graph.inputs, feeds))
            values.update(zip(variables, donated + kept))
            values.update(zip(self.constants, constants))
            results = ctx.evaluate(graph, values, spec.types, spec.attrs)
            new = results[self.n_out:]
            if self.placement.mesh is not None:  # variables stay where they were
                new = [jax.lax.with_sharding_constraint(v, sharding)
                       for v, sharding in zip(new, shardings)]
            flags = tuple(flag for _, flag in ctx.overflows)
            self._overflow_nodes = [node for node, _ in ctx.overflows]
            return tuple(results[:self.n_out]), tuple(new), flags

        self.ctx = ctx
        donate = (1,) if n_updated and not self._may_overflow() else ()
        self.jitted = jax.jit(step, donate_argnums=donate)

    def _may_overflow(self) -> bool:
        from ..ops.control import while_loop

        return any(n.op is while_loop and n.attrs["stack"] and n.attrs["max_steps"] is None
                   for n in _all_nodes(self.spec.graph.nodes))

    def _variable_values(self) -> list:
        held = [v.data.on_device() for v in self.variables]
        if all(a is b for a, b in zip(held, self._last_written)):
            return held  # the arrays this function wrote last call: placed and alive
        values = []
        for variable, sharding, array in zip(self.variables, self.variable_shardings, held):
            state = variable.data
            if array is None or (sharding is not None and array.sharding != sharding) or \
                    array.is_deleted():
                array = _kept(np.asarray(state.value), sharding)
                state.keep_on_device(array)
            values.append(array)
        return values

    def _check_finite(self, feeds: Sequence[np.ndarray]) -> None:
        """Raise at the first node making NaN or Inf, on the reference interpreter (the jax run
        cannot stop at a node); writes nothing, so a failing call changes nothing."""
        locate = self._locate
        sources: dict[Node, Any] = dict(zip(self.spec.graph.inputs, feeds))
        sources.update(locate.constants)
        for variable in locate.variables:
            sources[variable] = variable.data.value
        locate.interpreter.run(locate.steps, sources, True)

    def run(self, *feeds: np.ndarray) -> Any:
        if self.spec.check_finite:
            self._check_finite(feeds)
        with self._x64():
            args = tuple(_put(f, s) for f, s in zip(feeds, self.input_shardings))
            while True:
                values = self._variable_values()
                # no streams, no counters: a numpy argument costs a transfer on every call
                counters = np.array([s.device_calls for s in self.streams], np.uint32) \
                    if self.streams else ()
                self.ctx.failed = None
                try:
                    outs, new, flags = self.jitted(args, tuple(values[:self.n_updated]),
                                                   tuple(values[self.n_updated:]),
                                                   tuple(self.constant_values), counters)
                except Exception:
                    self.failed = self.ctx.failed
                    raise
                if not flags or not any(bool(f) for f in flags):
                    break
                for node, flag in zip(self._overflow_nodes, flags):
                    if bool(flag):
                        self.capacities[node] *= 4  # room for a longer loop: trace again
                self._compile()
            returned = [_fetch(o) for o in outs]
        spec = self.spec
        for variable, value in zip(spec.variables, new):
            variable.data.keep_on_device(value, stale_host=True, fetch=_fetch)
        self._last_written = [v.data.on_device() for v in self.variables]
        for stream in self.streams:
            stream.device_calls += 1
        return returned[0] if spec.single else returned

    def failed_node(self, exc: BaseException) -> Node | None:
        return self.failed


class JaxBackend:
    """The backend; ``configure`` gives one placed on a device or a mesh."""

    name = "jax"
    default_passes = "default"
    options = ("device", "data_parallel", "mesh", "sharding")

    def __init__(self, placement: Placement | None = None) -> None:
        self.placement = placement or Placement()

    def configure(self, **options: Any) -> JaxBackend:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise BackendError(f"backend 'jax' has no option {', '.join(unknown)}; its options "
                               f"are {', '.join(self.options)}")
        return JaxBackend(Placement(**options))

    def compile(self, spec: Specialized) -> JaxExecutable:
        return JaxExecutable(spec, self.placement)

    def missing(self, op: OpDef) -> str | None:
        if op.source:
            return None  # the backend supplies placeholders, variables and constants
        if op.jax is None:
            return _LACKS
        try:
            resolve(op.jax)
        except BackendError as exc:
            return f"{exc} (fix jax= in its declaration)"
        return None


BACKEND = JaxBackend()
