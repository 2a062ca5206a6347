"""The user-facing API: numpy-named functions over symbolic tensors."""

from . import operators
from .convert import as_tensor
from .math import (abs, add, argmax, argmin, astype, broadcast_to, cast, ceil, clip, cos, divide,
                   dot, equal, erf, exp, expm1, floor, greater, greater_equal, isfinite, isnan,
                   less, less_equal, log, log1p, logical_and, logical_not, logical_or, matmul,
                   max, maximum, mean, min, minimum, multiply, negative, not_equal, power, prod,
                   reciprocal, relu, sigmoid, sign, sin, sqrt, square, std, stop_gradient,
                   subtract, sum, tanh, var, where)
from .shape import expand_dims, ravel, reshape, squeeze, swapaxes, transpose

operators.install()

__all__ = [
    "abs", "add", "argmax", "argmin", "as_tensor", "astype", "broadcast_to", "cast", "ceil",
    "clip", "cos", "divide", "dot", "equal", "erf", "exp", "expand_dims", "expm1", "floor",
    "greater", "greater_equal", "isfinite", "isnan", "less", "less_equal", "log", "log1p",
    "logical_and", "logical_not", "logical_or", "matmul", "max", "maximum", "mean", "min",
    "minimum", "multiply", "negative", "not_equal", "power", "prod", "ravel", "reciprocal",
    "relu", "reshape", "sigmoid", "sign", "sin", "sqrt", "square", "squeeze", "std",
    "stop_gradient", "subtract", "sum", "swapaxes", "tanh", "transpose", "var", "where",
]
