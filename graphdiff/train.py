"""``gd.train.fit``: epochs of shuffled mini-batches through a compiled training step, an
evaluation after each epoch, a progress bar on terminals, checkpoints, and resuming.

``step`` is the compiled training step (``gd.function(..., updates=...)``): called with one
batch of each array of ``data``, it returns its metrics (a dict of scalars, a scalar taken as
the loss, or a sequence named by ``metrics``). The epoch's metrics are averages weighted by
batch size; ``evaluate()`` (optional) returns more after each epoch (a dict, or a number named
"eval").

Batch order: epoch ``e`` visits the examples in the permutation drawn from
``numpy.random.default_rng([seed, e])``, so any step's batch follows from the step number.
With ``checkpoint=path``, the variables of ``state`` (parameters and optimizer state) and the
loop's own bookkeeping (steps done, the epoch's running sums, the history so far) are saved
with ``gd.save`` (atomic) every ``checkpoint_every`` steps and at the end; ``resume=True``
continues from that file, and the resumed run is bit-identical to an uninterrupted one
(``tests/test_train.py``), dropout masks included: when ``step`` is a compiled function, the
state of its random streams (``step.random_streams``) is saved with the rest and restored.

>>> import numpy as np, graphdiff as gd
>>> w = gd.variable(np.zeros(2), name="w")
>>> x = gd.placeholder((None, 2), "float64", name="x")
>>> y = gd.placeholder((None,), "float64", name="y")
>>> loss = gd.mean((x @ w - y) ** 2)
>>> step = gd.function([x, y], loss, updates=gd.optim.SGD(0.1).minimize(loss, [w]))
>>> data = np.random.default_rng(0).normal(size=(64, 2)), np.zeros(64)
>>> history = gd.train.fit(step, data, epochs=3, batch_size=16)
>>> len(history["loss"]), history.steps
(3, 12)
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from .errors import CheckpointError, InputError, user_location
from .ir import Node
from .ops.random import RandomStream
from .ops.source import variable
from .saving import load, save

__all__ = ["fit", "History", "ProgressBar", "batch_order"]

_PREFIX = "fit."  # the names of the loop's bookkeeping variables in a checkpoint


class ProgressBar:
    """One line redrawn in place: ``epoch 2/10 [#####.....] 20/45 loss 0.3100 acc 0.910
    410 step/s``. Silent unless ``stream`` is a terminal (or ``enabled`` forces it)."""

    WIDTH = 24
    REDRAW_SECONDS = 0.1  # a terminal redrawn thousands of times a second only flickers

    def __init__(self, total: int, label: str, stream: TextIO | None = None,
                 enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self.total, self.label = total, label
        self.start = time.perf_counter()
        self._drawn = 0.0

    def update(self, done: int, metrics: dict[str, float], steps: int | None = None) -> None:
        """Draw ``done`` of ``total`` with ``metrics``; the speed counts ``steps`` (default
        ``done``) steps since the bar started."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < self.total and now - self._drawn < self.REDRAW_SECONDS:
            return
        self._drawn = now
        speed = (done if steps is None else steps) / max(now - self.start, 1e-9)
        filled = self.WIDTH * done // max(self.total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        shown = " ".join(f"{_SHORT.get(k, k)} {v:.{4 if k == 'loss' else 3}f}"
                         for k, v in metrics.items())
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} {shown} "
                          f"{speed:.0f} step/s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


_SHORT = {"accuracy": "acc"}


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@dataclass
class History:
    """Per-epoch metrics by name (``history["loss"]`` or ``history.loss``), the number of steps
    run, and the speed of each epoch this call ran (NaN for epochs a resumed run inherited)."""

    metrics: dict[str, list[float]] = field(default_factory=dict)
    steps: int = 0
    steps_per_second: list[float] = field(default_factory=list)

    def __getitem__(self, name: str) -> list[float]:
        return self.metrics[name]

    def __getattr__(self, name: str) -> list[float]:
        metrics = self.__dict__.get("metrics", {})
        if name in metrics:
            return metrics[name]
        raise AttributeError(name)


