"""Cases for the cumulative ops (cumsum, cumprod) and their numpy options."""

import numpy as np

import graphdiff as gd

from . import Arg, Case

X = Arg((3, 4, 5))
ONE_ZERO = [[1.5, 0.0, -2.0, 0.5], [0.7, -1.2, 2.0, 1.1]]
ZEROS = [[0.0, 1.5, 0.0, -0.5, 2.0], [2.0, -1.0, 0.0, 0.0, 3.0], [0.0, 0.0, 0.0, 1.0, -1.0]]

CASES = [
    Case("cumsum", lambda x: gd.cumsum(x, axis=1), lambda x: np.cumsum(x, axis=1), [X]),
    Case("cumsum_flat", gd.cumsum, np.cumsum, [Arg((3, 4))]),
    Case("cumsum_negative_axis", lambda x: gd.cumsum(x, axis=-1),
         lambda x: np.cumsum(x, axis=-1), [Arg((4, 6))], symbolic=True),
    Case("cumsum_int", lambda x: gd.cumsum(x, axis=0), lambda x: np.cumsum(x, axis=0),
         [Arg((4, 3), kind="int", low=-5, high=5)], grad=False),
    Case("cumsum_bool", lambda x: gd.cumsum(x, axis=1), lambda x: np.cumsum(x, axis=1),
         [Arg((3, 4), kind="bool")], grad=False),
    Case("cumsum_dtype", lambda x: gd.cumsum(x, axis=0, dtype="int32"),
         lambda x: np.cumsum(x, axis=0, dtype="int32"),
         [Arg((4, 3), kind="int", low=-5, high=5)], grad=False),
    Case("cumprod", lambda x: gd.cumprod(x, axis=2), lambda x: np.cumprod(x, axis=2),
         [Arg((2, 3, 5), low=0.5, high=1.5)]),
    Case("cumprod_flat", gd.cumprod, np.cumprod, [Arg((2, 3), low=-1.5, high=1.5)]),
    Case("cumprod_one_zero", lambda x: gd.cumprod(x, axis=1), lambda x: np.cumprod(x, axis=1),
         [Arg((2, 4), kind="fixed", value=ONE_ZERO)]),
    Case("cumprod_zeros", lambda x: gd.cumprod(x, axis=-1), lambda x: np.cumprod(x, axis=-1),
         [Arg((3, 5), kind="fixed", value=ZEROS)]),
    Case("cumprod_int", lambda x: gd.cumprod(x, axis=1), lambda x: np.cumprod(x, axis=1),
         [Arg((3, 4), kind="int", low=-3, high=4)], grad=False),
]
