"""Cases for the neural-network composites and the random ops."""

import math

import numpy as np

import graphdiff as gd

from . import Arg, Case

L = Arg((4, 5))
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _lse(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)  # scipy.special.logsumexp's convention: all -inf -> -inf
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _ce_int(z, y):
    return _lse(z, -1) - np.take_along_axis(z, y[:, None], -1)[:, 0]


def _layer_norm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * w + b


def _softplus(x):
    return np.logaddexp(0, x)


CASES = [
    Case("logsumexp", lambda x: gd.logsumexp(x, axis=1), lambda x: _lse(x, 1), [L]),
    Case("logsumexp_all", gd.logsumexp, _lse, [Arg((3, 4), low=-50, high=50)]),
    Case("logsumexp_big", lambda x: gd.logsumexp(x, axis=-1), lambda x: _lse(x, -1),
         [Arg((2, 3), kind="fixed", value=[[1000.0, 1000.0, -np.inf], [-np.inf] * 3])],
         grad=False),
    Case("softmax", gd.softmax, _softmax, [L]),
    Case("softmax_axis0", lambda x: gd.softmax(x, axis=0), lambda x: _softmax(x, 0), [L]),
    Case("log_softmax", gd.log_softmax, lambda x: x - _lse(x, -1, True), [L]),
    Case("softmax_cross_entropy", gd.softmax_cross_entropy, _ce_int,
         [L, Arg((4,), kind="int", low=0, high=5)]),
    Case("softmax_cross_entropy_probs", gd.softmax_cross_entropy,
         lambda z, p: -np.sum(p * (z - _lse(z, -1, True)), -1), [L, Arg((4, 5), low=0, high=1)]),
    Case("one_hot", lambda y: gd.one_hot(y, 5, "float64") * 1.0,
         lambda y: np.eye(5)[y], [Arg((4,), kind="int", low=0, high=5)], grad=False),
    Case("softplus", gd.softplus, _softplus, [Arg((3, 4), low=-30, high=30)]),
    Case("log_sigmoid", gd.log_sigmoid, lambda x: -_softplus(-x), [Arg((3, 4), low=-30, high=30)]),
    Case("bce_logits", gd.binary_cross_entropy_with_logits,
         lambda z, t: _softplus(z) - z * t,
         [Arg((3, 4), low=-8, high=8), Arg((3, 4), low=0, high=1)]),
    Case("gelu", gd.gelu, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))).astype(x.dtype), [L]),
    Case("gelu_tanh", lambda x: gd.gelu(x, approximate="tanh"),
         lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
         [L]),
    Case("layer_norm", gd.layer_norm, _layer_norm, [L, Arg((5,)), Arg((5,))]),
    Case("dropout_eval", lambda x: gd.dropout(x, 0.5, seed=0, training=False),
         lambda x: x, [L]),
    # The random ops are checked statistically in tests/test_random.py; these cases only make
    # sure they run inside graphs (floor(uniform) is 0 and |normal| >= 0 always).
    Case("random_uniform", lambda x: x + gd.floor(gd.uniform(x.shape, seed=0, dtype=x.dtype)),
         lambda x: x, [L]),
    Case("random_normal",
         lambda x: gd.where(gd.abs(gd.normal(x.shape, seed=0, dtype=x.dtype)) >= 0, x, 0.0),
         lambda x: x, [L]),
]
