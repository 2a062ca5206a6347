"""Cases for the selections of a data-dependent size, cut or padded to a static ``size=``:
nonzero, one-argument where, argwhere, flatnonzero, unique, extract, compress."""

import numpy as np

import graphdiff as gd

from . import Arg, Case

MASK = Arg((3, 4), kind="bool")
X = Arg((3, 4), avoid=(0.0,))
REPEATS = Arg((2, 5), kind="fixed", value=[[1.5, -2.0, 1.5, 0.0, 3.0], [0.0, -2.0, 7.0, 1.5, 0.0]])


def _cut(rows: np.ndarray, size: int, fill) -> np.ndarray:
    """The first ``size`` rows, padded with ``fill`` rows (what size= means in jax.numpy)."""
    rows = rows[:size]
    padding = np.broadcast_to(np.asarray(fill, rows.dtype), (size - len(rows), *rows.shape[1:]))
    return np.concatenate([rows, padding])


def _unique(x, size, fill=None):
    values, index, inverse, counts = np.unique(x, return_index=True, return_inverse=True,
                                               return_counts=True)
    return (_cut(values, size, values[0] if fill is None else fill),
            _cut(index, size, index[0]), inverse, _cut(counts, size, 0))


CASES = [
    Case("nonzero", lambda m: gd.stack(gd.nonzero(m, size=5)),
         lambda m: _cut(np.argwhere(m), 5, 0).T, [MASK], grad=False),
    Case("nonzero_padded", lambda x: gd.stack(gd.nonzero(x, size=15, fill_value=(-1, 7))),
         lambda x: _cut(np.argwhere(x), 15, [-1, 7]).T,
         [Arg((3, 4), kind="int", low=0, high=3)], grad=False),
    Case("where_one_argument", lambda m: gd.where(m, size=6, fill_value=-1)[1],
         lambda m: _cut(np.argwhere(m), 6, -1)[:, 1], [MASK], grad=False),
    Case("argwhere", lambda x: gd.argwhere(x > 0, size=7), lambda x: _cut(np.argwhere(x > 0), 7, 0),
         [Arg((2, 3, 2))], grad=False),
    Case("flatnonzero", lambda x: gd.flatnonzero(x, size=8, fill_value=-1),
         lambda x: _cut(np.flatnonzero(x), 8, -1), [MASK], grad=False),
    # repeated values have no derivative (a perturbation splits them): gradients of distinct ones
    Case("unique", lambda x: gd.unique(x, size=6), lambda x: _unique(x, 6)[0], [REPEATS],
         grad=False),
    Case("unique_distinct", lambda x: gd.unique(x, size=10), lambda x: _unique(x, 10)[0],
         [Arg((2, 4))]),
    Case("unique_fill", lambda x: gd.unique(x, size=7, fill_value=9.0) * 2.0,
         lambda x: _unique(x, 7, 9.0)[0] * 2.0, [REPEATS], grad=False),
    Case("unique_index", lambda x: gd.unique(x, return_index=True, size=3)[1],
         lambda x: _unique(x, 3)[1], [REPEATS], grad=False),
    Case("unique_inverse", lambda x: gd.unique(x, return_inverse=True, size=3)[1],
         lambda x: _unique(x, 3)[2].reshape(x.shape), [REPEATS], grad=False),
    Case("unique_counts", lambda x: gd.unique(x, return_counts=True, size=7)[1],
         lambda x: _unique(x, 7)[3], [REPEATS], grad=False),
    Case("unique_int", lambda x: gd.unique(x, size=4), lambda x: _unique(x, 4)[0],
         [Arg((3, 5), kind="int", low=-2, high=3)], grad=False),
    Case("extract", lambda x: gd.extract(x > 0, x, size=8, fill_value=-1.0),
         lambda x: _cut(np.extract(x > 0, x), 8, -1.0), [X]),
    Case("extract_mask", lambda x, m: gd.extract(m, x * 3.0, size=4),
         lambda x, m: _cut(np.extract(m, x * 3.0), 4, 0.0), [X, MASK]),
    Case("compress", lambda x: gd.compress(np.array([True, False, True, True]), x, axis=1,
                                           size=4, fill_value=0.5),
         lambda x: _cut(np.compress([True, False, True, True], x, axis=1).T, 4, 0.5).T, [X]),
    Case("compress_symbolic", lambda x, c: gd.compress(c, x, axis=0, size=2),
         lambda x, c: _cut(np.compress(c, x, axis=0), 2, 0.0),
         [X, Arg((3,), kind="fixed", value=np.array([False, True, True]))], symbolic=True),
]
