"""Symbolic dims as expressions (``ir/dims.py``): the normal form, exact division, and what it
makes possible: reshapes with ``-1`` over derived dims in the API, in ONNX export and in the
import of models torch exports with a dynamic batch (``nn.TransformerEncoderLayer`` reshapes
``[batch*4, 5, 4]`` to ``(-1, 4, 5, 4)``)."""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

import graphdiff as gd
from graphdiff.ir.dims import (
    difference_dims,
    evaluate_dim,
    exact_quotient,
    floor_quotient,
    normalize_dim,
    parse_dim,
    product_dims,
    sum_dims,
)


@pytest.mark.parametrize("text, normal", [
    ("n", "n"), ("4*n", "n*4"), ("n*4", "n*4"), ("(a+b)*4", "a*4+b*4"), ("b+a+2", "a+b+2"),
    ("n+n", "n*2"), ("n-1+1", "n"), ("3-n+n", 3), ("m*n-n", "m*n-n"), ("a*b*4//4", "a*b"),
    ("n//2", "(n//2)"), ("(n//2)*2", "(n//2)*2"), ("n[1:]+1", "n[1:]+1"),
    ("(b+a)[1:]", "(a+b)[1:]"), ("n[2:5]", 3), ("?0*4", "?0*4"),
])
def test_normal_form(text: str, normal) -> None:
    assert normalize_dim(text) == normal
    assert normalize_dim(normal) == normal  # a fixed point
    env = {"n": 7, "m": 3, "a": 2, "b": 5, "?0": 6}
    assert evaluate_dim(normal, env) == evaluate_dim(text, env)


def test_arithmetic_simplifies() -> None:
    assert product_dims(["batch*4", 10, 8]) == "batch*320"
    assert exact_quotient(product_dims(["batch*4", 10, 8]), product_dims([4, 10, 8])) == "batch"
    assert exact_quotient("a*a+a*2+1", "a+1") == "a+1"
    assert exact_quotient("a*b", "b") == "a" and exact_quotient("n*6", "n*4") is None
    assert exact_quotient("n", "m") is None and exact_quotient(12, 4) == 3
    assert sum_dims(["n", "n*3", -2]) == "n*4-2" and difference_dims("n+3", 1) == "n+2"
    assert floor_quotient("n*4+2", 2) == "n*2+1" and floor_quotient("n", 2) == "(n//2)"
    assert floor_quotient(7, 2) == 3


def test_unparsable_dims_are_shape_errors() -> None:
    for text in ("n+", "(n", "n[1:2:3:4]", "n/2", "n)"):
        with pytest.raises(gd.ShapeError, match="symbolic dimension"):
            parse_dim(text)
        assert evaluate_dim(text, {"n": 1}) is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reshape_with_minus_one_over_a_derived_dim(dtype: str) -> None:
    x = gd.placeholder(("batch", 4, 10, 8), dtype, name="x")
    heads = gd.reshape(x, (-1, 10, 8))  # [batch*4, 10, 8]
    assert heads.shape == ("batch*4", 10, 8)
    back = gd.reshape(heads * 2.0, (-1, 4, 10, 8))
    assert back.shape == ("batch", 4, 10, 8)
    rows = gd.reshape(back, (-1, 80))  # an element count divided by a static size
    assert rows.shape == ("batch*4", 80)
    first, second = gd.split(rows, 2, axis=1)
    loss = gd.sum(gd.tanh(first) * second)
    (g,) = gd.grad(loss, [x])
    f = gd.function([x], [back, loss, g])
    for batch in (1, 3):
        xs = np.random.default_rng(batch).standard_normal((batch, 4, 10, 8)).astype(dtype)
        got_back, got_loss, got_g = f(xs)
        np.testing.assert_array_equal(got_back, xs * 2)
        r = (xs * 2).reshape(batch * 4, 80)
        want_loss = np.sum(np.tanh(r[:, :40]) * r[:, 40:])
        np.testing.assert_allclose(got_loss, want_loss, rtol=1e-5 if dtype == "float32" else 1e-12)
        want_g = np.concatenate([(1 - np.tanh(r[:, :40]) ** 2) * r[:, 40:], np.tanh(r[:, :40])],
                                axis=1).reshape(xs.shape) * 2
        np.testing.assert_allclose(got_g, want_g, rtol=1e-4 if dtype == "float32" else 1e-12)


def test_reshape_that_does_not_divide_names_the_counts() -> None:
    x = gd.placeholder(("n", 6), "float64", name="x")
    with pytest.raises(gd.ShapeError, match=r"n\*6 elements"):
        gd.reshape(x, (-1, 4, "n"))


