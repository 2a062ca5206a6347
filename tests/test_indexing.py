"""Indexing and joining beyond the registry cases: error messages, derivatives of second order
against finite differences of the gradient, JVP rules against finite differences, and symbolic
dimensions through compiled functions fed several batch sizes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir import Graph
from graphdiff.ir.dims import evaluate_dim, slice_dim, sum_dims

RNG = np.random.default_rng(0)


# --- error messages ---------------------------------------------------------------------------

def test_boolean_mask_is_refused_with_a_hint() -> None:
    x = gd.placeholder((4, 3), "float64", name="x")
    with pytest.raises(gd.GraphdiffError, match=r"boolean mask.*gd\.where.*test_indexing\.py"):
        x[gd.greater(x, 0.0)]
    with pytest.raises(gd.GraphdiffError, match="boolean mask"):
        x[np.array([True, False, True, True])]


def test_out_of_range_int_index_on_a_static_axis() -> None:
    x = gd.placeholder((None, 3), "float32")
    with pytest.raises(gd.ShapeError, match=r"index 3 is out of range for axis 1 of size 3 "
                                            r"\(at .*test_indexing\.py"):
        x[:, 3]
    with pytest.raises(gd.ShapeError, match="index -4 is out of range"):
        x[0, -4]


def test_other_index_errors() -> None:
    x = gd.placeholder((4, 3), "float32")
    with pytest.raises(gd.ShapeError, match=r"too many indices \(3\) for a tensor of rank 2"):
        x[0, 1, 2]
    with pytest.raises(gd.ShapeError, match="step cannot be zero"):
        x[::0]
    with pytest.raises(gd.GraphdiffError, match="one ellipsis"):
        x[..., ...]
    with pytest.raises(gd.DTypeError, match="index arrays must be integers"):
        x[np.array([0.5])]
    with pytest.raises(gd.ShapeError, match=r"index arrays must broadcast together.*\[2\] and "
                                            r"\[3\].*test_indexing"):
        x[np.array([0, 1]), np.array([1, 0, 2])]
    with pytest.raises(gd.ShapeError, match="index 3 is out of range for axis 1 of size 3"):
        x[[0, 1], [1, 3]]
    with pytest.raises(gd.ShapeError, match="index 4 is out of range for axis 0 of size 4"):
        gd.take(x, np.array([0, 4]), axis=0)
    with pytest.raises(gd.ShapeError, match="indices of rank 1 for a tensor of rank 2"):
        gd.take_along_axis(x, np.array([0, 1]), axis=1)


# --- advanced indexing: numpy's rules ------------------------------------------------------------

ADVANCED_KEYS = [
    (3, slice(2, None), [1, 3]), ([0, 1], [1, 2]), (slice(None), np.array([[0, 1], [2, -1]])),
    ([[0], [1]], slice(None), [2, 3, -7]), ([0, 1], None, [0, 1]),
    (slice(None), [0, 1], None, [1, 2]), (slice(None), 3, [1, 3]), (Ellipsis, [1], [2, 3]),
    ([1], Ellipsis, [2, 3]), (slice(None), [1], Ellipsis, [2, 3]), (slice(1, 2), [1], [2, 3]),
    (slice(None), np.array(1), slice(None)), ([4, -5], [1, 1], [0, 6]), (1, [0, 2]),
    (-1, slice(None, None, -1), [[1, 2, 3]]), ((0, 2),), (np.array([[0, 2]]), 1, None, 3),
]


@pytest.mark.parametrize("key", ADVANCED_KEYS, ids=[repr(k) for k in ADVANCED_KEYS])
def test_advanced_index_matches_numpy(key: tuple) -> None:
    x_value = RNG.standard_normal((5, 6, 7))
    x = gd.placeholder((5, 6, 7), "float64", name="x")
    got = gd.function([x], x[key])(x_value)
    want = x_value[key]
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_advanced_index_with_run_time_indices_on_symbolic_axes() -> None:
    x = gd.placeholder((None, 6, None), "float64", name="x")
    i = gd.placeholder((None,), "int64", name="i")
    j = gd.placeholder((1,), "int32", name="j")
    f = gd.function([x, i, j], x[i, 2:, j])
    for n, m in ((5, 7), (3, 2)):
        x_value = RNG.standard_normal((n, 6, m))
        i_value, j_value = np.array([0, -1, n - 1, -n]), np.array([-m], np.int32)
        np.testing.assert_array_equal(f(x_value, i_value, j_value),
                                      x_value[i_value, 2:, j_value])
    with pytest.raises(gd.GraphdiffError, match=r"running take \(created at .*test_indexing"):
        f(np.ones((3, 6, 2)), np.array([3]), np.array([0], np.int32))
    with pytest.raises(gd.GraphdiffError, match=r"running take"):
        f(np.ones((3, 6, 2)), np.array([0]), np.array([-3], np.int32))


def test_gradient_of_repeated_advanced_indices_accumulates() -> None:
    x = gd.placeholder((3, 4), "float64", name="x")
    y = x[[0, 0, 2, 0], [1, 1, 3, -3]]
    (gx,) = gd.grad(gd.sum(y * gd.constant(np.array([1.0, 2.0, 3.0, 4.0]))), [x])
    want = np.zeros((3, 4))
    np.add.at(want, ([0, 0, 2, 0], [1, 1, 3, 1]), [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(gd.function([x], gx)(np.ones((3, 4))), want)
    (t,) = gd.jvp([y], [x], [gd.constant(np.arange(12.0).reshape(3, 4))])
    np.testing.assert_array_equal(gd.function([x], t)(np.ones((3, 4))), [1.0, 1.0, 11.0, 1.0])


def test_iteration_follows_the_static_first_axis() -> None:
    x = gd.placeholder((2, 3), "float64")
    rows = list(x)
    assert len(rows) == 2 and rows[1] is x[1]
    with pytest.raises(gd.GraphdiffError, match=r"cannot iterate over a symbolic axis \(n\)"):
        list(gd.placeholder(("n", 3), "float64"))
    with pytest.raises(gd.GraphdiffError, match="cannot iterate over a 0-d tensor"):
        list(x[0, 0])


def test_take_out_of_range_at_run_time_names_the_op() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    i = gd.placeholder((None,), "int64", name="i")
    f = gd.function([x, i], gd.take(x, i))
    np.testing.assert_array_equal(f(np.arange(3.0), np.array([2, -3])), [2.0, 0.0])
    with pytest.raises(gd.GraphdiffError, match=r"running take \(created at .*test_indexing"):
        f(np.arange(3.0), np.array([3]))


def test_a_static_slice_of_a_symbolic_axis_is_checked_at_run_time() -> None:
    x = gd.placeholder((None, 2), "float64", name="x")
    f = gd.function([x], x[2] * 2.0)
    np.testing.assert_array_equal(f(np.ones((3, 2))), [2.0, 2.0])
    with pytest.raises(gd.InputError, match="slice created at .*test_indexing"):
        f(np.ones((2, 2)))


@pytest.mark.parametrize("pad_width, message", [
    (((1, 2), (0, -1)), "must be >= 0"),
    (((1, 2, 3),), "does not fit a tensor of rank 2"),
    ([[1, 2], [3, 4], [5, 6]], "does not fit a tensor of rank 2"),
    (1.5, "must be ints"),
])
def test_bad_pad_width(pad_width: object, message: str) -> None:
    x = gd.placeholder((3, 4), "float32")
    with pytest.raises(gd.ShapeError, match=message + r".*\(at .*test_indexing\.py"):
        gd.pad(x, pad_width)


def test_pad_mode_and_width_errors() -> None:
    x = gd.placeholder((3, 4), "float32")
    with pytest.raises(gd.GraphdiffError, match=r"pad mode 'wrap' is not supported"):
        gd.pad(x, 1, mode="wrap")
    with pytest.raises(gd.ShapeError, match=r"'reflect' with widths \(3, 0\) needs axis 0"):
        gd.pad(x, ((3, 0), (0, 0)), mode="reflect")
    with pytest.raises(gd.GraphdiffError, match="only one constant value"):
        gd.pad(x, 1, constant_values=(1, 2))


def test_split_and_concatenate_errors() -> None:
    x = gd.placeholder((None, 6), "float32")
    with pytest.raises(gd.ShapeError, match=r"4 sections do not divide axis 1 of size 6"):
        gd.split(x, 4, axis=1)
    with pytest.raises(gd.ShapeError, match=r"needs a static axis; axis 0 is symbolic"):
        gd.split(x, 2)
    y = gd.placeholder((None, 5), "float32")
    with pytest.raises(gd.ShapeError, match=r"concatenate: .*differ off axis 0.*test_indexing"):
        gd.concatenate([x, y])
    with pytest.raises(gd.ShapeError, match="non-empty list"):
        gd.concatenate([])
    with pytest.raises(gd.ShapeError, match=r"concatenate: operand shapes \[3,1,4\] and \[3,1,5\]"):
        gd.stack([gd.placeholder((3, 4), "float32"), gd.placeholder((3, 5), "float32")], axis=1)


# --- derived symbolic dimensions ---------------------------------------------------------------

def test_derived_dims_are_named_deterministically_and_evaluated() -> None:
    assert slice_dim("n", 1, None, 1) == "n[1:]"
    assert slice_dim("n", None, -1, 1) == "n[:-1]"
    assert slice_dim("n", 2, 5, 1) == 3 and slice_dim("n", -1, None, 1) == 1
    assert slice_dim("a+b", 1, None, 2) == "(a+b)[1::2]"
    assert sum_dims(["n", 2]) == sum_dims([1, "n", 1]) == "n+2"
    n = 7
    for dim, value in [("n[1:]", n - 1), ("(n+2)[1::2]", len(range(n + 2)[1::2])),
                       ("n*4+1", 4 * n + 1), ("n[::-3]", len(range(n)[::-3])),
                       ("(n[:-2]+n)[-3:]", 3), ("?5+n", 9)]:
        assert evaluate_dim(dim, {"n": n, "?5": 2}) == value, dim
    assert evaluate_dim("m+1", {"n": 3}) is None and evaluate_dim("n-1", {"n": 3}) == 2
    assert evaluate_dim("(n//2)*3", {"n": 7}) == 9 and evaluate_dim("n+", {"n": 1}) is None


def test_flattening_a_joined_symbolic_axis_names_and_evaluates_the_product() -> None:
    a = gd.placeholder(("a", 4), "float64", name="a")
    b = gd.placeholder(("b", 4), "float64", name="b")
    flat = gd.reshape(gd.concatenate([a, b]), (-1,))
    assert flat.shape == ("a*4+b*4",)  # the normal form: a polynomial, expanded
    assert evaluate_dim("a*4+b*4", {"a": 2, "b": 3}) == 20
    # The gradient never computes ``flat``, so its size is evaluated from the formula.
    ga, gb = gd.grad(gd.sum(flat * 2.0), [a, b])
    f = gd.function([a, b], [ga, gb])
    for rows_a, rows_b in ((2, 3), (1, 5)):
        got_a, got_b = f(np.ones((rows_a, 4)), np.ones((rows_b, 4)))
        np.testing.assert_array_equal(got_a, np.full((rows_a, 4), 2.0))
        np.testing.assert_array_equal(got_b, np.full((rows_b, 4), 2.0))


def test_graph_prints_and_verifies_with_derived_dims() -> None:
    x = gd.placeholder(("n", 3), "float64", name="x")
    y = gd.concatenate([x[1:], gd.pad(x, ((1, 0), (0, 0)))])
    (g,) = gd.grad(gd.sum(y * y), [x])
    graph = Graph([x], [y, g])
    text = str(graph)
    assert "f64[n[1:],3] = slice" in text and "f64[n+n[1:]+1,3] = concatenate" in text
    from graphdiff.ir.verify import verify

    verify(graph)


# --- second derivatives against finite differences of the gradient ---------------------------

def _check_second_order(build: Callable[[gd.Node], gd.Node], shape: tuple, *,
                        symbolic: bool = False, feeds: tuple = ()) -> None:
    """d/dx <grad f(x), w> against central differences of the compiled gradient, along u."""
    x0 = RNG.standard_normal(shape)
    x = gd.placeholder((None,) + shape[1:] if symbolic else shape, "float64", name="x")
    f = build(x)
    (g,) = gd.grad(f, [x])
    w = RNG.standard_normal(shape)
    (h,) = gd.grad(gd.sum(g * w), [x])
    grad_fn = gd.function([x], g)
    h_value = gd.function([x], h)(x0)
    eps = 1e-5
    for _ in range(3):
        u = RNG.standard_normal(shape)
        ahead, behind = grad_fn(x0 + eps * u), grad_fn(x0 - eps * u)
        numeric = np.sum((ahead - behind) * w) / (2 * eps)
        np.testing.assert_allclose(np.sum(h_value * u), numeric, rtol=1e-6, atol=1e-8)


def _cubic(y: gd.Node) -> gd.Node:
    """A loss with a non-zero second derivative everywhere."""
    return gd.sum(gd.sin(y) * y * y)


SECOND_ORDER = {
    "slice": lambda x: _cubic(x[1:, ::-2] * x[:-1, 1::2]),
    "index_newaxis": lambda x: _cubic(x[-1, None, :] * x[..., 0, None]),
    "take_repeated": lambda x: _cubic(gd.take(x, np.array([[0, 2, 2], [3, 0, 0]]), axis=0)),
    "take_along_axis": lambda x: _cubic(gd.take_along_axis(x, np.array([[1], [0], [2], [2]]), 1)),
    "pad_constant": lambda x: _cubic(gd.pad(x, ((1, 2), (0, 1)), constant_values=0.5) * 1.5),
    "pad_reflect": lambda x: _cubic(gd.pad(x, ((2, 1), (1, 1)), mode="reflect")),
    "pad_edge": lambda x: _cubic(gd.pad(x, 2, mode="edge")),
    "concatenate": lambda x: _cubic(gd.concatenate([x, gd.sin(x[:, :2])], axis=1)),
    "stack_split": lambda x: _cubic(gd.stack(gd.split(x, [1, 2], axis=1)[::2], axis=0)),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_grad_of_grad(name: str) -> None:
    _check_second_order(SECOND_ORDER[name], (4, 3))


@pytest.mark.parametrize("name", ["slice", "concatenate_symbolic", "pad_constant"])
def test_grad_of_grad_on_a_symbolic_axis(name: str) -> None:
    builds = {
        "slice": SECOND_ORDER["slice"],
        "concatenate_symbolic": lambda x: _cubic(gd.concatenate([x[1:], gd.cos(x)], axis=0)),
        "pad_constant": SECOND_ORDER["pad_constant"],
    }
    _check_second_order(builds[name], (5, 3), symbolic=True)


# --- JVP rules against finite differences ------------------------------------------------------

def _push_forward(output: gd.Node, x: gd.Node, tangent: gd.Node) -> gd.Node:
    """The tangent of ``output`` for tangent ``tangent`` of ``x``, by each op's JVP rule."""
    tangents: dict[gd.Node, gd.Node | None] = {x: tangent}
    for node in Graph([], [output]).nodes:
        if node in tangents or not node.inputs:
            continue
        inputs = [tangents.get(v) for v in node.inputs]
        if all(t is None for t in inputs) or not node.op.differentiable:
            tangents[node] = None
            continue
        if node.op.elementwise:  # the rules see operands of the output's shape
            inputs = [None if t is None else gd.broadcast_to(t, node.shape) for t in inputs]
        tangents[node] = node.op.jvp(node, inputs)
    return tangents[output]


