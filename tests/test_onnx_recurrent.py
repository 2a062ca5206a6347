"""ONNX's recurrent layers RNN, LSTM and GRU imported as scans (graphdiff/onnx/import_ops/
recurrent.py).

Hand-written layers with every direction, layout, activation, clip, sequence_lens, initial
states, peepholes, input_forget, linear_before_reset and optional output are run against
onnxruntime (which has no layout=1: the batch-major layer is compared with the time-major one
on transposed data); one imported model with symbolic sequence and batch dims runs at several
sizes; gradients match finite differences in float64; an imported layer exports back to ONNX
and runs in onnxruntime. PyTorch's ``nn.LSTM`` and ``nn.GRU`` (1 and 2 layers, one or two
directions, batch_first or not), exported by ``torch.onnx.export`` with the TorchScript
exporter and the dynamo one, import with dynamic dims and match torch in values and in the
gradients of every imported initializer. The dynamo exporter specializes the sequence length
(torch.export traces nn.LSTM's time loop; the models fail at another length in onnxruntime
too), so its models are checked at two batch sizes at the exported length; the full grid of
dynamo exports runs with ``GRAPHDIFF_SLOW=1``.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

import graphdiff as gd

from .test_onnx_export import check, session

SLOW = os.environ.get("GRAPHDIFF_SLOW") == "1"
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
FUNCTIONS = {"RNN": 1, "GRU": 2, "LSTM": 3}
DIRECTIONS = ["forward", "reverse", "bidirectional"]
ACTIVATIONS = ["Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu",
               "ScaledTanh", "HardSigmoid", "Elu", "Softsign", "Softplus"]
TOLERANCE = dict(rtol=1e-5, atol=1e-5)


# --- hand-written layers ----------------------------------------------------------------------

def layer(op: str, *, steps: int = 4, batch: int = 3, inputs: int = 2, hidden: int = 3,
          direction: str = "forward", layout: int = 0, lengths=None, initial_h: bool = False,
          initial_c: bool = False, peepholes: bool = False, bias: bool = True,
          outputs=("Y", "Y_h", "Y_c"), dtype=np.float32, symbolic: bool = False,
          seed: int = 0, scale: float = 0.5, **attrs) -> tuple[onnx.ModelProto, dict]:
    """A model of one ``op`` node (its inputs graph inputs) and random feeds for it."""
    rng = np.random.default_rng(seed)
    directions = 2 if direction == "bidirectional" else 1
    gates = GATES[op]

    def draw(*shape, s=scale):
        return (rng.standard_normal(shape) * s).astype(dtype)

    feeds = {"X": draw(*((batch, steps, inputs) if layout else (steps, batch, inputs)), s=1.0),
             "W": draw(directions, gates * hidden, inputs),
             "R": draw(directions, gates * hidden, hidden)}
    names = ["X", "W", "R"]
    state = (batch, directions, hidden) if layout else (directions, batch, hidden)
    optional = [("B", bias, lambda: draw(directions, 2 * gates * hidden)),
                ("sequence_lens", lengths is not None,
                 lambda: np.asarray(lengths, np.int32)),
                ("initial_h", initial_h, lambda: draw(*state, s=1.0))]
    if op == "LSTM":
        optional += [("initial_c", initial_c, lambda: draw(*state, s=1.0)),
                     ("P", peepholes, lambda: draw(directions, 3 * hidden))]
    for name, present, make in optional:
        names.append(name if present else "")
        if present:
            feeds[name] = make()
    while names[-1] == "":
        names.pop()
    outputs = [o for o in outputs if o != "Y_c" or op == "LSTM"]
    if layout:
        attrs["layout"] = 1
    node = helper.make_node(op, names, list(outputs), hidden_size=hidden, direction=direction,
                            **attrs)
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))

    def info(name):
        shape = list(feeds[name].shape)
        if symbolic and name == "X":
            shape = ["batch", "seq", inputs] if layout else ["seq", "batch", inputs]
        elif symbolic and name in ("initial_h", "initial_c"):
            shape[0 if layout else 1] = "batch"
        elif symbolic and name == "sequence_lens":
            shape = ["batch"]
        kind = TensorProto.INT32 if name == "sequence_lens" else elem
        return helper.make_tensor_value_info(name, kind, shape)

    graph = helper.make_graph([node], op.lower(), [info(n) for n in names if n],
                              [helper.make_tensor_value_info(o, elem, None) for o in outputs
                               if o])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    model.ir_version = 10
    return model, {n: feeds[n] for n in names if n}


def run_graphdiff(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    imported = gd.import_onnx(model)
    return imported(*[feeds[name] for name in imported.input_names])


def run_onnxruntime(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    """onnxruntime's results; a layout=1 layer runs time-major on transposed data."""
    node = model.graph.node[0]
    layout = next((a.i for a in node.attribute if a.name == "layout"), 0)
    if not layout:
        return session(model).run(None, feeds)
    time_major = onnx.ModelProto()
    time_major.CopyFrom(model)
    new = time_major.graph.node[0]
    kept = [a for a in new.attribute if a.name != "layout"]
    del new.attribute[:]
    new.attribute.extend(kept)
    swapped = {}
    for info in time_major.graph.input:
        value = feeds[info.name]
        if info.name in ("X", "initial_h", "initial_c"):
            value = np.swapaxes(value, 0, 1)
            dims = info.type.tensor_type.shape.dim
            first, second = onnx.TensorShapeProto.Dimension(), onnx.TensorShapeProto.Dimension()
            first.CopyFrom(dims[0])
            second.CopyFrom(dims[1])
            dims[0].CopyFrom(second)
            dims[1].CopyFrom(first)
        swapped[info.name] = np.ascontiguousarray(value)
    results = session(time_major).run(None, swapped)
    names = [o.name for o in time_major.graph.output]
    return [np.transpose(r, (2, 0, 1, 3)) if name == "Y" else np.swapaxes(r, 0, 1)
            for r, name in zip(results, names, strict=True)]