def batch_order(seed: int, epoch: int, count: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits ``count`` examples."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def fit(step: Callable[..., Any], data: Any, *, epochs: int, batch_size: int, seed: int = 0,
        shuffle: bool = True, evaluate: Callable[[], Any] | None = None,
        metrics: Sequence[str] | None = None, state: Any = None,
        checkpoint: str | os.PathLike | None = None, checkpoint_every: int | None = None,
        resume: bool = False, stream: TextIO | None = None,
        progress: bool | None = None) -> History:
    """Train ``step`` on ``data`` (an array, a tuple of arrays of one length passed
    positionally, or a dict of them passed by keyword: input names, or the keys of a step
    compiled with dict inputs) for ``epochs`` epochs of ``batch_size`` (the last batch may be
    smaller); see the module's text. Returns the ``History``."""
    keys = list(data) if isinstance(data, dict) else None
    columns = data.values() if keys is not None else (
        data if isinstance(data, tuple | list) else (data,))
    arrays = [np.asarray(a) for a in columns]
    count = _check_data(arrays, epochs, batch_size)
    if checkpoint is None and (resume or checkpoint_every):
        raise InputError(f"fit: resume and checkpoint_every need checkpoint=path "
                         f"(at {user_location()})")
    if checkpoint is not None and state is None:
        raise InputError(f"fit: a checkpoint needs state=, the variables to save (parameters "
                         f"and optimizer state) (at {user_location()})")
    n_batches = -(-count // batch_size)
    book = _Bookkeeping(epochs, getattr(step, "random_streams", ()))
    if resume and checkpoint is not None and os.path.exists(checkpoint):
        book.restore(checkpoint, state)
    history = History()
    done = book.steps()
    start_epoch = done // n_batches
    history.steps_per_second = [math.nan] * start_epoch
    for epoch in range(start_epoch, epochs):
        order = batch_order(seed, epoch, count) if shuffle else np.arange(count)
        bar = ProgressBar(n_batches, f"epoch {epoch + 1}/{epochs}", stream, progress)
        first = done - epoch * n_batches
        for batch in range(first, n_batches):
            index = order[batch * batch_size:(batch + 1) * batch_size]
            batch_arrays = [a[index] for a in arrays]
            values = (step(**dict(zip(keys, batch_arrays))) if keys is not None
                      else step(*batch_arrays))
            book.add(_named(values, metrics), len(index))
            running = book.running()
            done += 1
            if batch == n_batches - 1:
                book.end_epoch(epoch, _named_eval(evaluate() if evaluate else {}))
            book.set_steps(done)
            bar.update(batch + 1, running, batch + 1 - first)
            if checkpoint_every and done % checkpoint_every == 0:
                book.save(checkpoint, state)
        bar.close()
        history.steps_per_second.append((n_batches - first)
                                        / max(time.perf_counter() - bar.start, 1e-9))
    if checkpoint is not None:
        book.save(checkpoint, state)
    history.metrics = book.history()
    history.steps = done
    return history


def _check_data(arrays: list[np.ndarray], epochs: int, batch_size: int) -> int:
    counts = {len(a) if a.ndim else -1 for a in arrays}
    if len(counts) != 1 or -1 in counts or not arrays:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise InputError(f"fit: data must be arrays with one leading length, got shapes "
                         f"{shapes} (at {user_location()})")
    if batch_size < 1 or epochs < 0:
        raise InputError(f"fit: batch_size must be >= 1 and epochs >= 0, got {batch_size} and "
                         f"{epochs} (at {user_location()})")
    (count,) = counts
    if count == 0:
        raise InputError(f"fit: the data holds no example (at {user_location()})")
    return count


def _named(values: Any, names: Sequence[str] | None) -> dict[str, float]:
    """A step's outputs as {metric name: number}."""
    if isinstance(values, dict):
        return {str(k): float(v) for k, v in values.items()}
    if isinstance(values, tuple | list):
        labels = list(names) if names else ["loss"] + [f"output{i}" for i in
                                                       range(1, len(values))]
        if len(labels) != len(values):
            raise InputError(f"fit: the step returns {len(values)} values, metrics names "
                             f"{len(labels)} (at {user_location()})")
        return {k: float(v) for k, v in zip(labels, values)}
    return {(names[0] if names else "loss"): float(values)}


def _named_eval(values: Any) -> dict[str, float]:
    if isinstance(values, dict):
        return {str(k): float(v) for k, v in values.items()}
    return {"eval": float(values)}


class _Bookkeeping:
    """The loop's state, in variables so that a checkpoint holds it: the steps done, the
    current epoch's sums of batch-size-weighted metrics and its example count, and one
    (epochs,) array per metric of the epochs' values (NaN until that epoch ends); and where
    the step's random streams are (``RandomStream.state``), written at each save."""

    def __init__(self, epochs: int, streams: Sequence[RandomStream] = ()) -> None:
        self.epochs = epochs
        self.vars: dict[str, Node] = {"steps": variable(np.int64(0), name=_PREFIX + "steps"),
                                      "seen": variable(np.float64(0), name=_PREFIX + "seen")}
        self.sums: dict[str, Node] = {}
        self.per_epoch: dict[str, Node] = {}
        self.streams = tuple(streams)
        self.stream_vars = [variable(s.state(), name=f"{_PREFIX}random.{i}")
                            for i, s in enumerate(self.streams)]

    def tree(self) -> dict[str, Any]:
        tree = {"loop": self.vars, "sums": self.sums, "history": self.per_epoch}
        return {**tree, "random": self.stream_vars} if self.streams else tree

    def steps(self) -> int:
        return int(self.vars["steps"].data.value)

    def set_steps(self, done: int) -> None:
        self.vars["steps"].data.value = np.int64(done)

    def _metric(self, name: str, summed: bool = True) -> None:
        if summed and name not in self.sums:
            self.sums[name] = variable(np.float64(0), name=f"{_PREFIX}sum.{name}")
        if name not in self.per_epoch:
            self.per_epoch[name] = variable(np.full(self.epochs, np.nan),
                                            name=f"{_PREFIX}history.{name}")

    def add(self, values: dict[str, float], size: int) -> None:
        for name, value in values.items():
            self._metric(name)
            self.sums[name].data.value = self.sums[name].data.value + value * size
        self.vars["seen"].data.value = self.vars["seen"].data.value + size

    def running(self) -> dict[str, float]:
        seen = float(self.vars["seen"].data.value)
        return {k: float(v.data.value) / seen for k, v in self.sums.items()}

    def end_epoch(self, epoch: int, evaluated: dict[str, float]) -> None:
        clash = sorted(set(evaluated) & set(self.sums))
        if clash:
            raise InputError(f"fit: evaluate returns {clash}, which the step returns too; "
                             f"name the evaluation's metrics apart (at {user_location()})")
        for name, mean in {**self.running(), **evaluated}.items():
            self._metric(name, summed=False)
            self.per_epoch[name].data.value[epoch] = mean
        for var in self.sums.values():
            var.data.value = np.float64(0)
        self.vars["seen"].data.value = np.float64(0)

    def history(self) -> dict[str, list[float]]:
        done = [~np.isnan(v.data.value) for v in self.per_epoch.values()]
        last = max((int(np.flatnonzero(d)[-1]) + 1 for d in done if d.any()), default=0)
        return {k: [float(x) for x in v.data.value[:last]] for k, v in self.per_epoch.items()}

    def save(self, path: Any, state: Any) -> None:
        for stream, var in zip(self.streams, self.stream_vars):
            var.data.value = stream.state()
        save(path, {"state": state, "fit": self.tree()})

    def restore(self, path: Any, state: Any) -> None:
        """Recreate the bookkeeping the file holds, then load it and ``state`` (checked)."""
        saved = load(path)
        if not isinstance(saved, dict) or set(saved) != {"state", "fit"}:
            raise CheckpointError(f"fit: {os.fspath(path)!r} is not a checkpoint written by "
                                  f"fit (at {user_location()})")
        for name, value in saved["fit"]["history"].items():
            if value.shape != (self.epochs,):
                raise CheckpointError(f"fit: {os.fspath(path)!r} was written by a run of "
                                      f"{value.shape[0]} epochs, this one has {self.epochs} "
                                      f"(at {user_location()})")
            self._metric(name, summed=False)
        for name in saved["fit"]["sums"]:
            self._metric(name)
        load(path, {"state": state, "fit": self.tree()})
        for stream, var in zip(self.streams, self.stream_vars):
            stream.set_state(var.data.value)
