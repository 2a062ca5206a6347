"""Forward and reverse mode agree with finite differences and with each other, for every
differentiable case of the op table (tests/opcases), in float64; second derivatives of the
composites (softmax cross-entropy, layer_norm, gelu) agree with finite differences of the
gradient."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd

from .opcases import Case, all_cases

GRAD_CASES = [c for c in all_cases() if c.grad]
IDS = [c.name for c in GRAD_CASES]
EPS = 1e-6


def _setup(case: Case, seed: int):
    if "reverse_only" in case.tags:
        pytest.skip(f"{case.name} has only a reverse-mode rule (custom_vjp)")
    rng = np.random.default_rng(seed)
    arrays = [arg.draw(rng, np.dtype("float64")) for arg in case.args]

    def shape(a: np.ndarray) -> tuple:
        return (None,) + a.shape[1:] if case.symbolic and a.ndim else a.shape

    inputs = [gd.placeholder(shape(a), a.dtype, name=f"a{i}") for i, a in enumerate(arrays)]
    floats = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    return rng, arrays, inputs, floats


def _tangent_inputs(inputs: list[gd.Node], floats: list[int]) -> list[gd.Node]:
    """One tangent placeholder per float input, of its (possibly symbolic) type."""
    return [gd.placeholder(inputs[i].shape, inputs[i].dtype, name=f"u{i}") for i in floats]


@pytest.mark.parametrize("case", GRAD_CASES, ids=IDS)
def test_jvp_matches_central_differences(case: Case) -> None:
    rng, arrays, inputs, floats = _setup(case, seed=11)
    out = case.fn(*inputs)
    us = _tangent_inputs(inputs, floats)
    tangent = gd.jvp(out, [inputs[i] for i in floats], us, unconnected="zero")
    directions = [rng.standard_normal(arrays[i].shape) for i in floats]
    got = gd.function(inputs + us, tangent)(*arrays, *directions)
    primal = gd.function(inputs, out, passes="none")

    def shifted(sign: float) -> np.ndarray:
        moved = list(arrays)
        for i, u in zip(floats, directions, strict=True):
            moved[i] = arrays[i] + sign * EPS * u
        return np.asarray(primal(*moved))

    numeric = (shifted(1.0) - shifted(-1.0)) / (2 * EPS)
    scale = np.abs(numeric).max(initial=0.0)
    np.testing.assert_allclose(got, numeric, rtol=case.fd_rtol,
                               atol=case.fd_atol + 1e-6 * scale)


@pytest.mark.parametrize("case", GRAD_CASES, ids=IDS)
def test_jvp_and_vjp_are_adjoint(case: Case) -> None:
    """<J u, v> == <u, J^T v> for random u, v: forward and reverse rules describe one J."""
    rng, arrays, inputs, floats = _setup(case, seed=12)
    out = case.fn(*inputs)
    wrt = [inputs[i] for i in floats]
    us = _tangent_inputs(inputs, floats)
    v = gd.placeholder(out.shape, out.dtype, name="v")
    tangent = gd.jvp(out, wrt, us, unconnected="zero")
    cotangents = gd.vjp([out], wrt, [v], unconnected="zero")
    f = gd.function([*inputs, *us, v], [tangent, *cotangents])
    u_values = [rng.standard_normal(arrays[i].shape) for i in floats]
    out_shape = np.shape(gd.function(inputs, out, passes="none")(*arrays))
    v_value = rng.standard_normal(out_shape)
    tangent_value, *cotangent_values = f(*arrays, *u_values, v_value)
    left = float(np.sum(tangent_value * v_value))
    right = sum(float(np.sum(c * u)) for c, u in zip(cotangent_values, u_values, strict=True))
    assert left == pytest.approx(right, rel=1e-10, abs=1e-10)


# --- second derivatives of the composites --------------------------------------------------------

def _nn(name: str):
    function = getattr(gd, name, None)
    if function is None:
        pytest.skip(f"gd.{name} is not available yet (graphdiff/api/nn.py)")
    return function


def _cross_entropy(x: gd.Node) -> gd.Node:
    labels = gd.constant(np.array([0, 2, 1], np.int64))
    return gd.mean(_nn("softmax_cross_entropy")(x, labels))


def _layer_norm(x: gd.Node) -> gd.Node:
    weights = gd.constant(np.random.default_rng(5).standard_normal((3, 4)))
    return gd.sum(_nn("layer_norm")(x) * weights)


def _gelu(x: gd.Node) -> gd.Node:
    weights = gd.constant(np.random.default_rng(6).standard_normal((3, 4)))
    return gd.sum(_nn("gelu")(x) * weights)


def _gelu_tanh(x: gd.Node) -> gd.Node:
    return gd.sum(_nn("gelu")(x, approximate="tanh") ** 2)


COMPOSITES = [("softmax_cross_entropy", _cross_entropy), ("layer_norm", _layer_norm),
              ("gelu", _gelu), ("gelu_tanh", _gelu_tanh)]


@pytest.mark.parametrize("name,loss_fn", COMPOSITES, ids=[c[0] for c in COMPOSITES])
def test_second_derivatives_of_composites(name: str, loss_fn) -> None:
    rng = np.random.default_rng(7)
    x = gd.placeholder((3, 4), "float64", name="x")
    loss = loss_fn(x)
    gradient = gd.grad(loss, x)
    v = rng.standard_normal((3, 4))
    hv = gd.hvp(loss, x, v)  # forward over reverse
    hessian = gd.hessian(loss, x)
    reverse_over_reverse = gd.grad(gd.sum(gradient * gd.constant(v)), x)
    xv = rng.standard_normal((3, 4))
    hv_value, h_value, rr_value = gd.function([x], [hv, hessian, reverse_over_reverse])(xv)
    g_fn = gd.function([x], gradient)
    numeric = (g_fn(xv + EPS * v) - g_fn(xv - EPS * v)) / (2 * EPS)
    np.testing.assert_allclose(hv_value, numeric, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(rr_value, hv_value, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.tensordot(h_value, v, axes=2), hv_value, rtol=1e-9,
                               atol=1e-12)
