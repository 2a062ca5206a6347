"""Models on the bundled digits: the data and its split, the optimizers against numpy, the
progress bar, short training runs reaching stated bars, and the demo end to end.

The stated bars (short runs, a few seconds each): MLP >= 93% test accuracy after 4 epochs,
LeNet CNN >= 92% after 4, LSTM >= 88%, GRU >= 90%, transformer >= 85% after 4. The full recipes
(models/zoo.py: MLP 30 epochs, CNN, LSTM and GRU 20) reach >= 97% (MLP, CNN) and >= 96% (LSTM,
GRU: both scans over the image rows); those checks are marked slow (GRAPHDIFF_SLOW=1).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.optim import SGD, Adam

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import zoo  # noqa: E402
from models.digits import DATA_FILE, load_digits, read_raw, split_indices  # noqa: E402

SLOW = os.environ.get("GRAPHDIFF_SLOW") == "1"


@pytest.fixture(scope="module")
def data():
    return load_digits()


# --- data ------------------------------------------------------------------------------------

def test_models_doctests():
    """models/ is outside graphdiff/, so pytest's --doctest-modules does not see it."""
    import doctest

    from models import digits

    for module in (digits,):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_bundled_file_is_the_uci_digits():
    pixels, labels = read_raw()
    assert pixels.shape == (1797, 64) and labels.shape == (1797,)
    assert pixels.min() == 0 and pixels.max() == 16
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    with gzip.open(DATA_FILE, "rb") as stream:
        first = stream.readline().decode().strip().split(",")
    assert first[-1] == "0" and len(first) == 65
    assert (DATA_FILE.parent / "README.md").read_text().count("CC BY 4.0") >= 1


def test_split_is_fixed_stratified_and_disjoint(data):
    assert data.x_train.shape == (1438, 64) and data.x_test.shape == (359, 64)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    _, labels = read_raw()
    train, test = split_indices(labels)
    assert not set(train) & set(test) and len(train) + len(test) == 1797
    again_train, again_test = split_indices(labels)
    assert np.array_equal(train, again_train) and np.array_equal(test, again_test)
    per_class = np.bincount(labels[test])
    assert per_class.min() >= 35 and per_class.max() <= 37
    digest = hashlib.sha256(np.sort(test).tobytes()).hexdigest()[:12]
    assert digest == hashlib.sha256(np.sort(again_test).tobytes()).hexdigest()[:12]
    assert data.images("test").shape == (359, 1, 8, 8)


# --- optimizers against numpy -----------------------------------------------------------------

