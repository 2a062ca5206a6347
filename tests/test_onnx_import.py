"""Import: models from graphdiff and from onnx's own test data become graphdiff graphs that run,
optimize, differentiate and export again."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import graphdiff as gd

from .test_onnx_export import check, session
from .test_onnx_models import _data, _mlp

ONNX_DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")


def _exported_mlp():
    x, y, params, logits, loss = _mlp()
    model = gd.export_onnx(None, [x, y], [logits, loss], output_names=["logits", "loss"])
    return model, gd.function([x, y], [logits, loss]), params


def test_round_trip_runs_at_two_batch_sizes() -> None:
    model, original, params = _exported_mlp()
    imported = gd.import_onnx(model)
    assert [p.shape[0] for p in imported.inputs] == ["batch", "batch"]
    assert sorted(imported.variables) == ["W1", "W2", "b1"]
    assert imported.output_names == ["logits", "loss"]
    for n in (4, 9):
        xb, yb = _data(n)
        for got, want in zip(imported(xb, yb), original(xb, yb), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_imported_model_differentiates_optimizes_and_exports_again() -> None:
    model, original, params = _exported_mlp()
    imported = gd.import_onnx(model)
    loss = imported.outputs[1]
    variables = [imported.variables[p.name] for p in params]
    xb, yb = _data(6)
    got = gd.function(imported.inputs, gd.grad(loss, variables))(xb, yb)
    x, y = original.inputs
    want = gd.function([x, y], gd.grad(original.outputs[1], params), passes="none")(xb, yb)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    unoptimized = gd.function(imported.inputs, imported.outputs, passes="none")
    for a, b in zip(unoptimized(xb, yb), imported(xb, yb), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    again = gd.export_onnx(None, imported.inputs, imported.outputs)
    check(again)
    got = session(again).run(None, {"x": xb, "y": yb})
    for got_ort, want_gd in zip(got, imported(xb, yb), strict=True):
        np.testing.assert_allclose(got_ort, want_gd, rtol=1e-5, atol=1e-6)


def test_initializers_as_constants_or_variables() -> None:
    model, original, params = _exported_mlp()
    as_constants = gd.import_onnx(model, initializers="constants")
    assert as_constants.variables == {}
    ops = {node.op.name for node in as_constants.graph.nodes}
    assert "variable" not in ops
    xb, yb = _data(3)
    np.testing.assert_allclose(as_constants(xb, yb)[1], original(xb, yb)[1], rtol=1e-6)
    with pytest.raises(gd.OnnxError, match="initializers"):
        gd.import_onnx(model, initializers="parameters")


def test_imported_variables_train() -> None:
    model, original, params = _exported_mlp()
    imported = gd.import_onnx(model)
    loss = imported.outputs[1]
    variables = list(imported.variables.values())
    grads = gd.grad(loss, variables)
    step = gd.function(imported.inputs, loss,
                       updates={v: v - 0.5 * g for v, g in zip(variables, grads, strict=True)})
    xb, yb = _data(32)
    losses = [float(step(xb, yb)) for _ in range(20)]
    assert losses[-1] < 0.8 * losses[0]


def test_import_from_path_and_bytes(tmp_path) -> None:
    model, original, params = _exported_mlp()
    path = tmp_path / "mlp.onnx"
    gd.export_onnx(path, *([original.inputs, original.outputs]))
    xb, yb = _data(2)
    from_path = gd.import_onnx(path)
    from_bytes = gd.import_onnx(path.read_bytes())
    for a, b in zip(from_path(xb, yb), from_bytes(xb, yb), strict=True):
        np.testing.assert_array_equal(a, b)


def test_onnx_test_data_model() -> None:
    path = os.path.join(ONNX_DATA, "pytorch-operator", "test_operator_conv", "model.onnx")
    if not os.path.exists(path):
        pytest.skip("onnx's pytorch-operator data is not installed")
    imported = gd.import_onnx(path)
    data = os.path.join(os.path.dirname(path), "test_data_set_0")
    inputs = [onnx.numpy_helper.to_array(onnx.load_tensor(os.path.join(data, "input_0.pb")))]
    want = onnx.numpy_helper.to_array(onnx.load_tensor(os.path.join(data, "output_0.pb")))
    np.testing.assert_allclose(imported(*inputs)[0], want, rtol=1e-4, atol=1e-5)


def test_bind_makes_a_run_time_input_known() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    axes = helper.make_tensor_value_info("axes", TensorProto.INT64, [1])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("ReduceSum", ["x", "axes"], ["y"])], "g",
                              [x, axes], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(gd.OnnxError, match="must be known"):
        gd.import_onnx(model)
    imported = gd.import_onnx(model, bind={"axes": np.array([1])})
    np.testing.assert_allclose(imported(np.ones((2, 3), np.float32))[0], [[3.0], [3.0]])
    with pytest.raises(gd.OnnxError, match="not graph inputs"):
        gd.import_onnx(model, bind={"nope": np.array([1])})


def _model_with_known_floats() -> onnx.ModelProto:
    """x [n,1,2,2] -> Resize by float scales -> * a one-element scale -> Pad with a float
    value -> * a [1,1,1,1] weight; the scales, the scale and the pad value are initializers."""
    f = TensorProto.FLOAT
    initializers = [
        helper.make_tensor("scales", f, [4], [1, 1, 2, 2]),
        helper.make_tensor("scale", f, [1], [0.5]),
        helper.make_tensor("pads", TensorProto.INT64, [8], [0, 0, 1, 1, 0, 0, 1, 1]),
        helper.make_tensor("fill", f, [], [3.0]),
        helper.make_tensor("weight", f, [1, 1, 4, 1], [1.0, 2.0, 3.0, 4.0]),
    ]
    nodes = [
        helper.make_node("Resize", ["x", "", "scales"], ["r"], mode="nearest"),
        helper.make_node("Mul", ["r", "scale"], ["s"]),
        helper.make_node("Pad", ["s", "pads", "fill"], ["p"]),
        helper.make_node("Slice", ["p", "starts", "ends", "axes"], ["c"]),
        helper.make_node("Mul", ["c", "weight"], ["y"]),
    ]
    initializers += [helper.make_tensor("starts", TensorProto.INT64, [1], [1]),
                     helper.make_tensor("ends", TensorProto.INT64, [1], [5]),
                     helper.make_tensor("axes", TensorProto.INT64, [1], [2])]
    graph = helper.make_graph(nodes, "known",
                              [helper.make_tensor_value_info("x", f, ["n", 1, 2, 2])],
                              [helper.make_tensor_value_info("y", f, None)], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _reference(xs: np.ndarray, weight: np.ndarray, scale: float = 0.5) -> np.ndarray:
    resized = xs.repeat(2, axis=2).repeat(2, axis=3) * scale
    padded = np.pad(resized, [(0, 0), (0, 0), (1, 1), (1, 1)], constant_values=3.0)
    return padded[:, :, 1:5] * weight


def test_float_initializers_read_as_known_values_are_constants() -> None:
    model = gd.import_onnx(_model_with_known_floats())
    assert sorted(model.variables) == ["weight"]  # not the scales, the scale or the pad value
    assert model.inputs[0].shape == ("n", 1, 2, 2)
    weight = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 4, 1)
    for n in (1, 3):
        xs = np.random.default_rng(n).standard_normal((n, 1, 2, 2)).astype(np.float32)
        np.testing.assert_allclose(model(xs)[0], _reference(xs, weight), rtol=1e-6)
    (grad,) = gd.function(model.inputs, gd.grad(gd.sum(model.outputs[0]),
                                                [model.variables["weight"]]))(xs)
    np.testing.assert_allclose(grad, _reference(xs, 1.0).sum(axis=(0, 1, 3), keepdims=True),
                               rtol=1e-5)


def test_trainable_chooses_the_variables() -> None:
    proto = _model_with_known_floats()
    by_list = gd.import_onnx(proto, trainable=["scale", "weight"])
    assert sorted(by_list.variables) == ["scale", "weight"]
    xs = np.random.default_rng(0).standard_normal((2, 1, 2, 2)).astype(np.float32)
    (grad,) = gd.function(by_list.inputs, gd.grad(gd.sum(by_list.outputs[0]),
                                                  [by_list.variables["scale"]]))(xs)
    weight = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 4, 1)
    padded = _reference(xs, weight, scale=1.0) - _reference(np.zeros_like(xs), weight, 1.0)
    np.testing.assert_allclose(grad, [padded.sum()], rtol=1e-5)  # d/d(scale) of the sum
    by_predicate = gd.import_onnx(proto, trainable=lambda name: name.startswith("w"))
    assert sorted(by_predicate.variables) == ["weight"]
    assert gd.import_onnx(proto, trainable=[]).variables == {}
    assert sorted(gd.import_onnx(proto, initializers="constants",
                                 trainable=["weight"]).variables) == ["weight"]


@pytest.mark.parametrize("trainable, message", [
    (["scales"], r"'scales' is input 2 of Resize .* must be known"),
    (["pads"], "'pads' is int64; only float"),
    (["nope"], r"not initializers"),
    ("weight", "a predicate on initializer names or a list"),
])
def test_trainable_refuses_what_cannot_be_a_variable(trainable, message: str) -> None:
    with pytest.raises(gd.OnnxError, match=message):
        gd.import_onnx(_model_with_known_floats(), trainable=trainable)


def _cast_chain(narrow: int, saturate: int = 1) -> onnx.ModelProto:
    """x (float32) -> Cast to ``narrow`` -> Cast back to float32."""
    nodes = [helper.make_node("Cast", ["x"], ["n"], to=narrow, saturate=saturate),
             helper.make_node("Cast", ["n"], ["y"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(nodes, "cast_chain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [6])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


@pytest.mark.parametrize("narrow, name", [
    (TensorProto.BFLOAT16, "bfloat16"), (TensorProto.FLOAT8E4M3FN, "float8_e4m3fn"),
    (TensorProto.FLOAT8E5M2, "float8_e5m2"), (TensorProto.INT4, "int4"),
    (TensorProto.FLOAT4E2M1, "float4_e2m1fn")])
def test_casts_through_narrow_storage_formats_round_as_ml_dtypes(narrow: int, name: str) -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    dtype = np.dtype(getattr(ml_dtypes, name))
    x = np.array([0.3, -1.7, 2.5, 3.25, -6.0, 0.0], np.float32)
    model = gd.import_onnx(_cast_chain(narrow), initializers="constants")
    got = gd.function(model.inputs, model.outputs)(x)
    got = got[0] if isinstance(got, list) else got
    np.testing.assert_array_equal(got, x.astype(dtype).astype(np.float32))


def test_float8_casts_saturate_unless_told_not_to() -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = np.array([1e6, -1e6, np.inf, -np.inf, np.nan, 1.0], np.float32)
    largest = float(ml_dtypes.finfo(ml_dtypes.float8_e4m3fn).max)
    for saturate, want in [(1, [largest, -largest, largest, -largest, np.nan, 1.0]),
                           (0, x.astype(ml_dtypes.float8_e4m3fn).astype(np.float32))]:
        model = gd.import_onnx(_cast_chain(TensorProto.FLOAT8E4M3FN, saturate),
                               initializers="constants")
        got = gd.function(model.inputs, model.outputs)(x)
        got = got[0] if isinstance(got, list) else got
        np.testing.assert_array_equal(got, np.asarray(want, np.float32))


def test_arithmetic_on_a_storage_format_asks_for_a_cast() -> None:
    pytest.importorskip("ml_dtypes")
    x = gd.placeholder((3,), "bfloat16", name="x")
    with pytest.raises(gd.DTypeError, match="got bfloat16 .a storage format: cast it to "
                                            "float32 first"):
        gd.exp(x)
    assert gd.astype(x, "float32").dtype == np.float32
