"""Models built in PyTorch, exported by both of torch's exporters (dynamo, the default, and
TorchScript's ``dynamo=False``) with a dynamic batch, imported into graphdiff: the forward and
the gradients with respect to every parameter and the input match torch at two batch sizes,
and the imported graph exports again to a model onnxruntime runs to the same values."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional

import graphdiff as gd  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner, self.norm, self.outer = nn.Linear(6, 12), nn.LayerNorm(12), nn.Linear(12, 3)

    def forward(self, x):
        return self.outer(F.gelu(self.norm(self.inner(x))))


class ResNetBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(h + self.bn2(self.conv2(h)))
        return self.head(h.mean((2, 3)))


class UNetBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(2, 4, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(4, 2, 2, stride=2)
        self.out = nn.Conv2d(6, 2, 3, padding=1)

    def forward(self, x):
        h = F.relu(self.down(x))
        resized = F.interpolate(h, scale_factor=2.0, mode="nearest")[:, :2]
        return self.out(torch.cat([self.up(h), resized, x], 1))


class TopKHead(nn.Module):
    """Scores, the 3 largest per row (ONNX TopK) and the sorted scores' middle: both gathers."""

    def __init__(self) -> None:
        super().__init__()
        self.score, self.out = nn.Linear(6, 10), nn.Linear(5, 2)

    def forward(self, x):
        h = torch.tanh(self.score(x))
        top = torch.topk(h, 3, dim=-1).values
        ordered = torch.sort(h, dim=-1, descending=True).values[:, 4:6]
        return self.out(torch.cat([top, ordered], -1))


def _encoder(norm_first: bool) -> nn.Module:
    return nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                      norm_first=norm_first)


# name: (build, input shape without the batch, export kwargs per exporter)
MODELS = {
    "mlp": (MLP, (6,), {}),
    "resnet_folded": (ResNetBlock, (3, 5, 5), {}),
    # BatchNorm kept as BatchNormalization nodes, its scale and shift trainable
    "resnet_unfolded": (ResNetBlock, (3, 5, 5), {True: {"optimize": False},
                                                 False: {"do_constant_folding": False}}),
    "encoder_post_norm": (lambda: _encoder(False), (4, 8), {}),
    "encoder_pre_norm": (lambda: _encoder(True), (4, 8), {}),
    "unet": (UNetBlock, (2, 6, 6), {}),
    "top_k": (TopKHead, (6,), {}),
}


def _build(name: str) -> nn.Module:
    torch.manual_seed(len(name))
    module = MODELS[name][0]().eval()
    with torch.no_grad():  # distinct values, so that no exporter shares an initializer
        for parameter in module.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.4)
        for buffer_name, buffer in module.named_buffers():
            if buffer_name.endswith("running_mean"):
                buffer.copy_(torch.randn_like(buffer) * 0.2)
            elif buffer_name.endswith("running_var"):
                buffer.copy_(torch.rand_like(buffer) + 0.5)
    return module


def _export(module: nn.Module, shape: tuple[int, ...], dynamo: bool, **kwargs) -> onnx.ModelProto:
    example = torch.randn(3, *shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            program = torch.onnx.export(module, (example,), dynamo=True, input_names=["x"],
                                        dynamic_shapes=({0: torch.export.Dim("batch")},),
                                        verbose=False, **kwargs)
            return program.model_proto
        traced = module
        if isinstance(module, nn.TransformerEncoderLayer):
            # eval mode takes torch's fused fast path, which TorchScript cannot trace (and a
            # bare layer is traced with is_causal as a tensor); with dropout 0 the
            # training-mode forward is the same function
            traced = nn.Sequential(module).train()
        buffer = io.BytesIO()
        torch.onnx.export(traced, (example,), buffer, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}}, **kwargs)
        module.eval()
        return onnx.load_from_string(buffer.getvalue())


_CACHE: dict[tuple[str, bool], tuple[nn.Module, onnx.ModelProto]] = {}


