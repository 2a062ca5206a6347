"""Export: every op-table case and its gradient exported to ONNX, checked by onnx's checker and
strict type-checked shape inference, and run by stock onnxruntime against graphdiff.

Float32 tolerance is rtol 1e-5, atol 1e-6; looser only for the ops in ``LOOSER`` (reasons
there). Symbolic cases also run at a second batch size.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import graphdiff as gd
from graphdiff.ir import Graph

from .opcases import Case, all_cases

CASES = all_cases()

# op name -> (rtol, atol, reason)
LOOSER = {
    "log1p": (1e-3, 1e-6, "exported as Log(1 + x), which loses digits for |x| << 1"),
    "expm1": (1e-3, 1e-6, "exported as Exp(x) - 1, which loses digits for |x| << 1"),
    "erf": (1e-5, 1e-5, "onnxruntime's float32 erf is a polynomial accurate to ~1e-6 absolute"),
    "conv2d": (1e-4, 1e-5, "different summation order over kernel windows"),
    "conv2d_input_grad": (1e-4, 1e-5, "different summation order over kernel windows"),
    "conv2d_weight_grad": (1e-4, 1e-5, "different summation order over the batch and image"),
    "einsum": (1e-4, 1e-5, "different contraction order"),
    "matmul": (1e-5, 1e-5, "onnxruntime's float32 GEMM uses FMA and blocked sums"),
}


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def check(model: onnx.ModelProto) -> None:
    """The checks every exported model must pass."""
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)


def tolerance(outputs: list[gd.Node]) -> tuple[float, float]:
    ops = {node.op.name for node in Graph([], outputs).nodes}
    rtol, atol = 1e-5, 1e-6
    for op in ops & set(LOOSER):
        rtol, atol = max(rtol, LOOSER[op][0]), max(atol, LOOSER[op][1])
    return rtol, atol


def _placeholders(case: Case, arrays: list[np.ndarray]) -> list[gd.Node]:
    def shape(i: int, a: np.ndarray) -> tuple:
        return (f"n{i}",) + a.shape[1:] if case.symbolic and a.ndim else a.shape

    return [gd.placeholder(shape(i, a), a.dtype, name=f"a{i}") for i, a in enumerate(arrays)]


def _draw(case: Case, batch: int | None = None) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    args = case.args
    if batch is not None:
        args = [dataclasses.replace(a, shape=(batch,) + tuple(a.shape[1:]))
                if a.kind != "fixed" and len(a.shape) else a for a in args]
    return [arg.draw(rng, np.dtype("float32")) for arg in args]


def _compare(model: onnx.ModelProto, function: gd.Function, arrays: list[np.ndarray],
             names: list[str], rtol: float, atol: float) -> None:
    want = function(*arrays)
    got = session(model).run(None, dict(zip(names, arrays, strict=True)))
    for g, w in zip(got, want, strict=True):
        assert g.shape == np.shape(w) and g.dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


EXPORTED = [c for c in CASES if "no_onnx" not in c.tags]
UNEXPORTABLE = [c for c in CASES if "no_onnx" in c.tags]


@pytest.mark.parametrize("case", EXPORTED, ids=[c.name for c in EXPORTED])
def test_case_and_its_gradient_export(case: Case) -> None:
    arrays = _draw(case)
    inputs = _placeholders(case, arrays)
    out = case.fn(*inputs)
    outputs = [out]
    floats = [p for p, a in zip(inputs, arrays, strict=True) if a.dtype.kind == "f"]
    if case.grad and floats and out.dtype.kind == "f":
        # one weight per static position (symbolic axes broadcast), so every output counts
        static = tuple(d if isinstance(d, int) else 1 for d in out.shape)
        weights = gd.constant(np.random.default_rng(1).standard_normal(static)
                              .astype(np.float32))
        outputs += gd.grad(gd.sum(out * weights), floats)
    model = gd.export_onnx(None, inputs, outputs)
    check(model)
    rtol, atol = tolerance(outputs)
    function = gd.function(inputs, outputs)
    names = [i.name for i in model.graph.input]
    _compare(model, function, arrays, names, rtol, atol)
    if case.symbolic and not any(a.kind == "fixed" and len(a.shape) for a in case.args):
        arrays = _draw(case, arrays[0].shape[0] + 3)
        try:
            function(*arrays)
        except gd.InputError:  # a symbolic axis the case also contracts or indexes statically
            return
        _compare(model, function, arrays, names, rtol, atol)


@pytest.mark.parametrize("case", UNEXPORTABLE, ids=[c.name for c in UNEXPORTABLE])
def test_case_without_an_onnx_operator_fails_naming_the_op(case: Case) -> None:
    """Solves and decompositions (ONNX has Det only): export fails with an OnnxError naming the
    op and where the node was made, for the value or, if that exports, for its gradient."""
    arrays = _draw(case)
    inputs = _placeholders(case, arrays)
    out = case.fn(*inputs)
    floats = [p for p, a in zip(inputs, arrays, strict=True) if a.dtype.kind == "f"]
    outputs = [out] + (gd.grad(gd.sum(out), floats) if case.grad else [])
    with pytest.raises(gd.OnnxError, match=r"linalg op '\w+' has no ONNX operator .* created "
                                           r"at .*\.py:\d+"):
        gd.export_onnx(None, inputs, outputs)


def test_det_exports_as_onnx_det() -> None:
    a = gd.placeholder(("n", 3, 3), "float32", name="a")
    model = gd.export_onnx(None, [a], [gd.linalg.det(a)])
    check(model)
    assert "Det" in [n.op_type for n in model.graph.node]
    values = np.random.default_rng(0).standard_normal((4, 3, 3)).astype(np.float32)
    _compare(model, gd.function([a], [gd.linalg.det(a)]), [values], ["a"], 1e-5, 1e-5)


def test_every_op_has_an_onnx_mapping() -> None:
    from graphdiff.ir import OPS

    missing = sorted(name for name, op in OPS.items() if op.onnx is None and not op.source)
    assert not missing, f"ops without an ONNX mapping: {missing}"
