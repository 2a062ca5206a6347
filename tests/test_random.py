"""Random ops: distributions, explicit seeds, a fresh draw per call, dropout masks."""

import numpy as np
import pytest

import graphdiff as gd


def test_normal_and_uniform_statistics() -> None:
    n = gd.placeholder((None,), "float64", name="n")
    f = gd.function([n], [gd.normal(n.shape, seed=1, mean=2.0, std=3.0, dtype="float64"),
                          gd.uniform(n.shape, seed=2, low=-1.0, high=5.0, dtype="float64")])
    normal, uniform = f(np.zeros(200_000))
    assert abs(normal.mean() - 2.0) < 0.05 and abs(normal.std() - 3.0) < 0.05
    assert uniform.min() >= -1.0 and uniform.max() < 5.0
    assert abs(uniform.mean() - 2.0) < 0.05


def test_same_seed_same_sequence_and_new_draw_each_call() -> None:
    def draws() -> list[np.ndarray]:
        f = gd.function([], gd.uniform((5,), seed=7))
        return [f(), f()]

    first, second = draws(), draws()
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], first[1])


def test_random_nodes_never_merge() -> None:
    a = gd.normal((3,), seed=0)
    b = gd.normal((3,), seed=0)
    assert a is not b
    a_value, b_value = gd.function([], [a, b])()
    np.testing.assert_array_equal(a_value, b_value)  # equal seeds, separate streams


def test_dropout_backward_uses_the_forward_mask() -> None:
    x = gd.placeholder((50, 40), "float64", name="x")
    y = gd.dropout(x, 0.3, seed=3)
    f = gd.function([x], [y, gd.grad(gd.sum(y), x)])
    out, grad = f(np.ones((50, 40)))
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.7)
    np.testing.assert_allclose(grad, np.where(kept, 1 / 0.7, 0.0))
    assert 0.6 < kept.mean() < 0.8


def test_random_needs_an_explicit_seed() -> None:
    with pytest.raises(gd.GraphdiffError, match="explicit integer seed"):
        gd.normal((2,), seed=None)
