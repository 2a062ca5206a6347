"""Import of ONNX ``Attention`` (opset 23): scaled dot-product attention from primitives.

Supported: 3-D inputs with ``q_num_heads``/``kv_num_heads`` and 4-D inputs, ``scale``,
``softcap``, float and bool ``attn_mask`` (padded to the key length), ``is_causal`` aligned to
the bottom right (after a past cache), ``past_key``/``past_value`` with the present outputs,
grouped-query heads, sliding windows, ``nonpad_kv_seqlen`` (valid key lengths per batch,
known when the model is imported), ``softmax_precision`` and every ``qk_matmul_output_mode``.
A query row whose keys are all masked gives zeros, as the ONNX reference does.
"""

from __future__ import annotations

import numpy as np

import graphdiff as gd

from ...ir.node import Node
from ...ops import elementwise as E
from ..dtypes import numpy_dtype
from ..importer import ImportContext, OnnxNode, onnx_import


def _heads(x: Node, heads: int) -> Node:
    """(batch, seq, hidden) -> (batch, heads, seq, hidden / heads)."""
    batch, seq, hidden = x.shape
    return gd.transpose(gd.reshape(x, (batch, seq, heads, hidden // heads)), (0, 2, 1, 3))


def _repeat_heads(x: Node, times: int) -> Node:
    """Each head repeated ``times`` in place: [h0, h0, h1, h1, ...] (np.repeat on axis 1)."""
    batch, heads, seq, size = x.shape
    spread = gd.broadcast_to(gd.expand_dims(x, 2), (batch, heads, times, seq, size))
    return gd.reshape(spread, (batch, heads * times, seq, size))


def _bias(node: OnnxNode, mask: Node | None, q_len: int, kv_len: int, past: int,
          lengths: np.ndarray | None, dtype: np.dtype) -> Node | None:
    """The additive bias: the mask (bool -> 0 / -inf, padded with -inf to the key length)
    plus -inf where the causal, sliding-window and valid-length structure hides a key."""
    minus_inf = gd.constant(np.asarray(-np.inf, dtype))
    zero = gd.constant(np.zeros((), dtype))
    if mask is not None:
        width = kv_len - mask.shape[-1]
        if mask.dtype == np.bool_:
            if width > 0:
                mask = gd.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, width)],
                              constant_values=False)
            mask = E.where(mask, zero, minus_inf)
        elif width > 0:
            mask = gd.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, width)],
                          constant_values=-np.inf)
        mask = gd.astype(mask, dtype)
    # query i sits at position i + offset (offset: the past length, or per batch the valid
    # length minus the query length); key j is visible if diff = i + offset - j allows it
    offset = np.asarray(past if lengths is None else lengths.reshape(-1, 1, 1) - q_len)
    node.check_size(offset.size, q_len, kv_len)
    diff = np.arange(q_len)[:, None] + offset - np.arange(kv_len)[None, :]
    allowed = np.ones(diff.shape, bool)
    if node.int("is_causal", 0):
        allowed &= diff >= 0
    left, right = node.int("left_window_size", -1), node.int("right_window_size", -1)
    if left >= 0:
        allowed &= diff <= left
    if right >= 0:
        allowed &= -diff <= right
    if lengths is not None:  # keys past each batch's valid length are padding
        allowed &= np.arange(kv_len) < lengths.reshape(-1, 1, 1)
        allowed = allowed[:, None]  # (batch, 1, q, kv): one pattern for every head
    if allowed.all() and lengths is None:
        return mask
    structural = gd.constant(np.where(allowed, 0, -np.inf).astype(dtype))
    return structural if mask is None else E.add(structural, mask)