def _exported(name: str, dynamo: bool) -> tuple[nn.Module, onnx.ModelProto]:
    if (name, dynamo) not in _CACHE:
        module = _build(name)
        kwargs = MODELS[name][2].get(dynamo, {})
        _CACHE[name, dynamo] = module, _export(module, MODELS[name][1], dynamo, **kwargs)
    return _CACHE[name, dynamo]


def _match(value: np.ndarray, parameters: list[np.ndarray]) -> tuple[int, bool] | None:
    """The torch parameter an imported variable holds (by value; MatMul weights transposed)."""
    for k, theirs in enumerate(parameters):
        for transposed, same in ((False, theirs), (True, theirs.T)):
            if same.shape == value.shape and np.array_equal(same, value):
                return k, transposed
    return None


def _torch_grads(module: nn.Module, xs: np.ndarray, weights: np.ndarray):
    module.zero_grad()
    x = torch.from_numpy(xs).requires_grad_(True)
    out = module(x)
    (out * torch.from_numpy(weights)).sum().backward()
    return out.detach().numpy(), x.grad.numpy(), [p.grad.numpy() for p in module.parameters()]


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("name", list(MODELS))
def test_torch_model_imports_and_matches(name: str, dynamo: bool) -> None:
    module, proto = _exported(name, dynamo)
    model = gd.import_onnx(proto)
    (x,) = model.inputs
    assert not isinstance(x.shape[0], int)  # the batch stays symbolic
    (y,) = model.outputs
    weights_in = gd.placeholder(y.shape, "float32", name="w")
    variables = list(model.variables.values())
    parameters = [p.detach().numpy() for p in module.parameters()]
    folded = name == "resnet_folded"
    # folded BatchNorm: the exporter multiplied it into the convolutions, so the variables are
    # products of torch parameters, not the parameters; the input gradient is still checked
    matches = [None if folded else _match(v.data.value, parameters) for v in variables]
    if not folded:
        assert {m[0] for m in matches if m} == set(range(len(parameters)))
        # and nothing else is trainable: not the attention scale, not the Resize scales (the
        # running statistics of an unfolded BatchNorm are variables, as the file keeps them)
        buffers = [b.numpy() for b in module.buffers() if b.dtype.is_floating_point]
        assert all(m or _match(v.data.value, buffers) for m, v in zip(matches, variables))
    loss = gd.sum(y * weights_in)
    step = gd.function([x, weights_in], [y, *gd.grad(loss, [x, *variables])])
    rng = np.random.default_rng(0)
    for batch in (2, 5):
        xs = rng.standard_normal((batch, *MODELS[name][1])).astype(np.float32)
        weights = rng.standard_normal((batch, *y.shape[1:])).astype(np.float32)
        want, want_dx, want_grads = _torch_grads(module, xs, weights)
        got, got_dx, *got_grads = step(xs, weights)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(got_dx, want_dx, rtol=RTOL, atol=ATOL)
        for match, grad in zip(matches, got_grads, strict=True):
            if match is not None:
                k, transposed = match
                expected = want_grads[k].T if transposed else want_grads[k]
                np.testing.assert_allclose(grad, expected, rtol=RTOL, atol=ATOL)
    again = gd.export_onnx(None, model.inputs, model.outputs)
    session = ort.InferenceSession(again.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch in (1, 4):
        xs = rng.standard_normal((batch, *MODELS[name][1])).astype(np.float32)
        with torch.no_grad():
            want = module(torch.from_numpy(xs)).numpy()
        (got,) = session.run(None, {again.graph.input[0].name: xs})
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_batch_norm_kept_unfolded_imports_as_batch_normalization() -> None:
    _, proto = _exported("resnet_unfolded", True)
    assert sum(n.op_type == "BatchNormalization" for n in proto.graph.node) == 2
    _, folded = _exported("resnet_folded", True)
    assert not any(n.op_type == "BatchNormalization" for n in folded.graph.node)
