"""The passes inside regions (loop bodies, branches), checked with the invariants of
``tests/test_passes.py``: on a hand-written graph the pass makes exactly the expected rewrite
(an expected graph built by hand; interning compares regions by structure, so an identity
check), its ``changed`` flag is honest, a second run changes nothing, the verifier accepts the
result, and the outputs equal those of the unoptimized reference executor (``passes="none"``)
on numbers that include NaN, Inf and -0.0."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir import Graph, Node
from graphdiff.ir.graph import region_walk
from graphdiff.ops import control as C
from graphdiff.ops import elementwise as E
from graphdiff.ops import shape as S
from graphdiff.ops.core import results
from graphdiff.ops.source import constant
from graphdiff.passes import PASSES
from graphdiff.passes.constant_folding import constant_folding
from graphdiff.passes.cse import cse
from graphdiff.passes.dce import dce
from graphdiff.passes.fusion import fuse
from graphdiff.passes.loops import hoist
from graphdiff.passes.merge import merge_loops
from graphdiff.passes.simplify import simplify
from graphdiff.runtime import unfuse as unfuse_module

from .test_passes import assert_same_values, c, check, f64


def param(like: Node) -> Node:
    return gd.placeholder(like.shape, like.dtype)


def slice_param(xs: Node) -> Node:
    return gd.placeholder(xs.shape[1:], xs.dtype)


def scan(consts: Sequence[Node], carry: Sequence[Node], xs: Sequence[Node],
         body: Callable[..., tuple[list[Node], list[Node]]], *, length: int | None = None,
         reverse: bool = False) -> list[Node]:
    """The results of a scan built by hand: ``body(consts, carry, slices)`` gets fresh
    parameters and returns (new carry, ys)."""
    pc, ph, px = [param(v) for v in consts], [param(v) for v in carry], \
        [slice_param(x) for x in xs]
    new, ys = body(pc, ph, px)
    steps = xs[0].shape[0] if xs else length
    node = C.scan(*consts, *carry, *xs, regions=(Graph([*pc, *ph, *px], [*new, *ys]),),
                  n_consts=len(consts), n_carry=len(carry), length=(steps,), reverse=reverse,
                  remat=False)
    return results(node)


def while_loop(cond_consts: Sequence[Node], body_consts: Sequence[Node], carry: Sequence[Node],
               cond: Callable[..., Node], body: Callable[..., list[Node]]) -> list[Node]:
    """The results of a while_loop built by hand (``cond(consts, carry)``, ``body(consts,
    carry)`` on fresh parameters)."""
    cc, cb = [param(v) for v in cond_consts], [param(v) for v in body_consts]
    hc, hb = [param(v) for v in carry], [param(v) for v in carry]
    test = Graph([*cc, *hc], [cond(cc, hc)])
    step = Graph([*cb, *hb], body(cb, hb))
    node = C.while_loop(*cond_consts, *body_consts, *carry, regions=(test, step),
                        n_cond=len(cond_consts), n_body=len(body_consts), stack=False,
                        max_steps=None)
    return results(node)


def switch(index: Node, operands: Sequence[Node],
           *branches: Callable[..., list[Node]]) -> list[Node]:
    regions = []
    for branch in branches:
        params = [param(v) for v in operands]
        regions.append(Graph(params, branch(*params)))
    return results(C.switch(index, *operands, regions=tuple(regions)))


def loops_of(graph: Graph) -> list[Node]:
    return [n for n in region_walk(graph) if n.op.name in ("scan", "while_loop", "switch")]


w, h0 = f64("w", (3,)), f64("h0", (3,))
xs = f64("xs", (5, 3))
xs2 = f64("xs2", (5, 3))
k0 = gd.placeholder((), "float64", name="k0")


# --- dead code inside and around loops ----------------------------------------------------------

def test_dce_drops_an_unread_carry_and_ys() -> None:
    def body(consts, carry, slices):
        (pw,), (h, k), (x,) = consts, carry, slices
        return [h * pw + x, k + 1.0], [E.exp(h), k * 2.0]

    h, k, ys, ks = scan([w], [h0, k0], [xs], body)
    expected, = scan([w], [h0], [xs], lambda cs, hs, x_: ([hs[0] * cs[0] + x_[0]], []))
    check(dce, [w, h0, k0, xs], [h * 2.0], [expected * 2.0])


def test_dce_keeps_a_carry_another_carry_reads() -> None:
    def body(consts, carry, slices):
        (a, b), (x,) = carry, slices
        return [a + b * x, b * 0.5], []

    a, b = scan([], [h0, h0 * 3.0], [xs], body)
    check(dce, [h0, xs], [a], [a])


def test_dce_keeps_a_carry_its_own_update_reads_only_while_its_result_is_read() -> None:
    def body(consts, carry, slices):
        (a, b), (x,) = carry, slices
        return [a + x, b * x], []

    a, b = scan([], [h0, h0 * 3.0], [xs], body)
    expected, = scan([], [h0], [xs], lambda cs, hs, x_: ([hs[0] + x_[0]], []))
    check(dce, [h0, xs], [a], [expected])
    check(dce, [h0, xs], [a, b], [a, b])


def test_dce_drops_unread_and_repeated_operands() -> None:
    def body(consts, carry, slices):
        (p1, p2, _), (h,), (x1, x2, _) = consts, carry, slices
        return [h * p1 + p2 * x1 + x2], []

    (h,) = scan([w, w, w * 3.0], [h0], [xs, xs2, xs2 * 2.0], body)
    (expected,) = scan([w], [h0], [xs, xs2],
                       lambda cs, hs, x_: ([hs[0] * cs[0] + cs[0] * x_[0] + x_[1]], []))
    check(dce, [w, h0, xs, xs2], [h], [expected])


def test_dce_keeps_one_scanned_input_to_bind_a_symbolic_length() -> None:
    seq = gd.placeholder(("n", 3), "float64", name="seq")
    (counted,) = scan([], [h0], [seq, seq * 2.0], lambda cs, hs, x_: ([hs[0] + 1.0], []))
    (expected,) = scan([], [h0], [seq], lambda cs, hs, x_: ([hs[0] + 1.0], []))
    check(dce, [h0, seq], [counted], [expected])
    (fixed,) = scan([], [h0], [xs], lambda cs, hs, x_: ([hs[0] + 1.0], []))
    (none_left,) = scan([], [h0], [], lambda cs, hs, x_: ([hs[0] + 1.0], []), length=5)
    check(dce, [h0, xs], [fixed], [none_left])


def test_dce_turns_a_passed_through_carry_into_a_constant() -> None:
    # fori_loop with tensor bounds: the upper bound is a carry the body passes through
    i0 = gd.placeholder((), "int64", name="i0")
    hi = gd.placeholder((), "int64", name="hi")
    i, top, v = while_loop([], [], [i0, hi, h0], lambda cs, c_: E.less(c_[0], c_[1]),
                           lambda cs, c_: [c_[0] + 1, c_[1], c_[2] * 0.5])
    (_, expected) = while_loop([hi], [], [i0, h0], lambda cs, c_: E.less(c_[0], cs[0]),
                               lambda cs, c_: [c_[0] + 1, c_[1] * 0.5])
    check(dce, [i0, hi, h0], [v, top], [expected, hi])


def test_dce_drops_an_unread_stack() -> None:
    def below_ten(cs, carry):
        return E.less(gd.sum(carry[0]), c(10.0))

    hc, hb = [param(h0)], [param(h0)]
    test, step = Graph(hc, [below_ten([], hc)]), Graph(hb, [hb[0] + 1.0, gd.exp(hb[0])])
    final = results(C.while_loop(h0, regions=(test, step), n_cond=0, n_body=0, stack=True,
                                 max_steps=None))[0]
    (expected,) = while_loop([], [], [h0], below_ten, lambda cs, carry: [carry[0] + 1.0])
    # values=False: -inf never reaches ten; the values are checked on finite numbers below
    check(dce, [h0], [final], [expected], values=False)
    f = gd.function([h0], final, passes=["dce"])
    np.testing.assert_array_equal(f(np.zeros(3)), [4.0, 4.0, 4.0])


def test_dce_drops_unread_branch_outputs_and_their_operands() -> None:
    flag = gd.placeholder((), "bool", name="flag")
    a, b = f64("a"), f64("b")
    first, _ = switch(flag, [a, b], lambda p, q: [p * 2.0, gd.exp(q)],
                      lambda p, q: [gd.sin(p), q + p])
    (expected,) = switch(flag, [a], lambda p: [p * 2.0], lambda p: [gd.sin(p)])
    check(dce, [flag, a, b], [first], [expected])


def test_dce_prunes_a_loop_nested_in_a_body() -> None:
    inner_xs = f64("inner", (4, 3))

    def outer(ys_too: bool):
        def body(consts, carry, slices):
            (seq,), (h,), (x,) = consts, carry, slices

            def inner_body(cs, gs, ys_):
                (pw,), (g,), (y,) = cs, gs, ys_
                return [g * y + pw], [gd.exp(g)] if ys_too else []
            return [scan([h], [h], [seq], inner_body)[0] + x], []
        return scan([inner_xs], [h0], [xs], body)

    (before,) = outer(True)
    (expected,) = outer(False)
    check(dce, [h0, xs, inner_xs], [before], [expected])


# --- cse, constant folding, simplify inside bodies ----------------------------------------------

def body_over(make: Callable[[Node, Node, Node], Node]) -> Callable:
    def body(consts, carry, slices):
        return [make(consts[0], carry[0], slices[0])], []
    return body


def test_cse_inside_a_body() -> None:
    (before,) = scan([w], [h0], [xs], body_over(lambda p, h, x: h * p + p * h + x))
    (expected,) = scan([w], [h0], [xs], body_over(lambda p, h, x: h * p + h * p + x))
    check(cse, [w, h0, xs], [before], [expected])


def test_cse_merges_loops_whose_bodies_differ_in_commutative_order() -> None:
    (first,) = scan([w], [h0], [xs], body_over(lambda p, h, x: h * p + x))
    (second,) = scan([w], [h0], [xs], body_over(lambda p, h, x: p * h + x))
    assert first.inputs[0] is not second.inputs[0]
    check(cse, [w, h0, xs], [first - second], [first - first])


def test_cse_keeps_loops_over_other_operands() -> None:
    (first,) = scan([w], [h0], [xs], body_over(lambda p, h, x: h * p + x))
    (second,) = scan([w], [h0], [xs2], body_over(lambda p, h, x: p * h + x))
    check(cse, [w, h0, xs, xs2], [first - second], [first - second])


def test_constant_folding_inside_a_body() -> None:
    (before,) = scan([w], [h0], [xs], body_over(lambda p, h, x: h * E.add(c(2.0), c(1.0)) + x))
    (expected,) = scan([w], [h0], [xs], body_over(lambda p, h, x: h * c(3.0) + x))
    check(constant_folding, [w, h0, xs], [before], [expected])


def test_simplify_inside_a_body() -> None:
    def messy(p, h, x):
        return E.neg(E.neg(h * 1.0)) + S.transpose(S.transpose(x, perm=(0,)), perm=(0,)) / 4.0

    (before,) = scan([w], [h0], [xs], body_over(messy))
    (expected,) = scan([w], [h0], [xs], body_over(lambda p, h, x: h + E.mul(x, c(0.25))))
    check(simplify, [w, h0, xs], [before], [expected])


def test_simplify_inside_a_loop_nested_in_a_branch() -> None:
    flag = gd.placeholder((), "bool", name="flag")

    def branch(times_one: bool):
        def run(h, seq):
            make = (lambda p, g, x: g * x * 1.0) if times_one else (lambda p, g, x: g * x)
            return scan([h], [h], [seq], body_over(make))
        return run

    (before,) = switch(flag, [h0, xs], branch(True), lambda h, seq: [h])
    (expected,) = switch(flag, [h0, xs], branch(False), lambda h, seq: [h])
    check(simplify, [flag, h0, xs], [before], [expected])


@pytest.mark.parametrize("index, chosen", [(constant(np.int64(1)), 1), (constant(np.int64(7)), 2),
                                           (constant(np.int64(-3)), 0), (constant(True), 1)])
def test_simplify_inlines_the_branch_a_constant_index_chooses(index: Node, chosen: int) -> None:
    a, b = f64("a"), f64("b")
    branches = [lambda p, q: [p + q, p], lambda p, q: [p * q, gd.exp(q)],
                lambda p, q: [p - q, q]]
    if index.dtype == np.bool_:
        branches = branches[:2]
    both = switch(index, [a, b], *branches)
    expected = branches[chosen](a, b)
    check(simplify, [a, b], both, expected)


def test_simplify_inlines_an_effectful_branch_once() -> None:
    a = f64("a")
    noise, same = switch(constant(np.int64(0)), [a],
                         lambda p: (lambda u: [p + u, u])(gd.uniform((2, 3), seed=0,
                                                                      dtype="float64")))
    after, changed = simplify(Graph([a], [noise, same]))
    assert changed and not loops_of(after)
    assert after.op_counts()["random_uniform"] == 1


def test_simplify_reads_the_initial_carry_of_a_loop_that_never_runs() -> None:
    (never,) = while_loop([], [], [h0], lambda cs, c_: constant(False),
                          lambda cs, c_: [c_[0] * 2.0])
    (empty, ys) = scan([], [h0], [], lambda cs, hs, x_: ([hs[0] + 1.0], [hs[0]]), length=0)
    check(simplify, [h0], [never + empty, ys], [h0 + h0, ys])


# --- loop-invariant code motion -------------------------------------------------------------------

def test_hoist_moves_invariant_values_out_as_constants() -> None:
    def body(consts, carry, slices):
        (pw,), (h,), (x,) = consts, carry, slices
        scale = gd.exp(pw) * 2.0           # depends on the constant only
        fixed = S.broadcast_to(c(0.5), shape=(3,))  # a view of a constant: stays
        return [gd.tanh(h * scale + x) + fixed], [scale]

    before = scan([w], [h0], [xs], body)

    def hoisted(fixed: Node):
        def body(consts, carry, slices):
            (_, p_scale), (h,), (x,) = consts, carry, slices
            return [gd.tanh(h * p_scale + x) + fixed], [p_scale]
        return body

    expected = scan([w, gd.exp(w) * 2.0], [h0], [xs],
                    hoisted(S.broadcast_to(c(0.5), shape=(3,))))
    check(hoist, [w, h0, xs], before, expected)
    # simplify also hoists (and makes the broadcast constant operand a scalar)
    check(simplify, [w, h0, xs], before, scan([w, gd.exp(w) * 2.0], [h0], [xs], hoisted(c(0.5))))


def test_hoist_keeps_random_draws_and_per_step_values_inside() -> None:
    def body(consts, carry, slices):
        (pw,), (h,), (x,) = consts, carry, slices
        return [h + gd.uniform((3,), seed=1, dtype="float64") * pw + x], []

    before = scan([w], [h0], [xs], body)
    after, changed = hoist(Graph([w, h0, xs], before))
    assert not changed and after.outputs == tuple(before)


def test_hoist_leaves_a_shape_only_the_body_can_resolve() -> None:
    # the body's parameter names its dim "k" where the operand says "n": a reshape to "k"
    # would be unresolvable outside the loop
    v = gd.placeholder(("n",), "float64", name="v")
    pv, ph, px = gd.placeholder(("k",), "float64"), param(h0), slice_param(xs)
    column = S.reshape(gd.exp(pv), shape=("k", 1))
    body = Graph([pv, ph, px], [ph + px, column * 2.0])
    before = results(C.scan(v, h0, xs, regions=(body,), n_consts=1, n_carry=1, length=(5,),
                            reverse=False, remat=False))
    after, changed = hoist(Graph([v, h0, xs], before))
    assert not changed and after.outputs == tuple(before)


def test_hoist_moves_values_of_a_nested_loop_out_of_both() -> None:
    inner_xs = f64("inner", (4, 3))

    def outer_body(consts, carry, slices):
        (pw, seq), (h,), (x,) = consts, carry, slices

        def inner_body(cs, gs, ys_):
            (qw, qh), (g,), (y,) = cs, gs, ys_
            return [g * gd.exp(qw) + qh * y], []  # exp(qw): invariant in both loops
        (g,) = scan([pw, h], [h], [seq], inner_body)
        return [g + x], []

    inputs = [w, inner_xs, h0, xs]
    before = scan([w, inner_xs], [h0], [xs], outer_body)
    after, changed = hoist(Graph(inputs, before))
    after.verify()
    assert changed
    outside = [n for n in after.nodes if n.op.name == "exp"]
    assert len(outside) == 1 and outside[0].inputs[0] is w
    assert all(n.op.name != "exp" for n in region_walk(after) if n not in set(after.nodes))
    assert hoist(after) == (after, False)
    assert_same_values(Graph(inputs, before), after)


def test_hoist_moves_invariants_of_a_while_condition_and_body() -> None:
    limit = gd.placeholder((), "float64", name="limit")
    i, h = while_loop([limit], [w], [k0, h0],
                      lambda cs, c_: E.less(c_[0], gd.sqrt(cs[0])),
                      lambda cs, c_: [c_[0] + 1.0, c_[1] * gd.tanh(cs[0])])
    graph = Graph([limit, w, k0, h0], [i, h])
    after, changed = hoist(graph)
    after.verify()
    assert changed and {"sqrt", "tanh"} <= {n.op.name for n in after.nodes}
    (loop,) = loops_of(after)
    assert loop.attrs["n_cond"] == 2 and loop.attrs["n_body"] == 2
    assert hoist(after) == (after, False)
    f_ref = gd.function(list(graph.inputs), list(graph.outputs), passes="none")
    f_opt = gd.function(list(after.inputs), list(after.outputs), passes="none")
    feeds = [np.float64(9.0), np.array([0.5, 1.0, -2.0]), np.float64(0.0), np.ones(3)]
    for want, got in zip(f_ref(*feeds), f_opt(*feeds)):
        np.testing.assert_array_equal(got, want)


def test_reverse_mode_bodies_leave_no_invariant_work_inside() -> None:
    W = gd.variable(np.random.default_rng(0).normal(size=(3, 3)) * 0.5, name="W")
    seq = f64("seq", (6, 3))
    last, _ = gd.scan(lambda h, x: (gd.tanh(h @ W + x), None), gd.zeros(3, "float64"), seq)
    loss = gd.sum(last)
    graph = Graph([seq], [loss, *gd.grad(loss, [W, seq])])
    optimized = gd.optimize(graph, verify=True)
    for loop in loops_of(optimized):
        assert _hoist_candidates(loop) == []
    # the backward body used W^T: it is computed once, outside
    assert any(n.op.name == "transpose" and n.inputs[0] is W for n in optimized.nodes)
    assert_same_values(graph, optimized, exact=False)


def _hoist_candidates(loop: Node) -> list[Node]:
    from graphdiff.passes.loops import _hoist

    n = loop.attrs.get("n_consts", loop.attrs.get("n_body"))
    region = loop.regions[-1]
    moved = _hoist(region, n, loop.inputs[:n]) if loop.op.name == "scan" else None
    return [] if moved is None else moved[1]


# --- merging a loop into its larger twin ----------------------------------------------------------

def twin_scans(fresh: bool) -> tuple[list[Node], list[Node], list[Node]]:
    """A scan, a copy of it with one more per-step output (the same parameters, or fresh ones
    of the same types), and the copy's results."""
    pc, ph, px = param(w), param(h0), slice_param(xs)
    new = gd.tanh(ph * pc + px)
    body = Graph([pc, ph, px], [new, new * 2.0])
    if fresh:
        qc, qh, qx = param(w), param(h0), slice_param(xs)
        again = gd.tanh(qh * qc + qx)
        big = Graph([qc, qh, qx], [again, again * 2.0, qh * qc])
    else:
        big = Graph([pc, ph, px], [new, new * 2.0, ph * pc])
    attrs = dict(n_consts=1, n_carry=1, length=(5,), reverse=False, remat=False)
    small = results(C.scan(w, h0, xs, regions=(body,), **attrs))
    large = results(C.scan(w, h0, xs, regions=(big,), **attrs))
    return small, large, large


