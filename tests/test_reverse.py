"""Reverse mode: which nodes are visited, fan-out, symbolic zeros, int/bool inputs, unconnected
inputs, stop_gradient, grad of grad against finite differences, vjp against the Jacobian."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir import Graph
from graphdiff.ir.node import Node, OpDef

RNG = np.random.default_rng(0)


def _added_ops(outputs: list[Node], gradients: list[Node]) -> dict[str, int]:
    """Op counts of the nodes the gradient added to the forward graph."""
    forward = set(Graph([], outputs).nodes)
    counts: dict[str, int] = {}
    for node in Graph([], gradients).nodes:
        if node not in forward:
            counts[node.op.name] = counts.get(node.op.name, 0) + 1
    return counts


def _zero_nodes(graph: Graph) -> list[Node]:
    """Materialized zeros: fill nodes and constants holding only zeros."""
    return [n for n in graph.nodes if n.op.name == "fill"
            or (n.op.name == "constant" and not np.any(n.data))]


# --- a spy op: records each call of its VJP rule ---------------------------------------------

_VJP_CALLS: list[Node] = []


def _spy_vjp(node: Node, g: Node) -> list[Node]:
    _VJP_CALLS.append(node)
    return [g]


# The identity, never registered in the op table; its VJP rule records that it ran.
_SPY = OpDef(name="spy", infer=lambda types: types[0], kernel=lambda x: x, vjp=_spy_vjp,
             elementwise=True)


def test_only_nodes_between_wrt_and_y_are_visited() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    z = gd.placeholder((3,), "float64", name="z")
    W = gd.variable(RNG.standard_normal(3), name="W")
    branch = _SPY(z)
    for _ in range(30):  # an expensive branch that does not depend on W
        branch = gd.tanh(branch @ np.eye(3)) + gd.sin(branch)
    y = gd.sum(_SPY(x) * W) + gd.sum(branch)
    _VJP_CALLS.clear()
    gW = gd.grad(y, W)
    assert _VJP_CALLS == []  # neither spy lies between W and y
    gradient_nodes = set(Graph([], [gW]).nodes)
    assert z not in gradient_nodes and branch not in gradient_nodes
    plain = gd.grad(gd.sum(_SPY(x) * W), W)
    assert Graph([], [gW]).op_counts() == Graph([], [plain]).op_counts()
    xs = RNG.standard_normal(3)
    np.testing.assert_array_equal(gd.function([x], gW)(xs), xs)


def test_fan_out_contributions_are_summed_once() -> None:
    x = gd.placeholder((4,), "float64", name="x")
    shared = _SPY(x)
    y = gd.sum(shared * shared + shared * shared * shared)
    _VJP_CALLS.clear()
    gx = gd.grad(y, x)
    assert _VJP_CALLS == [shared]  # one VJP call, with the summed cotangent
    # shared*shared is one node (interned) used twice, and shared is used three times: the
    # square gets 2 contributions (1 add), shared gets 3 (2 adds)
    assert _added_ops([y], [gx]).get("add", 0) == 3
    xs = RNG.standard_normal(4)
    np.testing.assert_allclose(gd.function([x], gx)(xs), 2 * xs + 3 * xs ** 2, rtol=1e-12)


def test_fan_out_of_a_wide_sum_uses_n_minus_one_adds() -> None:
    x = gd.placeholder((2,), "float64", name="x")
    terms = [gd.sin(x * float(k)) for k in range(1, 8)]
    y = gd.sum(terms[0])
    for term in terms[1:]:
        y = y + gd.sum(term)
    gx = gd.grad(y, x)
    # seven uses of x (one per x * k) give six adds; the forward adds give none back
    assert _added_ops([y], [gx]).get("add", 0) == 6
    xs = np.array([0.3, -0.7])
    want = sum(k * np.cos(k * xs) for k in range(1, 8))
    np.testing.assert_allclose(gd.function([x], gx)(xs), want, rtol=1e-12)


def test_zeros_stay_symbolic() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    z = gd.placeholder((3,), "float64", name="z")
    c = gd.constant(np.array([1.0, 2.0, 3.0]))
    y = gd.sum(gd.tanh(x) * c + z * gd.stop_gradient(x) + gd.floor(z))
    gx = gd.grad(y, x)
    assert _zero_nodes(Graph([x, z], [gx])) == []
    gx, gz = gd.grad(y, [x, z])
    assert _zero_nodes(Graph([x, z], [gx, gz])) == []
    # the unconnected "zero" option is the one place a zero is materialized
    w = gd.placeholder((2,), "float64", name="w")
    gw = gd.grad(y, w, unconnected="zero")
    assert gw.op.name == "fill"
    np.testing.assert_array_equal(gd.function([w], gw)(np.ones(2)), np.zeros(2))


def test_integer_and_bool_inputs_get_no_gradient() -> None:
    i = gd.placeholder((3,), "int32", name="i")
    b = gd.placeholder((3,), "bool", name="b")
    x = gd.placeholder((3,), "float64", name="x")
    y = gd.sum(x * i + gd.where(b, x, 0.0))
    with pytest.raises(gd.GradientError, match="'?i'? .*int32.*no gradient"):
        gd.grad(y, i)
    with pytest.raises(gd.GradientError, match="bool"):
        gd.grad(y, [x, b])
    gx = gd.grad(y, x)
    iv, bv = np.array([1, 2, 3], np.int32), np.array([True, False, True])
    np.testing.assert_array_equal(gd.function([x, i, b], gx)(np.ones(3), iv, bv),
                                  iv + bv)


def test_integers_in_the_middle_stop_the_gradient() -> None:
    x = gd.placeholder((4,), "float64", name="x")
    truncated = gd.astype(gd.astype(x, "int32"), "float64")
    y = gd.sum(truncated * x)
    gx = gd.grad(y, x)
    xs = np.array([1.5, -2.5, 3.2, 0.4])
    np.testing.assert_array_equal(gd.function([x], gx)(xs), np.trunc(xs))
    # only through the integer path: connected, with a true zero derivative
    g_only = gd.grad(gd.sum(truncated), x)
    np.testing.assert_array_equal(gd.function([x], g_only)(xs), np.zeros(4))


def test_unconnected_wrt_raises_by_default_and_gives_zeros_on_request() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    other = gd.placeholder((2, 2), "float64", name="other")
    y = gd.sum(x ** 2)
    with pytest.raises(gd.GradientError, match="other .*not connected.*unconnected='zero'"):
        gd.grad(y, [x, other])
    gx, gother = gd.grad(y, [x, other], unconnected="zero")
    f = gd.function([x, other], [gx, gother])
    got_x, got_other = f(np.array([1.0, 2.0, 3.0]), np.ones((2, 2)))
    np.testing.assert_array_equal(got_x, [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(got_other, np.zeros((2, 2)))
    with pytest.raises(gd.GradientError, match="'raise' or 'zero'"):
        gd.grad(y, other, unconnected="zeros")


def test_stop_gradient() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    y = gd.sum(gd.stop_gradient(x) * x + gd.stop_gradient(x ** 3))
    gx = gd.grad(y, x)
    xs = np.array([1.0, -2.0, 0.5])
    np.testing.assert_array_equal(gd.function([x], gx)(xs), xs)
    np.testing.assert_array_equal(gd.function([x], y)(xs), np.sum(xs * xs + xs ** 3))
    only_stopped = gd.grad(gd.sum(gd.stop_gradient(x)), x)  # connected, derivative zero
    np.testing.assert_array_equal(gd.function([x], only_stopped)(xs), np.zeros(3))


def test_the_gradient_graph_is_an_ordinary_graph() -> None:
    x = gd.placeholder((None, 3), "float64", name="x")
    W = gd.variable(RNG.standard_normal((3, 2)), name="W")
    loss = gd.mean(gd.tanh(x @ W) ** 2)
    gW = gd.grad(loss, W)
    graph = Graph([x], [loss, gW])
    graph.verify()
    assert "matmul" in str(graph)
    assert gW.type == W.type


# --- grad of grad -------------------------------------------------------------------------------

def _hvp_check(build: Callable[..., Node], values: list[np.ndarray], *, symbolic: bool = False,
               rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """Check H v (grad of <grad f, v>) against central differences of grad f along v."""
    inputs = [gd.placeholder(((None,) + a.shape[1:]) if symbolic else a.shape, "float64",
                             name=f"a{i}") for i, a in enumerate(values)]
    directions = [gd.placeholder(p.shape, "float64", name=f"v{i}") for i, p in enumerate(inputs)]
    y = build(*inputs)
    grads = gd.grad(y, inputs)
    inner = gd.sum(grads[0] * directions[0])
    for g, v in zip(grads[1:], directions[1:], strict=True):
        inner = inner + gd.sum(g * v)
    hvps = gd.grad(inner, inputs)
    Graph(inputs + directions, hvps).verify()
    grad_fn = gd.function(inputs, grads)
    hvp_fn = gd.function(inputs + directions, hvps)
    vs = [RNG.standard_normal(a.shape) for a in values]
    got = hvp_fn(*values, *vs)
    eps = 1e-5
    plus = grad_fn(*[a + eps * v for a, v in zip(values, vs, strict=True)])
    minus = grad_fn(*[a - eps * v for a, v in zip(values, vs, strict=True)])
    for analytic, p, m in zip(got, plus, minus, strict=True):
        np.testing.assert_allclose(analytic, (p - m) / (2 * eps), rtol=rtol, atol=atol)


def _uniform(shape: tuple, low: float = -1.5, high: float = 1.5) -> np.ndarray:
    return RNG.uniform(low, high, size=shape)


SECOND_ORDER = [
    ("tanh", lambda x: gd.sum(gd.tanh(x) ** 2), [_uniform((3, 4))]),
    ("sigmoid", lambda x: gd.sum(gd.sigmoid(x * 2.0) * x), [_uniform((5,))]),
    ("exp", lambda x: gd.sum(gd.exp(x) * gd.sin(x)), [_uniform((2, 3))]),
    ("log", lambda x: gd.sum(gd.log(x) * x ** 2), [_uniform((4,), 0.5, 2.0)]),
    ("pow", lambda a, b: gd.sum(a ** b), [_uniform((3,), 0.5, 2.0), _uniform((3,))]),
    ("pow_scalar", lambda x: gd.sum(x ** 3 + x ** -1.5), [_uniform((4,), 0.5, 2.0)]),
    ("div", lambda a, b: gd.sum(a / b), [_uniform((2, 3)), _uniform((3,), 0.5, 2.0)]),
    ("matmul", lambda a, b: gd.sum((a @ b) ** 2), [_uniform((3, 4)), _uniform((4, 2))]),
    ("matmul_batch", lambda a, b: gd.sum(gd.tanh(a @ b)), [_uniform((2, 3, 4)),
                                                         _uniform((4, 2))]),
    ("max", lambda x: gd.sum(gd.max(x, axis=1) ** 2 * gd.max(x)), [_uniform((3, 4))]),
    ("maximum", lambda a, b: gd.sum(gd.maximum(a, b) ** 3), [_uniform((5,)), _uniform((5,))]),
    ("prod", lambda x: gd.sum(gd.prod(x, axis=0)) + gd.prod(x), [_uniform((3, 2))]),
    ("sum_mean", lambda x: gd.mean(gd.sum(x ** 3, axis=0)) * gd.mean(x), [_uniform((3, 4))]),
    ("var", lambda x: gd.sum(gd.var(x, axis=0) ** 2), [_uniform((4, 3))]),
    ("broadcast", lambda x, b: gd.sum(gd.tanh(x + b) * b), [_uniform((3, 2)), _uniform((2,))]),
]


@pytest.mark.parametrize(("name", "build", "values"), SECOND_ORDER,
                         ids=[c[0] for c in SECOND_ORDER])
def test_second_derivatives_match_finite_differences(name, build, values) -> None:
    _hvp_check(build, values)


def test_second_derivatives_with_a_symbolic_batch() -> None:
    _hvp_check(lambda x: gd.mean(gd.sum(gd.tanh(x) ** 2, axis=1)) * gd.mean(x),
               [_uniform((5, 3))], symbolic=True)


def test_third_derivative_against_the_closed_form() -> None:
    x = gd.placeholder((5,), "float64", name="x")
    first = gd.grad(gd.sum(gd.tanh(x)), x)  # 1 - t^2
    second = gd.grad(gd.sum(first), x)  # -2 t (1 - t^2)
    third = gd.grad(gd.sum(second), x)  # -2 (1 - t^2) (1 - 3 t^2)
    quartic = gd.grad(gd.sum(gd.grad(gd.sum(gd.grad(gd.sum(x ** 4), x)), x)), x)  # 24 x
    xs = np.linspace(-1.5, 1.5, 5)
    t = np.tanh(xs)
    got_first, got_second, got_third, got_quartic = gd.function(
        [x], [first, second, third, quartic])(xs)
    np.testing.assert_allclose(got_first, 1 - t ** 2, rtol=1e-12)
    np.testing.assert_allclose(got_second, -2 * t * (1 - t ** 2), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got_third, -2 * (1 - t ** 2) * (1 - 3 * t ** 2), rtol=1e-12)
    np.testing.assert_allclose(got_quartic, 24 * xs, rtol=1e-12)


# --- vjp with explicit cotangents ---------------------------------------------------------------

def _numeric_jacobian(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    eps = 1e-6
    out_size = np.size(fn(x))
    jacobian = np.zeros((out_size, x.size))
    for k in range(x.size):
        delta = np.zeros(x.size)
        delta[k] = eps
        delta = delta.reshape(x.shape)
        jacobian[:, k] = (np.ravel(fn(x + delta)) - np.ravel(fn(x - delta))) / (2 * eps)
    return jacobian


def test_vjp_with_explicit_cotangents_matches_the_jacobian() -> None:
    x = gd.placeholder((3, 4), "float64", name="x")
    W = gd.variable(RNG.standard_normal((4, 2)), name="W")
    y = gd.tanh(x @ W) * gd.sum(x, axis=1, keepdims=True)  # non-scalar: f64[3,2]
    v = gd.placeholder((3, 2), "float64", name="v")
    gx, gW = gd.vjp([y], [x, W], [v])
    single = gd.vjp(y, x, v)  # single tensors in, a single tensor out
    assert single is gx
    f = gd.function([x, v], [gx, gW])
    forward = gd.function([x], y)
    xs, vs = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 2))
    got_x, got_W = f(xs, vs)
    jacobian = _numeric_jacobian(forward, xs)
    np.testing.assert_allclose(got_x.ravel(), jacobian.T @ vs.ravel(), rtol=1e-6, atol=1e-8)
    Wv = gd.get_value(W)

    def of_W(w: np.ndarray) -> np.ndarray:
        return np.tanh(xs @ w) * xs.sum(axis=1, keepdims=True)

    np.testing.assert_allclose(got_W.ravel(), _numeric_jacobian(of_W, Wv).T @ vs.ravel(),
                               rtol=1e-6, atol=1e-8)
    # a cotangent given as an array becomes a constant of the output's dtype
    from_array = gd.vjp(y, x, vs)
    np.testing.assert_allclose(gd.function([x], from_array)(xs), got_x, rtol=1e-12)


def test_vjp_of_several_outputs_sums_their_contributions() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    a, b = gd.sin(x), x * x
    va, vb = gd.placeholder((3,), "float64", name="va"), gd.placeholder((3,), "float64",
                                                                         name="vb")
    gx = gd.vjp([a, b], x, [va, vb])
    xs, vas, vbs = RNG.standard_normal(3), RNG.standard_normal(3), RNG.standard_normal(3)
    np.testing.assert_allclose(gd.function([x, va, vb], gx)(xs, vas, vbs),
                               np.cos(xs) * vas + 2 * xs * vbs, rtol=1e-12)
