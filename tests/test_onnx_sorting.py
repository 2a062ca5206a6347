"""Import of ONNX TopK, ReverseSequence, Compress, NonZero and Unique: values against
onnxruntime, gradients through TopK against finite differences, the clear error where a result's
size depends on data that is not known at import, and export of the imported graph again."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import graphdiff as gd

from .test_onnx_export import check, session

RNG = np.random.default_rng(0)


def _model(op_type: str, inputs: list, outputs: list[str], initializers=(), **attrs):
    """One node; outputs named ``index``, ``inverse``, ``counts``, ``indices`` or ``y`` of
    NonZero are int64, the others float."""
    node = helper.make_node(op_type, [i.name for i in inputs] + [t.name for t in initializers],
                            outputs, **attrs)
    integer = {"index", "inverse", "counts", "indices"} | ({"y"} if op_type == "NonZero" else set())
    infos = [helper.make_tensor_value_info(o, TensorProto.INT64 if o in integer else
                                           TensorProto.FLOAT, None) for o in outputs]
    graph = helper.make_graph([node], op_type, inputs, infos, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _float_input(name: str, shape) -> object:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _k(value: int):
    return helper.make_tensor("k", TensorProto.INT64, [1], [value])


@pytest.mark.parametrize("largest, axis", [(1, -1), (0, 0), (1, 1)])
def test_top_k_matches_onnxruntime_with_ties_and_batches_symbolically(largest, axis) -> None:
    model = _model("TopK", [_float_input("x", ["batch", 6])], ["values", "indices"],
                   [_k(2 if axis == 0 else 3)], axis=axis, largest=largest)
    imported = gd.import_onnx(model)
    assert imported.inputs[0].shape == ("batch", 6)
    for rows in (3, 5):
        x = RNG.integers(0, 4, size=(rows, 6)).astype(np.float32)  # ties
        want = session(model).run(None, {"x": x})
        for got, expected in zip(imported(x), want, strict=True):
            np.testing.assert_array_equal(got, expected)


def test_gradient_through_imported_top_k_and_export_again() -> None:
    model = _model("TopK", [_float_input("x", [3, 5])], ["values", "indices"], [_k(2)])
    imported = gd.import_onnx(model)
    (x,) = imported.inputs
    weights = RNG.standard_normal((3, 2))
    loss = gd.sum(gd.astype(imported.outputs[0], np.float64) * weights)
    a = RNG.standard_normal((3, 5)).astype(np.float32)
    grad = gd.function([x], gd.grad(loss, x))(a)
    want = np.zeros((3, 5))
    order = np.argsort(-a, axis=1, kind="stable")[:, :2]
    np.put_along_axis(want, order, weights, axis=1)
    np.testing.assert_allclose(grad, want)
    again = gd.export_onnx(None, imported.inputs, imported.outputs)
    check(again)
    for got, expected in zip(session(again).run(None, {"x": a}), imported(a), strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("time, batch, steps", [(0, 1, 4), (1, 0, 4), (0, 1, "seq")])
def test_reverse_sequence_matches_onnxruntime_and_differentiates(time, batch, steps) -> None:
    shape = [steps, 3, 2] if time == 0 else [3, steps, 2]
    lengths = helper.make_tensor_value_info("lens", TensorProto.INT64, [3])
    model = _model("ReverseSequence", [_float_input("x", shape), lengths], ["y"],
                   time_axis=time, batch_axis=batch)
    imported = gd.import_onnx(model)
    for length in (4, 6) if steps == "seq" else (4,):
        concrete = [length if d == "seq" else d for d in shape]
        x = RNG.standard_normal(concrete).astype(np.float32)
        lens = np.array([4, 1, 3], np.int64)
        (want,) = session(model).run(None, {"x": x, "lens": lens})
        np.testing.assert_array_equal(imported(x, lens)[0], want)
        xs, ls = imported.inputs
        grad = gd.function([xs, ls], gd.grad(gd.sum(imported.outputs[0] * x), xs))(x, lens)
        np.testing.assert_array_equal(grad, want)  # a permutation: its transpose moves x back


def test_compress_with_a_known_condition_is_a_differentiable_take() -> None:
    condition = helper.make_tensor("c", TensorProto.BOOL, [4], [True, False, True, True])
    model = _model("Compress", [_float_input("x", ["n", 4])], ["y"], [condition], axis=1)
    imported = gd.import_onnx(model)
    x = RNG.standard_normal((2, 4)).astype(np.float32)
    (want,) = session(model).run(None, {"x": x})
    np.testing.assert_array_equal(imported(x)[0], want)
    grad = gd.function(imported.inputs, gd.grad(gd.sum(imported.outputs[0]), imported.inputs[0]))
    np.testing.assert_array_equal(grad(x), np.broadcast_to([1, 0, 1, 1], (2, 4)))


@pytest.mark.parametrize("sorted_, axis", [(1, None), (0, None), (1, 0)])
def test_unique_and_nonzero_of_bound_inputs_match_onnxruntime(sorted_, axis) -> None:
    attrs = {"sorted": sorted_} if axis is None else {"sorted": sorted_, "axis": axis}
    model = _model("Unique", [_float_input("x", [4, 3])], ["y", "index", "inverse", "counts"],
                   **attrs)
    x = np.array([[2, 1, 1], [3, 0, 2], [2, 1, 1], [0, 0, 5]], np.float32)
    bound = gd.import_onnx(model, bind={"x": x})
    for got, want in zip(bound(), session(model).run(None, {"x": x}), strict=True):
        np.testing.assert_array_equal(got, want)
    nonzero = _model("NonZero", [_float_input("x", [4, 3])], ["y"])
    np.testing.assert_array_equal(gd.import_onnx(nonzero, bind={"x": x})()[0],
                                  session(nonzero).run(None, {"x": x})[0])


@pytest.mark.parametrize("op_type, hint", [("NonZero", "gd.nonzero"), ("Unique", "gd.unique")])
def test_data_dependent_sizes_of_unknown_inputs_name_the_node(op_type, hint) -> None:
    model = _model(op_type, [_float_input("x", [4, 3])], ["y"])
    with pytest.raises(gd.OnnxError, match=rf"\({op_type}\): the number of results depends on "
                                           rf"the values of input 0.*bind=.*{hint}"):
        gd.import_onnx(model)
    condition = helper.make_tensor_value_info("c", TensorProto.BOOL, [3])
    compress = _model("Compress", [_float_input("x", [4, 3]), condition], ["y"], axis=1)
    with pytest.raises(gd.OnnxError, match=r"\(Compress\): .*input 1.*gd.compress"):
        gd.import_onnx(compress)