@pytest.mark.parametrize("fresh", [False, True])
@pytest.mark.parametrize("pass_name", ["merge_loops", "simplify", "cse"])
def test_a_scan_merges_into_its_twin_with_residuals(fresh: bool, pass_name: str) -> None:
    small, large, _ = twin_scans(fresh)
    before = [small[0], small[1], large[2]]
    check(PASSES[pass_name], [w, h0, xs], before, [large[0], large[1], large[2]])


def test_scans_with_other_attributes_do_not_merge() -> None:
    small, large, _ = twin_scans(False)
    pc, ph, px = small[0].inputs[0].regions[0].inputs
    body = Graph([pc, ph, px], [gd.tanh(ph * pc + px), gd.tanh(ph * pc + px) * 2.0, ph])
    reversed_ = results(C.scan(w, h0, xs, regions=(body,), n_consts=1, n_carry=1, length=(5,),
                               reverse=True, remat=False))
    check(merge_loops, [w, h0, xs], [small[0], reversed_[2]], [small[0], reversed_[2]])


def test_reverse_mode_runs_the_forward_scan_once() -> None:
    W = gd.variable(np.random.default_rng(1).normal(size=(3, 3)) * 0.5, name="W")
    seq = f64("seq", (6, 3))
    last, ys = gd.scan(lambda h, x: (gd.tanh(h @ W + x), gd.sin(h)), gd.zeros(3, "float64"),
                       seq)
    loss = gd.sum(last) + gd.sum(ys)
    graph = Graph([seq], [loss, *gd.grad(loss, [W, seq])])
    assert graph.op_counts()["scan"] == 3  # primal, primal with residuals, backward
    merged, changed = merge_loops(graph)
    assert changed and merged.op_counts()["scan"] == 2
    assert merge_loops(merged) == (merged, False)
    optimized = gd.optimize(graph, verify=True)
    assert optimized.op_counts()["scan"] == 2
    assert_same_values(graph, optimized, exact=False)