def agree(model: onnx.ModelProto, feeds: dict, **tolerance) -> None:
    got, want = run_graphdiff(model, feeds), run_onnxruntime(model, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, **(tolerance or TOLERANCE))


VARIANTS = {
    "defaults": {},
    "initial_states": dict(initial_h=True, initial_c=True),
    "lengths": dict(lengths=[4, 1, 2], initial_h=True, initial_c=True),
    "empty_sequence": dict(lengths=[0, 4, 3], initial_h=True, initial_c=True),
    "clip": dict(clip=0.6, initial_h=True),
    "no_bias": dict(bias=False, lengths=[2, 4, 3]),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_layer_matches_onnxruntime(op: str, direction: str, variant: str) -> None:
    agree(*layer(op, direction=direction, **VARIANTS[variant]))


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_batch_major_layout(op: str, direction: str) -> None:
    agree(*layer(op, direction=direction, layout=1, lengths=[3, 4, 1], initial_h=True,
                 initial_c=True, peepholes=True))


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("options", [dict(peepholes=True), dict(input_forget=1),
                                     dict(peepholes=True, input_forget=1, clip=0.5,
                                          lengths=[1, 4, 3], initial_c=True)])
def test_lstm_peepholes_and_coupled_gates(options: dict, direction: str) -> None:
    agree(*layer("LSTM", direction=direction, initial_h=True, **options))


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("linear_before_reset", [0, 1])
def test_gru_linear_before_reset(linear_before_reset: int, direction: str) -> None:
    agree(*layer("GRU", direction=direction, initial_h=True, lengths=[4, 2, 3], clip=0.8,
                 linear_before_reset=linear_before_reset))


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("first", range(len(ACTIVATIONS)))
def test_activations_match_onnxruntime(op: str, first: int) -> None:
    """Every activation in every position, with alphas and betas consumed in order by the
    functions that take them, across both directions."""
    count = 2 * FUNCTIONS[op]
    names = [ACTIVATIONS[(first + k) % len(ACTIVATIONS)] for k in range(count)]
    rng = np.random.default_rng(first)
    alphas = [float(a) for a in rng.uniform(0.3, 1.2, count)]
    betas = [float(b) for b in rng.uniform(0.3, 1.2, count)]
    # small weights and few steps: unbounded activations (Relu, Affine, Softplus as gates)
    # must not overflow, where onnxruntime's float32 approximations would differ
    agree(*layer(op, direction="bidirectional", steps=3, scale=0.3, initial_h=True,
                 activations=names, activation_alpha=alphas, activation_beta=betas),
          rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("name", "explicit"), [
    ("LeakyRelu", dict(alpha=[0.01])), ("ThresholdedRelu", dict(alpha=[1.0])),
    ("HardSigmoid", dict(alpha=[0.2], beta=[0.5])), ("Elu", dict(alpha=[1.0])),
    ("Affine", dict(alpha=[1.0], beta=[0.0])), ("ScaledTanh", dict(alpha=[1.0], beta=[1.0]))])
def test_activation_defaults_are_the_onnx_ops_defaults(name: str, explicit: dict) -> None:
    """Missing alphas and betas take the defaults of the ONNX op of that name (the spec's
    rule; onnxruntime uses 0 for Affine, ThresholdedRelu and ScaledTanh)."""
    default, feeds = layer("RNN", activations=[name])
    given, _ = layer("RNN", activations=[name], activation_alpha=explicit["alpha"],
                     **({"activation_beta": explicit["beta"]} if "beta" in explicit else {}))
    for a, b in zip(run_graphdiff(default, feeds), run_graphdiff(given, feeds), strict=True):
        np.testing.assert_array_equal(a, b)


def test_activation_names_and_one_direction_list() -> None:
    """Names are case-insensitive, and a bidirectional layer given one direction's functions
    uses them for both."""
    short, feeds = layer("GRU", direction="bidirectional", activations=["sigmoid", "TANH"])
    full, _ = layer("GRU", direction="bidirectional",
                    activations=["Sigmoid", "Tanh", "Sigmoid", "Tanh"])
    default, _ = layer("GRU", direction="bidirectional")
    results = [run_graphdiff(m, feeds) for m in (short, full, default)]
    for values in zip(*results, strict=True):
        for other in values[1:]:
            np.testing.assert_array_equal(values[0], other)


@pytest.mark.parametrize("outputs", [("Y",), ("", "Y_h"), ("", "", "Y_c"), ("Y", "", "Y_c")])
def test_optional_outputs(outputs: tuple) -> None:
    agree(*layer("LSTM", direction="bidirectional", outputs=outputs, lengths=[2, 4, 3]))


@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_symbolic_sequence_and_batch(op: str, layout: int) -> None:
    """One imported model (dim_params for the sequence and the batch, sequence_lens an input)
    runs at several sizes, a scan of symbolic length."""
    model, _ = layer(op, direction="bidirectional", layout=layout, symbolic=True,
                     lengths=[1, 1, 1], initial_h=True, initial_c=True, peepholes=True)
    imported = gd.import_onnx(model)
    scans = [n for n in imported.graph.nodes if n.op.name == "scan"]
    assert len(scans) == 2 and not any(isinstance(d, int) for d in scans[0].attrs["length"])
    for steps, batch in ((5, 2), (2, 4), (9, 1)):
        lengths = np.random.default_rng(steps).integers(0, steps + 1, batch)
        _, feeds = layer(op, direction="bidirectional", layout=layout, steps=steps,
                         batch=batch, lengths=lengths, initial_h=True, initial_c=True,
                         peepholes=True, seed=steps)
        got = imported(*[feeds[name] for name in imported.input_names])
        want = run_onnxruntime(model, feeds)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, **TOLERANCE)


