"""vmap: every op case batched along each axis of each operand against the case's reference run
per example (the definition jax.vmap implements), per-example gradients, compositions with
grad, jvp, control flow, custom rules and checkpointing against jax.vmap in float64, and the
registry check that every op taking operands declares a batching rule."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.api.pytree import flatten
from graphdiff.ir import OPS
from graphdiff.ops import random as R
from graphdiff.ops import reduce as Red
from graphdiff.ops import source as S

from .opcases import all_cases

jax = pytest.importorskip("jax")
jnp = jax.numpy
jax.config.update("jax_enable_x64", True)

BATCH = 3
CASES = [c for c in all_cases() if "random" not in c.name]
NO_OPERANDS = {S.FILL, S.IOTA, Red.dim_product, R.random_uniform, R.random_normal}


def test_every_op_with_operands_has_a_batching_rule() -> None:
    missing = [name for name, op in OPS.items()
               if op.batch is None and not op.source and op not in NO_OPERANDS]
    assert not missing, f"ops without a batching rule: {missing}"


def _draw(case, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [arg.draw(rng, np.dtype("float64")) for arg in case.args]


def _examples(case) -> list[list[np.ndarray]]:
    # fixed args (indices, shapes that matter) are the same for every example
    return [_draw(case, seed) for seed in range(BATCH)]


def _leaves(value) -> list[np.ndarray]:
    return [np.asarray(v) for v in flatten(value)[0]]


def _check(case, arrays, axes, per_example) -> None:
    inputs = [gd.placeholder(a.shape, a.dtype, name=f"a{i}") for i, a in enumerate(arrays)]
    out = gd.vmap(case.fn, in_axes=tuple(axes))(*inputs)
    gd.Graph(inputs, flatten(out)[0]).verify()  # regions and types of the batched graph agree
    got = gd.function(inputs, flatten(out)[0], passes="none")(*arrays)
    with np.errstate(all="ignore"):  # edge cases (x // 0) are values, as in graphdiff
        want = [np.stack(parts) for parts in zip(*(_leaves(case.ref(*e)) for e in per_example))]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_op_case_batched_along_each_axis(case) -> None:
    examples = _examples(case)
    shared = examples[0]
    # all operands batched along axis 0 together
    _check(case, [np.stack(parts) for parts in zip(*examples)], [0] * len(shared), examples)
    # one operand batched along each of its axes, the others shared (in_axes None)
    for k, arg in enumerate(shared):
        for axis in range(np.ndim(arg) + 1):
            per_example = [[e[k] if i == k else shared[i] for i in range(len(shared))]
                           for e in examples]
            stacked = np.stack([e[k] for e in examples], axis=axis)
            arrays = [stacked if i == k else a for i, a in enumerate(shared)]
            axes = [axis if i == k else None for i in range(len(shared))]
            _check(case, arrays, axes, per_example)


# the gradient of a while_loop whose condition differs per example would need the reverse loop
# masked per example; vmap says so (test_vmap_of_while_gradient_with_batched_condition_raises)
GRAD_CASES = [c for c in CASES if c.grad and c.name != "while_loop"]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.name for c in GRAD_CASES])
def test_per_example_gradient_of_op_case(case) -> None:
    """vmap of a gradient graph against the same gradient graph run once per example: the
    batching rules of every op the backward pass builds (scatters, unslice, adjoints...)."""
    examples = _examples(case)
    floats = [i for i, a in enumerate(examples[0]) if a.dtype.kind == "f"]
    weights = np.random.default_rng(7).standard_normal(np.shape(_leaves(case.ref(*examples[0]))[0]))

    def gradient(*args):
        out = flatten(case.fn(*args))[0][0]
        return gd.grad(gd.sum(out * weights), [args[i] for i in floats])

    shapes = [gd.placeholder(a.shape, a.dtype) for a in examples[0]]
    single = gd.function(shapes, gradient(*shapes), passes="none")
    stacked = [np.stack(parts) for parts in zip(*examples)]
    inputs = [gd.placeholder(a.shape, a.dtype) for a in stacked]
    got = gd.function(inputs, gd.vmap(gradient)(*inputs), passes="none")(*stacked)
    want = [np.stack(parts) for parts in zip(*(single(*e) for e in examples))]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-11)


# --- compositions, against jax.vmap -----------------------------------------------------------

RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 4))
W = RNG.standard_normal((4, 3))


def _mlp_loss(w, x, backend):
    return backend.sum(backend.tanh(x @ w) ** 2)


def test_per_example_gradients_match_jax() -> None:
    x = gd.placeholder((None, 4), "float64", name="x")
    w = gd.variable(W, name="W")
    grads = gd.vmap(lambda r: gd.grad(_mlp_loss(w, r, gd), w))(x)
    want = jax.vmap(jax.grad(_mlp_loss), in_axes=(None, 0, None))(W, X, jnp)
    np.testing.assert_allclose(gd.function([x], grads)(X), want, rtol=1e-12)


def test_grad_of_vmap_matches_jax() -> None:
    x = gd.placeholder((6, 4), "float64", name="x")
    w = gd.placeholder((4, 3), "float64", name="w")
    total = gd.sum(gd.sin(gd.vmap(lambda r: _mlp_loss(w, r, gd))(x)))
    got = gd.function([x, w], gd.grad(total, [x, w]))(X, W)
    want = jax.grad(lambda w_, x_: jnp.sum(jnp.sin(jax.vmap(
        lambda r: _mlp_loss(w_, r, jnp))(x_))), argnums=(1, 0))(W, X)
    for g, v in zip(got, want):
        np.testing.assert_allclose(g, v, rtol=1e-12)


def test_vmap_of_jvp_matches_jax() -> None:
    x = gd.placeholder((6, 4), "float64", name="x")
    u = gd.placeholder((6, 4), "float64", name="u")
    w = gd.constant(W)
    t = gd.vmap(lambda r, v: gd.jvp(gd.tanh(r @ w), r, v))(x, u)
    U = RNG.standard_normal((6, 4))
    want = jax.vmap(lambda r, v: jax.jvp(lambda q: jnp.tanh(q @ W), (r,), (v,))[1])(X, U)
    np.testing.assert_allclose(gd.function([x, u], t)(X, U), want, rtol=1e-12)


def test_nested_vmap_pairwise_distances() -> None:
    A, B = RNG.standard_normal((5, 3)), RNG.standard_normal((7, 3))
    a, b = gd.placeholder((5, 3), "float64"), gd.placeholder((7, 3), "float64")
    dist = gd.vmap(lambda p: gd.vmap(lambda q: gd.sqrt(gd.sum((p - q) ** 2)))(b))(a)
    want = jax.vmap(lambda p: jax.vmap(lambda q: jnp.sqrt(jnp.sum((p - q) ** 2)))(B))(A)
    np.testing.assert_allclose(gd.function([a, b], dist)(A, B), want, rtol=1e-12)


def test_vmap_of_cond_selects_per_example() -> None:
    x = gd.placeholder((6, 4), "float64")
    out = gd.vmap(lambda r: gd.cond(gd.sum(r) > 0, lambda v: v * 2.0, lambda v: gd.exp(v), r))(x)
    graph = gd.function([x], out, passes="none").graph
    assert "switch" not in graph.op_counts() and "where" in graph.op_counts()
    want = jax.vmap(lambda r: jax.lax.cond(jnp.sum(r) > 0, lambda v: v * 2.0, jnp.exp, r))(X)
    np.testing.assert_allclose(gd.function([x], out)(X), want, rtol=1e-12)


def test_vmap_of_cond_with_shared_predicate_keeps_the_switch() -> None:
    x = gd.placeholder((6, 4), "float64")
    flag = gd.placeholder((), "bool")
    out = gd.vmap(lambda r: gd.cond(flag, lambda v: v * 2.0, gd.exp, r))(x)
    f = gd.function([x, flag], out, passes="none")
    assert "switch" in f.graph.op_counts()
    np.testing.assert_allclose(f(X, np.bool_(False)), np.exp(X), rtol=1e-12)


def test_vmap_of_scan_and_its_gradient_match_jax() -> None:
    xs = RNG.standard_normal((6, 5, 4))
    w = gd.placeholder((4, 4), "float64")
    seqs = gd.placeholder((6, 5, 4), "float64")
    W4 = RNG.standard_normal((4, 4)) * 0.5

    def run(lib, w_, seq):
        def step(h, x):
            h = lib.tanh(h @ w_ + x)
            return h, h * h
        scan = gd.scan if lib is gd else jax.lax.scan
        h, ys = scan(step, seq[0] * 0.0, seq)
        return lib.sum(ys) + lib.sum(h)

    out = gd.vmap(lambda s: run(gd, w, s))(seqs)
    gw = gd.grad(gd.sum(out), w)
    got, got_gw = gd.function([w, seqs], [out, gw])(W4, xs)
    want = jax.vmap(lambda s: run(jnp, W4, s))(xs)
    want_gw = jax.grad(lambda w_: jnp.sum(jax.vmap(lambda s: run(jnp, w_, s))(xs)))(W4)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got_gw, want_gw, rtol=1e-10)


def test_vmap_of_while_loop_with_batched_condition_matches_jax() -> None:
    x = gd.placeholder((6, 4), "float64")
    start = np.abs(X) + 0.1
    out = gd.vmap(lambda r: gd.while_loop(lambda v: gd.sum(v) < 10.0, lambda v: v * 1.5, r))(x)
    want = jax.vmap(lambda r: jax.lax.while_loop(lambda v: jnp.sum(v) < 10.0,
                                                 lambda v: v * 1.5, r))(start)
    np.testing.assert_allclose(gd.function([x], out)(start), want, rtol=1e-12)


def test_vmap_of_while_gradient_with_batched_condition_raises() -> None:
    x = gd.placeholder((6, 4), "float64")

    def per_example(r):
        v = gd.while_loop(lambda v: gd.sum(v) < 10.0, lambda v: v * 1.5, r)
        return gd.grad(gd.sum(v), r)

    with pytest.raises(gd.BatchingError, match="while_loop"):
        gd.vmap(per_example)(x)


def test_vmap_of_while_gradient_with_shared_condition() -> None:
    x = gd.placeholder((6, 4), "float64")
    steps = gd.placeholder((), "int64")

    def per_example(r):
        _, v = gd.while_loop(lambda c: c[0] < steps, lambda c: (c[0] + 1, gd.sin(c[1])),
                             (gd.constant(np.int64(0)), r))
        return gd.grad(gd.sum(v), r)

    got = gd.function([x, steps], gd.vmap(per_example)(x))(X, np.int64(3))
    want = jax.vmap(jax.grad(lambda r: jnp.sum(jnp.sin(jnp.sin(jnp.sin(r))))))(X)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_vmap_of_custom_vjp_uses_the_rule() -> None:
    @gd.custom_vjp
    def clipped_identity(v):
        return v * 1.0

    def fwd(v):
        return v * 1.0, ()

    def bwd(res, g):
        return (gd.clip(g, -0.5, 0.5),)

    clipped_identity.defvjp(fwd, bwd)
    x = gd.placeholder((6, 4), "float64")
    w = gd.placeholder((4,), "float64")
    per_example = gd.vmap(lambda r: gd.grad(gd.sum(clipped_identity(r * w) * 3.0), w))(x)
    got = gd.function([x, w], per_example)(X, np.ones(4))
    np.testing.assert_allclose(got, X * np.clip(3.0, -0.5, 0.5), rtol=1e-12)
    total = gd.grad(gd.sum(gd.vmap(lambda r: clipped_identity(r * w) * 3.0)(x)), w)
    np.testing.assert_allclose(gd.function([x, w], total)(X, np.ones(4)), X.sum(0) * 0.5,
                               rtol=1e-12)


def test_vmap_of_custom_jvp_and_checkpoint_match_jax() -> None:
    @gd.custom_jvp
    def softplus(v):
        return gd.log1p(gd.exp(v))

    @softplus.defjvp
    def _(primals, tangents):
        (v,), (t,) = primals, tangents
        return t * gd.sigmoid(v)

    x = gd.placeholder((6, 4), "float64")
    w = gd.constant(W)
    block = gd.checkpoint(lambda r: gd.tanh(r @ w))
    grads = gd.vmap(lambda r: gd.grad(gd.sum(softplus(block(r))), r))(x)
    want = jax.vmap(jax.grad(lambda r: jnp.sum(jax.nn.softplus(
        jax.checkpoint(lambda q: jnp.tanh(q @ W))(r)))))(X)
    np.testing.assert_allclose(gd.function([x], grads)(X), want, rtol=1e-12)


def test_in_axes_none_is_never_broadcast() -> None:
    x = gd.placeholder((6, 4), "float64")
    w = gd.placeholder((4, 3), "float64")
    out = gd.vmap(lambda r, m: gd.tanh(r @ m) * 2.0, in_axes=(0, None))(x, w)
    graph = gd.function([x, w], out, passes="none").graph
    assert "broadcast_to" not in graph.op_counts()
    np.testing.assert_allclose(gd.function([x, w], out)(X, W), np.tanh(X @ W) * 2.0)


def test_axes_pytrees_and_out_axes() -> None:
    x = gd.placeholder((4, 6), "float64")
    w = gd.placeholder((4, 3), "float64")
    out = gd.vmap(lambda d: {"y": d["x"] @ d["w"], "n": gd.sum(d["x"])},
                  in_axes=({"x": 1, "w": None},), out_axes={"n": 0, "y": 1})({"x": x, "w": w})
    y, n = gd.function([x, w], [out["y"], out["n"]])(X.T, W)
    np.testing.assert_allclose(y, (X @ W).T, rtol=1e-12)
    np.testing.assert_allclose(n, X.sum(1), rtol=1e-12)


def test_compiled_vmapped_function_takes_two_batch_sizes() -> None:
    x = gd.placeholder((None, 4), "float64", name="x")
    w = gd.variable(W, name="W")
    f = gd.function([x], gd.vmap(lambda r: gd.grad(_mlp_loss(w, r, gd), w))(x))
    for n in (2, 5):
        want = jax.vmap(jax.grad(_mlp_loss), in_axes=(None, 0, None))(W, X[:n], jnp)
        np.testing.assert_allclose(f(X[:n]), want, rtol=1e-12)


def test_bad_axes_raise_clear_errors() -> None:
    x = gd.placeholder((6, 4), "float64")
    y = gd.placeholder((5, 4), "float64")
    with pytest.raises(gd.BatchingError, match="different sizes"):
        gd.vmap(lambda a, b: a + b)(x, y)
    with pytest.raises(gd.BatchingError, match="out of range"):
        gd.vmap(lambda a: a, in_axes=2)(x)
    with pytest.raises(gd.BatchingError, match="axis_size"):
        gd.vmap(lambda a: a, in_axes=None)(x)
    with pytest.raises(gd.BatchingError, match="out_axes is None"):
        gd.vmap(lambda a: a, out_axes=None)(x)
    assert issubclass(gd.BatchingError, gd.GraphdiffError)
