"""One test per error message of the core (IR, core ops, numpy API, reverse mode, runtime).

Messages of the indexing, convolution and ONNX modules are tested with them
(``test_indexing.py``, ``test_conv.py``, ``test_onnx_*.py``).

Each case triggers one message from a one-line lambda and checks: the exception derives from
``gd.GraphdiffError``; the message holds the expected pieces (the op, the operand types or the
input's name); and, for build-time errors, it names this file and the lambda's line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.errors import ImmutableError
from graphdiff.ir import OPS, Graph, TensorType
from graphdiff.ir.node import Node, OpDef, register
from graphdiff.ops import elementwise as E
from graphdiff.ops import linalg as L
from graphdiff.ops import reduce as R
from graphdiff.ops import shape as S
from graphdiff.ops.core import require_integer
from graphdiff.ops.source import FILL

X = gd.placeholder((3, 4), "float32", name="x")
X64 = gd.placeholder((3, 4), "float64", name="x64")
V = gd.placeholder((4,), "float32", name="v")
I = gd.placeholder((3, 4), "int32", name="i")  # noqa: E741
B = gd.placeholder((3, 4), "bool", name="b")
I8 = gd.placeholder((2,), "int8", name="i8")
N = gd.placeholder(("n",), "float64", name="xn")
N2 = gd.placeholder(("n",), "float64", name="xn2")
M = gd.placeholder(("m",), "float64", name="xm")
THREE = gd.placeholder((3,), "float64", name="three")
EMPTY = gd.placeholder((0, 3), "float32", name="empty")
K = gd.placeholder((3, "k"), "float32", name="k")
LABELS3 = gd.placeholder((3,), "int64", name="labels3")
LABELS4 = gd.placeholder((4,), "int64", name="labels4")
LABELS31 = gd.placeholder((3, 1), "int64", name="labels31")
W = gd.variable(np.zeros(3), name="w")
F32 = np.dtype("float32")


def _rule_arithmetic_fails(types: list[TensorType]) -> TensorType:
    return types[0].with_shape((int("not a number"),))


def _needs_integer_indices(types: list[TensorType]) -> TensorType:
    require_integer(types[0], "indices")
    return types[0]


def _raises(x: np.ndarray) -> np.ndarray:
    raise ValueError("this kernel always fails")


# Ops for these tests only: called directly, never registered in the op table.
RULE_FAILS = OpDef(name="rule_fails", infer=_rule_arithmetic_fails, kernel=None)
GATHERISH = OpDef(name="gatherish", infer=_needs_integer_indices, kernel=None)
NO_VJP = OpDef(name="no_vjp", infer=lambda types: types[0], kernel=None)
BAD_VJP = OpDef(name="bad_vjp", infer=lambda types: types[0], kernel=None,
                vjp=lambda node, g: [gd.sum(g)])
FAILS = OpDef(name="fails", infer=lambda types: types[0], kernel=_raises)


@dataclass(frozen=True)
class Err:
    """``trigger`` raises ``error`` whose message contains each of ``parts``; ``located``: it
    also names this file and the trigger's line (the lambda must fit on one line)."""

    name: str
    trigger: Callable[[], object]
    error: type[gd.GraphdiffError]
    parts: tuple[str, ...]
    located: bool = True


def _corrupt_graph() -> None:
    bad = Node(E.add, (X, X), {}, TensorType.of("float32", (7,)))
    Graph([X], [bad]).verify()