JVP_CASES = {
    "slice_int_newaxis": lambda x: x[::-1, None, 1:] * x[0, 1:],
    "take": lambda x: gd.take(x, np.array([2, 2, 0]), axis=1),
    "scatter_and_unslice": lambda x: gd.grad(
        _cubic(x[1:] * gd.take(x, np.array([1, 1, 0]), 1)[:3]), [x])[0],
    "take_along_axis": lambda x: gd.take_along_axis(x, np.array([[0, 2], [1, 1]] * 2), axis=1),
    "scatter_along_axis": lambda x: gd.grad(
        _cubic(gd.take_along_axis(x, np.array([[0], [2], [2], [1]]), axis=1)), [x])[0],
    "pad": lambda x: gd.pad(x, ((0, 2), (1, 0)), constant_values=3.0),
    "concatenate_narrow": lambda x: gd.grad(_cubic(gd.concatenate([x, x[:1] * 2.0])), [x])[0],
}


@pytest.mark.parametrize("name", sorted(JVP_CASES))
@pytest.mark.parametrize("symbolic", [False, True])
def test_jvp_rules(name: str, symbolic: bool) -> None:
    shape = (4, 3)
    x = gd.placeholder((None, 3) if symbolic else shape, "float64", name="x")
    t = gd.placeholder((None, 3) if symbolic else shape, "float64", name="t")
    y = JVP_CASES[name](x)
    ty = _push_forward(y, x, t)
    x0, t0 = RNG.standard_normal(shape), RNG.standard_normal(shape)
    f = gd.function([x], y)
    eps = 1e-6
    numeric = (f(x0 + eps * t0) - f(x0 - eps * t0)) / (2 * eps)
    np.testing.assert_allclose(gd.function([x, t], ty)(x0, t0), numeric, rtol=1e-6, atol=1e-8)


