"""The backend seam (graphdiff/backends): choosing a backend by name, the errors for unknown or
uninstalled ones, and the registry test of each backend (every op has what it needs)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import graphdiff as gd
from graphdiff import backends
from graphdiff.errors import BackendError
from graphdiff.ir.node import OPS, OpDef

BUILTIN = ["numpy", "reference", "onnxruntime"] + [name for name in ("numba", "jax")
                                                   if importlib.util.find_spec(name)]


@pytest.mark.parametrize("name", BUILTIN)
def test_every_op_has_what_the_backend_needs(name):
    backend = backends.get_backend(name)
    missing = sorted(f"{op_name}: {backend.missing(op)}" for op_name, op in OPS.items()
                     if backend.missing(op) is not None)
    assert not missing, f"ops lacking what the {name} backend needs: {missing}"


@pytest.mark.parametrize("name", BUILTIN)
def test_registry_test_fails_for_an_op_without_a_kernel(name):
    bare = OpDef("bare_for_test", lambda types: types[0], None)
    assert backends.get_backend(name).missing(bare) is not None


def _mlp():
    x = gd.placeholder(("n", 3), "float64", name="x")
    W = gd.variable(np.linspace(-1, 1, 9).reshape(3, 3), name="W")
    y = gd.sum(gd.tanh(gd.tanh(x @ W) @ W), axis=1)
    return x, W, y


def _expected(x, W):
    return np.tanh(np.tanh(x @ W) @ W).sum(axis=1)


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("passes", ["default", "none"])
def test_backend_by_name_gives_numpy_values(name, passes):
    x, W, y = _mlp()
    f = gd.function([x], y, passes=passes, backend=name)
    assert f.backend.name == name
    data = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
    np.testing.assert_allclose(f(data), _expected(data, gd.get_value(W)), rtol=1e-12)
    np.testing.assert_allclose(f(data[:2]), _expected(data[:2], gd.get_value(W)), rtol=1e-12)


@pytest.mark.parametrize("name", BUILTIN)
def test_updates_on_each_backend(name):
    W = gd.variable(np.zeros(2, np.float32), name="W")
    x = gd.placeholder((2,), "float32", name="x")
    f = gd.function([x], gd.sum(x * W), updates={W: W + x}, backend=name)
    assert f(np.ones(2, np.float32)) == 0.0
    assert f(np.ones(2, np.float32)) == 2.0
    np.testing.assert_array_equal(gd.get_value(W), [2.0, 2.0])


def test_defaults_keep_passes_none_on_the_reference():
    x, _, y = _mlp()
    assert gd.function([x], y).backend.name == "numpy"
    assert gd.function([x], y, passes="none").backend.name == "reference"
    assert gd.function([x], y, passes="none", backend="numpy").executor == "planned"


def test_unknown_backend_is_a_clear_error():
    x, _, y = _mlp()
    with pytest.raises(BackendError, match="unknown backend 'tpu9'.*'numpy'"):
        gd.function([x], y, backend="tpu9")


def test_uninstalled_backend_says_how_to_install(monkeypatch):
    monkeypatch.setitem(backends.BACKENDS, "fancy", ("fancy", "no_such_package_for_graphdiff"))
    x, _, y = _mlp()
    with pytest.raises(BackendError, match=r"pip install graphdiff\[fancy\]"):
        gd.function([x], y, backend="fancy")


def test_backend_not_yet_written_is_a_clear_error(monkeypatch):
    # a known name whose package is installed but whose module is not in this graphdiff
    monkeypatch.setitem(backends.BACKENDS, "later", ("later_backend_not_written", None))
    with pytest.raises(BackendError, match="not available in this version"):
        backends.get_backend("later")


def test_backends_are_imported_lazily():
    import subprocess
    import sys

    code = ("import sys, graphdiff as gd; "
            "print('graphdiff.backends.reference' in sys.modules, 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]