@onnx_import("Attention")
def _attention(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    q, k, v = (ctx.tensor(node, i) for i in range(3))
    mask = ctx.tensor(node, 3, optional=True)
    past_key, past_value = ctx.tensor(node, 4, optional=True), ctx.tensor(node, 5, optional=True)
    lengths = ctx.array(node, 6, optional=True)
    if lengths is not None and past_key is not None:
        raise node.fail("nonpad_kv_seqlen cannot be combined with a past cache")
    three_d = q.ndim == 3
    if three_d:
        q = _heads(q, node.int("q_num_heads"))
        k, v = _heads(k, node.int("kv_num_heads")), _heads(v, node.int("kv_num_heads"))
    if past_key is not None:
        k = gd.concatenate([past_key, k], axis=2)
        v = gd.concatenate([past_value, v], axis=2)
    present_key, present_value = k, v
    past = 0 if past_key is None else past_key.shape[2]
    scale = node.float("scale", None)
    scale = 1 / np.sqrt(q.shape[3]) if scale is None else scale
    root = gd.constant(np.asarray(np.sqrt(scale), q.dtype))  # sqrt(scale) on q and on k
    if q.shape[1] != k.shape[1]:
        times = q.shape[1] // k.shape[1]
        k, v = _repeat_heads(k, times), _repeat_heads(v, times)
    scores = gd.matmul(E.mul(q, root), gd.swapaxes(E.mul(k, root), -1, -2))
    softcap = node.float("softcap", 0.0)
    if softcap > 0:
        cap = gd.constant(np.asarray(softcap, q.dtype))
        scores = E.mul(E.tanh(E.div(scores, cap)), cap)
    mode = node.int("qk_matmul_output_mode", 0)
    exposed = scores
    bias = _bias(node, mask, q.shape[2], k.shape[2], past, lengths, q.dtype)
    biased = scores if bias is None else scores + bias
    if mode == 2:
        exposed = biased
    precision = node.int("softmax_precision")
    wide = biased if precision is None else gd.astype(biased, numpy_dtype(precision,
                                                                          node.label))
    probs = gd.softmax(wide, axis=-1)
    if bias is not None:  # a row with every key masked attends to nothing
        full = gd.broadcast_to(bias, biased.shape)
        empty = E.equal(gd.max(full, -1, keepdims=True),
                        gd.constant(np.asarray(-np.inf, full.dtype)))
        probs = E.where(empty, gd.constant(np.zeros((), probs.dtype)), probs)
    if mode == 3:
        exposed = probs
    y = gd.matmul(gd.astype(probs, q.dtype), v)
    if three_d:
        batch, heads, seq, size = y.shape
        y = gd.reshape(gd.transpose(y, (0, 2, 1, 3)), (batch, seq, heads * size))
    return [y, present_key, present_value, gd.astype(exposed, q.dtype)]


def _index(x: Node, *key) -> Node:
    return gd.api.indexing.getitem(x, tuple(key))


@onnx_import("RotaryEmbedding")
def _rotary_embedding(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    """Rotate pairs of features by position-dependent angles (the ONNX reference's layout:
    halves, or even/odd features when ``interleaved``)."""
    x, cos, sin = (ctx.tensor(node, i) for i in range(3))
    positions = ctx.tensor(node, 3, optional=True)
    shape = x.shape
    if x.ndim == 4:  # (batch, heads, seq, size) -> (batch, seq, heads, size)
        x = gd.transpose(x, (0, 2, 1, 3))
    else:
        heads = node.int("num_heads", 0)
        if not heads:
            raise node.fail("num_heads is required for 3-D inputs")
        x = gd.reshape(x, (shape[0], shape[1], heads, shape[2] // heads))
    size = x.shape[3]
    dim = node.int("rotary_embedding_dim", 0) or size
    if positions is not None:
        cos, sin = gd.take(cos, positions, axis=0), gd.take(sin, positions, axis=0)
    cos, sin = gd.expand_dims(cos, 2), gd.expand_dims(sin, 2)
    rotated, kept = _index(x, Ellipsis, slice(0, dim)), _index(x, Ellipsis, slice(dim, None))
    if node.int("interleaved", 0):
        x1, x2 = _index(rotated, Ellipsis, slice(0, None, 2)), _index(rotated, Ellipsis,
                                                                     slice(1, None, 2))
    else:
        x1, x2 = _index(rotated, Ellipsis, slice(0, dim // 2)), _index(rotated, Ellipsis,
                                                                      slice(dim // 2, None))
    real = cos * x1 - sin * x2  # (x1 + i x2) e^(i angle)
    imag = sin * x1 + cos * x2
    if node.int("interleaved", 0):
        pairs = gd.stack([real, imag], axis=-1)
        rotated = gd.reshape(pairs, rotated.shape)
    else:
        rotated = gd.concatenate([real, imag], axis=-1)
    out = gd.concatenate([rotated, kept], axis=-1) if dim < size else rotated
    if len(shape) == 3:
        return [gd.reshape(out, shape)]
    return [gd.transpose(out, (0, 2, 1, 3))]
