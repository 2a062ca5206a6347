"""Cases for elementwise ops, cast, where, clip, stop_gradient."""

import math

import numpy as np

import graphdiff as gd

from . import Arg, Case

V = (3, 4)
B = Arg((4,))  # broadcasts against (3, 4)

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(x):
    return (1 / (1 + np.exp(-x.astype(np.float64)))).astype(x.dtype)


CASES = [
    Case("negative", gd.negative, np.negative, [Arg(V)]),
    Case("abs", gd.abs, np.abs, [Arg(V, avoid=(0,))]),
    Case("sign", gd.sign, np.sign, [Arg(V, avoid=(0,))], grad=False),
    Case("exp", gd.exp, np.exp, [Arg(V)]),
    Case("log", gd.log, np.log, [Arg(V, low=0.2, high=3)]),
    Case("log1p", gd.log1p, np.log1p, [Arg(V, low=-0.5, high=3)]),
    Case("expm1", gd.expm1, np.expm1, [Arg(V)]),
    Case("sqrt", gd.sqrt, np.sqrt, [Arg(V, low=0.2, high=3)]),
    Case("square", gd.square, np.square, [Arg(V)]),
    Case("reciprocal", gd.reciprocal, np.reciprocal, [Arg(V, low=0.3, high=3)]),
    Case("sin", gd.sin, np.sin, [Arg(V)]),
    Case("cos", gd.cos, np.cos, [Arg(V)]),
    Case("tanh", gd.tanh, np.tanh, [Arg(V)]),
    Case("sigmoid", gd.sigmoid, _sigmoid, [Arg(V, low=-6, high=6)]),
    Case("relu", gd.relu, lambda x: np.maximum(x, 0), [Arg(V, avoid=(0,))]),
    Case("erf", gd.erf, lambda x: _erf(x).astype(x.dtype), [Arg(V)]),
    Case("floor", gd.floor, np.floor, [Arg(V, low=-5, high=5, avoid=(-2, -1, 0, 1, 2))]),
    Case("ceil", gd.ceil, np.ceil, [Arg(V, low=-5, high=5, avoid=(-2, -1, 0, 1, 2))]),
    Case("isnan", gd.isnan, np.isnan, [Arg(V, kind="fixed", value=[np.nan, 1.0, -np.inf])],
         grad=False),
    Case("isfinite", gd.isfinite, np.isfinite,
         [Arg(V, kind="fixed", value=[np.nan, 1.0, -np.inf, np.inf])], grad=False),
    Case("logical_not", gd.logical_not, np.logical_not, [Arg(V, kind="bool")], grad=False),
    Case("add", gd.add, np.add, [Arg(V), B]),
    Case("subtract", gd.subtract, np.subtract, [Arg(V), B]),
    Case("multiply", gd.multiply, np.multiply, [Arg((3, 1)), B]),
    Case("divide", gd.divide, np.divide, [Arg(V), Arg((4,), low=0.5, high=2)]),
    Case("power", gd.power, np.power, [Arg(V, low=0.3, high=2), Arg(V, low=-2, high=2)]),
    Case("power_scalar", lambda x: x ** 3, lambda x: x ** 3, [Arg(V)]),
    Case("maximum", gd.maximum, np.maximum, [Arg(V), B]),
    Case("minimum", gd.minimum, np.minimum, [Arg(V), B]),
    Case("less", gd.less, np.less, [Arg(V), B], grad=False),
    Case("less_equal", gd.less_equal, np.less_equal, [Arg(V), B], grad=False),
    Case("greater", gd.greater, np.greater, [Arg(V), B], grad=False),
    Case("greater_equal", gd.greater_equal, np.greater_equal, [Arg(V), B], grad=False),
    Case("equal", gd.equal, np.equal, [Arg(V, kind="int", low=0, high=3),
                                       Arg(V, kind="int", low=0, high=3)], grad=False),
    Case("not_equal", gd.not_equal, np.not_equal, [Arg(V, kind="int", low=0, high=3),
                                                   Arg(V, kind="int", low=0, high=3)],
         grad=False),
    Case("logical_and", gd.logical_and, np.logical_and,
         [Arg(V, kind="bool"), Arg(V, kind="bool")], grad=False),
    Case("logical_or", gd.logical_or, np.logical_or,
         [Arg(V, kind="bool"), Arg(V, kind="bool")], grad=False),
    Case("where", gd.where, np.where, [Arg(V, kind="bool"), Arg(V), B]),
    Case("clip", lambda x: gd.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7),
         [Arg(V, avoid=(-0.5, 0.7))]),
    Case("cast_int", lambda x: gd.astype(x, "int32"), lambda x: x.astype(np.int32),
         [Arg(V, low=-5, high=5, avoid=(-4, -3, -2, -1, 0, 1, 2, 3, 4))], grad=False),
    Case("cast_float", lambda x: gd.astype(x, "float64") * 2.0,
         lambda x: x.astype(np.float64) * 2.0, [Arg(V)]),
    Case("stop_gradient", lambda x: gd.stop_gradient(x) * x, lambda x: x * x, [Arg(V)],
         grad=False),
]
