"""Import of ONNX signal ops: DFT (forward, inverse, one-sided, ``dft_length``) and STFT, as
products with constant cosine and sine matrices along the transformed axis.

A complex tensor is ONNX's real representation: a last axis of 2 (real, imaginary), or of 1
for a real signal. Transforms of known length n cost an n x n product, fine for the short
signals models carry. They run in float64 and the result is cast back to the signal's dtype, as
onnx's reference (numpy's fft) does: an inverse's imaginary parts that cancel stay below 1e-7.
"""

from __future__ import annotations

import numpy as np

import graphdiff as gd

from ...ir.node import Node
from ...ir.types import normalize_axis
from ...ops import elementwise as E
from ..importer import ImportContext, OnnxNode, onnx_import


def _to_length(x: Node, length: int) -> Node:
    """Cut or zero-pad the last axis of ``x`` to ``length`` (numpy's fft ``n``)."""
    n = x.shape[-1]
    if n > length:
        return x[..., :length]
    if n < length:
        return gd.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, length - n)])
    return x


def _matrix(values: np.ndarray, like: Node) -> Node:
    return gd.constant(values.astype(like.dtype))


def transform(real: Node, imag: Node | None, length: int, inverse: bool,
              onesided: bool) -> tuple[Node, Node | None]:
    """The DFT of ``real + i imag`` along the last axis: (real part, imaginary part), or the
    real signal alone (imaginary None) for an inverse of a one-sided spectrum."""
    if inverse and onesided:  # irfft: the spectrum's first length//2 + 1 entries
        bins = length // 2 + 1
        real, imag = _to_length(real, bins), _to_length(imag, bins) if imag is not None \
            else None
        k, t = np.meshgrid(np.arange(bins), np.arange(length), indexing="ij")
        weight = np.where((k == 0) | ((length % 2 == 0) & (k == length // 2)), 1.0, 2.0)
        angle = 2 * np.pi * k * t / length
        signal = gd.matmul(real, _matrix(weight * np.cos(angle) / length, real))
        if imag is not None:
            signal = E.sub(signal, gd.matmul(imag, _matrix(weight * np.sin(angle) / length,
                                                           imag)))
        return signal, None
    real = _to_length(real, length)
    imag = _to_length(imag, length) if imag is not None else None
    out = length // 2 + 1 if onesided and not inverse else length
    t, k = np.meshgrid(np.arange(length), np.arange(out), indexing="ij")
    angle = 2 * np.pi * ((t * k) % length) / length  # exact angles for large t * k
    scale = 1.0 / length if inverse else 1.0
    sign = 1.0 if inverse else -1.0  # e^{-i angle} forward, e^{+i angle} inverse
    cos, sin = _matrix(np.cos(angle) * scale, real), _matrix(sign * np.sin(angle) * scale, real)
    re, im = gd.matmul(real, cos), gd.matmul(real, sin)
    if imag is not None:  # (a + ib)(c + is) = (ac - bs) + i(as + bc)
        re = E.sub(re, gd.matmul(imag, sin))
        im = E.add(im, gd.matmul(imag, cos))
    return re, im


def _wide(x: Node) -> Node:
    return gd.astype(x, np.float64) if x.dtype.kind == "f" else x


def _complex_parts(node: OnnxNode, x: Node) -> tuple[Node, Node | None]:
    if x.shape[-1] not in (1, 2):
        raise node.fail(f"the last axis must be 1 (real) or 2 (complex), got {x.shape}")
    real = x[..., 0]
    return real, x[..., 1] if x.shape[-1] == 2 else None


def _known_int(ctx: ImportContext, node: OnnxNode, index: int) -> int | None:
    value = ctx.array(node, index, optional=True)
    return None if value is None or np.size(value) == 0 else int(np.asarray(value).reshape(-1)[0])


@onnx_import("DFT", known=(1, 2))
def _dft(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    x = ctx.tensor(node, 0)
    if node.opset >= 20:
        axis = _known_int(ctx, node, 2)
        axis = -2 if axis is None else axis
    else:
        axis = node.int("axis", 1)
    axis = normalize_axis(axis, x.ndim)
    if axis == x.ndim - 1:
        raise node.fail("the transformed axis cannot be the last (complex) one")
    inverse, onesided = bool(node.int("inverse", 0)), bool(node.int("onesided", 0))
    n = x.shape[axis]
    length = _known_int(ctx, node, 1)
    if length is None:
        if not isinstance(n, int):
            raise node.fail("a DFT over a symbolic axis needs dft_length")
        length = 2 * (n - 1) if inverse and onesided else n
    if length < 1:
        raise node.fail(f"dft_length must be positive, got {length}")
    node.check_size(length, length)
    real, imag = _complex_parts(node, _wide(x))
    perm = [a for a in range(real.ndim) if a != axis] + [axis]
    back = [int(i) for i in np.argsort(perm)]
    moved = [gd.transpose(p, perm) if p is not None else None for p in (real, imag)]
    re, im = transform(moved[0], moved[1], length, inverse, onesided)
    parts = [gd.transpose(re, back)] + ([gd.transpose(im, back)] if im is not None else [])
    return [gd.astype(gd.stack(parts, axis=-1), x.dtype)]


@onnx_import("STFT", known=(1, 3))
def _stft(ctx: ImportContext, node: OnnxNode) -> list[Node]:
    """Frames of ``frame_length`` every ``frame_step`` samples, each windowed and transformed:
    output [batch, frames, bins, 2]."""
    signal = ctx.tensor(node, 0)
    step = _known_int(ctx, node, 1)
    window = ctx.tensor(node, 2, optional=True)
    frame_length = _known_int(ctx, node, 3)
    if frame_length is None:
        if window is None:
            raise node.fail("needs a window or a frame_length")
        frame_length = int(window.shape[0])
    samples = signal.shape[1]
    if step is None or step < 1 or not isinstance(samples, int) or samples < frame_length:
        raise node.fail(f"needs a positive frame_step and a static signal at least "
                        f"frame_length {frame_length} long, got {signal.shape}")
    onesided = bool(node.int("onesided", 1))
    real, imag = _complex_parts(node, _wide(signal))
    frames = (samples - frame_length) // step + 1
    starts = np.arange(frames)[:, None] * step + np.arange(frame_length)[None, :]
    node.check_size(frames, frame_length)
    picks = [gd.take(p, gd.constant(starts), axis=1) if p is not None else None
             for p in (real, imag)]  # [batch, frames, frame_length]
    if window is not None:
        picks = [E.mul(p, gd.astype(window, p.dtype)) if p is not None else None
                 for p in picks]
    re, im = transform(picks[0], picks[1], frame_length, False, onesided and imag is None)
    return [gd.astype(gd.stack([re, im], axis=-1), signal.dtype)]
