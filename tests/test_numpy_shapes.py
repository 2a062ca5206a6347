"""numpy's shape and construction functions beyond the op table (tests/opcases/numpy_shapes.py
has their values, gradients and ONNX export): dtype rules, creation defaults, nested lists
of tensors, tensor methods, and the error each bad input gives."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import graphdiff as gd

F32 = np.ones((2, 3), np.float32)
X = gd.placeholder((2, 3), "float32", name="x")
V = gd.placeholder((3,), "float32", name="v")
S = gd.placeholder(("n", 3), "float32", name="s")


def run(*outputs: gd.Node, inputs=()):
    return gd.function(list(inputs), list(outputs))()


# --- dtypes: numpy's rules (python scalars are arrays, hence strong, in non-ufunc functions) --

DTYPE_CASES: list[tuple[str, Callable]] = [
    ("append_scalar", lambda m, x: m.append(x, 1.0)),
    ("hstack_scalar", lambda m, x: m.hstack([x[0], 1.0])),
    ("vstack_f32", lambda m, x: m.vstack([x, x])),
    ("outer_scalar", lambda m, x: m.outer(x, 2.0)),
    ("kron_int", lambda m, x: m.kron(x, 2)),
    ("inner_scalar", lambda m, x: m.inner(x, 2.0)),
    ("tensordot_f64", lambda m, x: m.tensordot(x, np.ones(3), 1)),
    ("cross_f32", lambda m, x: m.cross(x, x)),
    ("diff_prepend", lambda m, x: m.diff(x, prepend=0.5)),
    ("linspace_f32", lambda m, x: m.linspace(x, 1.0, 4)),
    ("tile_f32", lambda m, x: m.tile(x, 2)),
    ("tril_f32", lambda m, x: m.tril(x)),
]


@pytest.mark.parametrize("name, call", DTYPE_CASES, ids=[c[0] for c in DTYPE_CASES])
def test_result_dtype_is_numpys(name: str, call: Callable) -> None:
    expected = call(np, F32)
    out = call(gd, X)
    assert out.dtype == expected.dtype
    assert out.shape == expected.shape
    np.testing.assert_allclose(gd.function([X], out)(F32), expected, rtol=1e-6)


def test_creation_defaults_are_numpys() -> None:
    for ours, theirs in [(gd.zeros(3), np.zeros(3)), (gd.ones((2, 2)), np.ones((2, 2))),
                         (gd.full(2, 7), np.full(2, 7)), (gd.full(2, 7.5), np.full(2, 7.5)),
                         (gd.full(2, True), np.full(2, True)), (gd.eye(3, 4, 1), np.eye(3, 4, 1)),
                         (gd.identity(3), np.identity(3)), (gd.linspace(0, 1, 5),
                                                            np.linspace(0, 1, 5)),
                         (gd.logspace(0, 2, 3), np.logspace(0, 2, 3))]:
        assert ours.dtype == theirs.dtype, (ours, theirs.dtype)
        np.testing.assert_array_equal(run(ours)[0], theirs)
    assert gd.zeros(3, "float32").dtype == np.float32


def test_linspace_of_numbers_and_of_tensors() -> None:
    samples, step = gd.linspace(2.0, 3.0, 5, endpoint=False, retstep=True)
    ref, ref_step = np.linspace(2.0, 3.0, 5, endpoint=False, retstep=True)
    np.testing.assert_array_equal(run(samples)[0], ref)
    assert step == ref_step
    np.testing.assert_array_equal(run(gd.linspace(0, 10, 4, dtype="int64"))[0],
                                  np.linspace(0, 10, 4, dtype=np.int64))
    a = gd.placeholder((3,), "float64", name="a")
    out, t_step = gd.linspace(a, 5.0, 6, retstep=True, dtype="int32")
    value = np.array([0.0, -2.5, 1.25])
    got, got_step = gd.function([a], [out, t_step])(value)
    ref, ref_step = np.linspace(value, 5.0, 6, retstep=True, dtype=np.int32)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_allclose(got_step, ref_step)
    # the endpoint is exactly stop, as numpy sets it
    last = gd.function([a], gd.linspace(0.1, a, 7)[-1])(value)
    np.testing.assert_array_equal(last, value)


def test_meshgrid_matches_numpy_in_both_indexings_and_sparse() -> None:
    xs, ys = np.arange(3.0), np.arange(4.0) * 2
    for indexing in ("xy", "ij"):
        for sparse in (False, True):
            ours = run(*gd.meshgrid(gd.constant(xs), gd.constant(ys), indexing=indexing,
                                    sparse=sparse))
            theirs = np.meshgrid(xs, ys, indexing=indexing, sparse=sparse)
            for o, t in zip(ours, theirs, strict=True):
                np.testing.assert_array_equal(o, t)


# --- nested lists mixing tensors and numbers ------------------------------------------------

def test_asarray_of_nested_list_mixing_tensors_and_numbers() -> None:
    x = gd.placeholder((), "float64", name="x")
    y = gd.placeholder((2,), "float32", name="y")
    rows = gd.asarray([[x, 1.0], [2, x * x]])
    stacked = gd.array([y, [3.0, 4.0]])
    assert rows.dtype == np.float64 and rows.shape == (2, 2)
    # numpy's coercion: a python float inside a list is float64, even next to float32 data
    assert stacked.dtype == np.array([np.ones(2, np.float32), [3.0, 4.0]]).dtype
    assert gd.array([y, y]).dtype == np.float32
    assert gd.array([y, y], dtype="float64").dtype == np.float64
    f = gd.function([x, y], [rows, stacked, gd.grad(gd.sum(rows * rows), x)])
    got_rows, got_stacked, grad = f(3.0, np.array([5.0, 6.0], np.float32))
    np.testing.assert_array_equal(got_rows, [[3.0, 1.0], [2.0, 9.0]])
    np.testing.assert_array_equal(got_stacked, [[5.0, 6.0], [3.0, 4.0]])
    assert grad == pytest.approx(2 * 3.0 + 4 * 3.0 ** 3)  # d/dx (x^2 + x^4)
    assert gd.array(2.0, ndmin=3).shape == (1, 1, 1)
    assert gd.exp([x, 0.0]).shape == (2,)  # every function converts nested lists the same way


# --- tensor methods and len() ---------------------------------------------------------------

def test_tensor_methods_match_numpy() -> None:
    value = np.arange(6.0, dtype=np.float32).reshape(2, 3) - 2.5
    x = gd.placeholder((2, 3), "float32", name="x")
    col = gd.placeholder((2, 1, 3), "float32", name="col")
    assert x.size == 6 and x.ndim == 2 and len(x) == 2
    assert S.size == "n*3"
    methods = [x.ravel(), x.flatten(), col.squeeze(), col.squeeze(1), x.swapaxes(0, 1),
               x.clip(-1.0, 1.0), x.clip(a_max=0.0), x.prod(axis=1), x.argmax(), x.argmax(1),
               x.repeat(2, axis=1), x.diagonal(), x.trace()]
    got = gd.function([x, col], methods)(value, value[:, None, :])
    v3 = value[:, None, :]
    ref = [value.ravel(), value.flatten(), v3.squeeze(), v3.squeeze(1), value.swapaxes(0, 1),
           value.clip(-1.0, 1.0), value.clip(max=0.0), value.prod(axis=1), value.argmax(),
           value.argmax(1), value.repeat(2, axis=1), value.diagonal(), value.trace()]
    for g, r in zip(got, ref, strict=True):
        assert g.shape == r.shape
        np.testing.assert_allclose(g, r)


def test_len_of_symbolic_or_0d_tensor_and_numpy_conversion_raise() -> None:
    with pytest.raises(gd.GraphdiffError, match=r"len\(\) of f32\[n,3\]: the first axis is "
                                                r"symbolic") as info:
        len(S)
    assert __file__ in str(info.value)
    with pytest.raises(gd.GraphdiffError, match=r"len\(\) of a 0-d tensor"):
        len(X[0, 0])
    with pytest.raises(gd.InputError, match="symbolic tensor: it has no values"):
        np.asarray(X)
    with pytest.raises(gd.InputError, match="symbolic tensor"):
        np.asarray([X, X])


def test_symbolic_results_run_for_several_sizes() -> None:
    a = gd.placeholder((None, 3), "float64", name="a")
    outs = [gd.tile(a, (2, 1)), gd.repeat(a, 2, axis=0), gd.vstack([a, a[:1]]),
            gd.kron(a, np.ones((2, 1))), gd.diff(a, axis=0, append=a[-1:] * 2.0)]
    f = gd.function([a], outs)
    for n in (1, 4):
        value = np.arange(n * 3.0).reshape(n, 3)
        ref = [np.tile(value, (2, 1)), np.repeat(value, 2, axis=0),
               np.vstack([value, value[:1]]), np.kron(value, np.ones((2, 1))),
               np.diff(value, axis=0, append=value[-1:] * 2.0)]
        for got, want in zip(f(value), ref, strict=True):
            np.testing.assert_array_equal(got, want)


# --- bad input: the function, the shapes and the user's line --------------------------------

ERRORS: list[tuple[str, Callable, tuple[str, ...]]] = [
    ("flip_axis", lambda: gd.flip(X, 2), ("flip of f32[2,3]: axis 2 is out of range",)),
    ("roll_symbolic", lambda: gd.roll(S, 1, axis=0), ("roll of f32[n,3]: axis 0 is symbolic",)),
    ("roll_shift", lambda: gd.roll(X, 1.5, axis=0), ("roll: shift must be an int",)),
    ("rot90_axes", lambda: gd.rot90(X, axes=(1, 1)), ("rot90 of f32[2,3]: the axes must differ",)),
    ("moveaxis_len", lambda: gd.moveaxis(X, (0, 1), 0), ("moveaxis of f32[2,3]: source",)),
    ("moveaxis_repeat", lambda: gd.moveaxis(X, (0, 0), (0, 1)), ("moveaxis of f32[2,3]: "
                                                               "repeated axis",)),
    ("rollaxis_start", lambda: gd.rollaxis(X, 0, 5), ("rollaxis of f32[2,3]: start 5",)),
    ("tile_reps", lambda: gd.tile(X, (2.0, 1)), ("tile: reps must be non-negative ints",)),
    ("repeat_float", lambda: gd.repeat(X, 1.5, axis=0), ("repeat: repeats must be non-negative",
                                                         "f32[2,3]")),
    ("repeat_counts", lambda: gd.repeat(X, [1, 2], axis=1), ("repeat: 2 repeats for axis 1 of "
                                                             "f32[2,3]",)),
    ("hstack_empty", lambda: gd.hstack([]), ("hstack needs a non-empty sequence",)),
    ("vstack_shapes", lambda: gd.vstack([X, gd.placeholder((2, 2, 2), "float32")]),
     ("vstack: operands must have one rank", "f32[2,3], f32[2,2,2]")),
    ("array_split_sections", lambda: gd.array_split(X, 0), ("array_split of f32[2,3]: the "
                                                           "number of sections",)),
    ("array_split_symbolic", lambda: gd.array_split(S, 2), ("array_split of f32[n,3] into 2 "
                                                           "sections needs a static",)),
    ("vsplit_rank", lambda: gd.vsplit(V, 2), ("vsplit needs a tensor of rank >= 2, got f32[3]",)),
    ("append_rank", lambda: gd.append(X, V, axis=0), ("append along axis 0: f32[2,3] and f32[3]",)),
    ("diff_order", lambda: gd.diff(X, -1), ("diff: order n must be a non-negative int",)),
    ("diff_axis", lambda: gd.diff(X, axis=3), ("diff of f32[2,3]: axis 3 is out of range",)),
    ("tril_symbolic", lambda: gd.tril(gd.placeholder((3, "m"), "float32")),
     ("tril of f32[3,m] needs static sizes",)),
    ("diag_rank", lambda: gd.diag(gd.placeholder((2, 2, 2), "float32")),
     ("diag needs a 1-D or 2-D tensor, got f32[2,2,2]",)),
    ("diagonal_axes", lambda: gd.diagonal(X, 0, 1, -1), ("diagonal of f32[2,3]: axis1 and axis2",)),
    ("tensordot_sizes", lambda: gd.tensordot(X, X, axes=1), ("tensordot: f32[2,3] axis 1 (3) "
                                                            "does not match f32[2,3] axis 0 (2)",)),
    ("tensordot_axes", lambda: gd.tensordot(X, X, axes=([0], [0, 1])), ("tensordot of f32[2,3] "
                                                                       "and f32[2,3]: 1 axes",)),
    ("vdot_sizes", lambda: gd.vdot(X, V), ("vdot: f32[6] axis 0 (6) does not match f32[3]",)),
    ("cross_size", lambda: gd.cross(gd.placeholder((4, 3), "float32"), V, axisa=0),
     ("cross: the vector axes must have size 2 or 3", "f32[3,4]")),
    ("eye_size", lambda: gd.eye(2.5), ("eye: N must be a non-negative int",)),
    ("linspace_num", lambda: gd.linspace(0, 1, -1), ("linspace: num must be a non-negative",)),
    ("meshgrid_indexing", lambda: gd.meshgrid(V, indexing="yx"), ("meshgrid: indexing must be",)),
]


@pytest.mark.parametrize("name, trigger, parts", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_input_names_the_function_the_shapes_and_the_line(name, trigger, parts) -> None:
    with pytest.raises(gd.GraphdiffError) as info:
        trigger()
    message = str(info.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    assert f"{__file__}:{trigger.__code__.co_firstlineno}" in message, message


# --- second derivatives through the composites (nonlinear losses of them) ---------------------

SECOND_ORDER: list[tuple[str, Callable]] = [
    ("kron", lambda x: gd.sum(gd.kron(x, x) ** 2)),
    ("cross", lambda x: gd.sum(gd.cross(x[:, :3], x[:, 1:]) ** 2)),
    ("tensordot", lambda x: gd.sum(gd.tensordot(x, x, axes=([0], [0])) ** 2)),
    ("outer_trace", lambda x: gd.trace(gd.outer(x, x)) ** 2 + gd.sum(gd.diag(x[0]) ** 3)),
    ("diff_roll_tile", lambda x: gd.sum(gd.diff(gd.roll(gd.tile(x, 2), 1), 2) ** 3)),
    ("tril_diagonal", lambda x: gd.sum(gd.tril(x @ x.T, -1) ** 2 + gd.diagonal(x @ x.T) ** 2)),
    ("linspace", lambda x: gd.sum(gd.sin(gd.linspace(x[0], x[1] ** 2, 5)))),
    ("nested_array", lambda x: gd.sum(gd.asarray([[x[0, 0] ** 2, 1.0], [x[1, 2], x[2, 3]]]) ** 3)),
]


@pytest.mark.parametrize("name, loss_fn", SECOND_ORDER, ids=[c[0] for c in SECOND_ORDER])
def test_second_derivatives_match_differences_of_the_gradient(name: str, loss_fn) -> None:
    eps = 1e-6
    rng = np.random.default_rng(11)
    x = gd.placeholder((3, 4), "float64", name="x")
    loss = loss_fn(x)
    v = rng.standard_normal((3, 4))
    gradient = gd.grad(loss, x)
    reverse_over_reverse = gd.grad(gd.sum(gradient * gd.constant(v)), x)
    hv, rr = gd.function([x], [gd.hvp(loss, x, v), reverse_over_reverse])(
        xv := rng.standard_normal((3, 4)))
    g = gd.function([x], gradient)
    numeric = (g(xv + eps * v) - g(xv - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv, numeric, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rr, hv, rtol=1e-9, atol=1e-10)
