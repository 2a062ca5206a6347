"""graphdiff.nn against torch.nn: each layer gets its torch twin's weights copied in, then the
forward values and the gradients of a random projection of the output (with respect to the
input and every parameter) must agree, to 1e-6 in float64 and 1e-4 in float32. Then the
parameter trees, modes, initializers and errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.api.pytree import flatten

torch = pytest.importorskip("torch")

DTYPES = ["float32", "float64"]
TOL = {"float32": 1e-4, "float64": 1e-6}


def _t(value):
    return torch.from_numpy(np.ascontiguousarray(value))


def _agree(layer, twin, pairs, x_value, dtype, call=None, twin_call=None):
    """Copy torch's weights into ``layer`` (``pairs``: variable, torch-to-ours value, torch
    parameter whose gradient is the variable's), then compare outputs and gradients."""
    twin = twin.to(getattr(torch, dtype))
    for var, value, _ in pairs:
        gd.set_value(var, value(twin).detach().numpy())
    floating = np.issubdtype(x_value.dtype, np.floating)
    x = gd.placeholder((None, *x_value.shape[1:]), x_value.dtype.name, name="x")
    y = (call or layer)(x)
    weights = np.random.default_rng(7).normal(size=(2, *x_value.shape[1:], 64))
    x_t = _t(x_value).requires_grad_(floating)
    y_t = (twin_call or twin)(x_t)
    r = weights.reshape(-1)[:y_t.numel()].reshape(tuple(y_t.shape)).astype(dtype)
    loss = gd.sum(y * gd.constant(r))
    variables = [var for var, _, _ in pairs]
    wrt = ([x] if floating else []) + variables
    f = gd.function([x], [y, *gd.grad(loss, wrt)])
    got, *grads = f(x_value)
    (y_t * _t(r)).sum().backward()
    tol = TOL[dtype]
    np.testing.assert_allclose(got, y_t.detach().numpy(), rtol=tol, atol=tol)
    expected = ([x_t.grad.numpy()] if floating else []) + \
        [grad(twin).detach().numpy() for _, _, grad in pairs]
    for value, want in zip(grads, expected):
        np.testing.assert_allclose(value, want, rtol=tol, atol=tol)
    assert got.dtype == np.dtype(dtype)