# --- symbolic dims through compiled functions ---------------------------------------------------

def test_variable_batch_size_with_slicing_and_gradients() -> None:
    x = gd.placeholder((None, 3), "float64", name="x")
    W = gd.variable(RNG.standard_normal((3, 2)), name="W")
    h = gd.tanh(x @ W)
    diff = h[1:] - h[:-1]                       # neighbour differences along the batch
    loss = gd.sum(diff * diff) + gd.sum(h[-1]) + gd.sum(gd.pad(h, ((1, 1), (0, 0)))[::2])
    gx, gW = gd.grad(loss, [x, W])
    f = gd.function([x], [loss, gW])
    only_gradient = gd.function([x], gx)        # never computes h[1:] itself
    W0 = gd.get_value(W)
    for batch in (5, 2, 8, 5):
        xb = RNG.standard_normal((batch, 3))

        def numpy_loss(xv: np.ndarray, Wv: np.ndarray = W0) -> float:
            hv = np.tanh(xv @ Wv)
            d = hv[1:] - hv[:-1]
            return float(np.sum(d * d) + np.sum(hv[-1]) + np.sum(np.pad(hv, ((1, 1), (0, 0)))[::2]))

        loss_value, gW_value = f(xb)
        np.testing.assert_allclose(loss_value, numpy_loss(xb), rtol=1e-12)
        gx_value = only_gradient(xb)
        assert gx_value.shape == xb.shape
        eps = 1e-6
        k = (batch - 1, 2)
        step = np.zeros_like(xb)
        step[k] = eps
        numeric = (numpy_loss(xb + step) - numpy_loss(xb - step)) / (2 * eps)
        np.testing.assert_allclose(gx_value[k], numeric, rtol=1e-6, atol=1e-8)
        step_w = np.zeros_like(W0)
        step_w[1, 0] = eps
        numeric_w = (numpy_loss(xb, W0 + step_w) - numpy_loss(xb, W0 - step_w)) / (2 * eps)
        np.testing.assert_allclose(gW_value[1, 0], numeric_w, rtol=1e-6, atol=1e-8)


