"""Cases for functional index updates ``x.at[idx].set/add/multiply/min/max`` (and so for the
scatter_max / scatter_min / scatter_mul ops): known indices and run-time ones, repeated
positions, against numpy's ``ufunc.at`` and a row-major assignment (the last update wins)."""

import numpy as np

from . import Arg, Case

M = Arg((5, 4))
REPEATED = np.array([0, 3, 0, 4, 3])


def _int_arg(value: np.ndarray) -> Arg:
    return Arg(value.shape, kind="fixed", value=value)


def _ref(how: str, key):
    """numpy's result of ``x.at[key].<how>(v)``; ``key`` may take the index arrays."""

    def ref(x, v, *index):
        k = key(*index) if callable(key) else key
        out = x.copy()
        values = np.broadcast_to(v, out[k].shape).astype(x.dtype)
        if how == "set":  # row-major order, the last update of a position wins
            positions = np.arange(x.size).reshape(x.shape)[k].reshape(-1)
            out.reshape(-1)[positions] = values.reshape(-1)
        else:
            getattr(np, how).at(out, k, values)
        return out
    return ref


def _at(how: str, key):
    def fn(x, v, *index):
        k = key(*index) if callable(key) else key
        return getattr(x.at[k], how)(v)
    return fn


CASES = [
    Case("at_add_repeated", _at("add", ([0, 2, 0],)), _ref("add", ([0, 2, 0],)),
         [M, Arg((3, 4))]),
    Case("at_set_repeated_last_wins", _at("set", ([0, 2, 0], slice(1, None))),
         _ref("set", ([0, 2, 0], slice(1, None))), [M, Arg((3, 3))]),
    Case("at_multiply_repeated", _at("multiply", (REPEATED, 1)),
         _ref("multiply", (REPEATED, 1)), [M, Arg((5,), low=-1.5, high=1.5)]),
    Case("at_max_pairs", _at("max", ([1, 1, 4], [2, 2, 0])),
         _ref("maximum", ([1, 1, 4], [2, 2, 0])), [M, Arg((3,))]),
    Case("at_min_slice_broadcast", _at("min", (slice(1, 3), [0, 3])),
         _ref("minimum", (slice(1, 3), [0, 3])), [M, Arg((2,))]),
    # run-time indices: positions computed in the graph, set through scatter_max of update order
    Case("at_add_run_time", _at("add", lambda i: (i,)), _ref("add", lambda i: (i,)),
         [M, Arg((5, 4)), _int_arg(REPEATED)]),
    Case("at_set_run_time", _at("set", lambda i: (slice(None), i)),
         _ref("set", lambda i: (slice(None), i)), [M, Arg((5, 3)), _int_arg(np.array([3, -1, 0]))]),
    Case("at_multiply_run_time", _at("multiply", lambda i: (i, 2)),
         _ref("multiply", lambda i: (i, 2)), [M, Arg((5,)), _int_arg(REPEATED)]),
    Case("at_max_run_time", _at("max", lambda i: (i,)), _ref("maximum", lambda i: (i,)),
         [M, Arg((4,)), _int_arg(REPEATED[:, None][:3])]),
    # symbolic first dim: positions from an iota indexed in the graph
    Case("at_set_symbolic", _at("set", (slice(None), [0, 2, 0])),
         _ref("set", (slice(None), [0, 2, 0])), [M, Arg((5, 3))], symbolic=True),
    Case("at_add_symbolic_run_time", _at("add", lambda i: (slice(1, None), i)),
         _ref("add", lambda i: (slice(1, None), i)), [M, Arg((4, 2)), _int_arg(np.array([3, 3]))],
         symbolic=True),
    Case("at_min_run_time", _at("min", lambda i: (2, i)), _ref("minimum", lambda i: (2, i)),
         [M, Arg((5,)), _int_arg(np.array([1, 1, 0, -1, 2]))]),
]
