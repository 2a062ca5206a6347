"""Import of ONNX loss ops: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.

Both pick, for each sample (and each extra position), the input at the target class along
axis 1, weighted by the class weight; ``ignore_index`` targets count with weight 0; the
reduction is none, sum, or the weighted mean.
"""

from __future__ import annotations

import numpy as np

import graphdiff as gd

from ...ir.node import Node
from ...ops import elementwise as E
from ..importer import ImportContext, OnnxNode, onnx_import


def _nll(node: OnnxNode, log_probs: Node, target: Node, weight: Node | None) -> Node:
    reduction = node.string("reduction", "mean")
    if reduction not in ("none", "sum", "mean"):
        raise node.fail(f"reduction {reduction!r} is not supported")
    target = gd.astype(target, "int64")
    ignore = node.int("ignore_index")
    keep = None
    if ignore is not None:
        ignored = E.equal(target, gd.constant(np.asarray(ignore, np.int64)))
        keep = E.logical_not(ignored)
        # an ignored target may be out of range: read class 0 there and weigh it 0
        target = E.where(ignored, gd.constant(np.asarray(0, np.int64)), target)
    picked = gd.take_along_axis(log_probs, gd.expand_dims(target, 1), axis=1)
    picked = gd.squeeze(picked, 1)
    weights = None
    if weight is not None:
        weights = gd.take(weight, target, axis=0)
    if keep is not None:
        mask = gd.astype(keep, log_probs.dtype)
        weights = mask if weights is None else E.mul(weights, mask)
    loss = E.neg(picked) if weights is None else E.neg(E.mul(picked, weights))
    if reduction == "none":
        return loss
    total = gd.sum(loss)
    if reduction == "sum":
        return total
    if weights is None:
        return gd.mean(loss)
    return E.div(total, gd.sum(weights))


@onnx_import("NegativeLogLikelihoodLoss")
def _negative_log_likelihood(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    log_probs, target = ctx.tensor(node, 0), ctx.tensor(node, 1)
    return [_nll(node, log_probs, target, ctx.tensor(node, 2, optional=True))]


@onnx_import("SoftmaxCrossEntropyLoss")
def _softmax_cross_entropy(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    scores, labels = ctx.tensor(node, 0), ctx.tensor(node, 1)
    log_probs = gd.log_softmax(scores, axis=1)
    loss = _nll(node, log_probs, labels, ctx.tensor(node, 2, optional=True))
    return [loss, log_probs]