def test_gradient_graph_without_the_forward_slice_evaluates_its_dims() -> None:
    x = gd.placeholder((None, 2), "float64", name="x")
    # The gradient of a linear function never computes x[1:][::2], yet places a cotangent of
    # its derived shape; the runtime evaluates ``(?k[1:])[::2]`` from the fed batch size.
    (g,) = gd.grad(gd.sum(x[1:][::2] * 3.0), [x])
    f = gd.function([x], g)
    for batch in (6, 3, 1):
        want = np.zeros((batch, 2))
        want[1:][::2] = 3.0
        np.testing.assert_array_equal(f(np.ones((batch, 2))), want)


def test_cross_entropy_by_take_along_axis_with_variable_batch() -> None:
    logits = gd.placeholder((None, 4), "float64", name="logits")
    labels = gd.placeholder((None,), "int64", name="labels")
    picked = gd.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
    loss = gd.mean(gd.log(gd.sum(gd.exp(logits), axis=1)) - picked)
    (g,) = gd.grad(loss, [logits])
    f = gd.function([logits, labels], [loss, g])
    for batch in (3, 6):
        z = RNG.standard_normal((batch, 4))
        y = RNG.integers(0, 4, batch)
        loss_value, g_value = f(z, y)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(loss_value, np.mean(-np.log(p[np.arange(batch), y])),
                                   rtol=1e-12)
        np.testing.assert_allclose(g_value, (p - np.eye(4)[y]) / batch, rtol=1e-10, atol=1e-12)


