"""Cases for control flow: switch (gd.cond, gd.switch), while_loop, scan (gd.scan, gd.fori_loop),
and result (every one of them reads its results through it)."""

import numpy as np

import graphdiff as gd

from . import Arg, Case


def _rnn(h0, xs, W):
    def step(h, x):
        h = gd.tanh(h @ W + x)
        return h, h * h
    return gd.scan(step, h0, xs)


def _rnn_ref(h0, xs, W, reverse=False):
    h, ys = h0, []
    for x in (xs[::-1] if reverse else xs):
        h = np.tanh(h @ W + x)
        ys.append(h * h)
    ys = ys[::-1] if reverse else ys
    return h, np.stack(ys)


def _scan_both(h0, xs, W):
    h, ys = _rnn(h0, xs, W)
    return gd.sum(ys, axis=0) + h


def _scan_reverse(h0, xs, W):
    h, ys = gd.scan(lambda h, x: (gd.tanh(h @ W + x), gd.sin(h)), h0, xs, reverse=True)
    return ys * 2.0 + h


def _scan_reverse_ref(h0, xs, W):
    h, ys = h0, []
    for x in xs[::-1]:
        ys.append(np.sin(h))
        h = np.tanh(h @ W + x)
    return np.stack(ys[::-1]) * 2.0 + h


def _cond(x, y):
    return gd.cond(gd.sum(x) > 0, lambda a, b: gd.sin(a) * b, lambda a, b: a - gd.exp(b), x, y)


def _cond_ref(x, y):
    return np.sin(x) * y if x.sum() > 0 else x - np.exp(y)


def _switch(x, i):
    branches = [lambda a: a * 2.0, lambda a: gd.tanh(a), lambda a: a * a]
    return gd.switch(i, branches, x)


def _switch_ref(x, i):
    k = int(np.clip(i, 0, 2))
    return [x * 2.0, np.tanh(x), x * x][k]


def _fori(x):
    return gd.fori_loop(0, 4, lambda i, v: gd.sin(v) * x + i.astype(x.dtype), x)


def _fori_ref(x):
    v = x
    for i in range(4):
        v = np.sin(v) * x + i
    return v


def _while(x):
    # doubles the scale until it passes 10: the trip count depends on the data
    def body(c):
        v, s = c
        return v * 1.5 + gd.sin(v), s * 2.0
    v, _ = gd.while_loop(lambda c: c[1] < 10.0, body, (x, gd.sum(gd.abs(x)) + 0.5))
    return v


def _while_ref(x):
    v, s = x, np.abs(x).sum() + 0.5
    while s < 10.0:
        v, s = v * 1.5 + np.sin(v), s * 2.0
    return v


V = (2, 3)
CASES = [
    Case("scan_rnn", lambda h0, xs, W: _scan_both(h0, xs, W),
         lambda h0, xs, W: (lambda h, ys: ys.sum(0) + h)(*_rnn_ref(h0, xs, W)),
         [Arg((3,)), Arg((5, 3)), Arg((3, 3), low=-0.8, high=0.8)]),
    Case("scan_rnn_symbolic_length", lambda h0, xs, W: _rnn(h0, xs, W)[1],
         lambda h0, xs, W: _rnn_ref(h0, xs, W)[1],
         [Arg((3,)), Arg((4, 3)), Arg((3, 3), low=-0.8, high=0.8)]),
    Case("scan_reverse", _scan_reverse, _scan_reverse_ref,
         [Arg((3,)), Arg((4, 3)), Arg((3, 3), low=-0.8, high=0.8)]),
    Case("cond_true", _cond, _cond_ref, [Arg(V, low=0.1, high=2.0), Arg(V)]),
    Case("cond_false", _cond, _cond_ref, [Arg(V, low=-2.0, high=-0.1), Arg(V)]),
    Case("switch", _switch, _switch_ref, [Arg(V), Arg((), kind="fixed", value=np.int64(1))]),
    Case("switch_clamped", _switch, _switch_ref,
         [Arg(V), Arg((), kind="fixed", value=np.int64(7))]),
    Case("fori_loop_static", _fori, _fori_ref, [Arg(V, low=-1.0, high=1.0)]),
    Case("while_loop", _while, _while_ref, [Arg(V, low=-1.0, high=1.0)]),
]