def _directional_check(model: onnx.ModelProto, feeds: dict, wrt: list[str]) -> None:
    """gd.grad of a weighted sum of the outputs against central differences along a random
    direction, in float64, for each input in ``wrt``."""
    imported = gd.import_onnx(model)
    rng = np.random.default_rng(7)
    shapes = [r.shape for r in imported(*[feeds[n] for n in imported.input_names])]
    weights = [rng.standard_normal(s) for s in shapes]
    loss = sum(gd.sum(o * w) for o, w in zip(imported.outputs, weights, strict=True))
    by_name = dict(zip(imported.input_names, imported.inputs, strict=True))
    grads = gd.grad(loss, [by_name[n] for n in wrt])
    f = gd.function(imported.inputs, [loss, *grads])
    order = imported.input_names

    def value(changed: dict) -> float:
        return float(f(*[changed.get(n, feeds[n]) for n in order])[0])

    exact = f(*[feeds[n] for n in order])[1:]
    eps = 1e-6
    for name, grad in zip(wrt, exact, strict=True):
        direction = rng.standard_normal(feeds[name].shape)
        numeric = (value({name: feeds[name] + eps * direction}) -
                   value({name: feeds[name] - eps * direction})) / (2 * eps)
        np.testing.assert_allclose(np.sum(grad * direction), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_gradients_match_finite_differences(op: str) -> None:
    extra = dict(peepholes=True, initial_c=True) if op == "LSTM" else {}
    if op == "GRU":
        extra["linear_before_reset"] = 1
    model, feeds = layer(op, direction="bidirectional", dtype=np.float64, lengths=[4, 0, 2],
                         initial_h=True, **extra)
    wrt = [n for n in feeds if n != "sequence_lens"]
    _directional_check(model, feeds, wrt)


@pytest.mark.parametrize("op", ["GRU", "LSTM"])
def test_imported_layer_exports_back(op: str) -> None:
    """An imported layer (scans with a symbolic length, masked by sequence_lens) exports to
    ONNX and runs in onnxruntime at several lengths."""
    model, _ = layer(op, direction="bidirectional", symbolic=True, lengths=[1, 1, 1],
                     initial_h=True)
    imported = gd.import_onnx(model)
    again = gd.export_onnx(None, imported.inputs, imported.outputs)
    check(again)
    runtime = session(again)
    for steps, batch in ((3, 2), (6, 3)):
        lengths = np.random.default_rng(steps).integers(1, steps + 1, batch)
        _, feeds = layer(op, direction="bidirectional", steps=steps, batch=batch,
                         lengths=lengths, initial_h=True, seed=steps)
        want = run_onnxruntime(model, feeds)
        got = runtime.run(None, {n: feeds[n] for n in imported.input_names})
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, **TOLERANCE)


