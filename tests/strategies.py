"""Hypothesis strategies for random well-typed graphs, shared by the fuzz tests.

``random_graphs()`` draws a :class:`RandomGraph`: a few placeholders with broadcast-compatible
shapes, a random sequence of ops applied through the public API (unary math, binary arithmetic
with broadcasting, comparisons and ``where``, powers and scalings by "interesting" constants,
reductions, reshapes, transposes, broadcasts, matmul, and the compound patterns the
optimizer rewrites), some outputs, and feeds for the placeholders that may hold NaN, +-Inf and
-0.0. Everything is static-shaped unless ``symbolic=True`` gives the (3, 4) inputs a symbolic
batch axis (fed with size 3; matmul and transpose are then left out of the menu). Use it as::

    from tests.strategies import random_graphs

    @given(random_graphs(dtypes=("float64",), max_ops=10))
    def test_something(case):
        f = gd.function(case.inputs, case.outputs)
        f(*case.feeds)

Pass ``ops=`` (names from ``OPS``) to restrict the menu, e.g. to ``ELEMENTWISE_OPS`` for fusion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

import graphdiff as gd
from graphdiff.ir import Graph, Node
from graphdiff.ir.types import broadcast_shapes

FLOAT_DTYPES = ("float32", "float64")
SPECIAL_VALUES = (np.nan, np.inf, -np.inf, -0.0, 0.0)
INTERESTING_CONSTANTS = (0.0, -0.0, 1.0, -1.0, 2.0, 0.5, 0.25, 3.0)
EXPONENTS = (0.0, 0.5, 1.0, 2.0, -1.0, 1.5)
INEXACT_EXPONENTS = (3.0, 4.0)  # rewritten to multiplications: exact up to rounding only
BASE_SHAPE = (3, 4)
INPUT_SHAPES = ((3, 4), (4,), (3, 1), (1, 4), (), (2, 3, 4))


@dataclass
class RandomGraph:
    """A drawn graph: placeholders, outputs, and one feed per placeholder."""

    inputs: list[Node]
    outputs: list[Node]
    feeds: list[np.ndarray]
    dtype: np.dtype
    steps: list[str]

    def graph(self) -> Graph:
        return Graph(self.inputs, self.outputs)

    def loss(self) -> Node:
        """A scalar depending on every output (sum of sums), for gradient checks."""
        total = gd.sum(self.outputs[0])
        for out in self.outputs[1:]:
            total = total + gd.sum(out)
        return total

    def __repr__(self) -> str:
        shapes = ", ".join(str(p.type) for p in self.inputs)
        return f"RandomGraph({shapes}; {' -> '.join(self.steps)})"


Draw = Callable  # hypothesis' draw function
OpBuilder = Callable[[Draw, list[Node]], Node | None]


def _pick(draw: Draw, pool: list[Node], accept: Callable[[Node], bool] = lambda n: True) -> Node:
    candidates = [n for n in pool if accept(n)] or pool
    return draw(st.sampled_from(candidates))


def _broadcastable(a: Node, b: Node) -> bool:
    """Do the shapes broadcast for every size of their symbols? (The graph's own rule also
    accepts a symbol against an int or another symbol, assuming them equal at run time, which
    the feeds here, with their own batch sizes, would contradict.)"""
    return all(x == y or x == 1 or y == 1 for x, y in zip(reversed(a.shape), reversed(b.shape)))


def _unary(function: Callable[[Node], Node]) -> OpBuilder:
    return lambda draw, pool: function(_pick(draw, pool))


def _binary(function: Callable[[Node, Node], Node]) -> OpBuilder:
    def build(draw: Draw, pool: list[Node]) -> Node:
        a = _pick(draw, pool)
        b = _pick(draw, pool, lambda n: _broadcastable(a, n))
        return function(a, b) if _broadcastable(a, b) else function(a, a)

    return build


def _scale(draw: Draw, pool: list[Node]) -> Node:
    x = _pick(draw, pool)
    c = draw(st.sampled_from(INTERESTING_CONSTANTS))
    op = draw(st.sampled_from(("mul", "add", "sub", "rsub", "div")))
    return {"mul": lambda: x * c, "add": lambda: x + c, "sub": lambda: x - c,
            "rsub": lambda: c - x, "div": lambda: x / (c if c != 0 else 2.0)}[op]()


def _power(draw: Draw, pool: list[Node], exact_only: bool) -> Node:
    exponents = EXPONENTS if exact_only else EXPONENTS + INEXACT_EXPONENTS
    return _pick(draw, pool) ** draw(st.sampled_from(exponents))


def _where(draw: Draw, pool: list[Node]) -> Node:
    a = _pick(draw, pool)
    b = _pick(draw, pool, lambda n: _broadcastable(a, n))
    b = b if _broadcastable(a, b) else a
    # The condition reads an input, not a computed value: a rewrite that is exact only up to
    # rounding (x**3, exp(log x)) must not flip a comparison of two nearly equal values.
    source = _pick(draw, pool, lambda n: n.op.name == "placeholder" and _broadcastable(a, n)
                   and _broadcastable(b, n))
    if not (source.op.name == "placeholder" and _broadcastable(a, source)
            and _broadcastable(b, source)):
        source = a
    return gd.where(gd.greater(source, 0.0), a, b * 0.5)


def _reduce(draw: Draw, pool: list[Node]) -> Node:
    x = _pick(draw, pool, lambda n: n.ndim > 0)
    if x.ndim == 0:
        return x
    axis = draw(st.sampled_from([None, *range(x.ndim)]))
    keepdims = draw(st.booleans())
    kind = draw(st.sampled_from(("sum", "mean", "max")))
    return getattr(gd, kind)(x, axis=axis, keepdims=keepdims)


def _reshape(draw: Draw, pool: list[Node]) -> Node:
    x = _pick(draw, pool, lambda n: n.ndim > 0)
    return gd.reshape(gd.reshape(x, (-1,)), x.shape)  # flat and back: reshape of reshape


def _transpose(draw: Draw, pool: list[Node]) -> Node:
    x = _pick(draw, pool, lambda n: n.ndim >= 2)
    twice = draw(st.booleans())
    return gd.transpose(gd.transpose(x)) if twice else gd.transpose(x)


def _broadcast(draw: Draw, pool: list[Node]) -> Node:
    x = _pick(draw, pool, lambda n: n.ndim <= 2)
    try:
        target = broadcast_shapes(x.shape, BASE_SHAPE)
    except gd.ShapeError:
        target = x.shape
    return gd.broadcast_to(x, target)


def _matmul(draw: Draw, pool: list[Node]) -> Node:
    a = _pick(draw, pool, lambda n: n.ndim == 2)
    if a.ndim != 2:
        return a
    b = _pick(draw, pool, lambda n: n.ndim == 2)
    if b.ndim != 2:
        return a
    transposed = draw(st.booleans())
    if a.shape[1] == b.shape[0] and not transposed:
        return a @ b
    if a.shape[1] == b.shape[1]:
        return a @ gd.transpose(b)
    return gd.transpose(a) @ a


EXACT_PATTERNS = ("negneg", "selfsub", "mulone", "bcastmul")
INEXACT_PATTERNS = ("explog", "logexp")  # rewritten exactly in real arithmetic only


def _pattern(draw: Draw, pool: list[Node], exact_only: bool) -> Node:
    """A compound the simplifier rewrites (and a near miss it must leave alone)."""
    x = _pick(draw, pool)
    kind = draw(st.sampled_from(EXACT_PATTERNS if exact_only else
                                EXACT_PATTERNS + INEXACT_PATTERNS))
    if kind == "explog":
        return gd.exp(gd.log(draw(st.sampled_from((gd.square, gd.abs, gd.exp, gd.negative)))(x)))
    if kind == "logexp":
        return gd.log(gd.exp(draw(st.sampled_from((gd.tanh, gd.sin, gd.negative)))(x)))
    if kind == "negneg":
        return gd.negative(gd.negative(x))
    if kind == "selfsub":
        return x - x
    if kind == "mulone":
        return (x * 1.0) / 1.0 + (-0.0)
    return x * gd.broadcast_to(gd.constant(np.asarray(2.0, x.dtype)), x.shape)


OPS: dict[str, OpBuilder] = {
    "neg": _unary(gd.negative), "exp": _unary(gd.exp), "log": _unary(gd.log),
    "tanh": _unary(gd.tanh), "sin": _unary(gd.sin), "sqrt": _unary(gd.sqrt),
    "square": _unary(gd.square), "abs": _unary(gd.abs), "relu": _unary(gd.relu),
    "sigmoid": _unary(gd.sigmoid), "reciprocal": _unary(gd.reciprocal),
    "add": _binary(gd.add), "sub": _binary(gd.subtract), "mul": _binary(gd.multiply),
    "div": _binary(gd.divide), "maximum": _binary(gd.maximum), "minimum": _binary(gd.minimum),
    "scale": _scale, "power": _power, "where": _where, "reduce": _reduce,
    "reshape": _reshape, "transpose": _transpose, "broadcast": _broadcast,
    "matmul": _matmul, "pattern": _pattern,
}
_TAKES_EXACT_ONLY = ("power", "pattern")
# Ops whose results stay well conditioned (no domain edge, no division, no branch), for
# checking the rounding-level rules where a small difference cannot grow into a NaN.
CONTINUOUS_OPS = ("neg", "exp", "tanh", "sin", "square", "abs", "relu", "sigmoid", "add",
                  "sub", "mul", "maximum", "minimum", "scale", "power", "reduce", "reshape",
                  "transpose", "broadcast", "matmul", "pattern")
ELEMENTWISE_OPS = ("neg", "exp", "log", "tanh", "sin", "sqrt", "square", "abs", "relu",
                   "sigmoid", "reciprocal", "add", "sub", "mul", "div", "maximum", "minimum",
                   "scale", "power", "where", "broadcast", "pattern")


def _feed(draw: Draw, p: Node, specials: bool) -> np.ndarray:
    shape = tuple(BASE_SHAPE[0] if isinstance(d, str) else d for d in p.shape)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    values = rng.normal(size=shape) * draw(st.sampled_from((0.5, 1.0, 3.0)))
    if specials:
        mask = rng.random(shape) < draw(st.sampled_from((0.0, 0.1, 0.3)))
        values = np.where(mask, rng.choice(np.array(SPECIAL_VALUES), size=shape), values)
    return np.asarray(values, dtype=p.dtype)


@st.composite
def random_graphs(draw: Draw, *, dtypes: Sequence[str] = FLOAT_DTYPES, min_ops: int = 1,
                  max_ops: int = 12, max_inputs: int = 3, max_outputs: int = 2,
                  specials: bool = True, ops: Sequence[str] | None = None,
                  symbolic: bool = False, exact_only: bool = True) -> RandomGraph:
    """Draw a random well-typed graph with feeds (see the module docstring).

    ``exact_only`` leaves out the compounds the optimizer rewrites exactly only up to rounding
    (``x**3``, ``x**4``, ``exp(log x)``, ``log(exp x)``): after a comparison, a logarithm or a
    division, a last-bit difference can legitimately become a different branch or a NaN."""
    dtype = np.dtype(draw(st.sampled_from(list(dtypes))))
    n_inputs = draw(st.integers(1, max_inputs))
    inputs = []
    for i in range(n_inputs):
        shape = draw(st.sampled_from(INPUT_SHAPES if i else INPUT_SHAPES[:1]))
        if symbolic and shape == BASE_SHAPE:
            shape = ("batch", shape[1])
        inputs.append(gd.placeholder(shape, dtype, name=f"in{i}"))
    pool: list[Node] = list(inputs)
    menu = sorted(ops if ops is not None else OPS)
    if symbolic:
        # matmul and transpose would pair the batch axis with a static one (batch against 4),
        # which the graph accepts (a symbol is assumed equal) but no feed satisfies
        menu = [name for name in menu if name not in ("matmul", "transpose")]
    steps = []
    for _ in range(draw(st.integers(min_ops, max_ops))):
        name = draw(st.sampled_from(menu))
        if name in _TAKES_EXACT_ONLY:
            value = OPS[name](draw, pool, exact_only)
        else:
            value = OPS[name](draw, pool)
        if value.dtype != dtype:  # a comparison or reduction may change it
            value = gd.astype(value, dtype)
        pool.append(value)
        steps.append(name)
    n_out = draw(st.integers(1, min(max_outputs, len(pool) - n_inputs)))
    outputs = pool[-n_out:]
    feeds = [_feed(draw, p, specials) for p in inputs]
    return RandomGraph(inputs, outputs, feeds, dtype, steps)