def _normal(shape, dtype, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_is_torch_linear(dtype):
    layer = gd.nn.Dense(5, 3, rng=0, dtype=dtype)
    twin = torch.nn.Linear(5, 3)
    pairs = [(layer.weight, lambda t: t.weight.T, lambda t: t.weight.grad.T),
             (layer.bias, lambda t: t.bias, lambda t: t.bias.grad)]
    _agree(layer, twin, pairs, _normal((4, 5), dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_without_bias(dtype):
    layer = gd.nn.Dense(5, 3, bias=False, rng=0, dtype=dtype)
    twin = torch.nn.Linear(5, 3, bias=False)
    assert sorted(layer.parameters()) == ["weight"]
    _agree(layer, twin, [(layer.weight, lambda t: t.weight.T, lambda t: t.weight.grad.T)],
           _normal((4, 2, 5), dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", [{}, {"stride": 2, "padding": 1},
                                     {"padding": 2, "dilation": 2, "groups": 2}])
def test_conv2d_is_torch_conv2d(dtype, options):
    layer = gd.nn.Conv2D(4, 6, 3, rng=0, dtype=dtype, **options)
    twin = torch.nn.Conv2d(4, 6, 3, **options)
    pairs = [(layer.weight, lambda t: t.weight, lambda t: t.weight.grad),
             (layer.bias, lambda t: t.bias, lambda t: t.bias.grad)]
    _agree(layer, twin, pairs, _normal((2, 4, 7, 7), dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pooling_and_flatten_are_torch_s(dtype):
    x = _normal((2, 3, 6, 6), dtype)
    _agree(gd.nn.MaxPool2D(2), torch.nn.MaxPool2d(2), [], x, dtype)
    _agree(gd.nn.MaxPool2D(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1), [], x, dtype)
    _agree(gd.nn.AvgPool2D(2), torch.nn.AvgPool2d(2), [], x, dtype)
    _agree(gd.nn.AvgPool2D(3, 2, 1, count_include_pad=False),
           torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False), [], x, dtype)
    _agree(gd.nn.Flatten(), torch.nn.Flatten(), [], x, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_is_torch_s(dtype):
    layer = gd.nn.LayerNorm(6, dtype=dtype)
    twin = torch.nn.LayerNorm(6)
    with torch.no_grad():  # away from the ones and zeros both start at
        twin.weight.copy_(_t(_normal(6, "float32", 1)))
        twin.bias.copy_(_t(_normal(6, "float32", 2)))
    pairs = [(layer.weight, lambda t: t.weight, lambda t: t.weight.grad),
             (layer.bias, lambda t: t.bias, lambda t: t.bias.grad)]
    _agree(layer, twin, pairs, _normal((3, 4, 6), dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_is_torch_s(dtype):
    layer = gd.nn.Embedding(10, 4, rng=0, dtype=dtype)
    twin = torch.nn.Embedding(10, 4)
    ids = np.array([[1, 3, 3], [9, 0, 1]], np.int64)  # repeated ids: their gradients add
    _agree(layer, twin, [(layer.weight, lambda t: t.weight, lambda t: t.weight.grad)], ids,
           dtype)


def _chunk(name, count, k, transpose=False, grad=False):
    """Gate ``k`` of torch's stacked recurrent parameter ``name`` (or of its gradient), in our
    layout."""
    def get(twin):
        value = getattr(twin, name)
        part = (value.grad if grad else value).chunk(count)[k]
        return part.T if transpose else part
    return get


def _sum(*parts):
    return lambda twin: sum(p(twin) for p in parts)


def _recurrent_pairs(layer, count, lstm):
    pairs = []
    for k, g in enumerate(layer.GATES):
        for ours, theirs in ((layer.W[g], "weight_ih_l0"), (layer.U[g], "weight_hh_l0")):
            pairs.append((ours, _chunk(theirs, count, k, True),
                          _chunk(theirs, count, k, True, grad=True)))
        if lstm:  # one bias per gate for torch's two: their sum, with the same gradient
            pairs.append((layer.b[g], _sum(_chunk("bias_ih_l0", count, k),
                                           _chunk("bias_hh_l0", count, k)),
                          _chunk("bias_ih_l0", count, k, grad=True)))
        else:
            for ours, theirs in ((layer.b[g], "bias_ih_l0"), (layer.b_hidden[g], "bias_hh_l0")):
                pairs.append((ours, _chunk(theirs, count, k),
                              _chunk(theirs, count, k, grad=True)))
    return pairs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("sequences", [False, True])
def test_recurrent_layers_are_torch_s(dtype, kind, sequences):
    cls, twin_cls, count = ((gd.nn.LSTM, torch.nn.LSTM, 4) if kind == "lstm"
                            else (gd.nn.GRU, torch.nn.GRU, 3))
    layer = cls(3, 5, return_sequences=sequences, rng=0, dtype=dtype)
    twin = twin_cls(3, 5, batch_first=True)

    def twin_call(x):
        out, _ = twin(x)
        return out if sequences else out[:, -1]

    _agree(layer, twin, _recurrent_pairs(layer, count, kind == "lstm"),
           _normal((2, 6, 3), dtype), dtype, twin_call=twin_call)


def test_recurrent_layer_runs_every_length_in_one_graph():
    layer = gd.nn.LSTM(3, 5, rng=0)
    x = gd.placeholder((None, None, 3), "float32", name="x")  # batch and length symbolic
    h = layer(x)
    f = gd.function([x], [h, *gd.grad(gd.sum(h * h), list(layer.W.values()))])
    for batch, steps in ((2, 1), (4, 7), (3, 30)):
        got, *grads = f(_normal((batch, steps, 3), "float32"))
        assert got.shape == (batch, 5) and all(np.isfinite(g).all() for g in grads)
    scans = [n for n in f.reference_graph.nodes if n.op is gd.ops.control.scan]
    assert len(scans) >= 1 and len(f.graph) < 400


def _attention_pairs(layer, d):
    pairs = []
    for k, dense in enumerate((layer.q, layer.k, layer.v)):
        rows = slice(k * d, (k + 1) * d)
        pairs.append((dense.weight, lambda t, r=rows: t.in_proj_weight[r].T,
                      lambda t, r=rows: t.in_proj_weight.grad[r].T))
        pairs.append((dense.bias, lambda t, r=rows: t.in_proj_bias[r],
                      lambda t, r=rows: t.in_proj_bias.grad[r]))
    pairs.append((layer.o.weight, lambda t: t.out_proj.weight.T,
                  lambda t: t.out_proj.weight.grad.T))
    pairs.append((layer.o.bias, lambda t: t.out_proj.bias, lambda t: t.out_proj.bias.grad))
    return pairs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_is_torch_s(dtype, causal):
    layer = gd.nn.MultiHeadAttention(8, 2, rng=0, dtype=dtype)
    twin = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():  # nonzero biases, so their gradients are checked at a generic point
        twin.in_proj_bias.copy_(_t(_normal(24, "float32", 3)))
        twin.out_proj.bias.copy_(_t(_normal(8, "float32", 4)))
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1) if causal else None

    def twin_call(x):
        return twin(x, x, x, need_weights=False, attn_mask=mask)[0]

    _agree(layer, twin, _attention_pairs(layer, 8), _normal((3, 5, 8), dtype), dtype,
           call=lambda x: layer(x, causal=causal), twin_call=twin_call)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sequential_is_torch_s(dtype):
    model = gd.nn.Sequential(gd.nn.Conv2D(1, 4, 3, padding=1, rng=0, name="conv", dtype=dtype),
                             gd.relu, gd.nn.MaxPool2D(2), gd.nn.Flatten(),
                             gd.nn.Dense(16, 3, rng=1, name="fc", dtype=dtype))
    twin = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16, 3))
    p = model.parameters()
    pairs = [(p["conv"]["weight"], lambda t: t[0].weight, lambda t: t[0].weight.grad),
             (p["conv"]["bias"], lambda t: t[0].bias, lambda t: t[0].bias.grad),
             (p["fc"]["weight"], lambda t: t[4].weight.T, lambda t: t[4].weight.grad.T),
             (p["fc"]["bias"], lambda t: t[4].bias, lambda t: t[4].bias.grad)]
    _agree(model, twin, pairs, _normal((2, 1, 4, 4), dtype), dtype)


# --- dropout and modes -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_in_training_and_eval_mode(dtype):
    layer = gd.nn.Dropout(0.25, seed=3)
    model = gd.nn.Sequential(layer)
    x = gd.placeholder((200, 50), dtype, name="x")
    y = model(x)
    train = gd.function([x], [y, gd.grad(gd.sum(y), x)])
    value = _normal((200, 50), dtype) + 3.0
    out, grad = train(value)
    kept = out != 0
    assert 0.22 < 1 - kept.mean() < 0.28  # about a quarter dropped
    np.testing.assert_allclose(out[kept], value[kept] / 0.75, rtol=TOL[dtype])
    np.testing.assert_allclose(grad, kept / 0.75, rtol=TOL[dtype])  # same mask as forward
    assert model.eval() is model and not layer.training
    np.testing.assert_array_equal(gd.function([x], model(x))(value), value)
    assert model.train().training and layer.training


def test_dropout_rejects_a_bad_rate():
    with pytest.raises(gd.GraphdiffError, match="rate must be in"):
        gd.nn.Dropout(1.0)


# --- parameter trees and initialization --------------------------------------------------------

def test_parameters_are_a_named_tree_by_attribute_and_layer():
    lstm = gd.nn.LSTM(3, 4, rng=0)
    tree = lstm.parameters()
    assert sorted(tree) == ["U", "W", "b"] and sorted(tree["W"]) == sorted(lstm.GATES)
    assert tree["W"]["forget"].name == "lstm.W_forget"
    attention = gd.nn.MultiHeadAttention(8, 2, rng=0, name="mha")
    assert attention.parameters()["q"]["weight"].name == "mha.q.weight"
    leaves, _ = flatten(attention.parameters())
    assert len(leaves) == 8 and len({v.name for v in leaves}) == 8


def test_duplicate_variable_names_are_an_error():
    model = gd.nn.Sequential(gd.nn.Dense(2, 2, name="a"), gd.nn.Dense(2, 2, name="b"))
    model.layers[1].weight = gd.variable(np.zeros((2, 2), np.float32), name="a.weight")
    with pytest.raises(gd.GraphdiffError, match="'a.weight' is used twice"):
        model.parameters()
    with pytest.raises(gd.GraphdiffError, match="two layers are named 'dense'"):
        gd.nn.Sequential(gd.nn.Dense(2, 2), gd.nn.Dense(2, 2))


def test_initializers_are_torch_s_defaults():
    """Bounds and spreads of torch's defaults (kaiming_uniform(a=sqrt(5)) is U(+-1/sqrt(fan_in)))
    for large layers, where the sample statistics are sharp."""
    dense = gd.nn.Dense(400, 300, rng=0, dtype="float64")
    w = gd.get_value(dense.weight)
    assert np.abs(w).max() <= 1 / 20 and np.isclose(w.std(), 1 / 20 / np.sqrt(3), rtol=0.02)
    twin = torch.nn.Linear(400, 300).weight.detach().numpy()
    assert np.isclose(w.std(), twin.std(), rtol=0.02)
    conv = gd.nn.Conv2D(8, 16, 3, rng=0, dtype="float64")
    assert np.abs(gd.get_value(conv.bias)).max() <= 1 / np.sqrt(72)
    embedding = gd.get_value(gd.nn.Embedding(300, 300, rng=0, dtype="float64").weight)
    assert np.isclose(embedding.std(), 1.0, rtol=0.02)
    gru = gd.nn.GRU(10, 100, rng=0, dtype="float64")
    assert np.abs(gd.get_value(gru.U["new"])).max() <= 0.1
    lstm_bias = np.concatenate([gd.get_value(v) for v in
                                gd.nn.LSTM(4, 3000, rng=0, dtype="float64").b.values()])
    # the sum of torch's two U(+-k) biases: variance 2 k^2 / 3
    assert np.isclose(lstm_bias.var(), 2 * (1 / 3000) / 3, rtol=0.05)
    mha = gd.nn.MultiHeadAttention(64, 4, rng=0, dtype="float64")
    q = gd.get_value(mha.q.weight)
    assert np.abs(q).max() <= np.sqrt(6 / 256) and not gd.get_value(mha.q.bias).any()
    same = gd.get_value(gd.nn.Dense(4, 4, rng=5).weight)
    np.testing.assert_array_equal(same, gd.get_value(gd.nn.Dense(4, 4, rng=5).weight))