@pytest.mark.parametrize(("change", "message"), [
    (dict(activations=["Swish"]), "unknown activation"),
    (dict(activations=["Tanh", "Tanh", "Tanh"]), "activations lists 3 functions"),
    (dict(direction="sideways"), "direction must be"),
    (dict(hidden_size=5), "hidden_size is 5"),
    (dict(clip=-1.0), "clip must be positive"),
])
def test_malformed_layers_are_onnx_errors(change: dict, message: str) -> None:
    model, _ = layer("RNN")
    node = model.graph.node[0]
    for name, value in change.items():
        kept = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend(kept + [helper.make_attribute(name, value)])
    with pytest.raises(gd.OnnxError, match=message):
        gd.import_onnx(model)


def test_wrong_weight_shape_is_an_onnx_error() -> None:
    model, _ = layer("LSTM")
    model.graph.input[1].type.tensor_type.shape.dim[1].dim_value = 7  # W: 4*hidden rows
    with pytest.raises(gd.OnnxError, match="W must have shape"):
        gd.import_onnx(model)


# --- PyTorch's nn.LSTM and nn.GRU -----------------------------------------------------------

# torch's gate order -> ONNX's: LSTM (i, f, g, o) -> (i, o, f, c); GRU (r, z, n) -> (z, r, h)
TORCH_GATES = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}
INPUTS, HIDDEN = 3, 4


