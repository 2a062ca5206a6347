"""Calls from several threads at once (serial results, no lost update) and ``check_finite``, the
NaN hunter (the first node making NaN/Inf from finite operands, named with the user's line)."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.errors import NonFiniteError

BACKENDS = ["numpy", "reference"]


def _in_threads(work, n_threads):
    errors = []
    start = threading.Barrier(n_threads)

    def run(k):
        try:
            start.wait()
            work(k)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(k,)) for k in range(n_threads)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, inside calls: races show at once
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_calls_give_serial_results(backend):
    rng = np.random.default_rng(0)
    W_value = rng.standard_normal((128, 128)) / 8
    x = gd.placeholder((None, 128), "float64", name="x")
    W = gd.variable(W_value, name="W")
    f = gd.function([x], gd.sum(gd.tanh(gd.tanh(x @ W) @ W), axis=1), backend=backend)
    feeds = [rng.standard_normal((64, 128)) for _ in range(4)]
    expected = [np.tanh(np.tanh(a @ W_value) @ W_value).sum(axis=1) for a in feeds]
    wrong = []

    def work(k):
        for _ in range(30):
            if not np.allclose(f(feeds[k]), expected[k], rtol=1e-12, atol=1e-12):
                wrong.append(k)
    _in_threads(work, 4)
    assert not wrong, f"{len(wrong)} of 120 calls gave wrong results"


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_updates_are_not_lost(backend):
    W = gd.variable(np.zeros((256, 256), np.float32), name="W")
    x = gd.placeholder((256, 256), "float32", name="x")
    f = gd.function([x], gd.sum(gd.tanh(x @ W) @ W), updates={W: W + 1.0}, backend=backend)
    ones = np.ones((256, 256), np.float32)
    _in_threads(lambda k: [f(ones) for _ in range(100)], 2)
    np.testing.assert_array_equal(gd.get_value(W), np.full((256, 256), 200.0, np.float32))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_check_finite_names_the_first_node_and_its_line(backend, dtype):
    x = gd.placeholder((3,), dtype, name="x")
    line = sys._getframe().f_lineno + 1
    y = gd.exp(gd.log(x) * 2.0)  # the log makes -inf at 0
    z = y + 1.0
    f = gd.function([x], z, check_finite=True, backend=backend)
    np.testing.assert_allclose(f(np.array([1, 2, 3], dtype)), [2, 5, 10], rtol=1e-6)
    with pytest.raises(NonFiniteError, match=rf"log \(created at .*test_concurrency_finite.py:"
                                             rf"{line}\).*1 Inf in 3 elements"):
        f(np.array([1, 0, 3], dtype))


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_finite_lets_fed_nan_through(backend):
    x = gd.placeholder((3,), "float64", name="x")
    f = gd.function([x], gd.exp(x) * 2.0, check_finite=True, backend=backend)
    out = f(np.array([0.0, np.nan, np.inf]))
    np.testing.assert_array_equal(out, [2.0, np.nan, np.inf])


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_finite_failure_changes_no_variable(backend):
    W = gd.variable(np.ones(2), name="W")
    x = gd.placeholder((2,), "float64", name="x")
    f = gd.function([x], gd.sum(W), updates={W: W / x}, check_finite=True, backend=backend)
    f(np.array([2.0, 4.0]))
    np.testing.assert_array_equal(gd.get_value(W), [0.5, 0.25])
    with pytest.raises(NonFiniteError, match="div "):
        f(np.array([0.0, 1.0]))
    np.testing.assert_array_equal(gd.get_value(W), [0.5, 0.25])


def test_check_finite_off_generates_nothing(monkeypatch):
    monkeypatch.delenv("GRAPHDIFF_CHECK_FINITE", raising=False)
    x = gd.placeholder((3,), "float64", name="x")
    f = gd.function([x], gd.log(x))
    assert np.isneginf(f(np.array([0.0, 1.0, 2.0]))[0])
    assert "_checked" not in f.program_source()


def test_check_finite_from_the_environment(monkeypatch):
    monkeypatch.setenv("GRAPHDIFF_CHECK_FINITE", "1")
    x = gd.placeholder((3,), "float64", name="x")
    f = gd.function([x], gd.log(x))
    with pytest.raises(NonFiniteError, match="log"):
        f(np.array([0.0, 1.0, 2.0]))
    assert not gd.function([x], gd.log(x), check_finite=False).check_finite