def test_derived_dims_export_and_match_onnxruntime() -> None:
    x = gd.placeholder(("batch", 4, 6), "float32", name="x")
    y = gd.reshape(gd.reshape(x, (-1, 6)) + 1.0, (-1, 4, 6))
    model = gd.export_onnx(None, [x], [y])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch in (2, 5):
        xs = np.random.default_rng(batch).standard_normal((batch, 4, 6)).astype(np.float32)
        (got,) = session.run(None, {"x": xs})
        np.testing.assert_allclose(got, xs + 1.0, rtol=1e-6)


def test_torch_transformer_encoder_layer_imports_with_a_dynamic_batch() -> None:
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True).eval()
    with torch.no_grad():  # distinct values, so the exporter shares no initializer between two
        for p in layer.parameters():  # parameters and each is found by its value below
            p.copy_(torch.randn_like(p) * 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(layer, (torch.randn(3, 5, 16),), dynamo=True,
                                    input_names=["x"], output_names=["y"],
                                    dynamic_shapes={"src": {0: torch.export.Dim("batch")}},
                                    verbose=False)
    model = gd.import_onnx(program.model_proto)
    (x,) = model.inputs
    assert not isinstance(x.shape[0], int)
    for batch in (2, 7):
        xs = np.random.default_rng(batch).standard_normal((batch, 5, 16)).astype(np.float32)
        with torch.no_grad():
            want = layer(torch.from_numpy(xs)).numpy()
        got = model(xs)
        got = got[0] if isinstance(got, list) else got
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # gradients with respect to every imported parameter, against torch autograd
    xs = np.random.default_rng(0).standard_normal((3, 5, 16)).astype(np.float32)
    layer.zero_grad()
    out = layer(torch.from_numpy(xs))
    (out * out).sum().backward()
    torch_grads = [p.grad.numpy() for p in layer.parameters()]
    loss = gd.sum(model.outputs[0] * model.outputs[0])
    variables = list(model.variables.values())
    grads = gd.function([x], gd.grad(loss, variables))(xs)
    matched = set()
    for variable, grad in zip(variables, grads, strict=True):
        value = variable.data.value
        for k, (p, want) in enumerate(zip(layer.parameters(), torch_grads, strict=True)):
            theirs = p.detach().numpy()
            for same, expected in ((theirs, want), (theirs.T, want.T)):  # weights as MatMul's
                if same.shape == value.shape and np.array_equal(same, value):
                    np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-4)
                    matched.add(k)
    assert matched == set(range(len(torch_grads)))  # every torch parameter, found by value


class _ExpandToBatch(torch.nn.Module):
    """``expand(x.shape[0], -1)``: TorchScript writes Shape -> Gather -> Unsqueeze -> Concat ->
    Reshape and Where(Equal(shape, -1), ones, shape) before the Expand."""

    def __init__(self) -> None:
        super().__init__()
        self.row = torch.nn.Parameter(torch.randn(1, 4))

    def forward(self, x):
        return x * self.row.expand(x.shape[0], -1)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_shape_value_chains_stay_symbolic(dynamo: bool) -> None:
    import io

    import onnx

    torch.manual_seed(1)
    module = _ExpandToBatch()
    example = (torch.randn(3, 4),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            proto = torch.onnx.export(module, example, dynamo=True, input_names=["x"],
                                      dynamic_shapes=({0: torch.export.Dim("batch")},),
                                      verbose=False).model_proto
        else:
            buffer = io.BytesIO()
            torch.onnx.export(module, example, buffer, dynamo=False, input_names=["x"],
                              dynamic_axes={"x": {0: "batch"}})
            proto = onnx.load_from_string(buffer.getvalue())
            assert {"Equal", "Where", "Concat", "Gather"} <= {n.op_type for n in proto.graph.node}
    model = gd.import_onnx(proto)
    (x,), (y,) = model.inputs, model.outputs
    assert y.shape == (x.shape[0], 4) and not isinstance(x.shape[0], int)
    (row,) = model.variables.values()
    step = gd.function([x], [y, *gd.grad(gd.sum(y), [x, row])])
    for batch in (2, 6):
        xs = np.random.default_rng(batch).standard_normal((batch, 4)).astype(np.float32)
        got, got_dx, got_drow = step(xs)
        weights = module.row.detach().numpy()
        np.testing.assert_allclose(got, xs * weights, rtol=1e-6)
        np.testing.assert_allclose(got_dx, np.broadcast_to(weights, xs.shape), rtol=1e-6)
        np.testing.assert_allclose(got_drow, xs.sum(0, keepdims=True), rtol=1e-5)
