"""The op test table: one ``Case`` per behaviour, gathered from every module in this package.

A case builds a graph from placeholders with the public API and gives the numpy reference. The
registry tests (``tests/test_op_registry.py``) run every case: the kernel against numpy in float32
and float64, the gradient against central finite differences in float64, and check that every
registered op appears in the graph of at least one case. Add cases for a new op in the module of
its family (``elementwise.py``, ``index.py``, ``nn.py``, ...): ``CASES = [Case(...), ...]``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Arg:
    """One operand: its shape and how to draw values.

    kind: "float" (uniform in [low, high]), "int" (integers in [low, high)), "bool", or
    "fixed" (``value`` as given, converted to the case dtype when it is a float array).
    avoid: floats within ``avoid_width`` of these points are pushed away (kinks: 0 for abs...).
    """

    shape: tuple[int, ...]
    kind: str = "float"
    low: float = -2.0
    high: float = 2.0
    avoid: tuple[float, ...] = ()
    avoid_width: float = 0.05
    value: object = None

    def draw(self, rng: np.random.Generator, float_dtype: np.dtype) -> np.ndarray:
        if self.kind == "fixed":
            array = np.asarray(self.value)
            return array.astype(float_dtype) if array.dtype.kind == "f" else array
        if self.kind == "int":
            return rng.integers(int(self.low), int(self.high), size=self.shape).astype(np.int64)
        if self.kind == "bool":
            return rng.random(self.shape) < 0.5
        values = rng.uniform(self.low, self.high, size=self.shape)
        for point in self.avoid:
            near = np.abs(values - point) < self.avoid_width
            values = np.where(near, point + np.where(values >= point, 1, -1) *
                              (self.avoid_width + rng.uniform(0, 0.1, self.shape)), values)
        return values.astype(float_dtype)


@dataclass(frozen=True)
class Case:
    """``fn(*tensors) -> tensor`` built with the public API, checked against ``ref(*arrays)``.

    grad: check the gradient of sum(out * random weights) w.r.t. the float args.
    rtol32/atol32: tolerance for the float32 kernel check (float64 uses rtol=1e-10).
    fd_rtol: tolerance of the finite-difference gradient check.
    symbolic: build the placeholders with a symbolic first dimension (``None``).
    """

    name: str
    fn: Callable
    ref: Callable
    args: Sequence[Arg]
    grad: bool = True
    rtol32: float = 1e-5
    atol32: float = 1e-6
    fd_rtol: float = 1e-5
    fd_atol: float = 1e-7
    symbolic: bool = False
    tags: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return self.name

    def draw(self, dtype: object, seed: int = 0) -> list[np.ndarray]:
        """Values for the args, floats in ``dtype``."""
        rng = np.random.default_rng(seed)
        return [arg.draw(rng, np.dtype(dtype)) for arg in self.args]

    def placeholders(self, arrays: Sequence[np.ndarray]) -> list:
        """One placeholder per array, the first dim symbolic (``None``) for a symbolic case."""
        import graphdiff as gd

        def shape(a: np.ndarray) -> tuple:
            return (None,) + a.shape[1:] if self.symbolic and a.ndim else a.shape

        return [gd.placeholder(shape(a), a.dtype, name=f"a{i}") for i, a in enumerate(arrays)]

    def graph(self, arrays: Sequence[np.ndarray]) -> tuple[list, list]:
        """Placeholders and outputs: the case's value, then (with ``grad``) the gradients of
        sum(out * random weights) with respect to the float args."""
        import graphdiff as gd

        inputs = self.placeholders(arrays)
        out = self.fn(*inputs)
        outputs = [out]
        floats = [p for p, a in zip(inputs, arrays) if a.dtype.kind == "f"]
        if self.grad and floats and out.dtype.kind == "f":
            rng = np.random.default_rng(1)
            weights = 1.0 if self.symbolic else \
                gd.constant(rng.uniform(-1, 1, out.shape).astype(out.dtype))
            outputs += gd.grad(gd.sum(out * weights), floats)
        return inputs, outputs


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for module in pkgutil.iter_modules(__path__):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        cases.extend(getattr(loaded, "CASES", []))
    return cases
