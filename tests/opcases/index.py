"""Cases for indexing and joining: slicing, take, take_along_axis, pad, concatenate, stack,
split."""

import numpy as np

import graphdiff as gd

from . import Arg, Case

X = Arg((4, 5, 3))
M = Arg((5, 4))
IDX_2D = np.array([[0, 2, 2], [4, -1, 0]])  # repeated and negative indices
IDX_ALONG = np.array([[1, 1, 0, 1], [0, 0, 0, 0], [3, 2, 1, 3], [3, 3, 3, 1], [2, 2, 0, 0]])
LABELS = np.array([1, 0, 3, 3, 2])


def _int_arg(value: np.ndarray) -> Arg:
    return Arg(value.shape, kind="fixed", value=value)


CASES = [
    # --- basic indexing and slicing ---------------------------------------------------------
    Case("slice_basic", lambda x: x[1:3], lambda x: x[1:3], [X]),
    Case("slice_step", lambda x: x[::2, 1:, ::2], lambda x: x[::2, 1:, ::2], [X]),
    Case("slice_negative_step", lambda x: x[::-1, 3:0:-2, -1::-1],
         lambda x: x[::-1, 3:0:-2, -1::-1], [X]),
    Case("index_int", lambda x: x[-1, 2], lambda x: x[-1, 2], [X]),
    Case("index_newaxis", lambda x: x[None, :, None, 1], lambda x: x[None, :, None, 1], [X]),
    Case("index_ellipsis", lambda x: x[..., 1:, None, -2], lambda x: x[..., 1:, None, -2], [X]),
    Case("index_scalar", lambda x: x[1, 2, 0] * 3.0, lambda x: x[1, 2, 0] * 3.0, [X]),
    Case("slice_symbolic", lambda x: x[1:, ::-1] * x[:-1, ::-1],
         lambda x: x[1:, ::-1] * x[:-1, ::-1], [X], symbolic=True),
    Case("index_symbolic", lambda x: x[-1] + x[0, None, :, 2:] + x[-2:].sum(axis=0),
         lambda x: x[-1] + x[0, None, :, 2:] + x[-2:].sum(axis=0), [X], symbolic=True),
    # --- take / gather ---------------------------------------------------------------------
    Case("take_axis0_2d_indices", lambda x, i: gd.take(x, i, axis=0),
         lambda x, i: np.take(x, i, axis=0), [M, _int_arg(IDX_2D)]),
    Case("take_axis1_repeated", lambda x, i: gd.take(x, i, axis=1),
         lambda x, i: np.take(x, i, axis=1), [M, _int_arg(np.array([3, 3, 0, 3]))]),
    Case("take_flat", lambda x, i: gd.take(x, i), lambda x, i: np.take(x, i),
         [M, _int_arg(np.array([19, 0, 7, 7]))]),
    Case("getitem_int_array", lambda x, i: x[i], lambda x, i: x[i],
         [X, _int_arg(IDX_2D[:, :2] % 4)]),
    Case("getitem_array_after_slice", lambda x, i: x[1:, i], lambda x, i: x[1:, i],
         [X, _int_arg(np.array([[4, 4], [0, 1]]))]),
    # --- advanced indexing: several integer arrays, mixed with ints, slices, None --------------
    Case("getitem_two_arrays_broadcast", lambda x, i, j: x[i, j], lambda x, i, j: x[i, j],
         [X, _int_arg(np.array([[0, -1, 3], [2, 2, 0]])), _int_arg(np.array([4, 0, -5]))]),
    Case("getitem_int_slice_array_moves_first", lambda x, i: x[3, 1:, i],
         lambda x, i: x[3, 1:, i], [X, _int_arg(np.array([1, 2, 2, -1]))]),
    Case("getitem_adjacent_arrays_stay", lambda x, i, j: x[:, i, j],
         lambda x, i, j: x[:, i, j], [X, _int_arg(np.array([[4], [1]])), _int_arg(IDX_2D[0] % 3)]),
    Case("getitem_arrays_split_by_none", lambda x, i, j: x[i, None, j] * 2.0,
         lambda x, i, j: x[i, None, j] * 2.0,
         [X, _int_arg(np.array([0, 3, 0])), _int_arg(np.array([1, 1, 4]))]),
    Case("getitem_constant_lists",
         lambda x: x[[0, -1, 0], ..., [2, 1, 2]][:, :2] + x[1, [0, 4, 4], 1:],
         lambda x: x[[0, -1, 0], ..., [2, 1, 2]][:, :2] + x[1, [0, 4, 4], 1:], [X]),
    Case("getitem_arrays_symbolic", lambda x, i, j: x[i, 1:, j],
         lambda x, i, j: x[i, 1:, j],
         [X, _int_arg(np.array([-1, 0, 2])), _int_arg(np.array([0, -3, 2]))], symbolic=True),
    Case("take_symbolic", lambda x, i: gd.take(x, i, axis=1), lambda x, i: np.take(x, i, axis=1),
         [M, _int_arg(np.array([[3, 0], [3, 3]]))], symbolic=True),
    Case("take_along_axis", lambda x, i: gd.take_along_axis(x, i, axis=1),
         lambda x, i: np.take_along_axis(x, i, axis=1), [M, _int_arg(IDX_ALONG)]),
    Case("take_along_axis_broadcast", lambda x, i: gd.take_along_axis(x, i[:, None], axis=-1),
         lambda x, i: np.take_along_axis(x, i[:, None], axis=-1),
         [M, _int_arg(LABELS)]),
    Case("take_along_axis_symbolic", lambda x, i: gd.take_along_axis(x, i, axis=0),
         lambda x, i: np.take_along_axis(x, i, axis=0),
         [M, _int_arg(IDX_ALONG[:3] % 5)], symbolic=True),
    # --- pad -----------------------------------------------------------------------------------
    Case("pad_constant", lambda x: gd.pad(x, ((1, 2), (0, 3)), constant_values=1.5),
         lambda x: np.pad(x, ((1, 2), (0, 3)), constant_values=1.5), [M]),
    Case("pad_int_width", lambda x: gd.pad(x, 1), lambda x: np.pad(x, 1), [X]),
    Case("pad_pair", lambda x: gd.pad(x, (2, 0)), lambda x: np.pad(x, (2, 0)), [M]),
    Case("pad_symbolic", lambda x: gd.pad(x, ((1, 1), (2, 0))) * 2.0,
         lambda x: np.pad(x, ((1, 1), (2, 0))) * 2.0, [M], symbolic=True),
    Case("pad_edge", lambda x: gd.pad(x, ((2, 1), (1, 3)), mode="edge"),
         lambda x: np.pad(x, ((2, 1), (1, 3)), mode="edge"), [M]),
    Case("pad_reflect", lambda x: gd.pad(x, ((3, 2), (1, 2)), mode="reflect"),
         lambda x: np.pad(x, ((3, 2), (1, 2)), mode="reflect"), [M]),
    Case("pad_reflect_symbolic", lambda x: gd.pad(x, ((2, 1), (0, 1)), mode="reflect"),
         lambda x: np.pad(x, ((2, 1), (0, 1)), mode="reflect"), [M], symbolic=True),
    # --- concatenate, stack, split ---------------------------------------------------------
    Case("concatenate", lambda a, b, c: gd.concatenate([a, b, c], axis=1),
         lambda a, b, c: np.concatenate([a, b, c], axis=1),
         [Arg((3, 2)), Arg((3, 4)), Arg((3, 1))]),
    Case("concatenate_promote", lambda a, i: gd.concatenate([a, i, np.ones((1, 4), np.int8)]),
         lambda a, i: np.concatenate([a, i, np.ones((1, 4), np.int8)]),
         [Arg((2, 4)), Arg((3, 4), kind="int", low=-3, high=3)]),
    Case("concatenate_flat", lambda a, b: gd.concatenate([a, b], axis=None),
         lambda a, b: np.concatenate([a, b], axis=None), [Arg((2, 3)), Arg((4,))]),
    Case("concatenate_symbolic", lambda a, b: gd.concatenate([a, b, a[1:]], axis=0),
         lambda a, b: np.concatenate([a, b, a[1:]], axis=0),
         [Arg((3, 4)), Arg((2, 4))], symbolic=True),
    Case("stack", lambda a, b: gd.stack([a, b], axis=1), lambda a, b: np.stack([a, b], axis=1),
         [Arg((3, 4)), Arg((3, 4))]),
    Case("stack_last", lambda a, b: gd.stack([a, b * 2.0, a], axis=-1),
         lambda a, b: np.stack([a, b * 2.0, a], axis=-1), [Arg((3, 4)), Arg((3, 4))],
         symbolic=True),
    Case("split_sections", lambda x: gd.split(x, 2, axis=1)[1] * gd.split(x, 2, axis=1)[0],
         lambda x: np.split(x, 2, axis=1)[1] * np.split(x, 2, axis=1)[0], [Arg((3, 4))]),
    Case("split_indices", lambda x: gd.split(x, [1, 3], axis=0)[2] + 1.0,
         lambda x: np.split(x, [1, 3], axis=0)[2] + 1.0, [X], symbolic=True),
]