def test_scatter_add_accumulates_repeated_indices() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    idx = np.array([[0, 0], [2, 0]])
    (g,) = gd.grad(gd.sum(gd.take(x, idx) * np.array([[1.0, 2.0], [3.0, 4.0]])), [x])
    np.testing.assert_array_equal(gd.function([x], g)(np.zeros(3)), [7.0, 0.0, 3.0])


def test_slices_of_a_static_axis_share_nodes_and_views() -> None:
    x = gd.placeholder((4, 3), "float32")
    assert x[0:4] is x and x[:, ::1] is x
    assert x[1:100] is x[1:]
    assert x[-3:] is x[1:]
    assert gd.concatenate([x]) is x


def _random_key(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple:
    """A random basic index: ints, slices with random (possibly negative) bounds and steps,
    None and at most one Ellipsis."""
    key: list = []
    axis = 0
    while axis < len(shape) and rng.random() < 0.8:
        kind = rng.integers(0, 5)
        size = shape[axis]
        if kind == 0:
            key.append(Ellipsis)
            break
        if kind == 1:
            key.append(None)
            continue
        if kind == 2:
            key.append(int(rng.integers(-size, size)))
        else:
            bounds = [None if rng.random() < 0.3 else int(rng.integers(-size - 2, size + 2))
                      for _ in range(2)]
            step = None if rng.random() < 0.3 else int(rng.choice([-3, -2, -1, 1, 2, 3]))
            key.append(slice(bounds[0], bounds[1], step))
        axis += 1
    if key and key[-1] is Ellipsis and rng.random() < 0.5:
        key += [None, int(rng.integers(-shape[-1], shape[-1]))]
    return tuple(key)


def test_basic_indexing_matches_numpy_on_random_keys() -> None:
    rng = np.random.default_rng(7)
    shape = (4, 5, 3)
    x = gd.placeholder(shape, "float64", name="x")
    value = rng.standard_normal(shape)
    for _ in range(150):
        key = _random_key(rng, shape)
        out = x[key]
        want = value[key]
        assert out.shape == want.shape, key
        np.testing.assert_array_equal(gd.function([x], out, passes="none")(value), want)


def test_basic_indexing_on_a_symbolic_axis_matches_numpy_or_refuses_a_short_axis() -> None:
    """Where a slice's length does not depend on the symbolic size it is static; a feed too
    short for it is refused at run time (numpy would clip). Otherwise values match numpy."""
    rng = np.random.default_rng(8)
    shape = (6, 5, 3)
    x = gd.placeholder(("n", 5, 3), "float64", name="x")
    refused = 0
    for _ in range(150):
        key = _random_key(rng, shape)
        out = x[key]
        f = gd.function([x], out, passes="none")
        for rows in (6, 9):
            value = rng.standard_normal((rows, 5, 3))
            try:
                got = f(value)
            except gd.InputError as exc:
                assert "slice created at" in str(exc), exc
                refused += 1
                continue
            np.testing.assert_array_equal(got, value[key], err_msg=str(key))
    assert refused < 60


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_index_per_row_gather_and_scatter_fast_path(dtype: str) -> None:
    # indices of shape (..., 1) along the last axis are bound to one advanced-indexing call
    # each way (ops/index.py); negative indices count back like np.take_along_axis
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 5)).astype(dtype)
    idx = np.array([[[0], [4], [-1]], [[2], [-5], [3]]])
    X = gd.placeholder((None, 3, 5), dtype, name="x")
    Idx = gd.placeholder((None, 3, 1), "int64", name="i")
    w = rng.normal(size=(2, 3, 1)).astype(dtype)
    picked = gd.take_along_axis(X, Idx, axis=-1)
    f = gd.function([X, Idx], [picked, gd.grad(gd.sum(picked * w), X)])
    got, grad = f(x, idx)
    np.testing.assert_array_equal(got, np.take_along_axis(x, idx, axis=-1))
    want = np.zeros_like(x)
    np.put_along_axis(want, idx % 5, w, axis=-1)
    np.testing.assert_array_equal(grad, want)
    kernels = {getattr(v, "__name__", "") for v in f._last.generator.bound.values()}
    assert {"take_one_per_row", "scatter_one_per_row"} <= kernels
    with pytest.raises(gd.GraphdiffError, match="take_along_axis.*index 5 is out of bounds"):
        f(x, np.full((2, 3, 1), 5))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("index_shape", [(4, 1), (4, 2)], ids=["one per row", "general"])
def test_scatter_of_negative_zero_lands_as_zero_like_np_add_at(dtype: str,
                                                               index_shape: tuple) -> None:
    # the scatter adds into zeros: 0.0 + -0.0 is 0.0, so no kernel may keep the update's sign
    g = np.full(index_shape, -0.0, dtype=dtype)
    idx = np.array([[0, 2], [1, 3], [4, 0], [2, 2]])[:, :index_shape[1]]
    want = np.zeros((4, 5), dtype)
    np.add.at(want, (np.arange(4)[:, None], idx), g)
    G = gd.placeholder(index_shape, dtype, name="g")
    Idx = gd.placeholder(index_shape, "int64", name="i")
    for backend in ("numpy", "reference"):
        f = gd.function([G, Idx], gd.ops.index.scatter_add_along_axis(
            G, Idx, axis=1, shape=(4, 5)), backend=backend)
        got = f(g, idx)
        np.testing.assert_array_equal(got, want)
        assert not np.signbit(got).any(), backend
