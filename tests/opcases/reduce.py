"""Cases for reductions and matmul."""

import numpy as np

import graphdiff as gd

from . import Arg, Case

X = Arg((3, 4, 5))

CASES = [
    Case("sum_all", gd.sum, np.sum, [X]),
    Case("sum_axis", lambda x: gd.sum(x, axis=1), lambda x: np.sum(x, axis=1), [X]),
    Case("sum_keepdims", lambda x: gd.sum(x, axis=(0, 2), keepdims=True),
         lambda x: np.sum(x, axis=(0, 2), keepdims=True), [X]),
    Case("mean", lambda x: gd.mean(x, axis=-1), lambda x: np.mean(x, axis=-1), [X]),
    Case("mean_symbolic", lambda x: gd.mean(x, axis=0), lambda x: np.mean(x, axis=0), [X],
         symbolic=True),
    Case("var", lambda x: gd.var(x, axis=0), lambda x: np.var(x, axis=0), [X]),
    Case("max", lambda x: gd.max(x, axis=1), lambda x: np.max(x, axis=1), [X]),
    Case("max_ties", lambda x: gd.max(x, axis=1), lambda x: np.max(x, axis=1),
         [Arg((2, 3), kind="fixed", value=[[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])], grad=False),
    Case("min", lambda x: gd.min(x, axis=(0, 2), keepdims=True),
         lambda x: np.min(x, axis=(0, 2), keepdims=True), [X]),
    Case("prod", lambda x: gd.prod(x, axis=1), lambda x: np.prod(x, axis=1), [X]),
    Case("prod_zeros", lambda x: gd.prod(x, axis=1), lambda x: np.prod(x, axis=1),
         [Arg((3, 3), kind="fixed", value=[[0.0, 2.0, 3.0], [0.0, 0.0, 1.5], [1.0, 2.0, -1.0]])],
         grad=False),
    Case("prod_int", lambda x: gd.prod(x, axis=1), lambda x: np.prod(x, axis=1),
         [Arg((3, 4), kind="int", low=-3, high=4)], grad=False),
    Case("sum_bool", lambda x: gd.sum(x, axis=0), lambda x: np.sum(x, axis=0),
         [Arg((3, 4), kind="bool")], grad=False),
    Case("argmax", lambda x: gd.argmax(x, axis=1), lambda x: np.argmax(x, axis=1), [X],
         grad=False),
    Case("matmul", gd.matmul, np.matmul, [Arg((3, 4)), Arg((4, 5))]),
    Case("matmul_batch", gd.matmul, np.matmul, [Arg((2, 1, 3, 4)), Arg((3, 4, 2))]),
    Case("matmul_vec", gd.matmul, np.matmul, [Arg((4,)), Arg((2, 4, 3))]),
    Case("matmul_matvec", gd.matmul, np.matmul, [Arg((3, 4)), Arg((4,))]),
    Case("broadcast_to", lambda x: gd.broadcast_to(x, (2, 3, 4)),
         lambda x: np.broadcast_to(x, (2, 3, 4)), [Arg((3, 1))]),
    Case("reshape", lambda x: gd.reshape(x, (4, -1)), lambda x: np.reshape(x, (4, -1)), [X]),
    Case("transpose", lambda x: gd.transpose(x, (2, 0, 1)),
         lambda x: np.transpose(x, (2, 0, 1)), [X]),
    Case("expand_squeeze", lambda x: gd.squeeze(gd.expand_dims(x, 0) * 2.0, 0),
         lambda x: x * 2.0, [Arg((3, 4))]),
]