ERRORS = [
    # --- ir/node.py ----------------------------------------------------------------------
    Err("declared_twice", lambda: register(OPS["add"]), gd.GraphdiffError,
        ("op 'add' is declared twice",), located=False),
    Err("immutable", lambda: setattr(X, "name", "y"), ImmutableError,
        ("immutable", "'name'"), located=False),
    Err("truth_value", lambda: bool(X > 0), gd.GraphdiffError, ("truth value", "gd.where")),
    Err("operand_not_tensor", lambda: E.add(X, 1.0), gd.GraphdiffError,
        ("op 'add': operand 1 is float, not a tensor",)),
    Err("rule_arithmetic", lambda: RULE_FAILS(X), gd.ShapeError,
        ("rule_fails: invalid literal", "operands: f32[3,4]")),
    # --- ir/types.py ---------------------------------------------------------------------
    Err("unknown_dtype", lambda: gd.placeholder((2,), "floaty"), gd.DTypeError,
        ("unknown dtype 'floaty'",)),
    Err("unsupported_dtype", lambda: gd.placeholder((2,), "complex64"), gd.DTypeError,
        ("dtype complex64 is not supported", "float32")),
    Err("invalid_dim", lambda: gd.placeholder((2, -3)), gd.ShapeError,
        ("invalid dimension -3 in shape (2, -3)",)),
    Err("no_broadcast", lambda: gd.add(X, gd.placeholder((5,), "float32")), gd.ShapeError,
        ("add: shapes [3,4] and [5] do not broadcast", "operands: f32[3,4], f32[5]")),
    Err("axis_not_int", lambda: gd.sum(X, axis=1.5), gd.ShapeError,
        ("axis must be an int, got 1.5",)),
    Err("axis_range", lambda: gd.sum(X, axis=2), gd.ShapeError,
        ("axis 2 is out of range for a tensor of rank 2",)),
    Err("axis_repeated", lambda: gd.sum(X, axis=(0, -2)), gd.ShapeError,
        ("repeated axis in (0, -2)",)),
    # --- ir/verify.py ----------------------------------------------------------------------
    Err("verifier", _corrupt_graph, gd.GraphError,
        ("invalid graph at %0", "recorded type f32[7] but the rule gives f32[3,4]",
         ">> %0: f32[7] = add x, x", f"{__file__}:"), located=False),
    # --- ops/core.py -------------------------------------------------------------------------
    Err("require_float", lambda: E.exp(I), gd.DTypeError,
        ("exp: operand must be a float tensor, got int32", "operands: i32[3,4]")),
    Err("same_dtype", lambda: E.add(X, X64), gd.DTypeError,
        ("add: operands must share one dtype", "float32, float64", "f32[3,4], f64[3,4]")),
    Err("require_integer", lambda: GATHERISH(X), gd.DTypeError,
        ("gatherish: indices must be an integer tensor, got float32", "operands: f32[3,4]")),
    Err("require_bool", lambda: E.where(X, X, X), gd.DTypeError,
        ("where: condition must be a bool tensor, got float32", "f32[3,4], f32[3,4], f32[3,4]")),
    Err("numeric_not_bool", lambda: E.neg(B), gd.DTypeError,
        ("neg: operand must be numeric, got bool", "operands: bool[3,4]")),
    # --- ops/reduce.py -------------------------------------------------------------------------
    Err("reduce_axes", lambda: R.sum_(X, axes=(0, 0), keepdims=False), gd.ShapeError,
        ("sum: axes (0, 0) are not sorted distinct axes of a rank-2 tensor", "f32[3,4]")),
    Err("empty_max", lambda: gd.max(EMPTY, axis=0), gd.ShapeError,
        ("max: max/min of an empty axis has no identity", "operands: f32[0,3]")),
    Err("argmax_axis", lambda: R.argmax(X, axis=5, keepdims=False), gd.ShapeError,
        ("argmax: axis 5 is out of range for rank 2", "operands: f32[3,4]")),
    # --- ops/shape.py --------------------------------------------------------------------------
    Err("reshape_minus_one", lambda: S.reshape(X, shape=(-1, 5)), gd.ShapeError,
        ("reshape: cannot reshape [3,4] to [-1,5]", "operands: f32[3,4]")),
    Err("reshape_size", lambda: S.reshape(X, shape=(5,)), gd.ShapeError,
        ("reshape: cannot reshape [3,4] (12 elements) to [5] (5 elements)", "f32[3,4]")),
    Err("transpose_perm", lambda: S.transpose(X, perm=(0, 0)), gd.ShapeError,
        ("transpose: perm (0, 0) is not a permutation of the 2 axes", "f32[3,4]")),
    Err("broadcast_to", lambda: gd.broadcast_to(X, (4, 3)), gd.ShapeError,
        ("broadcast_to: cannot broadcast [3,4] to [4,3]", "operands: f32[3,4]")),
    # --- ops/linalg.py ---------------------------------------------------------------------
    Err("matmul_bool", lambda: gd.matmul(B, B), gd.GraphdiffError,
        ("matmul: matmul of bool tensors is not supported", "bool[3,4], bool[3,4]")),
    Err("matmul_rank", lambda: L.matmul(V, X), gd.ShapeError,
        ("matmul: matmul operands must have rank >= 2", "operands: f32[4], f32[3,4]")),
    Err("matmul_inner", lambda: gd.matmul(X, X), gd.ShapeError,
        ("matmul: inner dimensions differ: [3,4] @ [3,4]", "operands: f32[3,4], f32[3,4]")),
    # --- ops/source.py ---------------------------------------------------------------------
    Err("constant_object", lambda: gd.constant(object()), gd.DTypeError,
        ("cannot make a constant from object",)),
    Err("fill_operands", lambda: FILL(X, value=0.0, dtype=F32, shape=(2,)), gd.ShapeError,
        ("fill: fill takes no operands", "operands: f32[3,4]")),
    # --- api/convert.py ------------------------------------------------------------------------
    Err("ragged_list_of_tensors", lambda: gd.exp([X, X[0]]), gd.DTypeError,
        ("array: a nested list must be rectangular", "f32[3,4], f32[4]")),
    Err("cannot_convert", lambda: gd.as_tensor("abc", "float32"), gd.DTypeError,
        ("cannot convert 'abc' to float32",)),
    Err("scalar_does_not_fit", lambda: gd.add(I8, 1000), gd.DTypeError,
        ("1000 does not fit in int8",)),
    # --- api/math.py ---------------------------------------------------------------------------
    Err("unary_no_loop", lambda: gd.negative(B), gd.DTypeError,
        ("neg is not defined for bool[3,4]",)),
    Err("bitwise_and_float", lambda: gd.bitwise_and(I8, X), gd.DTypeError,
        ("bitwise_and is not defined for float32 and int8 operands",)),
    Err("and_operator_float", lambda: X & 1, gd.DTypeError,
        ("bitwise_and is not defined for float32 operands",)),
    Err("invert_float", lambda: ~X, gd.DTypeError,
        ("invert is not defined for f32[3,4] (integers and bools only",)),
    Err("shift_of_float", lambda: X << 2, gd.DTypeError,
        ("left_shift is not defined for float32 operands",)),
    Err("where_condition", lambda: gd.where(X, 1.0, 0.0), gd.DTypeError,
        ("where condition: expected a bool tensor, got f32[3,4]",)),
    Err("argmax_axis_tuple", lambda: gd.argmax(X, axis=(0, 1)), gd.ShapeError,
        ("argmax of f32[3,4]: axis must be an int",)),
    Err("cumsum_axis", lambda: gd.cumsum(X, axis=2), gd.ShapeError,
        ("cumsum of f32[3,4]: axis 2 is out of range",)),
    Err("matmul_scalar", lambda: gd.matmul(X, 2.0), gd.ShapeError,
        ("matmul of a scalar: operands f32[3,4] and f32[]",)),
    # --- api/shape.py --------------------------------------------------------------------------
    Err("reshape_two_minus_one", lambda: gd.reshape(X, (-1, -1)), gd.ShapeError,
        ("reshape of [3,4] to (-1, -1): at most one -1",)),
    Err("reshape_cannot", lambda: gd.reshape(X, (5, -1)), gd.ShapeError,
        ("reshape: cannot reshape [3,4] (12 elements) to (5, -1)",)),
    Err("squeeze_not_one", lambda: gd.squeeze(X, 0), gd.ShapeError,
        ("squeeze: axis 0 of f32[3,4] is not 1",)),
    # --- api/nn.py and api/creation.py ----------------------------------------------------
    Err("one_hot_float", lambda: gd.one_hot(X, 4), gd.DTypeError,
        ("one_hot labels must be integers, got float32",)),
    Err("probability_labels", lambda: gd.softmax_cross_entropy(X, V), gd.ShapeError,
        ("probability labels (4,) must match logits (3, 4)",)),
    Err("class_axis_last", lambda: gd.softmax_cross_entropy(X, LABELS4, axis=0), gd.ShapeError,
        ("integer labels need the class axis last, got axis=0",)),
    Err("static_classes", lambda: gd.softmax_cross_entropy(K, LABELS3), gd.ShapeError,
        ("the number of classes must be static, got 'k'",)),
    Err("labels_shape", lambda: gd.softmax_cross_entropy(X, LABELS31), gd.ShapeError,
        ("labels (3, 1) must have the logits' shape without the class axis, (3,)",)),
    Err("gelu_approximate", lambda: gd.gelu(X, approximate="fast"), gd.ShapeError,
        ("gelu approximate must be 'none' or 'tanh', got 'fast'",)),
    Err("dropout_rate", lambda: gd.dropout(X, 1.5, seed=0), gd.ShapeError,
        ("dropout rate must be in [0, 1), got 1.5",)),
    Err("random_seed", lambda: gd.normal((2,), seed=1.5), gd.GraphdiffError,
        ("random ops need an explicit integer seed, got 1.5",)),
    # --- autodiff/reverse.py ---------------------------------------------------------------
    Err("vjp_rule_shape", lambda: gd.grad(gd.sum(BAD_VJP(X)), X), gd.GradientError,
        ("VJP rule of bad_vjp returned shape () for an operand of type f32[3,4]",)),
    Err("unconnected_option", lambda: gd.grad(gd.sum(X), X, unconnected="zeros"),
        gd.GradientError, ("unconnected must be 'raise' or 'zero', got 'zeros'",)),
    Err("vjp_counts", lambda: gd.vjp([X * 2.0, X * 3.0], X, [X]), gd.GradientError,
        ("vjp: 2 outputs but 1 cotangents",)),
    Err("grad_wrt_int", lambda: gd.grad(gd.sum(X), I), gd.GradientError,
        ("cannot differentiate with respect to i of dtype int32", "no gradient")),
    Err("vjp_cotangent_type", lambda: gd.vjp(X * 2.0, X, X64), gd.ShapeError,
        ("vjp: cotangent f64[3,4] does not match output f32[3,4]",)),
    Err("no_vjp_rule", lambda: gd.grad(gd.sum(NO_VJP(X)), X), gd.GradientError,
        ("op no_vjp has no VJP rule (node created at",)),
    Err("unconnected", lambda: gd.grad(gd.sum(X), V), gd.GradientError,
        ("v (f32[4], created at", "is not connected to the output", "unconnected='zero'")),
    Err("grad_not_tensor", lambda: gd.grad(3.0, X), gd.GradientError,
        ("grad: the output must be a tensor, got float",)),
    Err("grad_not_scalar", lambda: gd.grad(X, X), gd.GradientError,
        ("grad needs a scalar output, got shape (3, 4)",)),
    Err("grad_int_output", lambda: gd.grad(gd.sum(I), I), gd.GradientError,
        ("grad: the output is i64[]; it must be a float",)),
    # --- runtime: compiling --------------------------------------------------------------------
    Err("input_not_placeholder", lambda: gd.function([X * 2.0], X), gd.InputError,
        ("function inputs must be placeholders, got <mul: f32[3,4]>",)),
    Err("undeclared_placeholder", lambda: gd.function([], X * 2.0), gd.InputError,
        ("the outputs depend on placeholder 'x' (f32[3,4], created at", "not among the inputs")),
    Err("output_not_tensor", lambda: gd.function([X], [X, 3]), gd.InputError,
        ("output 1 is int, not a tensor",)),
    Err("update_key", lambda: gd.function([X], X, updates={X: X}), gd.InputError,
        ("updates keys must be variables, got <placeholder 'x': f32[3,4]>",)),
    Err("update_type", lambda: gd.function([], [], updates={W: gd.astype(W, "float32")}),
        gd.InputError, ("update of variable 'w' has type f32[3], but the variable is f64[3]",)),
    # --- runtime: calling (these name the input, or the node and where it was created) -----
    Err("too_many_inputs", lambda: gd.function([THREE], THREE)(np.ones(3), np.ones(3)),
        gd.InputError, ("expected 1 inputs, got 2",), located=False),
    Err("unknown_input", lambda: gd.function([THREE], THREE)(four=np.ones(3)), gd.InputError,
        ("unknown input name 'four'; inputs are three",), located=False),
    Err("missing_input", lambda: gd.function([THREE], THREE)(), gd.InputError,
        ("missing input 'three' (f64[3])",), located=False),
    Err("scalar_input", lambda: gd.function([I8], I8)(2.5), gd.DTypeError,
        ("input 'i8': 2.5 does not fit int8",), located=False),
    Err("unsafe_input", lambda: gd.function([X], X)(np.ones((3, 4))), gd.DTypeError,
        ("input 'x': expected float32, got float64, which does not convert safely",
         "allow_downcast=True"), located=False),
    Err("input_rank", lambda: gd.function([THREE], THREE)(np.ones((3, 1))), gd.InputError,
        ("input 'three': expected rank 1 [3], got shape (3, 1)",), located=False),
    Err("input_dim", lambda: gd.function([THREE], THREE)(np.ones(4)), gd.InputError,
        ("input 'three': expected shape [3], got (4,) (axis 0 must be 3)",), located=False),
    Err("input_symbols", lambda: gd.function([N, N2], N * N2)(np.ones(2), np.ones(3)),
        gd.InputError, ("input 'xn2': dimension 'n' (axis 0) is 3 here but 2 elsewhere",),
        located=False),
    Err("inputs_do_not_fit", lambda: gd.function([N, M], N + M)(np.ones(3), np.ones(4)),
        gd.InputError, ("the inputs do not fit add created at", "do not broadcast")),
    Err("symbol_broadcast", lambda: gd.function([N, THREE], N + THREE)(np.ones(1), np.ones(3)),
        gd.InputError, ("add created at", "dimension 'n' is 1 and would broadcast to 3")),
    Err("unresolved_dims", lambda: gd.function([], FILL(value=0.0, dtype=F32, shape=("a", "b")))(),
        gd.InputError, ("cannot resolve dimensions [a,b]",), located=False),
    Err("kernel_fails", lambda: gd.function([THREE], FAILS(THREE), passes="none")(np.ones(3)),
        gd.GraphdiffError, ("running fails (created at", "ValueError: this kernel always fails")),
    Err("kernel_fails_planned", lambda: gd.function([THREE], FAILS(-THREE), passes=[])(np.ones(3)),
        gd.GraphdiffError, ("running fails (created at", "ValueError: this kernel always fails")),
    # --- variables ---------------------------------------------------------------------------
    Err("set_value", lambda: gd.set_value(W, np.zeros(4)), gd.InputError,
        ("set_value: variable 'w' is f64[3], got float64[4]",)),
    Err("get_value", lambda: gd.get_value(X), gd.GraphdiffError,
        ("expected a variable, got <placeholder 'x': f32[3,4]>",)),
]


