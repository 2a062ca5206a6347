"""Functional index updates beyond the registry cases: which update wins for ``set`` and where
its gradient goes, ties of ``max``, products with zeros, integer tensors, dtype casts, ONNX
export by opset, and the errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd

RNG = np.random.default_rng(0)


def _run(inputs, outputs, *arrays):
    return gd.function(inputs, outputs)(*arrays)


@pytest.mark.parametrize("run_time", [False, True])
def test_set_with_repeated_indices_keeps_the_last_and_its_gradient(run_time: bool) -> None:
    x = gd.placeholder((4,), "float64", name="x")
    v = gd.placeholder((4,), "float64", name="v")
    i = gd.placeholder((4,), "int64", name="i") if run_time else None
    index = np.array([1, 3, 1, -3])  # position 1 is written three times: the last one wins
    y = x.at[i if run_time else index].set(v)
    gx, gv = gd.grad(gd.sum(y * gd.constant(np.array([1.0, 2.0, 3.0, 4.0]))), [x, v])
    feeds = [np.zeros(4), np.array([10.0, 20.0, 30.0, 40.0])] + ([index] if run_time else [])
    got_y, got_gx, got_gv = _run([x, v] + ([i] if run_time else []), [y, gx, gv], *feeds)
    np.testing.assert_array_equal(got_y, [0.0, 40.0, 0.0, 20.0])
    np.testing.assert_array_equal(got_gx, [1.0, 0.0, 3.0, 0.0])  # overwritten: no gradient
    np.testing.assert_array_equal(got_gv, [0.0, 4.0, 0.0, 2.0])  # only the winners


def test_max_ties_share_the_gradient() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    v = gd.placeholder((3,), "float64", name="v")
    y = x.at[[0, 0, 2]].max(v)
    gx, gv = gd.grad(gd.sum(y), [x, v])
    got = _run([x, v], [y, gx, gv], np.array([-1.0, 5.0, 9.0]), np.array([2.0, 2.0, 1.0]))
    np.testing.assert_array_equal(got[0], [2.0, 5.0, 9.0])
    np.testing.assert_array_equal(got[1], [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(got[2], [0.5, 0.5, 0.0])  # two equal winners split it


def test_multiply_gradient_with_zeros_is_the_product_of_the_others() -> None:
    x = gd.placeholder((2,), "float64", name="x")
    v = gd.placeholder((4,), "float64", name="v")
    y = x.at[[0, 0, 0, 1]].multiply(v)
    gx, gv = gd.grad(gd.sum(y), [x, v])
    (t,) = gd.jvp([y], [v], [gd.constant(np.array([1.0, 0.0, 0.0, 1.0]))])
    f = gd.function([x, v], [y, gx, gv, t])
    got = f(np.array([2.0, 3.0]), np.array([0.0, 5.0, 7.0, 4.0]))
    np.testing.assert_array_equal(got[0], [0.0, 12.0])
    np.testing.assert_array_equal(got[1], [0.0, 4.0])
    np.testing.assert_array_equal(got[2], [70.0, 0.0, 0.0, 3.0])  # 2*5*7, then one zero left
    np.testing.assert_array_equal(got[3], [70.0, 3.0])
    got = f(np.array([2.0, 3.0]), np.array([0.0, 0.0, 7.0, 4.0]))
    np.testing.assert_array_equal(got[2], [0.0, 0.0, 0.0, 3.0])  # two zeros: all vanish


def test_updates_on_integer_tensors_and_value_casts() -> None:
    x = gd.placeholder((5,), "int32", name="x")
    ops = [x.at[[1, 1]].add(3), x.at[2].set(7.9), x.at[[0, 4]].max(np.int64(2)),
           x.at[:2].min(-1), x.at[[3, 3]].multiply(2)]
    assert all(o.dtype == np.int32 for o in ops)
    got = _run([x], ops, np.arange(5, dtype=np.int32))
    want = [[0, 7, 2, 3, 4], [0, 1, 7, 3, 4], [2, 1, 2, 3, 4], [-1, -1, 2, 3, 4],
            [0, 1, 2, 12, 4]]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_get_is_indexing_and_x_is_unchanged() -> None:
    x = gd.placeholder((3, 4), "float32", name="x")
    y = x.at[1:, [0, 2]].set(0.0)
    value = RNG.standard_normal((3, 4)).astype(np.float32)
    got_x, got_get, got_y = _run([x], [x, x.at[1:, [0, 2]].get(), y], value)
    np.testing.assert_array_equal(got_x, value)
    np.testing.assert_array_equal(got_get, value[1:, [0, 2]])
    want = value.copy()
    want[1:, [0, 2]] = 0.0
    np.testing.assert_array_equal(got_y, want)


def test_updates_on_a_symbolic_batch_run_at_several_sizes() -> None:
    x = gd.placeholder((None, 3), "float64", name="x")
    v = gd.placeholder((None,), "float64", name="v")
    y = x.at[:, 1].multiply(v).at[-1].set(0.5).at[0, [2, 2]].add(1.0)
    (gv,) = gd.grad(gd.sum(y), [v])
    f = gd.function([x, v], [y, gv])
    for n in (2, 5):
        x_value, v_value = RNG.standard_normal((n, 3)), RNG.standard_normal(n)
        want = x_value.copy()
        want[:, 1] *= v_value
        want[-1] = 0.5
        want[0, 2] += 2.0
        got_y, got_gv = f(x_value, v_value)
        np.testing.assert_allclose(got_y, want, rtol=1e-12)
        np.testing.assert_allclose(got_gv, np.r_[x_value[:-1, 1], 0.0], rtol=1e-12)


@pytest.mark.parametrize("how", ["add", "multiply", "max", "min", "set"])
def test_vmap_over_a_symbolic_batch_with_per_example_indices(how: str) -> None:
    xs = gd.placeholder((None, 5), "float64", name="xs")
    vs = gd.placeholder((None, 3), "float64", name="vs")
    indices = gd.placeholder((None, 3), "int64", name="indices")
    out = gd.vmap(lambda x, v, i: getattr(x.at[i], how)(v))(xs, vs, indices)
    (g,) = gd.grad(gd.sum(out * out), [vs])
    f = gd.function([xs, vs, indices], [out, g])
    for n in (2, 4):
        x_value, v_value = RNG.standard_normal((n, 5)), RNG.standard_normal((n, 3))
        i_value = RNG.integers(-5, 5, size=(n, 3))
        got, got_g = f(x_value, v_value, i_value)
        for k in range(n):
            x = gd.placeholder((5,), "float64", name="x")
            v = gd.placeholder((3,), "float64", name="v")
            i = gd.placeholder((3,), "int64", name="i")
            one = getattr(x.at[i], how)(v)
            want, want_g = gd.function([x, v, i], [one, gd.grad(gd.sum(one * one), [v])[0]])(
                x_value[k], v_value[k], i_value[k])
            np.testing.assert_allclose(got[k], want, rtol=1e-12)
            np.testing.assert_allclose(got_g[k], want_g, rtol=1e-12)


def test_bad_updates_raise_clear_errors() -> None:
    x = gd.placeholder((3, 4), "float64", name="x")
    with pytest.raises(gd.ShapeError, match=r"values of shape \(3,\) do not broadcast to the "
                                            r"indexed shape \(2, 4\).*test_at\.py"):
        x.at[[0, 1]].add(np.ones(3))
    with pytest.raises(gd.ShapeError, match=r"index 5 is out of bounds.*test_at\.py"):
        x.at[5].set(1.0)
    with pytest.raises(gd.ShapeError, match=r"index 4 is out of range for axis 1 of size 4"):
        gd.placeholder((None, 4), "float64").at[:, 4].set(1.0)
    with pytest.raises(gd.errors.ImmutableError,
                       match=r"x\.at\[index\]\.set\(value\).*test_at\.py"):
        x[0, 1] = 2.0
    with pytest.raises(gd.DTypeError, match="index arrays must be integers"):
        x.at[gd.placeholder((2,), "float32")].set(1.0)


onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("how", ["add", "multiply", "max", "min", "set"])
def test_onnx_export_runs_in_onnxruntime(how: str) -> None:
    x = gd.placeholder((3, 4), "float32", name="x")
    v = gd.placeholder((3,), "float32", name="v")
    i = gd.placeholder((3,), "int64", name="i")
    y = getattr(x.at[i, 1], how)(v)
    model = gd.export_onnx(None, [x, v, i], [y])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {"x": RNG.standard_normal((3, 4)).astype(np.float32),
             "v": RNG.standard_normal(3).astype(np.float32), "i": np.array([2, 0, 2])}
    (got,) = session.run(None, feeds)
    np.testing.assert_allclose(got, gd.function([x, v, i], y)(*feeds.values()), rtol=1e-6)


def test_onnx_export_of_max_needs_opset_18() -> None:
    x = gd.placeholder((3,), "float32", name="x")
    with pytest.raises(gd.OnnxError, match=r"scatter_max exports as ScatterND\(reduction='max'\)"
                                           r", which needs opset 18"):
        gd.export_onnx(None, [x], [x.at[[0, 0]].max(1.0)], opset=17)


def _scatter_model(op: str, reduction: str, indices: np.ndarray, data_shape, updates_shape):
    from onnx import TensorProto, helper, numpy_helper

    double = TensorProto.DOUBLE
    graph = helper.make_graph(
        [helper.make_node(op, ["data", "indices", "updates"], ["out"], reduction=reduction,
                          **({"axis": 1} if op == "ScatterElements" else {}))],
        "scatter", [helper.make_tensor_value_info("data", double, data_shape),
                    helper.make_tensor_value_info("updates", double, updates_shape)],
        [helper.make_tensor_value_info("out", double, data_shape)],
        initializer=[numpy_helper.from_array(indices, "indices")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


IMPORTED_SCATTERS = [
    ("ScatterND", np.array([[0], [2], [0]]), (3, 4), (3, 4)),
    ("ScatterND", np.array([[1, 3], [1, 3], [0, 0]]), (3, 4), (3,)),
    ("ScatterElements", np.array([[0, 0], [3, 1], [2, 2]]), (3, 4), (3, 2)),
]


@pytest.mark.parametrize("reduction", ["mul", "max", "min", "add", "none"])
@pytest.mark.parametrize("op, indices, data_shape, updates_shape", IMPORTED_SCATTERS,
                         ids=["nd_rows", "nd_elements", "elements"])
def test_imported_scatter_reductions_match_onnxruntime_and_differentiate(
        op, indices, data_shape, updates_shape, reduction: str) -> None:
    if reduction == "none" and op == "ScatterElements":
        indices = np.array([[0, 1], [3, 2], [2, 0]])  # distinct targets: ONNX defines only these
    if reduction == "none" and op == "ScatterND":
        indices = indices[:2] if indices.shape[1] == 1 else np.array([[1, 3], [0, 0], [2, 1]])
        updates_shape = (indices.shape[0],) + tuple(updates_shape[1:])
    model = _scatter_model(op, reduction, indices, data_shape, updates_shape)
    data, updates = RNG.standard_normal(data_shape), RNG.standard_normal(updates_shape)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (want,) = session.run(None, {"data": data, "updates": updates})
    imported = gd.import_onnx(model)
    (got_out,) = imported(data, updates)
    np.testing.assert_allclose(got_out, want, rtol=1e-12)
    weights = gd.constant(RNG.standard_normal(data_shape))
    grads = gd.grad(gd.sum(imported.outputs[0] * weights), imported.inputs)
    got = gd.function(imported.inputs, grads)(data, updates)
    loss = gd.function(imported.inputs, gd.sum(imported.outputs[0] * weights))
    for position, value in enumerate((data, updates)):
        numeric = np.zeros_like(value)
        for k in np.ndindex(value.shape):
            step = np.zeros_like(value)
            step[k] = 1e-6
            args = [data, updates]
            args[position] = value + step
            up = loss(*args)
            args[position] = value - step
            numeric[k] = (up - loss(*args)) / 2e-6
        np.testing.assert_allclose(got[position], numeric, rtol=1e-6, atol=1e-8)