def _run(optimizer, steps: int, dtype=np.float64):
    """Minimize sum(a * w^2) from a fixed start; return the trajectory of w."""
    a = np.array([1.0, 3.0, 0.5], dtype)
    w = gd.variable(np.array([1.0, -2.0, 4.0], dtype), name="w")
    loss = gd.sum(gd.constant(a) * w * w)
    step = gd.function([], loss, updates=optimizer.updates([w], gd.grad(loss, [w])))
    trajectory = []
    for _ in range(steps):
        step()
        trajectory.append(gd.get_value(w))
    return a, np.array(trajectory)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_matches_numpy(dtype):
    a, got = _run(SGD(0.1), 5, dtype)
    w = np.array([1.0, -2.0, 4.0])
    for t in range(5):
        w = w - 0.1 * 2 * a * w
        np.testing.assert_allclose(got[t], w, rtol=1e-6 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_momentum_matches_numpy(dtype):
    a, got = _run(SGD(0.05, momentum=0.9), 6, dtype)
    w, v = np.array([1.0, -2.0, 4.0]), np.zeros(3)
    for t in range(6):
        v = 0.9 * v + 2 * a * w
        w = w - 0.05 * v
        np.testing.assert_allclose(got[t], w, rtol=1e-6 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_matches_numpy(dtype):
    a, got = _run(Adam(0.1, 0.9, 0.999, 1e-8), 6, dtype)
    w, m, v = np.array([1.0, -2.0, 4.0]), np.zeros(3), np.zeros(3)
    for t in range(1, 7):
        g = 2 * a * w
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 0.1 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        np.testing.assert_allclose(got[t - 1], w, rtol=1e-6 if dtype == np.float64 else 1e-4)


def test_optimizer_state_lives_in_variables():
    w = gd.variable(np.ones(3), name="w")
    loss = gd.sum(w * w)
    updates = Adam(0.1).updates([w], gd.grad(loss, [w]))
    targets = {v.name for v in updates}
    assert targets == {"w", "adam.w.m", "adam.w.v", "adam.step"}
    assert all(v.op.name == "variable" for v in updates)


# --- training on the digits -------------------------------------------------------------------

BARS = {"mlp": 0.93, "cnn": 0.92, "lstm": 0.88, "gru": 0.90, "transformer": 0.85}


@pytest.mark.parametrize("name", list(BARS))
def test_short_run_reaches_its_bar(name, data):
    model, history, accuracy = zoo.train(name, data, epochs=4, progress=False)
    assert history.loss[-1] < history.loss[0] * 0.5
    assert accuracy >= BARS[name], f"{name}: test accuracy {accuracy:.3f} after 4 epochs"
    logits = model.predict(zoo.RECIPES[name].inputs(data, "test")[:5])
    assert logits.shape == (5, 10) and logits.dtype == np.float32


@pytest.mark.skipif(not SLOW, reason="full recipes: set GRAPHDIFF_SLOW=1")
@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_full_recipe_reaches_97_percent(name, data):
    _, _, accuracy = zoo.train(name, data, progress=False)
    assert accuracy >= 0.97


@pytest.mark.skipif(not SLOW, reason="full recipes: set GRAPHDIFF_SLOW=1")
@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_full_recurrent_recipe_reaches_96_percent(name, data):
    _, _, accuracy = zoo.train(name, data, progress=False)
    assert accuracy >= 0.96, f"{name}: test accuracy {accuracy:.4f}"


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_recurrent_models_are_one_scan_over_the_rows(name):
    model = zoo.RECIPES[name].build(np.random.default_rng(0))
    x = gd.placeholder((None, 64), "float32", name="x")
    graph = gd.Graph([x], [model(x)])
    scans = [n for n in graph.nodes if n.op is gd.ops.control.scan]
    assert len(scans) == 1 and scans[0].attrs["length"] == (8,)
    # the input projections of every row: one matmul per gate outside the loop; inside, one
    # recurrent matmul per gate (whatever the number of rows), then the classifier's head
    gates = len(model.rnn.GATES)
    assert scans[0].regions[0].op_counts()["matmul"] == gates
    assert graph.op_counts()["matmul"] == 2 * gates + 1


def test_transformer_block_is_pre_layernorm():
    from models.nets import TransformerBlock

    block = TransformerBlock(8, 2, 16, np.random.default_rng(0))
    x = gd.placeholder((None, 4, 8), "float64", name="x")
    f = gd.function([x], block(gd.astype(x, "float32")))
    value = np.random.default_rng(1).normal(size=(3, 4, 8))
    out = f(value)
    assert out.shape == (3, 4, 8)
    # the residual stream passes the input through unnormalized: scaling the input by a large
    # factor scales the output by about the same (a post-LN block would renormalize it)
    big = f(value * 100)
    assert np.abs(big).mean() > 30 * np.abs(out).mean()


# --- the demo ---------------------------------------------------------------------------------

def test_demo_end_to_end(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    sys.path.insert(0, str(ROOT / "models"))
    import demo

    result = demo.main(["--epochs", "3", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "test accuracy" in out and result["accuracy"] >= 0.9
    assert "onnxruntime agrees on all 359 test predictions" in out
    for name in ("digits_cnn.onnx", "training_graph.html", "training_graph.svg",
                 "training_graph.dot", "checkpoint.npz"):
        assert (tmp_path / name).stat().st_size > 1000
    # resumed from its finished checkpoint, the demo trains nothing and ends where it was
    again = demo.main(["--epochs", "3", "--out", str(tmp_path), "--resume"])
    assert again["accuracy"] == result["accuracy"] and "last epoch resumed" in \
        capsys.readouterr().out


@pytest.mark.parametrize("name", list(zoo.RECIPES))
def test_trained_model_agrees_with_onnxruntime(name, tmp_path, data):
    ort = pytest.importorskip("onnxruntime")
    model, _, _ = zoo.train(name, data, epochs=1, progress=False)
    path = tmp_path / f"{name}.onnx"
    gd.export_onnx(path, [model.x], [model.logits])  # the recurrent models: ONNX Scan
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x_test = zoo.RECIPES[name].inputs(data, "test")
    (logits,) = session.run(None, {session.get_inputs()[0].name: x_test})
    np.testing.assert_allclose(logits, model.predict(x_test), rtol=1e-4, atol=1e-4)