def test_reverse_mode_runs_the_forward_while_loop_once() -> None:
    v = f64("v", (3,))
    n = gd.placeholder((), "int64", name="n")
    W = gd.variable(np.random.default_rng(2).normal(size=(3, 3)) * 0.5, name="W")
    out = gd.fori_loop(0, n, lambda i, h: gd.sin(h @ W) + v, v)
    loss = gd.sum(out)
    graph = Graph([v, n], [loss, *gd.grad(loss, [v, W])])
    assert graph.op_counts()["while_loop"] == 2
    optimized = gd.optimize(graph, verify=True)
    assert optimized.op_counts()["while_loop"] == 1
    (loop,) = [x for x in optimized.nodes if x.op.name == "while_loop"]
    assert loop.attrs["stack"] and loop.attrs["n_cond"] == 1  # the bound is now a constant
    ref = gd.function([v, n], list(graph.outputs), passes="none")
    opt = gd.function([v, n], list(graph.outputs))
    for steps in (0, 1, 5):
        for want, got in zip(ref(np.array([0.1, -0.2, 0.3]), np.int64(steps)),
                             opt(np.array([0.1, -0.2, 0.3]), np.int64(steps))):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


# --- fusion inside a scan body ------------------------------------------------------------------

@pytest.fixture
def fused_kernels(monkeypatch) -> None:
    monkeypatch.setattr(unfuse_module, "UNFUSE_AT_MOST_BYTES", -1)


