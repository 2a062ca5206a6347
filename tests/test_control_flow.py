"""Control flow: values against numpy loops, derivatives of every order against finite
differences (float64) and JAX, symbolic lengths, the planned executor against the reference, and
the errors users meet."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd

from .numeric import fd_gradient

RNG = np.random.default_rng(0)


def _rnn_loss(W, h0, xs):
    def step(h, x):
        h = gd.tanh(h @ W + x)
        return h, gd.sum(h * h)
    h, ys = gd.scan(step, h0, xs)
    return gd.sum(ys) + gd.sum(h)


def _rnn_loss_np(W, h0, xs):
    h, total = h0, 0.0
    for x in xs:
        h = np.tanh(h @ W + x)
        total += np.sum(h * h)
    return total + np.sum(h)


@pytest.fixture
def rnn():
    W = gd.placeholder((3, 3), "float64", name="W")
    h0 = gd.placeholder((3,), "float64", name="h0")
    xs = gd.placeholder((None, 3), "float64", name="xs")
    values = (RNG.uniform(-0.7, 0.7, (3, 3)), RNG.standard_normal(3))
    return W, h0, xs, values


def test_one_function_runs_every_length(rnn) -> None:
    W, h0, xs, (w, h) = rnn
    loss = _rnn_loss(W, h0, xs)
    f = gd.function([W, h0, xs], loss)
    ref = gd.function([W, h0, xs], loss, passes="none")
    for length in (0, 1, 5, 17):
        seq = RNG.standard_normal((length, 3))
        want = _rnn_loss_np(w, h, seq)
        np.testing.assert_allclose(f(w, h, seq), want, rtol=1e-12)
        np.testing.assert_allclose(ref(w, h, seq), want, rtol=1e-12)


def test_scan_gradient_matches_finite_differences_at_any_length(rnn) -> None:
    W, h0, xs, (w, h) = rnn
    loss = _rnn_loss(W, h0, xs)
    grads = gd.function([W, h0, xs], gd.grad(loss, [W, h0, xs]))
    for length in (1, 6):
        seq = RNG.standard_normal((length, 3))
        gw, gh, gx = grads(w, h, seq)
        np.testing.assert_allclose(gw, fd_gradient(lambda a, s=seq: _rnn_loss_np(a, h, s), w),
                                   rtol=1e-6)
        np.testing.assert_allclose(gh, fd_gradient(lambda a, s=seq: _rnn_loss_np(w, a, s), h),
                                   rtol=1e-6)
        np.testing.assert_allclose(gx, fd_gradient(lambda a: _rnn_loss_np(w, h, a), seq), rtol=1e-6)


def test_scan_vjp_saves_only_what_the_body_derivative_reads(rnn) -> None:
    W, h0, xs, _ = rnn
    loss = _rnn_loss(W, h0, xs)
    (gW,) = gd.grad(loss, [W])
    scans = [n for n in gd.Graph([W, h0, xs], [gW]).nodes if n.op is gd.ops.control.scan]
    forward = max((n for n in scans if not n.attrs["reverse"]), key=lambda n: len(n.type))
    # carry, ys, then residuals: the body's VJP reads tanh's output (for 1 - h^2) and the carry
    # (for the matmul against W, as a row): the pre-activation and x are not saved
    saved = forward.type.types[2:]
    assert len(saved) == 2
    assert all(t.shape[0] == xs.shape[0] and np.prod(t.shape[1:]) == 3 for t in saved)


def test_second_order_through_scan(rnn) -> None:
    W, h0, xs, (w, h) = rnn
    seq = RNG.standard_normal((4, 3))
    loss = _rnn_loss(W, h0, xs)
    hess = gd.function([W, h0, xs], gd.hessian(loss, h0))(w, h, seq)
    grad_fn = gd.function([W, h0, xs], gd.grad(loss, h0))
    numeric = np.stack([(grad_fn(w, h + e, seq) - grad_fn(w, h - e, seq)) / 2e-6
                        for e in np.eye(3) * 1e-6])
    np.testing.assert_allclose(hess, numeric, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-10, atol=1e-12)
    v = RNG.standard_normal(3)
    hvp = gd.function([W, h0, xs], gd.hvp(loss, h0, gd.constant(v)))(w, h, seq)
    np.testing.assert_allclose(hvp, hess @ v, rtol=1e-10)
    # forward over reverse: the JVP of the gradient is the same product
    jvp_of_grad = gd.jvp(gd.grad(loss, h0), h0, gd.constant(v))
    np.testing.assert_allclose(gd.function([W, h0, xs], jvp_of_grad)(w, h, seq), hess @ v,
                               rtol=1e-10)


def test_second_order_through_cond() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    y = gd.cond(gd.sum(x) > 0, lambda a: gd.sum(gd.sin(a) * a), lambda a: gd.sum(a ** 3), x)
    hess = gd.function([x], gd.hessian(y, x))
    for value in (np.array([0.5, 1.0, 0.2]), np.array([-0.5, -1.0, 0.2])):
        if value.sum() > 0:
            want = np.diag(2 * np.cos(value) - value * np.sin(value))
        else:
            want = np.diag(6 * value)
        np.testing.assert_allclose(hess(value), want, rtol=1e-12, atol=1e-12)


def _power_loop_np(x, n):
    v = x
    for _ in range(n):
        v = np.sin(v) * x + v
    return v.sum()


def test_fori_loop_with_a_bound_from_the_data_differentiates_both_ways() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    n = gd.placeholder((), "int64", name="n")
    v = gd.fori_loop(0, n, lambda i, v: gd.sin(v) * x + v, x)
    loss = gd.sum(v)
    grad = gd.function([x, n], gd.grad(loss, x))
    tangent = gd.function([x, n], gd.jvp(loss, x, gd.ones(3, "float64")))
    value = np.array([0.3, -0.2, 0.9])
    for steps in (0, 1, 5):
        want = fd_gradient(lambda a, n=steps: _power_loop_np(a, n), value)
        np.testing.assert_allclose(grad(value, np.int64(steps)), want, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(tangent(value, np.int64(steps)), want.sum(), rtol=1e-6)


def test_while_loop_reverse_mode_pops_a_stack_of_the_run_time_trip_count() -> None:
    x = gd.placeholder((2,), "float64", name="x")

    def body(c):
        v, s = c
        return gd.tanh(v) * 1.5 + x, s * 2.0
    v, s = gd.while_loop(lambda c: c[1] < 50.0, body, (x, gd.sum(x * x)))
    loss = gd.sum(v) + s
    grad = gd.function([x], gd.grad(loss, x))

    def loss_np(a):
        v, s = a, np.sum(a * a)
        while s < 50.0:
            v, s = np.tanh(v) * 1.5 + a, s * 2.0
        return v.sum() + s
    for value in (np.array([0.5, 0.4]), np.array([2.0, 1.0]), np.array([8.0, 1.0])):
        np.testing.assert_allclose(grad(value), fd_gradient(loss_np, value), rtol=1e-6)


def test_nested_scans_differentiate() -> None:
    x = gd.placeholder((4, 2), "float64", name="x")

    def outer(c, row):
        inner, _ = gd.scan(lambda d, _: (gd.sin(d) + row, None), c, length=3)
        return inner, None
    final, _ = gd.scan(outer, gd.zeros(2, "float64"), x)
    loss = gd.sum(final * final)

    def loss_np(a):
        c = np.zeros(2)
        for row in a:
            for _ in range(3):
                c = np.sin(c) + row
        return np.sum(c * c)
    value = RNG.standard_normal((4, 2))
    got = gd.function([x], gd.grad(loss, x))(value)
    np.testing.assert_allclose(got, fd_gradient(loss_np, value), rtol=1e-6)


def test_switch_clamps_the_index_at_run_time() -> None:
    x = gd.placeholder((2,), "float64", name="x")
    i = gd.placeholder((), "int64", name="i")
    y = gd.switch(i, [lambda a: a + 1.0, lambda a: a * 10.0, lambda a: -a], x)
    f = gd.function([x, i], y)
    value = np.array([1.0, 2.0])
    for index, want in ((-5, value + 1), (0, value + 1), (1, value * 10), (2, -value),
                        (99, -value)):
        np.testing.assert_array_equal(f(value, np.int64(index)), want)


def test_pytree_carries_and_scanned_dicts() -> None:
    xs = {"a": gd.placeholder(("T", 2), "float64"), "b": gd.placeholder(("T",), "float64")}

    def step(carry, x):
        total, count = carry
        return (total + x["a"] * x["b"][None], count + 1.0), {"sq": x["b"] * x["b"]}
    (total, count), ys = gd.scan(step, (gd.zeros(2, "float64"), gd.as_tensor(0.0)), xs)
    f = gd.function([xs["a"], xs["b"]], [total, count, ys["sq"]])
    a, b = RNG.standard_normal((5, 2)), RNG.standard_normal(5)
    got = f(a, b)
    np.testing.assert_allclose(got[0], (a * b[:, None]).sum(0))
    assert float(got[1]) == 5.0
    np.testing.assert_allclose(got[2], b * b)


def test_length_and_compile_size_do_not_grow_with_the_sequence(rnn) -> None:
    W, h0, xs, (w, h) = rnn
    loss = _rnn_loss(W, h0, xs)
    graph = gd.function([W, h0, xs], gd.grad(loss, [W])).graph
    assert len(list(gd.ir.region_walk(graph))) < 200  # one body, not one per step


# --- errors ----------------------------------------------------------------------------------

def test_a_carry_that_changes_type_names_both_types_and_the_body_line() -> None:
    x = gd.placeholder((None, 3), "float32", name="x")

    def widening(c, row):
        return gd.concatenate([c, row]), None
    with pytest.raises(gd.ShapeError) as info:
        gd.scan(widening, gd.zeros(3, "float32"), x)
    message = str(info.value)
    assert "f32[3]" in message and "f32[6]" in message
    assert f"test_control_flow.py:{widening.__code__.co_firstlineno}" in message


def test_a_carry_that_changes_dtype_is_refused() -> None:
    with pytest.raises(gd.ShapeError, match="f64"):
        gd.while_loop(lambda c: gd.sum(c) < 3.0, lambda c: c.astype("float64") * 2.0,
                      gd.ones(2, "float32"))


def test_predicates_must_be_bool_scalars() -> None:
    x = gd.placeholder((3,), "float64")
    with pytest.raises(gd.DTypeError, match="bool scalar"):
        gd.cond(x > 0, lambda a: a, lambda a: -a, x)
    with pytest.raises(gd.DTypeError, match="bool scalar"):
        gd.cond(gd.sum(x), lambda a: a, lambda a: -a, x)
    with pytest.raises(gd.DTypeError, match="bool scalar"):
        gd.while_loop(lambda c: c, lambda c: c, x)


def test_branches_with_different_results_are_refused() -> None:
    x = gd.placeholder((3,), "float64")
    with pytest.raises(gd.ShapeError, match="branch 1"):
        gd.cond(gd.sum(x) > 0, lambda a: a, lambda a: a[:2], x)


def test_python_control_flow_on_a_tensor_points_to_these_functions() -> None:
    x = gd.placeholder((3,), "float64")
    with pytest.raises(gd.GraphdiffError, match="gd.cond"):
        if gd.sum(x) > 0:
            pass
    with pytest.raises(gd.GraphdiffError, match="gd.while_loop"):
        while gd.sum(x) > 0:
            pass


# --- against JAX -----------------------------------------------------------------------------

def test_values_gradients_jvps_and_hessians_match_jax() -> None:
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    w = RNG.uniform(-0.7, 0.7, (3, 3))
    h = RNG.standard_normal(3)
    seq = RNG.standard_normal((6, 3))

    def jax_loss(w, h, seq):
        def step(h, x):
            h = jnp.tanh(h @ w + x)
            return h, jnp.sum(h * h)
        h, ys = jax.lax.scan(step, h, seq)
        out = jnp.sum(ys) + jnp.sum(h)
        return jax.lax.cond(out > 0, lambda v: v * v, lambda v: -v, out)

    W = gd.placeholder((3, 3), "float64")
    h0 = gd.placeholder((3,), "float64")
    xs = gd.placeholder((None, 3), "float64")
    out = _rnn_loss(W, h0, xs)
    loss = gd.cond(out > 0, lambda v: v * v, lambda v: -v, out)
    v = RNG.standard_normal(3)
    f = gd.function([W, h0, xs], [loss, *gd.grad(loss, [W, h0, xs]),
                                  gd.jvp(loss, h0, gd.constant(v)), gd.hessian(loss, h0)])
    got = f(w, h, seq)
    want = [jax_loss(w, h, seq), *jax.grad(jax_loss, argnums=(0, 1, 2))(w, h, seq),
            jax.jvp(lambda a: jax_loss(w, a, seq), (h,), (v,))[1],
            jax.hessian(jax_loss, argnums=1)(w, h, seq)]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("checkpoint", [1, 4, 5, "sqrt", 23, 40])
@pytest.mark.parametrize("reverse", [False, True])
def test_checkpointed_scan_gives_the_same_values_and_gradients(checkpoint, reverse) -> None:
    steps = 23
    W = gd.placeholder((3, 3), "float64", name="W")
    xs = gd.placeholder((steps, 3), "float64", name="xs")

    def step(h, x):
        h = gd.tanh(h @ W + x)
        return h, gd.sum(h * h)

    def loss_of(policy):
        h, ys = gd.scan(step, gd.zeros(3, "float64"), xs, reverse=reverse, checkpoint=policy)
        loss = gd.sum(ys * gd.arange(steps).astype("float64")) + gd.sum(h)
        return gd.function([W, xs], [loss, *gd.grad(loss, [W, xs])])
    w, x = RNG.uniform(-0.5, 0.5, (3, 3)), RNG.standard_normal((steps, 3))
    for got, want in zip(loss_of(checkpoint)(w, x), loss_of(None)(w, x)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_checkpointed_scan_saves_one_carry_per_segment() -> None:
    W = gd.placeholder((4, 4), "float64")
    xs = gd.placeholder((36, 4), "float64")
    h, _ = gd.scan(lambda h, x: (gd.tanh(h @ W + x), None), gd.zeros(4, "float64"), xs,
                   checkpoint="sqrt")
    (gW,) = gd.grad(gd.sum(h), [W])
    graph = gd.Graph([W, xs], [gW])
    outer = [n for n in graph.nodes if n.op is gd.ops.control.scan and not n.attrs["reverse"]]
    # the outer scan over 6 segments saves only its carry: one f64[6,4] stack
    saved = [t for n in outer for t in n.type.types[1:]]
    assert {t.shape for t in saved} == {(6, 4)}
    assert all(n.attrs["remat"] for n in outer if len(n.type) > 1)


def test_checkpoint_needs_a_static_length() -> None:
    xs = gd.placeholder((None, 2), "float64")
    with pytest.raises(gd.ShapeError, match="static length"):
        gd.scan(lambda c, x: (c + x, None), gd.zeros(2, "float64"), xs, checkpoint=4)


# --- regions in the IR -----------------------------------------------------------------------

def test_equal_bodies_intern_to_one_node_and_print_as_nested_blocks() -> None:
    xs = gd.placeholder((None, 2), "float64", name="xs")
    W = gd.variable(np.eye(2), name="W")

    def run():
        return gd.scan(lambda c, x: (gd.tanh(c @ W + x), c * 2.0), gd.zeros(2, "float64"), xs)
    (h1, ys1), (h2, ys2) = run(), run()
    assert h1 is h2 and ys1 is ys2  # bodies traced twice, over fresh parameters: one node
    text = str(gd.Graph([xs], [h1, ys1]))
    assert "= scan[" in text and "region 0 (%0.0: f64[2,2], %0.1: f64[2], %0.2: f64[2]) {" in text
    assert "  return %0." in text
    ops = gd.Graph([xs], [h1]).op_counts()  # counts step into regions
    assert ops["tanh"] == 1 and ops["scan"] == 1


def test_the_verifier_checks_regions() -> None:
    from graphdiff.ir.verify import verify
    from graphdiff.ops import control as C
    from graphdiff.ops.core import result

    xs = gd.placeholder((None, 2), "float64", name="xs")
    W = gd.variable(np.eye(2), name="W")
    h, ys = gd.scan(lambda c, x: (gd.tanh(c @ W + x), c * 2.0), gd.zeros(2, "float64"), xs)
    verify(gd.Graph([xs], [h, *gd.grad(gd.sum(ys), [W])]))
    p, outside, x = (gd.placeholder((2,), "float64") for _ in range(3))
    open_body = gd.Graph([p, x], [p + outside, p])  # reads a placeholder it does not declare
    node = C.scan(gd.zeros(2, "float64"), xs, regions=(open_body,), n_consts=0, n_carry=1,
                  length=(xs.shape[0],), reverse=False, remat=False)
    with pytest.raises(gd.GraphError, match="region 0.*not an input"):
        verify(gd.Graph([xs], [result(node, index=0)]))


def test_max_steps_bounds_a_while_loop_in_both_modes_and_in_onnx() -> None:
    import onnxruntime as ort

    x = gd.placeholder((2,), "float64", name="x")
    v, k = gd.while_loop(lambda c: c[1] < 100.0, lambda c: (gd.sin(c[0]) + x, c[1] + 1.0),
                         (x, gd.as_tensor(0.0)), max_steps=3)
    loss = gd.sum(v * v)
    f = gd.function([x], [v, k, gd.grad(loss, x)])

    def loss_np(a):
        w = a
        for _ in range(3):
            w = np.sin(w) + a
        return np.sum(w * w)
    value = np.array([0.3, -0.7])
    got_v, got_k, got_g = f(value)
    assert float(got_k) == 3.0
    np.testing.assert_allclose(got_g, fd_gradient(loss_np, value), rtol=1e-6)
    model = gd.export_onnx(None, [x], [v, k])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    onnx_v, onnx_k = session.run(None, {session.get_inputs()[0].name: value})
    np.testing.assert_allclose(onnx_v, got_v, rtol=1e-12)
    assert float(onnx_k) == 3.0
    with pytest.raises(gd.ShapeError, match="max_steps"):
        gd.while_loop(lambda c: c < 1.0, lambda c: c, gd.as_tensor(0.0), max_steps=-1)


def test_a_fixed_shape_carry_allocates_nothing_per_iteration(monkeypatch) -> None:
    from graphdiff.runtime import program

    xs = gd.placeholder((None, 64), "float64", name="xs")
    W = gd.variable(np.eye(64) * 0.5, name="W")
    h, _ = gd.scan(lambda c, x: (gd.tanh(c @ W + x), None), gd.zeros(64, "float64"), xs)
    f = gd.function([xs], h)
    seq = RNG.standard_normal((500, 64))
    want = gd.function([xs], h, passes="none")(seq)
    f(seq)  # specialized and planned
    calls = []
    real_empty = np.empty

    def counting_empty(*args, **kwargs):
        calls.append(args)
        return real_empty(*args, **kwargs)
    monkeypatch.setattr(program.np, "empty", counting_empty)
    got = f(seq)
    monkeypatch.undo()
    np.testing.assert_array_equal(got, want)
    assert len(calls) <= 4  # the first two iterations' carries and the result, not one per step