def _onnx_parameters(module: torch.nn.Module, kind: str, tensors: dict) -> dict:
    """ONNX's W, R and B of each layer, from torch's tensors by parameter name (the
    parameters or their gradients)."""
    def reorder(t: np.ndarray) -> np.ndarray:
        blocks = np.split(t, len(TORCH_GATES[kind]), axis=0)
        return np.concatenate([blocks[i] for i in TORCH_GATES[kind]], axis=0)

    suffixes = ["", "_reverse"] if module.bidirectional else [""]
    result = {}
    def stacked(name: str, k: int) -> np.ndarray:
        return np.stack([reorder(tensors[f"{name}_l{k}{s}"]) for s in suffixes])

    for k in range(module.num_layers):
        result[f"W{k}"] = stacked("weight_ih", k)
        result[f"R{k}"] = stacked("weight_hh", k)
        result[f"B{k}"] = np.concatenate([stacked("bias_ih", k), stacked("bias_hh", k)],
                                         axis=1)
    return result


def _export(module: torch.nn.Module, kind: str, dynamo: bool, example: torch.Tensor,
            batch_first: bool) -> onnx.ModelProto:
    outputs = ["y", "h"] + (["c"] if kind == "LSTM" else [])
    batch_axis, time_axis = (0, 1) if batch_first else (1, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            # a dynamic sequence axis is specialized by torch.export (see the module doc)
            program = torch.onnx.export(
                module, (example,), dynamo=True, input_names=["x"], output_names=outputs,
                dynamic_shapes={"input": {batch_axis: torch.export.Dim("batch")}},
                verbose=False)
            return program.model_proto
        buffer = io.BytesIO()
        axes = {batch_axis: "batch", time_axis: "seq"}
        torch.onnx.export(module, (example,), buffer, dynamo=False, input_names=["x"],
                          output_names=outputs, dynamic_axes={"x": axes, "y": axes})
        return onnx.load_from_string(buffer.getvalue())


def _torch_outputs(module, kind, x, h0=None, c0=None) -> list[torch.Tensor]:
    if h0 is None:
        y, state = module(x)
    else:
        y, state = module(x, (h0, c0) if kind == "LSTM" else h0)
    return [y, *(state if kind == "LSTM" else (state,))]


def check_torch_layer(kind: str, layers: int, bidirectional: bool, batch_first: bool,
                      dynamo: bool) -> None:
    torch.manual_seed(layers + 2 * bidirectional + 4 * batch_first)
    module = getattr(torch.nn, kind)(INPUTS, HIDDEN, num_layers=layers,
                                     bidirectional=bidirectional, batch_first=batch_first)

    def shape(steps, batch):
        return (batch, steps, INPUTS) if batch_first else (steps, batch, INPUTS)

    exported_steps = 5
    proto = _export(module, kind, dynamo, torch.randn(*shape(exported_steps, 2)), batch_first)
    model = gd.import_onnx(proto)
    (x,) = model.inputs
    time_axis = 1 if batch_first else 0
    assert not isinstance(x.shape[1 - time_axis], int)  # the batch is symbolic
    sizes = [(exported_steps, 2), (exported_steps, 3)]
    if not dynamo:
        assert not isinstance(x.shape[time_axis], int)  # and so is the sequence
        sizes = [(5, 2), (8, 3)]

    # every float initializer is a variable: ONNX's W, R, B of a layer (matched by value),
    # or (dynamo) the scalar zero its initial states are expanded from
    expected = _onnx_parameters(module, kind, {n: p.detach().numpy()
                                               for n, p in module.named_parameters()})
    parameters, fills = {}, []
    for name, variable in model.variables.items():
        value = variable.data.value
        hits = [k for k, e in expected.items()
                if e.shape == value.shape and np.array_equal(e, value)]
        if hits:
            assert len(hits) == 1 and hits[0] not in parameters, (name, hits)
            parameters[hits[0]] = variable
        else:
            assert value.shape == () and value == 0, (name, value.shape)
            fills.append(variable)
    assert sorted(parameters) == sorted(expected)
    assert len(fills) == (1 if dynamo else 0)

    # values: one model at two batch sizes (and, TorchScript, two sequence lengths)
    for steps, batch in sizes:
        xs = np.random.default_rng(steps * batch).standard_normal(shape(steps, batch))
        xs = xs.astype(np.float32)
        with torch.no_grad():
            want = [t.numpy() for t in _torch_outputs(module, kind, torch.from_numpy(xs))]
        got = model(xs)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)

    # gradients of every variable: loss = sum over outputs of <output, fixed random weights>
    steps, batch = sizes[-1]
    rng = np.random.default_rng(1)
    xs = rng.standard_normal(shape(steps, batch)).astype(np.float32)
    states = (2 if bidirectional else 1) * layers
    h0 = torch.zeros(states, batch, HIDDEN, requires_grad=True)
    c0 = torch.zeros(states, batch, HIDDEN, requires_grad=True)
    module.zero_grad()
    outs = _torch_outputs(module, kind, torch.from_numpy(xs), h0, c0)
    weights = [rng.standard_normal(tuple(o.shape)).astype(np.float32) for o in outs]
    loss = sum((o * torch.from_numpy(w)).sum() for o, w in zip(outs, weights, strict=True))
    loss.backward()
    want = _onnx_parameters(module, kind, {n: p.grad.numpy()
                                           for n, p in module.named_parameters()})
    names = sorted(parameters)
    cotangents = [gd.placeholder(w.shape, "float32", name=f"w{k}")
                  for k, w in enumerate(weights)]
    graph_loss = sum(gd.sum(o * w) for o, w in zip(model.outputs, cotangents, strict=True))
    grads = gd.grad(graph_loss, [parameters[n] for n in names] + fills)
    values = gd.function([x, *cotangents], [graph_loss, *grads])(xs, *weights)
    np.testing.assert_allclose(values[0], loss.item(), rtol=1e-5, atol=1e-4)
    for name, grad in zip(names, values[1:1 + len(names)], strict=True):
        np.testing.assert_allclose(grad, want[name], rtol=1e-5, atol=1e-5, err_msg=name)
    if fills:  # the fill value feeds every initial state
        total = h0.grad.sum() + (c0.grad.sum() if kind == "LSTM" else 0)
        np.testing.assert_allclose(values[-1], total.item(), rtol=1e-5, atol=1e-5)


TORCH_GRID = [(kind, layers, bidirectional, batch_first)
              for kind in ("LSTM", "GRU") for layers in (1, 2)
              for bidirectional in (False, True) for batch_first in (False, True)]
DYNAMO_FAST = [("LSTM", 2, True, True), ("GRU", 1, False, False)]


@pytest.mark.parametrize(("kind", "layers", "bidirectional", "batch_first"), TORCH_GRID)
def test_torch_layers_torchscript_export(kind, layers, bidirectional, batch_first) -> None:
    check_torch_layer(kind, layers, bidirectional, batch_first, dynamo=False)


@pytest.mark.parametrize(("kind", "layers", "bidirectional", "batch_first"),
                         [c if c in DYNAMO_FAST else
                          pytest.param(*c, marks=pytest.mark.skipif(
                              not SLOW, reason="every dynamo export: set GRAPHDIFF_SLOW=1"))
                          for c in TORCH_GRID])
def test_torch_layers_dynamo_export(kind, layers, bidirectional, batch_first) -> None:
    check_torch_layer(kind, layers, bidirectional, batch_first, dynamo=True)
