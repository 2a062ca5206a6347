"""Import of ONNX's recurrent layers RNN, LSTM and GRU: one ``gd.scan`` per direction.

Each direction is a scan over the time axis (``reverse=True`` for the backward one) whose carry
is the hidden state (and the LSTM's cell), so the graph does not grow with the sequence, a
symbolic sequence length stays symbolic, and the imported layer differentiates like any scan.
The input projection ``X W^T + Wb + Rb`` of every step is one matrix product before the scan;
the step adds the recurrent product and applies the activations. What the spec leaves to the
runtime follows onnxruntime's CPU kernels:

* ``activations`` are read case-insensitively; ``activation_alpha`` and ``activation_beta`` are
  consumed in order by the functions that take them (Affine, LeakyRelu, ThresholdedRelu,
  ScaledTanh, HardSigmoid, Elu), across both directions; a function that finds the list used up
  takes the default of the ONNX op of that name (LeakyRelu 0.01, ThresholdedRelu 1, HardSigmoid
  0.2 and 0.5, Elu 1, Affine 1 and 0, ScaledTanh 1 and 1). A bidirectional layer given the
  functions of one direction uses them for both.
* ``clip`` bounds the input of every gate activation (after the peephole term), not the cell
  before the LSTM's output activation ``h``.
* ``sequence_lens``: a step at or past a sequence's length leaves that batch entry's state as it
  is and outputs zeros; the reverse direction of a sequence starts at its last valid step.
  ``Y_h``/``Y_c`` are then the state after each sequence's last valid step, and zeros for a
  sequence of length 0.
* ``input_forget=1`` (LSTM) couples the gates: ``f = 1 - i``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnx

import graphdiff as gd

from ...api.control import scan as gd_scan
from ...ir.node import Node
from ...ops import elementwise as E
from ...ops.core import scalar
from ...ops.source import CONSTANT
from ..importer import DimsValue, ImportContext, OnnxNode, onnx_import

# op -> (gates, activation functions per direction, default activations)
LAYERS = {
    "RNN": (1, 1, ("Tanh",)),
    "GRU": (3, 2, ("Sigmoid", "Tanh")),
    "LSTM": (4, 3, ("Sigmoid", "Tanh", "Tanh")),
}

# name -> (takes alpha, takes beta, default alpha, default beta)
ACTIVATION_PARAMETERS = {
    "relu": (False, False, 0.0, 0.0),
    "tanh": (False, False, 0.0, 0.0),
    "sigmoid": (False, False, 0.0, 0.0),
    "affine": (True, True, 1.0, 0.0),
    "leakyrelu": (True, False, 0.01, 0.0),
    "thresholdedrelu": (True, False, 1.0, 0.0),
    "scaledtanh": (True, True, 1.0, 1.0),
    "hardsigmoid": (True, True, 0.2, 0.5),
    "elu": (True, False, 1.0, 0.0),
    "softsign": (False, False, 0.0, 0.0),
    "softplus": (False, False, 0.0, 0.0),
}

Activation = Callable[[Node], Node]


def _activation(name: str, alpha: float, beta: float) -> Activation:
    """The activation ``name`` (lowercase) with its parameters, as in the RNN specs."""
    def zero(x: Node) -> Node:
        return scalar(0, x)

    if name == "relu":
        return E.relu
    if name == "tanh":
        return E.tanh
    if name == "sigmoid":
        return E.sigmoid
    if name == "affine":
        return lambda x: x * alpha + beta
    if name == "leakyrelu":
        return lambda x: E.where(E.less(x, zero(x)), x * alpha, x)
    if name == "thresholdedrelu":
        return lambda x: E.where(E.greater_equal(x, scalar(alpha, x)), x, zero(x))
    if name == "scaledtanh":
        return lambda x: E.tanh(x * beta) * alpha
    if name == "hardsigmoid":
        return lambda x: E.minimum(E.maximum(x * alpha + beta, zero(x)), scalar(1, x))
    if name == "elu":
        return lambda x: E.where(E.less(x, zero(x)), E.expm1(x) * alpha, x)
    if name == "softsign":
        return lambda x: E.div(x, E.add(scalar(1, x), E.abs_(x)))
    assert name == "softplus"
    return gd.softplus


def _activations(node: OnnxNode, per_direction: int, directions: int,
                 defaults: Sequence[str]) -> list[list[Activation]]:
    """The activation functions of each direction, their alphas and betas read in order."""
    names = list(defaults) * directions
    for attribute in node.proto.attribute:
        if attribute.name == "activations":
            if attribute.type != onnx.AttributeProto.STRINGS:
                raise node.fail("attribute 'activations' must be STRINGS")
            names = [n.decode("utf-8", "replace") for n in attribute.strings]
    if len(names) == per_direction and directions == 2:
        names = names * 2
    if len(names) != per_direction * directions:
        raise node.fail(f"activations lists {len(names)} functions; {per_direction} per "
                        f"direction are needed for {directions} direction(s)")
    alphas = list(node.floats("activation_alpha", []) or [])
    betas = list(node.floats("activation_beta", []) or [])
    functions = []
    for name in names:
        key = name.lower()
        if key not in ACTIVATION_PARAMETERS:
            raise node.fail(f"unknown activation {name!r} (expected one of Relu, Tanh, "
                            "Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, "
                            "HardSigmoid, Elu, Softsign, Softplus)")
        takes_alpha, takes_beta, alpha, beta = ACTIVATION_PARAMETERS[key]
        if takes_alpha and alphas:
            alpha = float(alphas.pop(0))
        if takes_beta and betas:
            beta = float(betas.pop(0))
        functions.append(_activation(key, alpha, beta))
    return [functions[d * per_direction:(d + 1) * per_direction] for d in range(directions)]


def _check_shape(node: OnnxNode, x: Node, name: str, expected: Sequence) -> None:
    """``x`` must have rank len(expected) and the expected dims where both are known ints."""
    if x.ndim != len(expected) or any(isinstance(d, int) and isinstance(e, int) and d != e
                                      for d, e in zip(x.shape, expected, strict=True)):
        shown = ", ".join(str(e) if e is not None else "?" for e in expected)
        raise node.fail(f"{name} must have shape [{shown}], got {list(x.shape)}")


@onnx_import("RNN", "GRU", "LSTM")
def _recurrent(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    op = node.proto.op_type
    gates, per_direction, defaults = LAYERS[op]
    x = ctx.tensor(node, 0)
    w, r = ctx.tensor(node, 1), ctx.tensor(node, 2)
    bias = ctx.tensor(node, 3, optional=True)
    lengths = ctx.tensor(node, 4, optional=True)
    h0 = ctx.tensor(node, 5, optional=True)
    c0 = ctx.tensor(node, 6, optional=True) if op == "LSTM" else None
    peepholes = ctx.tensor(node, 7, optional=True) if op == "LSTM" else None
    if x.dtype.kind != "f":
        raise node.fail(f"X must be a float tensor, got {x.dtype.name}")
    for name, t in (("W", w), ("R", r), ("B", bias), ("initial_h", h0), ("initial_c", c0),
                    ("P", peepholes)):
        if t is not None and t.dtype != x.dtype:
            raise node.fail(f"{name} is {t.dtype.name}, X is {x.dtype.name}")
    direction = node.string("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise node.fail(f"direction must be forward, reverse or bidirectional, got {direction!r}")
    directions = 2 if direction == "bidirectional" else 1
    layout = node.int("layout", 0)
    if layout not in (0, 1):
        raise node.fail(f"layout must be 0 or 1, got {layout}")
    if x.ndim != 3:
        raise node.fail(f"X must have rank 3, got {list(x.shape)}")
    steps, batch, inputs = (x.shape[1], x.shape[0], x.shape[2]) if layout else x.shape
    hidden = r.shape[-1] if r.ndim == 3 else None
    if not isinstance(hidden, int):
        raise node.fail(f"R must have shape [num_directions, {gates}*hidden_size, hidden_size] "
                        f"with a known hidden_size, got {list(r.shape)}")
    declared = node.int("hidden_size")
    if declared is not None and declared != hidden:
        raise node.fail(f"hidden_size is {declared} but R has shape {list(r.shape)}")
    _check_shape(node, w, "W", (directions, gates * hidden, inputs))
    _check_shape(node, r, "R", (directions, gates * hidden, hidden))
    if bias is not None:
        _check_shape(node, bias, "B", (directions, 2 * gates * hidden))
    for name, t in (("initial_h", h0), ("initial_c", c0)):
        if t is not None:
            _check_shape(node, t, name, (batch, directions, hidden) if layout else
                         (directions, batch, hidden))
    if peepholes is not None:
        _check_shape(node, peepholes, "P", (directions, 3 * hidden))
    clip = node.float("clip")
    if clip is not None and not clip > 0:
        raise node.fail(f"clip must be positive, got {clip}")
    functions = _activations(node, per_direction, directions, defaults)
    linear_before_reset = bool(node.int("linear_before_reset", 0)) if op == "GRU" else False
    input_forget = bool(node.int("input_forget", 0)) if op == "LSTM" else False

    if lengths is not None:
        if lengths.dtype.kind not in "iu" or lengths.ndim != 1:
            raise node.fail(f"sequence_lens must be a 1-D integer tensor, got "
                            f"{lengths.dtype.name}{list(lengths.shape)}")
        _check_shape(node, lengths, "sequence_lens", (batch,))
        known = lengths.data if lengths.op is CONSTANT else None
        if known is not None and isinstance(steps, int) and np.all(known >= steps):
            lengths = None  # every sequence runs the full length: nothing to mask
        else:
            lengths = gd.astype(lengths, "int64")

    if layout:  # [batch, seq, input] -> [seq, batch, input], states direction-major
        x = gd.transpose(x, (1, 0, 2))
        h0 = None if h0 is None else gd.transpose(h0, (1, 0, 2))
        c0 = None if c0 is None else gd.transpose(c0, (1, 0, 2))
    layer = _Layer(op, hidden, clip, linear_before_reset, input_forget)
    ys, hs, cs = [], [], []
    for d in range(directions):
        reverse = direction == "reverse" or d == 1
        state = [h0[d] if h0 is not None else gd.zeros((batch, hidden), x.dtype)]
        if op == "LSTM":
            state.append(c0[d] if c0 is not None else gd.zeros((batch, hidden), x.dtype))
        y, final = layer.run(ctx, x, w[d], r[d], None if bias is None else bias[d],
                             None if peepholes is None else peepholes[d], state,
                             functions[d], lengths, reverse, steps)
        ys.append(y)
        hs.append(final[0])
        if op == "LSTM":
            cs.append(final[1])
    y = gd.stack(ys, axis=1)        # [seq, num_directions, batch, hidden]
    y_h = gd.stack(hs, axis=0)      # [num_directions, batch, hidden]
    y_c = gd.stack(cs, axis=0) if cs else None
    if layout:
        y = gd.transpose(y, (2, 0, 1, 3))
        y_h = gd.transpose(y_h, (1, 0, 2))
        y_c = None if y_c is None else gd.transpose(y_c, (1, 0, 2))
    return [y, y_h] + ([y_c] if op == "LSTM" else [])


class _Layer:
    """The step of one kind of layer, and the scan that runs it in one direction."""

    def __init__(self, op: str, hidden: int, clip: float | None, linear_before_reset: bool,
                 input_forget: bool) -> None:
        self.op, self.hidden, self.clip = op, hidden, clip
        self.linear_before_reset, self.input_forget = linear_before_reset, input_forget

    def _clip(self, x: Node) -> Node:
        if self.clip is None:
            return x
        return E.minimum(E.maximum(x, scalar(-self.clip, x)), scalar(self.clip, x))

    def _gate(self, x: Node, k: int) -> Node:
        """Gate ``k`` of the last axis (gates are stacked hidden-sized blocks)."""
        return x[..., k * self.hidden:(k + 1) * self.hidden]

    def run(self, ctx: ImportContext, x: Node, w: Node, r: Node, bias: Node | None,
            peepholes: Node | None, state: list[Node], functions: list[Activation],
            lengths: Node | None, reverse: bool, steps) -> tuple[Node, list[Node]]:
        op, hidden = self.op, self.hidden
        gates = LAYERS[op][0]
        projected = gd.matmul(x, gd.transpose(w))           # [seq, batch, gates*hidden]
        recurrent_bias = None
        if bias is not None:
            wb, rb = bias[:gates * hidden], bias[gates * hidden:]
            if op == "GRU" and self.linear_before_reset:
                # Rbh stays inside the reset gate's product; Rbz and Rbr add to the input
                recurrent_bias = self._gate(rb, 2)
                rb = gd.concatenate([rb[:2 * hidden], gd.zeros((hidden,), x.dtype)])
            projected = projected + (wb + rb)
        rt = gd.transpose(r)                                # [hidden, gates*hidden]
        peephole = None if peepholes is None else [self._gate(peepholes, k) for k in range(3)]

        if lengths is not None:
            # the step count k rides in the carry; a batch entry updates while its position
            # (k forward, seq-1-k in reverse) is below its length
            if reverse:
                total = ctx.materialize(DimsValue((steps,), scalar=True))
                start = total - lengths                     # [batch]: first step that counts
            carry0 = [gd.constant(np.int64(0)), *state]
        else:
            carry0 = list(state)

        def step(carry: tuple, xt: Node) -> tuple:
            if lengths is not None:
                k, previous = carry[0], list(carry[1:])
                live = (k >= start) if reverse else (k < lengths)
                live = gd.expand_dims(live, -1)             # [batch, 1]
            else:
                previous = list(carry)
            new = self.cell(xt, previous, rt, recurrent_bias, peephole, functions)
            if lengths is None:
                return tuple(new), new[0]
            kept = [gd.where(live, n, p) for n, p in zip(new, previous, strict=True)]
            out = gd.where(live, new[0], gd.zeros_like(new[0]))
            return (k + np.int64(1), *kept), out

        final, ys = gd_scan(step, tuple(carry0), projected, reverse=reverse)
        if lengths is None:
            return ys, list(final)
        # an empty sequence has zero final states (as onnxruntime's kernels give)
        some = gd.expand_dims(lengths > 0, -1)
        return ys, [gd.where(some, f, gd.zeros_like(f)) for f in final[1:]]

    def cell(self, xt: Node, state: list[Node], rt: Node, recurrent_bias: Node | None,
             peephole: list[Node] | None, functions: list[Activation]) -> list[Node]:
        """One step: the input projection ``xt`` (biases included) and the state -> the new
        state (the hidden state first)."""
        h = state[0]
        clip = self._clip
        if self.op == "RNN":
            (f,) = functions
            return [f(clip(xt + gd.matmul(h, rt)))]
        if self.op == "GRU":
            f, g = functions
            hidden = self.hidden
            if self.linear_before_reset:
                rec = gd.matmul(h, rt)                      # [batch, 3*hidden]
                z = f(clip(self._gate(xt, 0) + self._gate(rec, 0)))
                reset = f(clip(self._gate(xt, 1) + self._gate(rec, 1)))
                linear = self._gate(rec, 2)
                if recurrent_bias is not None:
                    linear = linear + recurrent_bias
                candidate = g(clip(self._gate(xt, 2) + reset * linear))
            else:
                rec = gd.matmul(h, rt[:, :2 * hidden])      # [batch, 2*hidden]
                z = f(clip(self._gate(xt, 0) + self._gate(rec, 0)))
                reset = f(clip(self._gate(xt, 1) + self._gate(rec, 1)))
                candidate = g(clip(self._gate(xt, 2) + gd.matmul(reset * h,
                                                                 rt[:, 2 * hidden:])))
            return [(scalar(1, z) - z) * candidate + z * h]
        f, g, out = functions
        c = state[1]
        pre = xt + gd.matmul(h, rt)                         # gates i, o, f, c
        pi = self._gate(pre, 0)
        po = self._gate(pre, 1)
        pf = self._gate(pre, 2)
        if peephole is not None:
            pi = pi + peephole[0] * c
            pf = pf + peephole[2] * c
        i = f(clip(pi))
        forget = scalar(1, i) - i if self.input_forget else f(clip(pf))
        cell = forget * c + i * g(clip(self._gate(pre, 3)))
        if peephole is not None:
            po = po + peephole[1] * cell
        o = f(clip(po))
        return [o * out(cell), cell]
