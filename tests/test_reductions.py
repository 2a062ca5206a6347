"""Reductions and scans beyond the op table: cumprod's derivatives at zeros (first and second
order, both modes), cumsum's attributes, the NaN-ignoring reductions' gradients, tie rules,
tensor methods, ONNX export of the scans, and the errors of bad input."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ops import scan
from graphdiff.ops.fused import fused

from .numeric import fd_gradient, fd_hessian

ONE_ZERO = np.array([[1.5, 0.0, -2.0, 0.5, 1.2], [0.7, -1.2, 2.0, 1.1, -0.4]])
SEVERAL_ZEROS = np.array([[0.0, 1.5, 0.0, -0.5, 2.0], [2.0, -1.0, 0.0, 0.0, 3.0],
                          [0.0, 0.0, 0.0, 1.0, -1.0], [1.0, 2.0, -3.0, 0.0, 0.5]])


def _cumprod_loss(weights: np.ndarray):
    return lambda v: gd.sum(gd.cumprod(v, axis=1) * weights)


@pytest.mark.parametrize("x", [ONE_ZERO, SEVERAL_ZEROS], ids=["one_zero", "several_zeros"])
def test_cumprod_gradient_and_hessian_at_zeros_match_finite_differences(x: np.ndarray) -> None:
    weights = np.random.default_rng(0).standard_normal(x.shape)
    v = gd.placeholder(x.shape, "float64", name="v")
    loss = _cumprod_loss(weights)(v)
    (g,) = gd.grad(loss, [v])
    value = gd.function([v], loss)
    gradient = gd.function([v], g)
    np.testing.assert_allclose(gradient(x), fd_gradient(lambda a: float(value(a)), x),
                               rtol=1e-7, atol=1e-8)
    # second derivatives: the Hessian against differences of the exact gradient
    hessian = gd.function([v], gd.hessian(loss, v))(x).reshape(x.size, x.size)
    numeric = fd_hessian(gradient, x)
    np.testing.assert_allclose(hessian, numeric, rtol=1e-6, atol=1e-7)
    assert np.any(hessian != 0)


@pytest.mark.parametrize("axis", [1, (0, 1), None])
def test_prod_hessian_at_zeros_matches_finite_differences(axis) -> None:
    x = np.array([[0.0, 1.5, 2.0, -0.5], [2.0, -1.0, 0.0, 1.2], [0.5, 3.0, 1.0, 0.7]])
    weights = np.random.default_rng(9).standard_normal(np.shape(np.prod(x, axis=axis)))
    v = gd.placeholder(x.shape, "float64", name="v")
    loss = gd.sum(gd.prod(v, axis=axis) * weights)
    gradient = gd.function([v], gd.grad(loss, [v])[0])
    np.testing.assert_allclose(
        gradient(x), fd_gradient(lambda a: np.sum(np.prod(a, axis=axis) * weights), x),
        rtol=1e-7, atol=1e-8)
    hessian = gd.function([v], gd.hessian(loss, v))(x).reshape(x.size, x.size)
    numeric = fd_hessian(gradient, x)
    np.testing.assert_allclose(hessian, numeric, rtol=1e-6, atol=1e-7)
    assert np.any(hessian != 0)


def test_prod_gradient_at_zeros_over_a_symbolic_axis() -> None:
    x = SEVERAL_ZEROS
    v = gd.placeholder((None, 5), "float64", name="v")
    gradient = gd.function([v], gd.grad(gd.sum(gd.prod(v, axis=0)), [v])[0])
    np.testing.assert_allclose(gradient(x),
                               fd_gradient(lambda a: np.sum(np.prod(a, axis=0)), x),
                               rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cumprod_jvp_at_zeros_matches_the_vjp(dtype: str) -> None:
    x = SEVERAL_ZEROS.astype(dtype)
    rng = np.random.default_rng(1)
    u, w = rng.standard_normal(x.shape).astype(dtype), rng.standard_normal(x.shape).astype(dtype)
    v = gd.placeholder(x.shape, dtype, name="v")
    y = gd.cumprod(v, axis=-1)
    (tangent,) = gd.jvp([y], [v], [gd.constant(u)])
    (cotangent,) = gd.vjp([y], [v], [gd.constant(w)])
    t, c, value = gd.function([v], [tangent, cotangent, y])(x)
    np.testing.assert_allclose(value, np.cumprod(x, axis=-1), rtol=1e-6)
    assert t.dtype == c.dtype == np.dtype(dtype)
    np.testing.assert_allclose(np.sum(t * w), np.sum(u * c), rtol=1e-5)
    h = 1e-3
    want = (np.cumprod(x.astype(np.float64) + h * u, -1)
            - np.cumprod(x.astype(np.float64) - h * u, -1)) / (2 * h)
    np.testing.assert_allclose(t, want, rtol=1e-4, atol=1e-5)


def test_cumsum_second_derivative_and_reverse_exclusive_attributes() -> None:
    x = np.random.default_rng(2).standard_normal((3, 6))
    v = gd.placeholder(x.shape, "float64", name="v")
    loss = gd.sum(gd.cumsum(v, axis=1) ** 3)
    (g,) = gd.grad(loss, [v])
    gradient = gd.function([v], g)
    hessian = gd.function([v], gd.hessian(loss, v))(x).reshape(x.size, x.size)
    numeric = fd_hessian(gradient, x)
    np.testing.assert_allclose(hessian, numeric, rtol=1e-6, atol=1e-6)
    flipped = np.flip(x, 1)
    for reverse in (False, True):
        for exclusive in (False, True):
            out = gd.function([v], scan.cumsum(v, axis=1, reverse=reverse,
                                               exclusive=exclusive))(x)
            source = flipped if reverse else x
            want = np.cumsum(source, axis=1) - (source if exclusive else 0)
            np.testing.assert_allclose(out, np.flip(want, 1) if reverse else want, atol=1e-12)
            if exclusive:
                assert np.all(out[:, -1 if reverse else 0] == 0)  # exact, not x - x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nan_reductions_have_zero_gradient_at_nans_and_on_all_nan_slices(dtype: str) -> None:
    x = np.array([[np.nan, np.nan, np.nan], [1.0, np.nan, -2.0], [0.5, 3.0, 3.0]], dtype)
    v = gd.placeholder(x.shape, dtype, name="v")
    for function, has_nan_row in ((gd.nansum, False), (gd.nanmean, True), (gd.nanmax, True),
                                  (gd.nanmin, True)):
        out = function(v, axis=1)
        (g,) = gd.grad(gd.sum(gd.where(gd.isnan(out), 0.0, out)), [v])
        value, grad = gd.function([v], [out, g])(x)
        assert np.isnan(value[0]) == has_nan_row
        assert np.all(np.isfinite(grad))
        assert np.all(grad[np.isnan(x)] == 0) and np.all(grad[0] == 0)
    nanmax_grad = gd.function([v], gd.grad(gd.sum(gd.nanmax(v[1:], axis=1)), [v])[0])(x)
    np.testing.assert_array_equal(nanmax_grad, [[0, 0, 0], [1, 0, 0], [0, 0.5, 0.5]])
    nanmean_grad = gd.function([v], gd.grad(gd.sum(gd.nanmean(v[1:], axis=1)), [v])[0])(x)
    np.testing.assert_allclose(nanmean_grad, [[0, 0, 0], [0.5, 0, 0.5], [1 / 3] * 3])


def test_var_and_std_gradients_carry_the_ddof_correction() -> None:
    x = np.random.default_rng(3).standard_normal((4, 5))
    v = gd.placeholder(x.shape, "float64", name="v")
    g_var, g_std = gd.function([v], [gd.grad(gd.sum(gd.var(v, axis=1, ddof=1)), [v])[0],
                                     gd.grad(gd.sum(gd.std(v, axis=0, ddof=2)), [v])[0]])(x)
    centered = x - x.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(g_var, 2 * centered / (x.shape[1] - 1), rtol=1e-12)
    spread = x - x.mean(axis=0)
    np.testing.assert_allclose(g_std, spread / ((x.shape[0] - 2) * x.std(axis=0, ddof=2)),
                               rtol=1e-12)


def test_argmax_and_argmin_take_the_first_index_on_ties_and_nan() -> None:
    x = np.array([[2.0, 5.0, 5.0, 1.0], [1.0, 1.0, 7.0, 1.0], [3.0, np.nan, 9.0, np.nan]])
    v = gd.placeholder(x.shape, "float64", name="v")
    got = gd.function([v], [gd.argmax(v, axis=1), gd.argmin(v, axis=1), gd.argmax(v),
                            gd.argmin(v, axis=None, keepdims=True)])(x)
    want = [np.argmax(x, axis=1), np.argmin(x, axis=1), np.argmax(x),
            np.argmin(x, axis=None, keepdims=True)]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
        assert g.shape == w.shape and g.dtype == np.int64
    model = gd.export_onnx(None, [v], [gd.argmax(v[:2], axis=1), gd.argmin(v[:2], axis=1)])
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString())
    exported = session.run(None, {model.graph.input[0].name: x})
    np.testing.assert_array_equal(exported[0], [1, 2])
    np.testing.assert_array_equal(exported[1], [3, 0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tensor_methods_are_numpys(dtype: str) -> None:
    x = np.random.default_rng(4).uniform(-2, 2, (3, 4)).astype(dtype)
    v = gd.placeholder(x.shape, dtype, name="v")
    calls = [
        ("prod", {"axis": 1}), ("any", {"axis": 0}), ("all", {}), ("argmax", {"axis": 1}),
        ("argmin", {}), ("cumsum", {"axis": 0}), ("cumprod", {}), ("mean", {"axis": -1}),
        ("var", {"ddof": 1}), ("std", {"axis": 0, "keepdims": True}),
        ("sum", {"axis": (0, 1), "keepdims": True}), ("max", {"initial": 1.0}),
        ("min", {"axis": 0, "where": x > 0, "initial": 9.0}),
    ]
    outputs = [getattr(v, name)(**{k: gd.constant(a) if isinstance(a, np.ndarray) else a
                                   for k, a in kwargs.items()}) for name, kwargs in calls]
    for (name, kwargs), got in zip(calls, gd.function([v], outputs)(x), strict=True):
        want = getattr(x, name)(**kwargs)
        assert got.dtype == np.asarray(want).dtype, name
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12,
                                   err_msg=name)


def test_dtype_keepdims_and_axis_rules_follow_numpy() -> None:
    k = np.arange(-6, 6, dtype=np.int8).reshape(3, 4)
    v = gd.placeholder(k.shape, "int8", name="k")
    b = gd.placeholder(k.shape, "bool", name="b")
    outputs = [gd.sum(v), gd.sum(v, dtype="int8"), gd.prod(v, axis=(-1, 0)), gd.cumsum(v),
               gd.cumprod(v, axis=0, dtype="float32"), gd.mean(v, axis=1, keepdims=True),
               gd.count_nonzero(b, axis=1), gd.cumsum(b, axis=1), gd.max(v, axis=-2),
               gd.var(v, axis=0), gd.average(v, axis=1, weights=np.arange(4)),
               gd.any(v, axis=(0, 1), keepdims=True)]
    mask = k > 0
    want = [np.sum(k), np.sum(k, dtype="int8"), np.prod(k, axis=(-1, 0)), np.cumsum(k),
            np.cumprod(k, axis=0, dtype="float32"), np.mean(k, axis=1, keepdims=True),
            np.count_nonzero(mask, axis=1), np.cumsum(mask, axis=1), np.max(k, axis=-2),
            np.var(k, axis=0), np.average(k, axis=1, weights=np.arange(4)),
            np.any(k, axis=(0, 1), keepdims=True)]
    for node, got, w in zip(outputs, gd.function([v, b], outputs)(k, mask), want, strict=True):
        assert got.dtype == np.asarray(w).dtype == node.dtype, (node, got.dtype)
        assert got.shape == np.shape(w)
        np.testing.assert_allclose(got, w, rtol=1e-6)


def test_max_initial_fills_an_empty_axis_and_where_needs_initial() -> None:
    v = gd.placeholder((0, 3), "float64", name="v")
    got = gd.function([v], [gd.max(v, axis=0, initial=-1.0), gd.sum(v, axis=0),
                            gd.prod(v, axis=0)])(np.zeros((0, 3)))
    for g, w in zip(got, [np.full(3, -1.0), np.zeros(3), np.ones(3)], strict=True):
        np.testing.assert_array_equal(g, w)
    x = gd.placeholder((2, 3), "float64", name="x")
    with pytest.raises(gd.ShapeError, match="where= needs initial="):
        gd.max(x, where=x > 0)
    with pytest.raises(gd.ShapeError, match="empty axis"):
        gd.min(v, axis=0)


def test_bad_input_raises_clear_errors() -> None:
    x = gd.placeholder((2, 3), "float64", name="x")
    with pytest.raises(gd.ShapeError, match="out= is not supported"):
        gd.sum(x, out=np.zeros(3))
    with pytest.raises(gd.DTypeError, match="where= must be bool"):
        gd.sum(x, where=x)
    with pytest.raises(gd.ShapeError, match="weights"):
        gd.average(x, axis=1, weights=np.ones(2))
    with pytest.raises(gd.ShapeError, match="weights"):
        gd.average(x, weights=np.ones(3))
    with pytest.raises(gd.DTypeError, match="ptp of a bool"):
        gd.ptp(x > 0)
    with pytest.raises(gd.ShapeError, match="out of range"):
        gd.cumsum(x, axis=2)
    with pytest.raises(gd.ShapeError, match="repeated axis"):
        gd.var(x, axis=(0, -2))
    s = gd.placeholder((None, 3), "float64", name="s")
    gradient = gd.grad(gd.sum(gd.cumprod(s, axis=0)), s)  # the first order runs any length
    with pytest.raises(gd.ShapeError, match="symbolic"):
        gd.grad(gd.sum(gradient ** 2), s)
    twice = gd.grad(gd.sum(gd.grad(gd.sum(gd.cumprod(s, axis=1) ** 2), s)), s)  # static: fine
    np.testing.assert_allclose(gd.function([s], twice)(np.ones((2, 3))),
                               [[18.0, 16.0, 10.0]] * 2)  # as jax.grad of jax.grad gives


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_scans_export_to_onnx_and_match_onnxruntime(dtype: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    x = SEVERAL_ZEROS.astype(dtype)
    v = gd.placeholder((None, 5), dtype, name="v")
    weights = np.random.default_rng(5).standard_normal(5).astype(dtype)
    prod_loss = gd.sum(gd.cumprod(v, axis=1) * weights)
    outputs = [gd.cumsum(v, axis=0), scan.cumsum(v, axis=1, reverse=True, exclusive=True),
               gd.cumprod(v, axis=1), *gd.grad(prod_loss, [v]),
               *gd.grad(gd.sum(gd.cumsum(v, axis=0) * weights), [v])]
    model = gd.export_onnx(None, [v], outputs)
    assert {"CumSum"} <= {n.op_type for n in model.graph.node}
    assert "Log" not in {n.op_type for n in model.graph.node}
    session = ort.InferenceSession(model.SerializeToString())
    want = gd.function([v], outputs)(x)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for got, w in zip(session.run(None, {"v": x}), want, strict=True):
        np.testing.assert_allclose(got, w, rtol=rtol, atol=rtol)
    # the importer reads CumSum's attributes back (the scans alone: re-importing the unslice
    # of a symbolic-batch gradient is the importer's own limitation)
    imported = gd.import_onnx(gd.export_onnx(None, [v], outputs[:3]))
    again = gd.function(imported.inputs, imported.outputs)(x)
    for got, w in zip(again, want[:3], strict=True):
        np.testing.assert_allclose(got, w, rtol=rtol, atol=rtol)


def test_vmap_of_scans_and_reductions_matches_jax() -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    jax.config.update("jax_enable_x64", True)
    x = np.random.default_rng(6).standard_normal((4, 3, 5))
    v = gd.placeholder(x.shape, "float64", name="v")

    def fn(a):
        return gd.cumprod(a, axis=1) + gd.var(a, axis=0, ddof=1) + gd.nanmax(a, axis=0)

    def jax_fn(a):
        return jnp.cumprod(a, axis=1) + jnp.var(a, axis=0, ddof=1) + jnp.nanmax(a, axis=0)

    got = gd.function([v], gd.vmap(fn)(v))(x)
    np.testing.assert_allclose(got, jax.vmap(jax_fn)(x), rtol=1e-12)
    (g,) = gd.grad(gd.sum(gd.vmap(fn)(v) ** 2), [v])
    want = jax.grad(lambda a: jnp.sum(jax.vmap(jax_fn)(a) ** 2))(x)
    np.testing.assert_allclose(gd.function([v], g)(x), want, rtol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numba_backend_fuses_the_composites_and_runs_the_scans_like_the_reference(
        dtype: str) -> None:
    """The composites become fused groups with sum/max/min roots (numba loops); cumsum, cumprod
    and argmin are never fused and run their numpy kernels."""
    pytest.importorskip("numba")
    from graphdiff.backends.numba import NumbaBackend

    rng = np.random.default_rng(8)
    x = (rng.standard_normal((300, 24)) * 2).astype(dtype)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[7, :] = np.nan
    x[9, 3:6] = 0.0
    v = gd.placeholder((None, 24), dtype, name="v")
    clean = gd.where(gd.isnan(v), 0.5, v)
    values = [gd.nanmax(v, axis=1), gd.nanmin(v, axis=1, keepdims=True), gd.nanmean(v, axis=1),
              gd.nansum(v, axis=0), gd.var(clean, axis=1, ddof=1), gd.std(clean, axis=0),
              gd.max(clean, axis=1, where=clean < 1.0, initial=-3.0),
              gd.sum(clean, axis=1, where=clean > 0.0), gd.mean(clean, axis=1, where=clean > 0.0),
              gd.ptp(clean, axis=1), gd.cumsum(clean, axis=1), gd.cumprod(clean * 0.5, axis=1),
              gd.argmin(clean, axis=1), gd.any(v > 3.0, axis=1), gd.count_nonzero(clean, axis=0)]
    floats = [y for y in values if y.dtype.kind == "f"]
    loss = gd.sum(gd.stack([gd.sum(gd.where(gd.isnan(y), 0.0, y)) for y in floats]))
    outputs = values + gd.grad(loss, [v])
    threshold, NumbaBackend.unfuse_at_most = NumbaBackend.unfuse_at_most, -1
    try:
        with np.errstate(all="ignore"):
            want = gd.function([v], outputs, passes="none")(x)
            f = gd.function([v], outputs, backend="numba")
            got = f(x)
    finally:
        NumbaBackend.unfuse_at_most = threshold
    assert any(node.op is fused for node in f.graph.nodes)
    rtol = 2e-4 if dtype == "float32" else 1e-10
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.dtype == w.dtype and g.shape == w.shape, i
        scale = float(np.max(np.abs(w[np.isfinite(w)]), initial=1.0)) if w.dtype.kind == "f" \
            else 1.0
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * scale, err_msg=f"output {i}")


@pytest.mark.parametrize("op_type", ["CumSum", "CumProd"])
def test_onnx_import_of_scans_over_a_symbolic_axis_with_their_attributes(op_type: str) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    if op_type not in {s.name for s in onnx.defs.get_all_schemas()}:
        pytest.skip(f"this onnx has no {op_type}")
    since = onnx.defs.get_schema(op_type).since_version
    x = SEVERAL_ZEROS
    for reverse in (0, 1):
        for exclusive in (0, 1):
            graph = helper.make_graph(
                [helper.make_node(op_type, ["x", "axis"], ["y"], reverse=reverse,
                                  exclusive=exclusive)], "scan",
                [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["n", 5])],
                [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["n", 5])],
                [helper.make_tensor("axis", TensorProto.INT64, [], [0])])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", since)])
            imported = gd.import_onnx(model)
            got = gd.function(imported.inputs, imported.outputs)(x)
            scan_fn = np.cumsum if op_type == "CumSum" else np.cumprod
            source = x[::-1] if reverse else x
            running = scan_fn(source, axis=0)
            if exclusive:
                running = np.concatenate([np.full((1, 5), 1.0 if op_type == "CumProd" else 0.0),
                                          running[:-1]])
            np.testing.assert_allclose(np.squeeze(got), running[::-1] if reverse else running,
                                       atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cumprod_vjp_kernel_agrees_with_the_scan_it_is_differentiated_through(dtype) -> None:
    """Both paths of the kernel (division where exact, the scan's transpose at zeros,
    infinities and underflow) against the expansion that higher derivatives use."""
    rng = np.random.default_rng(10)
    plain = rng.uniform(-2, 2, (3, 7))
    special = plain.copy()
    special[0, 2] = 0.0
    special[1, [1, 4]] = 0.0
    special[2, 3] = np.inf
    tiny = np.full((3, 7), 1e-30 if dtype == "float32" else 1e-200)
    g = rng.standard_normal((3, 7)).astype(dtype)
    v = gd.placeholder((3, 7), dtype, name="v")
    u = gd.placeholder((3, 7), dtype, name="u")
    node = scan.cumprod_vjp(v, u, axis=1)
    kernel = gd.function([v, u], node, passes="none")
    expansion = gd.function([v, u], scan.cumprod_vjp.expand(node), passes="none")
    for x in (plain, special, tiny):
        x = x.astype(dtype)
        with np.errstate(all="ignore"):
            got, want = kernel(x, g), expansion(x, g)
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12,
                                   atol=1e-30, equal_nan=True)