@pytest.mark.parametrize("case", ERRORS, ids=[e.name for e in ERRORS])
def test_error_message(case: Err) -> None:
    with pytest.raises(gd.GraphdiffError) as info:
        case.trigger()
    assert isinstance(info.value, case.error), type(info.value)
    message = str(info.value)
    for part in case.parts:
        assert part in message, f"{part!r} not in {message!r}"
    if case.located:
        line = case.trigger.__code__.co_firstlineno
        assert f"{__file__}:{line}" in message, message


def test_every_error_class_derives_from_graphdiff_error() -> None:
    import graphdiff.errors as errors

    classes = [v for v in vars(errors).values() if isinstance(v, type)
               and issubclass(v, Exception)]
    assert len(classes) >= 8
    assert all(issubclass(c, gd.GraphdiffError) for c in classes)


@pytest.mark.parametrize("bad_label", [5, -6])
def test_cross_entropy_label_out_of_range_names_the_gather_and_changes_nothing(
        bad_label: int) -> None:
    z = gd.placeholder((None, 5), "float64", name="z")
    y = gd.placeholder((None,), "int64", name="y")
    w = gd.variable(np.ones(5), name="w")
    loss = gd.mean(gd.softmax_cross_entropy(z * w, y))
    line = sys._getframe().f_lineno - 1  # the line building the loss
    f = gd.function([z, y], loss, updates={w: w - 0.1 * gd.grad(loss, w)})
    with pytest.raises(gd.GraphdiffError) as info:
        f(np.zeros((2, 5)), np.array([1, bad_label]))
    message = str(info.value)
    assert "take_along_axis" in message and f"index {bad_label} is out of bounds" in message
    assert f"{__file__}:{line}" in message, message
    np.testing.assert_array_equal(gd.get_value(w), np.ones(5))  # no half-applied update