def test_fuse_inside_a_scan_body(fused_kernels) -> None:
    rows = f64("rows", (6, 32, 64))
    start = f64("start", (32, 64))

    def step(h, x):
        z = gd.tanh(h * 0.9 + x) * gd.sigmoid(x - h)
        return z, gd.exp(-z * z) + 1.0

    last, ys = gd.scan(step, start, rows)
    graph = Graph([start, rows], [last, ys])
    after, changed = fuse(graph)
    after.verify()
    assert changed
    (loop,) = loops_of(after)
    inside = [n.op.name for n in loop.regions[0].nodes]
    assert "fused" in inside
    assert not {"tanh", "sigmoid", "exp"} & set(inside)
    assert fuse(after) == (after, False)
    assert_same_values(graph, after, exact=False)
    f = gd.function([start, rows], [last, ys], passes="fused")
    ref = gd.function([start, rows], [last, ys], passes="none")
    feeds = [np.random.default_rng(3).normal(size=t.shape) for t in (start, rows)]
    for want, got in zip(ref(*feeds), f(*feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-13)


def test_inline_custom_inside_a_scan_body() -> None:
    def step(h, x):
        return gd.checkpoint(lambda a, b: gd.tanh(a * 0.5 + b))(h, x), None

    last, _ = gd.scan(step, gd.zeros(3, "float64"), xs)
    loss = gd.sum(last)
    graph = Graph([xs], [loss, gd.grad(loss, xs)])
    assert any(n.op.name == "custom" for n in region_walk(graph))
    after, changed = PASSES["inline_custom"](graph)
    after.verify()
    assert changed and not any(n.op.name == "custom" for n in region_walk(after))
    assert PASSES["inline_custom"](after) == (after, False)
    assert_same_values(graph, after)


def test_remat_recomputes_around_a_loop_and_keeps_the_loop() -> None:
    from graphdiff.passes.remat import rematerialize

    rng = np.random.default_rng(6)
    batch = f64("batch", (8, 16))
    h, weights = batch, []
    for i in range(6):
        weights.append(gd.variable(rng.normal(size=(16, 16)) * 0.3, name=f"W{i}"))
        h = gd.tanh(h @ weights[-1])
    last, ys = gd.scan(lambda c_, r: (gd.tanh(c_ + r), c_ * r), gd.zeros(16, "float64"), h)
    loss = gd.sum(last) + gd.sum(ys)
    graph = Graph([batch], [loss, *gd.grad(loss, weights)])
    after, changed = rematerialize(graph, policy="sqrt")
    after.verify()
    assert changed and after.op_counts()["tanh"] > graph.op_counts()["tanh"]
    assert after.op_counts()["scan"] == graph.op_counts()["scan"]  # loops are never recomputed
    assert_same_values(graph, after)  # bit for bit


# --- every pass: graphs with loops, branches and several results -----------------------------

def control_graph() -> Graph:
    """A scan, a while_loop (both differentiated: residual copies, a stack), a switch."""
    rng = np.random.default_rng(4)
    W = gd.variable(rng.normal(size=(3, 3)) * 0.5, name="W")
    v = f64("v", (3,))
    seq = f64("seq", (4, 3))
    n = gd.placeholder((), "int64", name="n")
    last, ys = gd.scan(lambda h, x: (gd.tanh(h @ W + x * 1.0), h * 2.0), v, seq)
    spun = gd.fori_loop(0, n, lambda i, h: gd.sin(h @ W) + v, last)
    picked = gd.cond(gd.sum(spun) > 0, lambda a: gd.exp(a) * 2.0, lambda a: a * a, spun)
    loss = gd.sum(picked) + gd.sum(ys)
    return Graph([v, seq, n], [loss, *gd.grad(loss, [W, v, seq])])


def feeds_for(graph: Graph) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [np.int64(3) if p.dtype.kind == "i" else rng.normal(size=p.shape) * 0.5
            for p in graph.inputs]


@pytest.mark.parametrize("name", sorted(PASSES))
def test_every_pass_handles_loops_branches_and_several_results(name: str) -> None:
    graph = control_graph()
    after, changed = PASSES[name](graph)
    after.verify()
    again, changed_again = PASSES[name](after)
    assert not changed_again and again is after
    ref = gd.function(list(graph.inputs), list(graph.outputs), passes="none")
    opt = gd.function(list(after.inputs), list(after.outputs), passes="none")
    feeds = feeds_for(graph)
    for want, got in zip(ref(*feeds), opt(*feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("passes", ["default", "fused"])
def test_pipelines_on_a_differentiated_control_flow_graph(passes: str) -> None:
    graph = control_graph()
    records: list = []
    optimized = gd.optimize(graph, passes, trace=records, verify=True)
    assert optimized.op_counts()["scan"] < graph.op_counts()["scan"]
    assert optimized.op_counts()["while_loop"] < graph.op_counts()["while_loop"]
    for record in records:
        again = gd.optimize(optimized, [record.name])
        assert again is optimized, record.name
    ref = gd.function(list(graph.inputs), list(graph.outputs), passes="none")
    opt = gd.function(list(graph.inputs), list(graph.outputs), passes=passes)
    feeds = feeds_for(graph)
    for want, got in zip(ref(*feeds), opt(*feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_equal_bodies_are_rewritten_once_into_one_graph() -> None:
    body = body_over(lambda p, h, x: h * p * 1.0 + x)
    (first,) = scan([w], [h0], [xs], body)
    (second,) = scan([w], [h0], [xs2], body)
    after, changed = simplify(Graph([w, h0, xs, xs2], [first, second]))
    assert changed
    a, b = (o.inputs[0] for o in after.outputs)
    assert a.regions[0] is b.regions[0]
