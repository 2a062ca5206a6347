"""Registry-driven op tests: every case's kernel against numpy (float32 and float64), every
differentiable case's gradient against central finite differences (float64), and completeness of
the registry (every op is exercised and has the rules it should have)."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir import OPS, Graph
from graphdiff.passes.fusion import fuse

from .opcases import Case, all_cases

CASES = all_cases()
IDS = [c.name for c in CASES]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_kernel_matches_numpy(case: Case, dtype: str) -> None:
    arrays = case.draw(dtype)
    inputs = case.placeholders(arrays)
    out = case.fn(*inputs)
    f = gd.function(inputs, out, passes="none")
    got = f(*arrays)
    with np.errstate(all="ignore"):  # edge cases (x // 0) are values, as in graphdiff
        want = np.asarray(case.ref(*arrays))
    assert got.shape == want.shape
    assert got.dtype == out.dtype, "the kernel's dtype differs from the inferred one"
    assert out.dtype == want.dtype, "dtype rule differs from numpy's"
    if dtype == "float64":
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    else:
        np.testing.assert_allclose(got, want, rtol=case.rtol32, atol=case.atol32)


def _float_positions(arrays: list[np.ndarray]) -> list[int]:
    return [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]


FD_ELEMENTWISE_LIMIT = 64  # above this many elements, check along random directions


GRAD_CASES = [c for c in CASES if c.grad]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.name for c in GRAD_CASES])
def test_gradient_matches_finite_differences(case: Case) -> None:
    arrays = case.draw("float64", seed=1)
    inputs = case.placeholders(arrays)
    out = case.fn(*inputs)
    rng = np.random.default_rng(2)
    weights = rng.standard_normal(np.shape(case.ref(*arrays)))
    loss = gd.sum(out * weights)
    wrt = [inputs[i] for i in _float_positions(arrays)]
    grads = gd.function(inputs, gd.grad(loss, wrt))(*arrays)
    loss_fn = gd.function(inputs, loss, passes="none")
    eps = 1e-6

    def loss_at(position: int, delta: np.ndarray) -> float:
        shifted = list(arrays)
        shifted[position] = arrays[position] + delta
        return float(loss_fn(*shifted))

    for position, analytic in zip(_float_positions(arrays), grads):
        size = arrays[position].size
        if size <= FD_ELEMENTWISE_LIMIT:
            numeric = np.zeros(size)
            for k in range(size):
                delta = np.zeros(size)
                delta[k] = eps
                delta = delta.reshape(arrays[position].shape)
                numeric[k] = (loss_at(position, delta) - loss_at(position, -delta)) / (2 * eps)
            np.testing.assert_allclose(analytic.reshape(-1), numeric, rtol=case.fd_rtol,
                                       atol=case.fd_atol + 1e-6 * np.abs(numeric).max())
        else:
            for _ in range(3):
                u = rng.standard_normal(arrays[position].shape)
                numeric = (loss_at(position, eps * u) - loss_at(position, -eps * u)) / (2 * eps)
                np.testing.assert_allclose(np.sum(analytic * u), numeric, rtol=1e-5, atol=1e-6)


def _ops_in(graph_outputs: list[gd.Node]) -> set[str]:
    return {node.op.name for node in Graph([], graph_outputs).nodes}


def test_every_registered_op_is_exercised_by_a_case() -> None:
    seen: set[str] = set()
    for case in CASES:
        arrays = case.draw("float64")
        inputs = case.placeholders(arrays)
        out = case.fn(*inputs)
        outputs = [out]
        float_inputs = [inputs[i] for i in _float_positions(arrays)]
        if case.grad and float_inputs:
            outputs += gd.grad(gd.sum(out), float_inputs)
        seen |= _ops_in(outputs)
        seen |= _ops_in(list(fuse(Graph(inputs, outputs))[0].outputs))
    missing = sorted(name for name, op in OPS.items() if name not in seen
                     and not op.source)
    assert not missing, f"registered ops with no test case: {missing}"


def test_every_op_has_the_rules_it_should_have() -> None:
    problems = []
    for name, op in OPS.items():
        if op.source:
            continue
        if op.kernel is None and not (op.regions and op.region_kernel is not None):
            problems.append(f"{name}: no kernel")  # an op with regions binds a sub-program
        derived = op.expand is not None  # differentiated through its expansion
        if op.differentiable and op.vjp is None and not derived:
            problems.append(f"{name}: differentiable but no VJP rule")
        if op.differentiable and op.jvp is None and not derived:
            problems.append(f"{name}: differentiable but no JVP rule")
    assert not problems, "\n".join(problems)
