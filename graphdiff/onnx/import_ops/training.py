"""Import of the ONNX training ops (domain ``ai.onnx.preview.training``): ``Gradient`` as
graphdiff's own symbolic gradient, and the optimizer steps ``Adagrad``, ``Momentum`` (standard
and Nesterov) and ``Adam`` as the formulas of their specifications, for any number of tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import graphdiff as gd

from ...ir.node import Node
from ...ops import elementwise as E
from ..importer import ImportContext, OnnxNode, onnx_import

TRAINING = "ai.onnx.preview.training"


def _groups(ctx: ImportContext, node: OnnxNode, per_tensor: int) -> list[list[Node]]:
    """The tensor inputs after R and T in ``per_tensor`` groups (X..., G..., ...)."""
    values = [ctx.tensor(node, i) for i in range(2, len(node.proto.input))]
    if not values or len(values) % per_tensor:
        raise node.fail(f"expects R, T and {per_tensor} groups of tensors of equal length, got "
                        f"{len(values)} tensors")
    n = len(values) // per_tensor
    return [values[k * n:(k + 1) * n] for k in range(per_tensor)]


def _c(value: float, like: Node) -> Node:
    return gd.constant(np.asarray(value, like.dtype))


def _scalar(value: Node, like: Node) -> Node:
    return gd.astype(gd.reshape(value, ()), like.dtype)


@onnx_import("Gradient", domain=TRAINING)
def _gradient(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    xs, y = node.strings("xs"), node.string("y")
    if not xs or not y:
        raise node.fail("needs the attributes y (the tensor to differentiate) and xs")
    target = ctx.tensor_named(node, y)
    sources = [ctx.tensor_named(node, name) for name in xs]
    # a non-scalar y: the gradient of its sum, which is what its outputs' shapes say
    return list(gd.grad(gd.sum(target), sources, unconnected="zero"))


@onnx_import("Adagrad", domain=TRAINING)
def _adagrad(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    rate, step = ctx.tensor(node, 0), ctx.tensor(node, 1)
    xs, gs, hs = _groups(ctx, node, 3)
    decay, epsilon = node.float("decay_factor", 0.0), node.float("epsilon", 0.0)
    norm = node.float("norm_coefficient", 0.0)
    new_x, new_h = [], []
    for x, g, h in zip(xs, gs, hs, strict=True):
        r = E.div(_scalar(rate, x), E.add(_c(1, x), E.mul(_scalar(step, x), _c(decay, x))))
        g = E.add(E.mul(_c(norm, x), x), g)
        h = E.add(h, E.mul(g, g))
        new_x.append(E.sub(x, E.div(E.mul(r, g), E.add(E.sqrt(h), _c(epsilon, h)))))
        new_h.append(h)
    return new_x + new_h


def _after_first(step: Node, later: Node, first: Node) -> Node:
    """``later`` when the step count T is positive, else ``first``."""
    return E.where(E.greater(step, gd.constant(np.asarray(0, step.dtype))), later, first)


@onnx_import("Momentum", domain=TRAINING)
def _momentum(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    rate, step = ctx.tensor(node, 0), gd.reshape(ctx.tensor(node, 1), ())
    xs, gs, vs = _groups(ctx, node, 3)
    alpha, beta = node.float("alpha", 0.0), node.float("beta", 0.0)
    norm, mode = node.float("norm_coefficient", 0.0), node.string("mode", "standard")
    if mode not in ("standard", "nesterov"):
        raise node.fail(f"mode {mode!r} is not 'standard' or 'nesterov'")
    new_x, new_v = [], []
    for x, g, v in zip(xs, gs, vs, strict=True):
        g = E.add(E.mul(_c(norm, x), x), g)
        beta_now = _after_first(step, _c(beta, x), _c(1, x))  # the first step takes g whole
        v = E.add(E.mul(_c(alpha, v), v), E.mul(beta_now, g))
        direction = v if mode == "standard" else E.add(g, E.mul(_c(alpha, v), v))
        new_x.append(E.sub(x, E.mul(_scalar(rate, x), direction)))
        new_v.append(v)
    return new_x + new_v


@onnx_import("Adam", domain=TRAINING)
def _adam(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    rate, step = ctx.tensor(node, 0), gd.reshape(ctx.tensor(node, 1), ())
    xs, gs, vs, hs = _groups(ctx, node, 4)
    alpha, beta = node.float("alpha", 0.9), node.float("beta", 0.999)
    epsilon, norm = node.float("epsilon", 0.0), node.float("norm_coefficient", 0.0)
    post = node.float("norm_coefficient_post", 0.0)
    new: list[Sequence[Node]] = [[], [], []]
    for x, g, v, h in zip(xs, gs, vs, hs, strict=True):
        g = E.add(E.mul(_c(norm, x), x), g)
        v = E.add(E.mul(_c(alpha, v), v), E.mul(_c(1 - alpha, v), g))
        h = E.add(E.mul(_c(beta, h), h), E.mul(_c(1 - beta, h), E.mul(g, g)))
        r = _scalar(rate, x)
        t = gd.astype(step, x.dtype)
        corrected = E.div(E.mul(r, E.sqrt(E.sub(_c(1, x), E.pow_(_c(beta, x), t)))),
                          E.sub(_c(1, x), E.pow_(_c(alpha, x), t)))
        r = _after_first(step, corrected, r)
        x = E.sub(x, E.mul(r, E.div(v, E.add(E.sqrt(h), _c(epsilon, h)))))
        for bucket, value in zip(new, (E.mul(_c(1 - post, x), x), v, h), strict=True):
            bucket.append(value)
    return [value for bucket in new for value in bucket]
