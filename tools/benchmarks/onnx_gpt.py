"""An imported GPT-style block: built in PyTorch, exported by ``torch.onnx.export`` (dynamo,
opset 18, a dynamic batch), imported with ``gd.import_onnx`` and run against torch eager.

The block: token and position embeddings, a pre-LayerNorm causal self-attention
(``nn.MultiheadAttention``-free: q/k/v projections, ``F.scaled_dot_product_attention`` with
``is_causal``), a GELU MLP, the final LayerNorm and the tied language-model head; about 2M
parameters (width 256, 8 heads, vocabulary 4800), batch 2 x 32 tokens, float32.

Timed side by side: the forward, and the gradient step (forward, the cross-entropy against the
next tokens, gradients of every parameter), each checked against torch before timing. Run with
``OPENBLAS_NUM_THREADS=1`` for one BLAS thread each (what issue 19 asks): torch is then told
``set_num_threads(1)`` by the harness.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from benchmarks._harness import check_close, compare, have

WIDTH, HEADS, VOCAB, TOKENS, BATCH = 256, 8, 4800, 32, 2


def _module() -> Any:
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(VOCAB, WIDTH)
            self.position = nn.Parameter(torch.randn(TOKENS, WIDTH) * 0.02)
            self.ln1, self.ln2, self.ln_f = (nn.LayerNorm(WIDTH) for _ in range(3))
            self.qkv = nn.Linear(WIDTH, 3 * WIDTH)
            self.proj = nn.Linear(WIDTH, WIDTH)
            self.up, self.down = nn.Linear(WIDTH, 4 * WIDTH), nn.Linear(4 * WIDTH, WIDTH)

        def forward(self, tokens: Any) -> Any:
            batch, length = tokens.shape
            x = self.embed(tokens) + self.position[:length]
            q, k, v = self.qkv(self.ln1(x)).split(WIDTH, dim=-1)

            def heads(t: Any) -> Any:
                return t.reshape(batch, length, HEADS, WIDTH // HEADS).transpose(1, 2)

            a = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
            x = x + self.proj(a.transpose(1, 2).reshape(batch, length, WIDTH))
            x = x + self.down(F.gelu(self.up(self.ln2(x))))
            return self.ln_f(x) @ self.embed.weight.T  # the tied head: logits

    torch.manual_seed(0)
    return Block().eval()


def _export(module: Any, tokens: np.ndarray) -> Any:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, (torch.from_numpy(tokens),), dynamo=True,
                                    input_names=["tokens"],
                                    dynamic_shapes=({0: torch.export.Dim("batch")},),
                                    verbose=False)
    return program.model_proto


def run(quick: bool) -> None:
    if not have("torch"):
        print("onnx_gpt: skipped (needs torch)")
        return
    import torch
    from torch.nn import functional as F

    import graphdiff as gd

    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB, (BATCH, TOKENS), dtype=np.int64)
    targets = rng.integers(0, VOCAB, (BATCH, TOKENS), dtype=np.int64)
    module = _module()
    n_params = sum(p.numel() for p in module.parameters())
    model = gd.import_onnx(_export(module, tokens))
    (x,) = model.inputs
    (logits,) = model.outputs
    variables = list(model.variables.values())
    y = gd.placeholder((None, TOKENS), "int64", name="targets")
    flat = gd.reshape(logits, (-1, VOCAB))
    loss = gd.mean(gd.softmax_cross_entropy(flat, gd.reshape(y, (-1,))))
    forward = gd.function([x], logits)
    step = gd.function([x, y], [loss, *gd.grad(loss, variables)])

    t_tokens, t_targets = torch.from_numpy(tokens), torch.from_numpy(targets)

    def torch_forward() -> Any:
        with torch.no_grad():
            return module(t_tokens).numpy()

    def torch_step() -> list:
        module.zero_grad(set_to_none=True)
        out = F.cross_entropy(module(t_tokens).reshape(-1, VOCAB), t_targets.reshape(-1))
        out.backward()
        return [out.detach().numpy()] + [p.grad for p in module.parameters()]

    check_close("imported forward", forward(tokens), torch_forward(), rtol=1e-4, atol=1e-4)
    got_loss, *_ = step(tokens, targets)
    check_close("imported loss", got_loss, torch_step()[0], rtol=1e-4, atol=1e-5)
    title = (f"imported GPT-style block ({n_params / 1e6:.2f}M parameters), batch {BATCH} x "
             f"{TOKENS} tokens, float32")
    compare(f"{title}: forward", {"graphdiff": lambda: forward(tokens),
                                  "torch eager": torch_forward},
            quick=quick, traced=())
    compare(f"{title}: gradient step", {"graphdiff": lambda: step(tokens, targets),
                                        "torch eager": torch_step},
            quick=quick, traced=(), functions={"graphdiff": step})
