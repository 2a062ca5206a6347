"""Cases for numpy's shape, construction and product functions (issue 14 point 4): composites
of primitives, checked here for values in float32 and float64 and gradients by finite
differences like every primitive."""

import numpy as np

import graphdiff as gd

from . import Arg, Case

X = Arg((4, 5, 3))
M = Arg((4, 5))
SQ = Arg((4, 4))
V = Arg((5,))
V3 = Arg((4, 3))
V2 = Arg((4, 2))


def _same(name: str, args, *cases, **options) -> list[Case]:
    """One case per (label, call): the call is made with gd or np as the namespace."""
    return [Case(f"{name}_{label}", lambda *t, c=call: c(gd, *t), lambda *a, c=call: c(np, *a),
                 args, **options) for label, call in cases]


CASES = [
    *_same("flip", [X], ("all", lambda m, x: m.flip(x)), ("neg_axis", lambda m, x: m.flip(x, -1)),
           ("axes", lambda m, x: m.flip(x, (0, 2)))),
    *_same("flip", [M], ("lr", lambda m, x: m.fliplr(x)), ("ud", lambda m, x: m.flipud(x))),
    *_same("flip", [X], ("symbolic", lambda m, x: m.flip(x, (0, 1))), symbolic=True),
    *_same("roll", [X], ("flat", lambda m, x: m.roll(x, 7)),
           ("axis", lambda m, x: m.roll(x, -2, axis=1)),
           ("axes", lambda m, x: m.roll(x, (1, 4), axis=(-1, 0))),
           ("same_axis_twice", lambda m, x: m.roll(x, (1, 2), axis=(1, 1)))),
    *_same("roll", [X], ("symbolic", lambda m, x: m.roll(x, 2, axis=2)), symbolic=True),
    *_same("rot90", [X], ("k1", lambda m, x: m.rot90(x)), ("k2", lambda m, x: m.rot90(x, 2)),
           ("k3_axes", lambda m, x: m.rot90(x, 3, axes=(2, 0))),
           ("k_neg", lambda m, x: m.rot90(x, -1, axes=(-1, -2)))),
    *_same("moveaxis", [X], ("one", lambda m, x: m.moveaxis(x, 0, -1)),
           ("two", lambda m, x: m.moveaxis(x, (0, 1), (2, 0)))),
    *_same("moveaxis", [X], ("symbolic", lambda m, x: m.moveaxis(x, 0, -1)), symbolic=True),
    *_same("rollaxis", [X], ("end", lambda m, x: m.rollaxis(x, 0, 3)),
           ("start", lambda m, x: m.rollaxis(x, -1))),
    *_same("swapaxes", [X], ("neg", lambda m, x: m.swapaxes(x, 0, -1))),
    *_same("atleast", [Arg(())], ("1d", lambda m, x: m.atleast_1d(x) * 2.0),
           ("2d", lambda m, x: m.atleast_2d(x) * 2.0), ("3d", lambda m, x: m.atleast_3d(x) * 2.0)),
    *_same("atleast", [V], ("2d_vector", lambda m, x: m.atleast_2d(x) * 2.0),
           ("3d_vector", lambda m, x: m.atleast_3d(x) * 2.0)),
    *_same("atleast", [M], ("3d_matrix", lambda m, x: m.atleast_3d(x) * 2.0)),
    *_same("tile", [M], ("int", lambda m, x: m.tile(x, 3)),
           ("longer_reps", lambda m, x: m.tile(x, (2, 1, 3))),
           ("shorter_reps", lambda m, x: m.tile(x, (2,)))),
    *_same("tile", [X], ("symbolic", lambda m, x: m.tile(x, (2, 1, 2))), symbolic=True),
    *_same("repeat", [X], ("flat", lambda m, x: m.repeat(x, 2)),
           ("axis", lambda m, x: m.repeat(x, 3, axis=-2)),
           ("counts", lambda m, x: m.repeat(x, [2, 0, 1], axis=2))),
    *_same("repeat", [X], ("symbolic", lambda m, x: m.repeat(x, 2, axis=0)), symbolic=True),
    # --- stacking, splitting, differences ------------------------------------------------------
    *_same("hstack", [M, M], ("2d", lambda m, a, b: m.hstack([a, b * 2.0]))),
    *_same("hstack", [V, Arg(())], ("1d_scalar", lambda m, a, b: m.hstack([a, b]))),
    *_same("vstack", [M, Arg((5,))], ("mixed", lambda m, a, b: m.vstack([a, b, a[1]]))),
    *_same("vstack", [X, X], ("symbolic", lambda m, a, b: m.vstack([a, b])), symbolic=True),
    *_same("dstack", [M, M], ("2d", lambda m, a, b: m.dstack([a, b]))),
    *_same("dstack", [V, V], ("1d", lambda m, a, b: m.dstack([a, b]))),
    *_same("column_stack", [V, Arg((5, 2))],
           ("mixed", lambda m, a, b: m.column_stack([a, b, a]))),
    *_same("array_split", [Arg((7, 3))],
           ("sections", lambda m, x: m.array_split(x, 3)[0] * m.array_split(x, 3)[1][:1]),
           ("indices", lambda m, x: m.array_split(x, [2, 5], axis=0)[2] * 2.0),
           ("axis1", lambda m, x: m.array_split(x, 2, axis=-1)[1] * 3.0)),
    *_same("hsplit", [M], ("2d", lambda m, x: m.hsplit(x, [1, 3])[1] * 2.0)),
    *_same("vsplit", [M], ("2d", lambda m, x: m.vsplit(x, 2)[1] * 2.0)),
    *_same("dsplit", [X], ("3d", lambda m, x: m.dsplit(x, [1])[1] * 2.0)),
    *_same("append", [M, M], ("flat", lambda m, a, b: m.append(a, b)),
           ("axis", lambda m, a, b: m.append(a, b[:2], axis=0))),
    *_same("diff", [X], ("last", lambda m, x: m.diff(x)),
           ("n2_axis0", lambda m, x: m.diff(x, 2, axis=0)),
           ("prepend_append", lambda m, x: m.diff(x, axis=1, prepend=0.5, append=x[:, :1]))),
    *_same("diff", [X], ("symbolic", lambda m, x: m.diff(x, axis=0)), symbolic=True),
    # --- triangles, diagonals --------------------------------------------------------------------
    *_same("tril", [X], ("k0", lambda m, x: m.tril(x)), ("k_neg", lambda m, x: m.tril(x, -1))),
    *_same("triu", [M], ("k1", lambda m, x: m.triu(x, 1)), ("k0", lambda m, x: m.triu(x))),
    *_same("tril", [X], ("symbolic", lambda m, x: m.tril(x, 1)), symbolic=True),
    *_same("tril", [V], ("vector", lambda m, x: m.tril(x))),
    *_same("diag", [V], ("make", lambda m, v: m.diag(v)), ("make_k2", lambda m, v: m.diag(v, 2)),
           ("make_kneg", lambda m, v: m.diag(v, -1))),
    *_same("diag", [M], ("take", lambda m, x: m.diag(x)), ("take_k", lambda m, x: m.diag(x, 2)),
           ("take_kneg", lambda m, x: m.diag(x, -3))),
    *_same("diagonal", [X], ("axes01", lambda m, x: m.diagonal(x)),
           ("axes_neg", lambda m, x: m.diagonal(x, 1, -1, 0)),
           ("offset_neg", lambda m, x: m.diagonal(x, -2, axis1=1, axis2=2))),
    *_same("trace", [X], ("axes", lambda m, x: m.trace(x, 0, 1, 2)),
           ("default", lambda m, x: m.trace(x, 1))),
    *_same("trace", [SQ], ("matrix", lambda m, x: m.trace(x))),
    # --- products --------------------------------------------------------------------------------
    *_same("outer", [V, M], ("flattening", lambda m, a, b: m.outer(a, b))),
    *_same("inner", [M, Arg((3, 5))], ("matrices", lambda m, a, b: m.inner(a, b))),
    *_same("inner", [V, V], ("vectors", lambda m, a, b: m.inner(a, b))),
    *_same("inner", [Arg(()), M], ("scalar", lambda m, a, b: m.inner(a, b))),
    *_same("vdot", [M, Arg((2, 10))], ("flat", lambda m, a, b: m.vdot(a, b))),
    *_same("tensordot", [X, Arg((5, 3, 2))], ("int", lambda m, a, b: m.tensordot(a, b))),
    *_same("tensordot", [X, Arg((3, 4))],
           ("pairs", lambda m, a, b: m.tensordot(a, b, axes=([2, 0], [0, 1]))),
           ("zero", lambda m, a, b: m.tensordot(a[0], b, axes=0))),
    *_same("tensordot", [X, Arg((2, 3))],
           ("symbolic", lambda m, a, b: m.tensordot(a, b, axes=([2], [1]))), symbolic=True),
    *_same("kron", [M, Arg((2, 3))], ("2d", lambda m, a, b: m.kron(a, b))),
    *_same("kron", [V, Arg((2, 3))], ("ranks", lambda m, a, b: m.kron(a, b))),
    *_same("cross", [V3, V3], ("3x3", lambda m, a, b: m.cross(a, b))),
    *_same("cross", [V3, Arg((3,))], ("broadcast", lambda m, a, b: m.cross(a, b))),
    *_same("cross", [Arg((3, 4)), Arg((4, 3))],
           ("axes", lambda m, a, b: m.cross(a, b, axisa=0, axisb=1, axisc=0))),
    # --- construction ----------------------------------------------------------------------------
    *_same("linspace", [V, V], ("tensors", lambda m, a, b: m.linspace(a, b, 7)),
           ("no_endpoint_axis", lambda m, a, b: m.linspace(a, b, 4, endpoint=False, axis=-1))),
    *_same("logspace", [V, V], ("tensors", lambda m, a, b: m.logspace(a, b, 5, base=2.0))),
    *_same("meshgrid", [Arg((3,)), Arg((4,)), Arg((2,))],
           ("xy", lambda m, a, b, c: m.meshgrid(a, b, c)[0] * m.meshgrid(a, b, c)[1]
            + m.meshgrid(a, b, c)[2]),
           ("ij_sparse", lambda m, a, b, c: (lambda g: g[0] - g[1] * 2.0 + g[2])(
               m.meshgrid(a, b, c, indexing="ij", sparse=True)))),
    *_same("eye", [M], ("times", lambda m, x: x @ m.eye(5, 3, k=-1, dtype=x.dtype)),
           ("identity", lambda m, x: x @ m.identity(5, dtype=x.dtype))),
]
