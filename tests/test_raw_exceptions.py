"""Raw Python exceptions users met become GraphdiffErrors naming what is wrong and where:
derivatives with respect to values, gd.optimize on tensors, failed allocations, exceptions in
custom rules, and shapes too large to count."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd

HERE = "test_raw_exceptions.py"


@pytest.mark.parametrize("wrt, where, kind", [
    (np.ones(3), "wrt", "ndarray"),
    (1.0, "wrt", "float"),
    ([None, 2.0], r"wrt\[0\]", "NoneType"),
    ({"w": np.ones(3)}, r"wrt\['w'\]", "ndarray"),
])
def test_grad_with_respect_to_a_value_names_the_entry(wrt, where, kind) -> None:
    x = gd.placeholder((3,), "float64", name="x")
    with pytest.raises(gd.GradientError, match=rf"grad: {where} is {kind}, not a tensor.*"
                                               rf"\(at .*{HERE}:\d+\)"):
        gd.grad(gd.sum(x * x), wrt)


def test_vjp_with_respect_to_a_value_is_a_gradient_error() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    with pytest.raises(gd.GradientError, match=r"vjp: wrt\[1\] is int, not a tensor"):
        gd.vjp(x * 2.0, [x, 3], np.ones(3))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_optimize_takes_a_tensor_or_a_list_of_tensors(dtype: str) -> None:
    x = gd.placeholder((3,), dtype, name="x")
    outputs = [gd.exp(x) * 1.0, gd.tanh(x) + gd.tanh(x)]
    optimized = gd.optimize(outputs)
    assert isinstance(optimized, list) and len(optimized) == 2
    a = np.array([0.5, -1.0, 2.0], dtype)
    got = gd.function([x], optimized)(a)
    np.testing.assert_allclose(got[0], np.exp(a), rtol=1e-6)
    np.testing.assert_allclose(got[1], 2 * np.tanh(a), rtol=1e-6)
    single = gd.optimize(gd.exp(x) * 1.0)
    assert isinstance(single, gd.Node) and single.op.name == "exp"  # x * 1.0 -> x
    with pytest.raises(gd.GraphdiffError, match=rf"optimize takes a gd.Graph, a tensor or a list "
                                                rf"of tensors, got str \(at .*{HERE}"):
        gd.optimize("x")


HUGE = (10**7, 10**6)  # 72.8 TiB of float64


@pytest.mark.parametrize("passes", ["default", "none"])
def test_an_output_that_cannot_be_allocated_names_the_node(passes: str) -> None:
    x = gd.placeholder((None,), "float64", name="x")
    y = gd.broadcast_to(gd.reshape(x, (1, -1)), HUGE) * 2.0
    f = gd.function([x], y, passes=passes)
    with pytest.raises(gd.AllocationError, match=rf"running mul \(created at .*{HERE}:\d+\) "
                                                 r"failed: MemoryError.*72.8 TiB.*\(10000000, "
                                                 r"1000000\)"):
        f(np.ones(10**6))
    assert isinstance(gd.AllocationError("x"), MemoryError)
    # nothing broken: a small call still runs
    np.testing.assert_array_equal(
        gd.function([x], gd.reshape(x, (1, -1)) * 2.0, passes=passes)(np.ones(2)), [[2.0, 2.0]])


def test_an_arena_that_cannot_be_allocated_names_the_largest_value() -> None:
    x = gd.placeholder((None,), "float64", name="x")
    y = gd.sum(gd.exp(gd.broadcast_to(gd.reshape(x, (1, -1)), HUGE)))
    f = gd.function([x], y)
    with pytest.raises(gd.AllocationError, match=rf"cannot allocate the 80,000,000,000,000 bytes"
                                                 rf".*exp \(created at .*{HERE}:\d+\) of type "
                                                 rf"f64\[10000000,1000000\], 80,000,000,000,000 "
                                                 rf"bytes"):
        f(np.ones(10**6))


def _sine_with_rules(bwd_factor):
    @gd.custom_vjp
    def f(x):
        return gd.sin(x)

    def fwd(x):
        return gd.sin(x), (x,)

    def bwd(residuals, g):
        (x,) = residuals
        return (g * gd.cos(x) * bwd_factor(x),)

    f.defvjp(fwd, bwd)
    return f


def test_an_exception_in_a_custom_vjp_rule_carries_the_users_line() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    broken = _sine_with_rules(lambda x: int("one"))  # a bug in the user's rule
    with pytest.raises(gd.GradientError, match=rf"the bwd rule of custom_vjp f raised ValueError: "
                                               rf".*'one' \(at .*{HERE}:\d+; defined at "
                                               rf".*{HERE}:\d+\)"):
        broken(x)
    # the same rule done right differentiates as sin does (checked against numpy)
    fine = _sine_with_rules(lambda x: 1.0)
    a = np.array([0.1, 1.0, -2.0])
    got = gd.function([x], gd.grad(gd.sum(fine(x)), x))(a)
    np.testing.assert_allclose(got, np.cos(a), rtol=1e-12)


def test_an_exception_in_a_custom_jvp_rule_carries_the_users_line() -> None:
    x = gd.placeholder((3,), "float32", name="x")

    @gd.custom_jvp
    def h(x):
        return gd.sin(x)

    @h.defjvp
    def _(primals, tangents):
        return tangents[0] * {}["missing"]

    with pytest.raises(gd.GradientError, match=rf"the JVP rule of h raised KeyError: 'missing' "
                                               rf"\(at .*{HERE}:\d+; defined at .*{HERE}:\d+\)"):
        h(x)


@pytest.mark.parametrize("build", [
    lambda: gd.placeholder((2**40, 2**40), "float32"),
    lambda: gd.broadcast_to(gd.placeholder((1, 1), "float32"), (2**32, 2**32)),
    lambda: gd.placeholder((2**32, None, 2**32), "float64"),
    lambda: gd.placeholder((2**31, 1), "float32") * gd.placeholder((1, 2**33), "float32"),
])
def test_a_shape_whose_element_count_overflows_int64_is_refused_at_build_time(build) -> None:
    with pytest.raises(gd.ShapeError, match=rf"elements, more than an int64 counts .*"
                                            rf"at .*{HERE}:\d+"):
        build()
    gd.placeholder((2**31, 2**31), "float32")  # 2**62 elements: representable, accepted
