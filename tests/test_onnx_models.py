"""Whole models through ONNX: symbolic batch dims that survive export, optimized (fused)
functions, and training steps run by stock onnxruntime against graphdiff's own step."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd

from .test_onnx_export import check, session


def _mlp(batch="batch"):
    rng = np.random.default_rng(0)
    x = gd.placeholder((batch, 6), "float32", name="x")
    y = gd.placeholder((batch,), "int64", name="y")
    W1 = gd.variable(rng.standard_normal((6, 8)).astype(np.float32) * 0.5, name="W1")
    b1 = gd.variable(np.zeros(8, np.float32), name="b1")
    W2 = gd.variable(rng.standard_normal((8, 3)).astype(np.float32) * 0.5, name="W2")
    hidden = gd.tanh(x @ W1 + b1)
    logits = hidden @ W2
    loss = gd.mean(gd.softmax_cross_entropy(logits, y))
    return x, y, [W1, b1, W2], logits, loss


def _data(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 6)).astype(np.float32), rng.integers(0, 3, n)


def test_symbolic_batch_survives_export() -> None:
    x, y, params, logits, loss = _mlp()
    flat = gd.reshape(logits, (-1,))            # n*3 elements: computed from Shape(x)
    model = gd.export_onnx(None, [x, y], [gd.softmax(logits), flat, loss])
    check(model)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    # the flattened size n*3 comes from the input's shape at run time, not from a constant
    reshapes = [n for n in model.graph.node if n.op_type == "Reshape"]
    assert any(n.op_type == "Shape" and n.input[0] == "x" for n in model.graph.node)
    initializers = {i.name for i in model.graph.initializer}
    assert any(n.input[1] not in initializers for n in reshapes)
    f = gd.function([x, y], [gd.softmax(logits), flat, loss])
    run = session(model)
    for n in (5, 11):
        xb, yb = _data(n)
        for got, want in zip(run.run(None, {"x": xb, "y": yb}), f(xb, yb), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("opset", [17, 18])
def test_opset_and_ir_version(opset: int) -> None:
    x, y, params, logits, loss = _mlp()
    model = gd.export_onnx(None, [x, y], [loss], opset=opset)
    check(model)
    assert model.opset_import[0].version == opset
    assert model.ir_version == 8  # what opsets 17 and 18 need; older runtimes load it
    xb, yb = _data(4)
    want = gd.function([x, y], loss)(xb, yb)
    np.testing.assert_allclose(session(model).run(None, {"x": xb, "y": yb})[0], want,
                               rtol=1e-5, atol=1e-6)


def test_unsupported_opset_is_an_error() -> None:
    x = gd.placeholder((2,), "float32")
    with pytest.raises(gd.OnnxError, match="opset 9"):
        gd.export_onnx(None, [x], [x * 2], opset=9)


def test_optimized_function_exports_with_fused_nodes_lowered() -> None:
    x = gd.placeholder(("n", 4), "float32", name="x")
    out = gd.sum(gd.exp(x * 2.0 + 1.0) * gd.tanh(x) - x, axis=1)
    f = gd.function([x], out, passes="fused")
    assert "fused" in f.graph.op_counts()
    model = gd.export_onnx(None, f)
    check(model)
    assert all(node.domain in ("", "ai.onnx") for node in model.graph.node)
    xb = np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32)
    np.testing.assert_allclose(session(model).run(None, {"x": xb})[0], f(xb),
                               rtol=1e-5, atol=1e-6)


def test_training_step_matches_graphdiff() -> None:
    x, y, params, logits, loss = _mlp()
    lr = 0.1
    model = gd.export_training_step(None, [x, y], loss, params,
                                    update=lambda p, g: p - lr * g)
    check(model)
    assert [o.name for o in model.graph.output] == [
        "loss", "W1_grad", "b1_grad", "W2_grad", "W1_new", "b1_new", "W2_new"]
    assert [i.name for i in model.graph.input] == ["x", "y", "W1", "b1", "W2"]
    assert not model.graph.initializer or all(
        i.name not in ("W1", "b1", "W2") for i in model.graph.initializer)
    grads = gd.grad(loss, params)
    step = gd.function([x, y], [loss, *grads],
                       updates={p: p - lr * g for p, g in zip(params, grads, strict=True)})
    run = session(model)
    for n in (8, 3):  # two batch sizes, two consecutive steps
        xb, yb = _data(n, seed=n)
        feeds = {"x": xb, "y": yb, **{p.name: gd.get_value(p) for p in params}}
        got = run.run(None, feeds)
        want = step(xb, yb)
        want += [gd.get_value(p) for p in params]  # the variables after graphdiff's update
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_cnn_training_step_exports() -> None:
    rng = np.random.default_rng(0)
    x = gd.placeholder(("n", 1, 8, 8), "float32", name="x")
    y = gd.placeholder(("n",), "int64", name="y")
    w = gd.variable(rng.standard_normal((4, 1, 3, 3)).astype(np.float32) * 0.3, name="w")
    v = gd.variable(rng.standard_normal((36, 3)).astype(np.float32) * 0.3, name="v")
    h = gd.max_pool2d(gd.relu(gd.conv2d(x, w, padding=1)), 2)
    h = gd.avg_pool2d(h, 2, stride=1, padding=0)
    loss = gd.mean(gd.softmax_cross_entropy(gd.reshape(h, (-1, 36)) @ v, y))
    model = gd.export_training_step(None, [x, y], loss, [w, v],
                                    update=lambda p, g: p - 0.05 * g)
    check(model)
    grads = gd.grad(loss, [w, v])
    f = gd.function([x, y], [loss, *grads])
    xb = rng.standard_normal((5, 1, 8, 8)).astype(np.float32)
    yb = rng.integers(0, 3, 5)
    got = session(model).run(None, {"x": xb, "y": yb, "w": gd.get_value(w),
                                    "v": gd.get_value(v)})
    for g, want in zip(got[:3], f(xb, yb), strict=True):  # loss, w_grad, v_grad
        np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-5)  # conv summation order


def test_random_ops_export_as_seeded_like_ops() -> None:
    x = gd.placeholder(("n", 3), "float32", name="x")
    noise = gd.uniform(x.shape, seed=3, low=2.0, high=4.0) + 0 * x
    gauss = gd.normal(x.shape, seed=4, mean=1.0, std=0.5) + 0 * x
    model = gd.export_onnx(None, [x], [noise, gauss])
    check(model)
    types = [n.op_type for n in model.graph.node]
    assert "RandomUniformLike" in types and "RandomNormalLike" in types
    uniform, normal = session(model).run(None, {"x": np.zeros((2000, 3), np.float32)})
    # onnxruntime draws its own numbers: same distribution, not the same values
    assert uniform.shape == (2000, 3) and 2.0 <= uniform.min() and uniform.max() < 4.0
    assert abs(normal.mean() - 1.0) < 0.05 and abs(normal.std() - 0.5) < 0.05


def test_export_errors_are_onnx_errors() -> None:
    x = gd.placeholder((2,), "float32", name="x")
    other = gd.placeholder((2,), "float32", name="other")
    with pytest.raises(gd.OnnxError, match="not among the exported inputs"):
        gd.export_onnx(None, [x], [x + other])
    with pytest.raises(gd.OnnxError, match="not a placeholder"):
        gd.export_onnx(None, [x * 2], [x])
    with pytest.raises(gd.OnnxError, match="1 output names for 2 outputs"):
        gd.export_onnx(None, [x], [x, x * 2], output_names=["a"])
    with pytest.raises(gd.OnnxError, match="must be variables"):
        gd.export_training_step(None, [x], gd.sum(x), [x], update=lambda p, g: p)


def test_function_with_updates_exports_new_values() -> None:
    x = gd.placeholder(("n", 2), "float32", name="x")
    W = gd.variable(np.ones((2, 2), np.float32), name="W")
    loss = gd.sum(x @ W)
    step = gd.function([x], loss, updates={W: W * 0.5 + gd.mean(x)})
    model = gd.export_onnx(None, step)
    check(model)
    assert [o.name for o in model.graph.output] == ["output_0", "W_new"]
    xb = np.arange(6, dtype=np.float32).reshape(3, 2)
    got = session(model).run(None, {"x": xb, "W": gd.get_value(W)})
    want_loss = step(xb)
    np.testing.assert_allclose(got[0], want_loss, rtol=1e-6)
    np.testing.assert_allclose(got[1], gd.get_value(W), rtol=1e-6)
